-- 0001 core: registry, readings, load ledger, dead letters, QC, aggregates, alerts, cases.
-- Never edit a migration once it has landed: add a new one. Timestamps are TIMESTAMPTZ (UTC).

-- ---------------------------------------------------------------- registry
CREATE TABLE units (
    unit        VARCHAR PRIMARY KEY,      -- as written everywhere: 'ug/m3', 'mg/m3', 'dB(A)'
    quantity    VARCHAR NOT NULL,         -- what it measures: mass_concentration, level ...
    to_base     DOUBLE NOT NULL,          -- factor to the quantity's base unit
    name_zh     VARCHAR NOT NULL
);

CREATE TABLE parameters (
    parameter       VARCHAR PRIMARY KEY,  -- 'pm25', 'so2', 'cod' ...
    name_en         VARCHAR NOT NULL,
    name_zh         VARCHAR NOT NULL,
    domain          VARCHAR NOT NULL,     -- air | water | noise | flue_gas | waste_water | meteo
    unit            VARCHAR NOT NULL,
    hj212_2017_code VARCHAR,
    hj212_2005_code VARCHAR,
    min_possible    DOUBLE,               -- physically possible range (QC gross-range check)
    max_possible    DOUBLE,
    decimals        INTEGER
);

CREATE TABLE grids (
    grid_id     VARCHAR PRIMARY KEY,
    name_en     VARCHAR NOT NULL,
    name_zh     VARCHAR NOT NULL,
    level       VARCHAR NOT NULL,         -- city | county | district | park | township | street | key_enterprise | drinking_water
    parent_id   VARCHAR,
    special     BOOLEAN NOT NULL          -- special grids take precedence in case routing
);

CREATE TABLE officers (
    officer_id  VARCHAR PRIMARY KEY,
    name_zh     VARCHAR NOT NULL,
    name_en     VARCHAR NOT NULL,
    grid_id     VARCHAR NOT NULL,
    role        VARCHAR NOT NULL,         -- responsible | leader | inspector
    phone       VARCHAR,
    email       VARCHAR
);

CREATE TABLE enterprises (
    enterprise_id       VARCHAR PRIMARY KEY,
    name_zh             VARCHAR NOT NULL,
    name_en             VARCHAR NOT NULL,
    grid_id             VARCHAR NOT NULL, -- territorial grid (township / street / park)
    special_grid_id     VARCHAR,          -- key monitored enterprise grid, if any
    industry            VARCHAR NOT NULL,
    key_monitored       BOOLEAN NOT NULL,
    credit_code         VARCHAR           -- unified social credit code
);

CREATE TABLE sites (
    site_id             VARCHAR PRIMARY KEY,
    kind                VARCHAR NOT NULL,  -- air | water | noise | outlet
    name_zh             VARCHAR NOT NULL,
    name_en             VARCHAR NOT NULL,
    grid_id             VARCHAR NOT NULL,
    special_grid_id     VARCHAR,           -- drinking-water source / key enterprise grid
    timezone            VARCHAR NOT NULL,
    latitude            DOUBLE,
    longitude           DOUBLE,
    commissioned_on     DATE,
    decommissioned_on   DATE,
    noise_zone          VARCHAR,           -- GB 3096 functional zone: 0 1 2 3 4a 4b
    water_target_class  VARCHAR,           -- GB 3838 target class: I II III IV V
    waterbody           VARCHAR,           -- river | lake
    air_zone_class      VARCHAR,           -- GB 3095 zone: 1 | 2
    in_city_assessment  BOOLEAN            -- air stations counted in the city's mean
);

CREATE TABLE outlets (
    site_id             VARCHAR PRIMARY KEY,
    enterprise_id       VARCHAR NOT NULL,
    outlet_type         VARCHAR NOT NULL,  -- flue_gas | waste_water
    reference_o2_pct    DOUBLE,            -- reference O2 for corrected concentrations
    emission_standard   VARCHAR,           -- e.g. 'GB 13223-2011 table 1'
    logger_mn           VARCHAR UNIQUE,    -- HJ 212 MN of the data logger
    logger_password     VARCHAR,
    protocol_edition    VARCHAR            -- HJ212-2017 | HJ212-2005
);

CREATE TABLE site_parameters (
    site_id     VARCHAR NOT NULL,
    parameter   VARCHAR NOT NULL,
    interval_s  INTEGER NOT NULL,          -- the interval the site reports this parameter at
    PRIMARY KEY (site_id, parameter, interval_s)
);

CREATE TABLE permit_limits (
    site_id         VARCHAR NOT NULL,
    parameter       VARCHAR NOT NULL,
    statistic       VARCHAR NOT NULL,      -- hour_avg | hour_avg_o2 | day_avg | ...
    limit_value     DOUBLE NOT NULL,
    unit            VARCHAR NOT NULL,
    basis           VARCHAR NOT NULL,      -- permit number or standard and clause
    valid_from      DATE NOT NULL,
    valid_to        DATE,
    PRIMARY KEY (site_id, parameter, statistic, valid_from)
);

CREATE TABLE permitted_quantities (
    site_id         VARCHAR NOT NULL,
    parameter       VARCHAR NOT NULL,
    period          VARCHAR NOT NULL,      -- year | month | day
    quantity_kg     DOUBLE NOT NULL,
    basis           VARCHAR NOT NULL,
    valid_from      DATE NOT NULL,
    valid_to        DATE,
    PRIMARY KEY (site_id, parameter, period, valid_from)
);

CREATE TABLE registry_loads (
    loaded_at       TIMESTAMPTZ NOT NULL,
    config_hash     VARCHAR NOT NULL,
    files           VARCHAR NOT NULL,
    changed         BOOLEAN NOT NULL
);

-- ---------------------------------------------------------------- readings
-- Natural key: (site_id, parameter, period_start, interval_s, source_kind). Rows are only
-- ever inserted; a value is never updated (conflicting re-sends go to reading_conflicts).
CREATE TABLE readings (
    site_id         VARCHAR NOT NULL,
    parameter       VARCHAR NOT NULL,
    period_start    TIMESTAMPTZ NOT NULL,
    interval_s      INTEGER NOT NULL,
    source_kind     VARCHAR NOT NULL,
    value           DOUBLE,
    value_min       DOUBLE,
    value_max       DOUBLE,
    value_zs        DOUBLE,
    value_cou       DOUBLE,
    unit            VARCHAR NOT NULL,
    flag            VARCHAR,
    received_at     TIMESTAMPTZ NOT NULL,
    origin          VARCHAR,
    extra           VARCHAR,
    batch_id        VARCHAR NOT NULL
);

CREATE TABLE reading_conflicts (
    site_id             VARCHAR NOT NULL,
    parameter           VARCHAR NOT NULL,
    period_start        TIMESTAMPTZ NOT NULL,
    interval_s          INTEGER NOT NULL,
    source_kind         VARCHAR NOT NULL,
    kept_value          DOUBLE,
    kept_flag           VARCHAR,
    kept_batch_id       VARCHAR NOT NULL,
    conflicting_value   DOUBLE,
    conflicting_flag    VARCHAR,
    conflicting_batch_id VARCHAR NOT NULL,
    conflicting_origin  VARCHAR,
    conflicting_received_at TIMESTAMPTZ NOT NULL,
    detected_at         TIMESTAMPTZ NOT NULL
);

CREATE TABLE load_ledger (
    batch_id        VARCHAR PRIMARY KEY,
    kind            VARCHAR NOT NULL,      -- readings | deadletters
    source_kind     VARCHAR NOT NULL,
    relpath         VARCHAR NOT NULL,
    rows_in         BIGINT NOT NULL,
    rows_inserted   BIGINT NOT NULL,
    rows_duplicate  BIGINT NOT NULL,       -- identical to a row already held: collapsed
    rows_conflict   BIGINT NOT NULL,       -- same key, other value: recorded in reading_conflicts
    loaded_at       TIMESTAMPTZ NOT NULL
);

CREATE TABLE quarantined_batches (
    relpath         VARCHAR PRIMARY KEY,
    quarantine_path VARCHAR NOT NULL,
    reason          VARCHAR NOT NULL,
    quarantined_at  TIMESTAMPTZ NOT NULL
);

CREATE TABLE dead_letters (
    dead_letter_id  VARCHAR PRIMARY KEY,
    source_kind     VARCHAR NOT NULL,
    origin          VARCHAR NOT NULL,
    reason          VARCHAR NOT NULL,
    raw             BLOB,
    received_at     TIMESTAMPTZ NOT NULL,
    batch_id        VARCHAR NOT NULL,
    status          VARCHAR NOT NULL DEFAULT 'waiting',  -- waiting | replayed | discarded
    resolved_note   VARCHAR
);

-- ---------------------------------------------------------------- QC and review
CREATE TABLE qc_flags (
    site_id         VARCHAR NOT NULL,
    parameter       VARCHAR NOT NULL,
    period_start    TIMESTAMPTZ NOT NULL,
    interval_s      INTEGER NOT NULL,
    source_kind     VARCHAR NOT NULL,
    check_name      VARCHAR NOT NULL,
    flag            SMALLINT NOT NULL,     -- ordered scale, see transforms.qc
    detail          VARCHAR,
    config_hash     VARCHAR NOT NULL,
    evaluated_at    TIMESTAMPTZ NOT NULL
);

CREATE TABLE review_events (
    review_id       VARCHAR PRIMARY KEY,
    action          VARCHAR NOT NULL,      -- flag | unflag | revert
    site_id         VARCHAR NOT NULL,
    parameter       VARCHAR,               -- null = every parameter of the site
    period_from     TIMESTAMPTZ NOT NULL,
    period_to       TIMESTAMPTZ NOT NULL,
    reason          VARCHAR NOT NULL,
    reviewed_by     VARCHAR NOT NULL,
    reviewed_at     TIMESTAMPTZ NOT NULL,
    reverts_review_id VARCHAR
);

-- ---------------------------------------------------------------- aggregates
CREATE TABLE aggregates (
    site_id         VARCHAR NOT NULL,
    parameter       VARCHAR NOT NULL,
    statistic       VARCHAR NOT NULL,      -- hour_avg | day_avg | o3_8h_max | ...
    period_start    TIMESTAMPTZ NOT NULL,
    interval_s      INTEGER NOT NULL,
    value           DOUBLE,                -- null when invalid
    unit            VARCHAR NOT NULL,
    valid           BOOLEAN NOT NULL,
    n_valid         INTEGER NOT NULL,
    n_expected      INTEGER NOT NULL,
    invalid_reason  VARCHAR,
    edition         VARCHAR,
    data_status     VARCHAR NOT NULL,      -- provisional | audited
    computed_at     TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (site_id, parameter, statistic, period_start)
);

-- ---------------------------------------------------------------- alerts and cases
CREATE TABLE alerts (
    alert_id        VARCHAR PRIMARY KEY,
    rule_id         VARCHAR NOT NULL,
    site_id         VARCHAR NOT NULL,
    parameter       VARCHAR,
    severity        VARCHAR NOT NULL,
    state           VARCHAR NOT NULL,      -- firing | resolved
    first_period    TIMESTAMPTZ NOT NULL,
    last_period     TIMESTAMPTZ NOT NULL,
    resolved_period TIMESTAMPTZ,
    max_value       DOUBLE,
    limit_value     DOUBLE,
    unit            VARCHAR,
    message         VARCHAR NOT NULL,
    acknowledged_by VARCHAR,
    acknowledged_at TIMESTAMPTZ,
    case_id         VARCHAR,
    created_at      TIMESTAMPTZ NOT NULL
);

CREATE TABLE cases (
    case_id         VARCHAR PRIMARY KEY,
    site_id         VARCHAR NOT NULL,
    rule_family     VARCHAR NOT NULL,
    grid_id         VARCHAR NOT NULL,
    officer_id      VARCHAR,
    state           VARCHAR NOT NULL,      -- open | assigned | under_inspection | rectification_ordered | verified | closed | dismissed
    title           VARCHAR NOT NULL,
    opened_at       TIMESTAMPTZ NOT NULL,
    deadline        TIMESTAMPTZ,
    closed_at       TIMESTAMPTZ
);

CREATE TABLE case_events (
    case_id         VARCHAR NOT NULL,
    seq             INTEGER NOT NULL,
    event_at        TIMESTAMPTZ NOT NULL,
    actor           VARCHAR NOT NULL,
    action          VARCHAR NOT NULL,
    from_state      VARCHAR,
    to_state        VARCHAR,
    note            VARCHAR,
    PRIMARY KEY (case_id, seq)
);
