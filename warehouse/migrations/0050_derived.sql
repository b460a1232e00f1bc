-- 0050 derived results of the standards, per period. Every table here is rebuilt from readings
-- (through v_readings_qc: only QC-passed values, honouring staff reviews) for a period by
-- deleting that period's rows and inserting them again in one transaction, so a re-run or a
-- backfill gives the same rows. `computed_at` is the only column that a re-run changes.
--
-- `aggregates` (0001) holds the long form per site, parameter and statistic:
--   hour_avg      hourly mean (from minute / real-time data, or the hourly reading itself)
--   hour_avg_o2   O2-corrected hourly mean (flue gas, HJ 75; the outlet's reference O2)
--   hour_load_kg  emission load of the hour (concentration x flow)
--   day_avg       daily mean (local day)          day_avg_o2   O2-corrected daily mean
--   day_total_kg  daily emission total             month_total_kg monthly emission total
--   o3_8h         O3 8-hour moving mean ending at the hour (period_start = the window's last hour)
--   o3_8h_max     daily maximum 8-hour O3          o3_1h_max    daily maximum 1-hour O3
--   month_avg     monthly mean                     year_avg     annual mean
--   hour_leq      noise Leq of the hour            (noise day/night: noise_daily)
-- Invalid periods are stored with valid = false, value NULL and invalid_reason.
-- Site ids: stations and outlets as in `sites`; 'city' is the city (the level-city grid), whose
-- air concentrations are the mean over the stations with in_city_assessment.

CREATE TABLE aqi_hourly (
    site_id             VARCHAR NOT NULL,   -- station id, or 'city'
    scope               VARCHAR NOT NULL,   -- station | city
    period_start        TIMESTAMPTZ NOT NULL,
    local_date          DATE NOT NULL,
    edition             VARCHAR NOT NULL,   -- HJ633-2012 | HJ633-2026
    aqi                 INTEGER,
    level               INTEGER,            -- 1..6
    category            VARCHAR,            -- 优 良 轻度污染 中度污染 重度污染 严重污染
    category_en         VARCHAR,
    colour_hex          VARCHAR,
    primary_pollutants  VARCHAR,            -- ';'-joined: SO2 NO2 PM10 PM2.5 CO O3_1h O3_8h
    iaqi_so2            INTEGER,
    iaqi_no2            INTEGER,
    iaqi_pm10           INTEGER,
    iaqi_pm25           INTEGER,
    iaqi_co             INTEGER,
    iaqi_o3_1h          INTEGER,
    iaqi_o3_8h          INTEGER,
    so2_1h_ugm3         DOUBLE,
    no2_1h_ugm3         DOUBLE,
    pm10_1h_ugm3        DOUBLE,
    pm25_1h_ugm3        DOUBLE,
    co_1h_mgm3          DOUBLE,
    o3_1h_ugm3          DOUBLE,
    o3_8h_ugm3          DOUBLE,
    so2_24h_ugm3        DOUBLE,
    pm10_24h_ugm3       DOUBLE,
    pm25_24h_ugm3       DOUBLE,
    valid               BOOLEAN NOT NULL,
    missing_indicators  VARCHAR,
    computed_at         TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (site_id, period_start)
);

CREATE TABLE aqi_daily (
    site_id             VARCHAR NOT NULL,   -- station id, or 'city'
    scope               VARCHAR NOT NULL,   -- station | city
    local_date          DATE NOT NULL,
    edition             VARCHAR NOT NULL,
    aqi                 INTEGER,
    level               INTEGER,
    category            VARCHAR,
    category_en         VARCHAR,
    colour_hex          VARCHAR,
    primary_pollutants  VARCHAR,
    exceeding_pollutants VARCHAR,           -- HJ633-2012 only
    iaqi_so2            INTEGER,
    iaqi_no2            INTEGER,
    iaqi_pm10           INTEGER,
    iaqi_pm25           INTEGER,
    iaqi_co             INTEGER,
    iaqi_o3_1h          INTEGER,
    iaqi_o3_8h          INTEGER,
    so2_24h_ugm3        DOUBLE,
    no2_24h_ugm3        DOUBLE,
    pm10_24h_ugm3       DOUBLE,
    pm25_24h_ugm3       DOUBLE,
    co_24h_mgm3         DOUBLE,
    o3_1h_max_ugm3      DOUBLE,
    o3_8h_max_ugm3      DOUBLE,
    valid               BOOLEAN NOT NULL,   -- every indicator of the edition valid
    invalid_reasons     VARCHAR,            -- e.g. 'pm25: 18 valid hours < 20 required'
    computed_at         TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (site_id, local_date)
);

-- HJ 663 monthly (and annual: period = 'year') statistics per station and for the city.
CREATE TABLE air_period_stats (
    site_id             VARCHAR NOT NULL,
    scope               VARCHAR NOT NULL,
    period              VARCHAR NOT NULL,   -- month | year
    period_start        DATE NOT NULL,      -- first local day of the month / year
    gb3095_edition      VARCHAR NOT NULL,
    aqi_days            INTEGER NOT NULL,   -- days with a valid AQI
    good_days           INTEGER NOT NULL,   -- AQI <= 100
    good_share          DOUBLE,
    days_level_1        INTEGER NOT NULL,
    days_level_2        INTEGER NOT NULL,
    days_level_3        INTEGER NOT NULL,
    days_level_4        INTEGER NOT NULL,
    days_level_5        INTEGER NOT NULL,
    days_level_6        INTEGER NOT NULL,
    so2_mean_ugm3       DOUBLE,
    no2_mean_ugm3       DOUBLE,
    pm10_mean_ugm3      DOUBLE,
    pm25_mean_ugm3      DOUBLE,
    co_p95_mgm3         DOUBLE,
    o3_8h_p90_ugm3      DOUBLE,
    days_over_so2       INTEGER,
    days_over_no2       INTEGER,
    days_over_pm10      INTEGER,
    days_over_pm25      INTEGER,
    days_over_co        INTEGER,
    days_over_o3_8h     INTEGER,
    composite_index     DOUBLE,             -- 综合指数, null when a statistic is invalid
    main_pollutant      VARCHAR,
    rank                INTEGER,            -- among stations by composite index (1 = best); null for the city
    valid               BOOLEAN NOT NULL,
    invalid_reasons     VARCHAR,
    computed_at         TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (site_id, period, period_start)
);

-- GB 3838-2002 class per water section and day / month (period = 'day' | 'month').
CREATE TABLE water_class (
    site_id             VARCHAR NOT NULL,
    period              VARCHAR NOT NULL,
    period_start        DATE NOT NULL,
    waterbody           VARCHAR NOT NULL,   -- river | lake
    water_class         VARCHAR,            -- I II III IV V 劣V; null when no valid value
    target_class        VARCHAR,
    compliant           BOOLEAN,
    limiting_parameters VARCHAR,            -- ';'-joined parameter names
    exceeding_parameters VARCHAR,           -- worse than the target class
    exceedance_multiples VARCHAR,           -- 'nh3n=0.45;tp=1.20'
    n_parameters        INTEGER NOT NULL,
    computed_at         TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (site_id, period, period_start)
);

-- GB 3096 / GB 12348 day (06-22) and night (22-06 next morning) levels per noise site and date.
CREATE TABLE noise_daily (
    site_id             VARCHAR NOT NULL,
    local_date          DATE NOT NULL,
    zone                VARCHAR NOT NULL,
    standard            VARCHAR NOT NULL,
    ld_dba              DOUBLE,
    ln_dba              DOUBLE,
    ld_limit_dba        DOUBLE NOT NULL,
    ln_limit_dba        DOUBLE NOT NULL,
    day_exceeds         BOOLEAN,
    night_exceeds       BOOLEAN,
    lmax_night_dba      DOUBLE,
    night_max_exceeds   BOOLEAN,
    n_day_hours         INTEGER NOT NULL,
    n_night_hours       INTEGER NOT NULL,
    computed_at         TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (site_id, local_date)
);

-- Emission totals per outlet, parameter and day / month against the permitted quantity.
CREATE TABLE emission_totals (
    site_id             VARCHAR NOT NULL,
    parameter           VARCHAR NOT NULL,
    period              VARCHAR NOT NULL,   -- day | month
    period_start        DATE NOT NULL,
    total_kg            DOUBLE,
    n_valid_hours       INTEGER NOT NULL,
    valid               BOOLEAN NOT NULL,
    permitted_kg        DOUBLE,
    share_of_permit     DOUBLE,
    over_permit         BOOLEAN,
    computed_at         TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (site_id, parameter, period, period_start)
);

-- What each derivation run covered (the DAGs and `envmon aggregate` record every run).
CREATE TABLE derivation_runs (
    run_id              VARCHAR PRIMARY KEY,
    stage               VARCHAR NOT NULL,   -- hourly | daily | monthly | ...
    range_start         TIMESTAMPTZ NOT NULL,
    range_end           TIMESTAMPTZ NOT NULL,
    rows_written        BIGINT NOT NULL,
    started_at          TIMESTAMPTZ NOT NULL,
    finished_at         TIMESTAMPTZ NOT NULL
);
