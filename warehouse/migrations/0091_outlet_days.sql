-- Official daily values of outlets (issue #17; transforms/derive/outlet_hours.py::outlet_days),
-- one row per outlet, parameter and local day (period_start = the local midnight in UTC),
-- rebuilt by the daily derivation: the data logger's own daily value (CN 2031, obtained
-- 'logger') when it passes QC, else the mean of the day's valid official hours (obtained
-- 'derived'), valid with at least 20 valid hours (HJ 75-2017, transforms/standards/tables/
-- emission_validity.csv). load_kg is the sum of the hours' slice loads (null when fewer valid
-- hours); operating_hours counts the hours with data not marked as shut-down.
CREATE TABLE outlet_days (
    site_id          VARCHAR NOT NULL,
    parameter        VARCHAR NOT NULL,
    period_start     TIMESTAMPTZ NOT NULL,
    unit             VARCHAR,
    official_value   DOUBLE,
    obtained         VARCHAR,      -- logger | derived
    valid            BOOLEAN NOT NULL,
    invalid_reason   VARCHAR,
    logger_value     DOUBLE,
    derived_value    DOUBLE,
    load_kg          DOUBLE,
    valid_hours      INTEGER NOT NULL,
    operating_hours  INTEGER NOT NULL,
    computed_at      TIMESTAMPTZ NOT NULL
);
