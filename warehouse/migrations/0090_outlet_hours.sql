-- Official hourly values of outlets (issue #17; transforms/derive/outlet_hours.py), one row per
-- outlet (a site with a row in `outlets`), parameter and UTC hour, rebuilt by the hourly and
-- daily derivations. `official_value` is what enforcement uses: the data logger's own hourly
-- value (CN 2061, obtained 'logger') when it passes QC and no staff review flagged data inside
-- the hour, else the value derived from sub-hour data (obtained 'derived', valid with >= 45
-- minutes of coverage = valid records x interval / 60, HJ 75-2017 / GB 3095 Table 4). The
-- derived value, the logger's own Avg and ZsAvg and envmon's O2-corrected value are kept beside
-- it. `operating` is false in a shut-down hour (running status stopped, CN 2021; zero flow; O2
-- above the cap of transforms/standards/tables/emission_o2_cap.csv); a pollutant's hour is then
-- invalid and no exceedance is judged on it. Alert rules read this table; only the derivation
-- writes it.
CREATE TABLE outlet_hours (
    site_id              VARCHAR NOT NULL,
    parameter            VARCHAR NOT NULL,
    period_start         TIMESTAMPTZ NOT NULL,
    unit                 VARCHAR,
    official_value       DOUBLE,
    obtained             VARCHAR,      -- logger | derived (null: no data in the hour)
    valid                BOOLEAN NOT NULL,
    invalid_reason       VARCHAR,
    derived_value        DOUBLE,
    covered_minutes      INTEGER NOT NULL,
    logger_value         DOUBLE,
    logger_zs_value      DOUBLE,
    corrected_value      DOUBLE,
    o2_pct               DOUBLE,
    load_kg              DOUBLE,
    operating            BOOLEAN NOT NULL,
    not_operating_reason VARCHAR,
    computed_at          TIMESTAMPTZ NOT NULL
);
