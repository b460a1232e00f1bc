-- The envmon warehouse schema: what every migration in warehouse/migrations/ and every view in
-- warehouse/views/ leave in a new warehouse. Generated, do not edit; refresh it with
--     python -m warehouse.schema_dump
-- Tables by name, then indexes, sequences, and views by name but each after the views it reads,
-- each view under a list of its columns.

CREATE TABLE aggregates (
    site_id VARCHAR NOT NULL,
    parameter VARCHAR NOT NULL,
    statistic VARCHAR NOT NULL,
    period_start TIMESTAMP WITH TIME ZONE NOT NULL,
    interval_s INTEGER NOT NULL,
    "value" DOUBLE,
    unit VARCHAR NOT NULL,
    "valid" BOOLEAN NOT NULL,
    n_valid INTEGER NOT NULL,
    n_expected INTEGER NOT NULL,
    invalid_reason VARCHAR,
    edition VARCHAR,
    data_status VARCHAR NOT NULL,
    computed_at TIMESTAMP WITH TIME ZONE NOT NULL
);

CREATE TABLE air_period_stats (
    site_id VARCHAR,
    "scope" VARCHAR NOT NULL,
    period VARCHAR,
    period_start DATE,
    gb3095_edition VARCHAR NOT NULL,
    aqi_days INTEGER NOT NULL,
    good_days INTEGER NOT NULL,
    good_share DOUBLE,
    days_level_1 INTEGER NOT NULL,
    days_level_2 INTEGER NOT NULL,
    days_level_3 INTEGER NOT NULL,
    days_level_4 INTEGER NOT NULL,
    days_level_5 INTEGER NOT NULL,
    days_level_6 INTEGER NOT NULL,
    so2_mean_ugm3 DOUBLE,
    no2_mean_ugm3 DOUBLE,
    pm10_mean_ugm3 DOUBLE,
    pm25_mean_ugm3 DOUBLE,
    co_p95_mgm3 DOUBLE,
    o3_8h_p90_ugm3 DOUBLE,
    days_over_so2 INTEGER,
    days_over_no2 INTEGER,
    days_over_pm10 INTEGER,
    days_over_pm25 INTEGER,
    days_over_co INTEGER,
    days_over_o3_8h INTEGER,
    composite_index DOUBLE,
    main_pollutant VARCHAR,
    rank INTEGER,
    "valid" BOOLEAN NOT NULL,
    invalid_reasons VARCHAR,
    computed_at TIMESTAMP WITH TIME ZONE NOT NULL,
    PRIMARY KEY(site_id, period, period_start)
);

CREATE TABLE alert_cursors (
    rule_id VARCHAR,
    site_id VARCHAR,
    parameter VARCHAR,
    evaluated_through TIMESTAMP WITH TIME ZONE NOT NULL,
    PRIMARY KEY(rule_id, site_id, parameter)
);

CREATE TABLE alert_evaluations (
    range_start TIMESTAMP WITH TIME ZONE,
    range_end TIMESTAMP WITH TIME ZONE,
    rules_hash VARCHAR,
    periods_evaluated BIGINT NOT NULL,
    alerts_opened INTEGER NOT NULL,
    alerts_resolved INTEGER NOT NULL,
    cases_opened INTEGER NOT NULL,
    PRIMARY KEY(range_start, range_end, rules_hash)
);

CREATE TABLE alert_periods (
    alert_id VARCHAR,
    period_start TIMESTAMP WITH TIME ZONE,
    interval_s INTEGER NOT NULL,
    "value" DOUBLE,
    limit_value DOUBLE,
    unit VARCHAR,
    multiple DOUBLE,
    exceeded BOOLEAN NOT NULL,
    detail VARCHAR,
    PRIMARY KEY(alert_id, period_start)
);

CREATE TABLE alerts (
    alert_id VARCHAR PRIMARY KEY,
    rule_id VARCHAR NOT NULL,
    site_id VARCHAR NOT NULL,
    parameter VARCHAR,
    severity VARCHAR NOT NULL,
    state VARCHAR NOT NULL,
    first_period TIMESTAMP WITH TIME ZONE NOT NULL,
    last_period TIMESTAMP WITH TIME ZONE NOT NULL,
    resolved_period TIMESTAMP WITH TIME ZONE,
    max_value DOUBLE,
    limit_value DOUBLE,
    unit VARCHAR,
    message VARCHAR NOT NULL,
    acknowledged_by VARCHAR,
    acknowledged_at TIMESTAMP WITH TIME ZONE,
    case_id VARCHAR,
    created_at TIMESTAMP WITH TIME ZONE NOT NULL,
    rule_family VARCHAR,
    rule_kind VARCHAR,
    statistic VARCHAR,
    grid_id VARCHAR,
    officer_id VARCHAR,
    periods_exceeded INTEGER,
    hours_exceeded DOUBLE,
    max_multiple DOUBLE,
    normal_streak INTEGER,
    silenced_by VARCHAR,
    last_notified_period TIMESTAMP WITH TIME ZONE
);

CREATE TABLE aqi_daily (
    site_id VARCHAR,
    "scope" VARCHAR NOT NULL,
    local_date DATE,
    edition VARCHAR NOT NULL,
    aqi INTEGER,
    "level" INTEGER,
    category VARCHAR,
    category_en VARCHAR,
    colour_hex VARCHAR,
    primary_pollutants VARCHAR,
    exceeding_pollutants VARCHAR,
    iaqi_so2 INTEGER,
    iaqi_no2 INTEGER,
    iaqi_pm10 INTEGER,
    iaqi_pm25 INTEGER,
    iaqi_co INTEGER,
    iaqi_o3_1h INTEGER,
    iaqi_o3_8h INTEGER,
    so2_24h_ugm3 DOUBLE,
    no2_24h_ugm3 DOUBLE,
    pm10_24h_ugm3 DOUBLE,
    pm25_24h_ugm3 DOUBLE,
    co_24h_mgm3 DOUBLE,
    o3_1h_max_ugm3 DOUBLE,
    o3_8h_max_ugm3 DOUBLE,
    "valid" BOOLEAN NOT NULL,
    invalid_reasons VARCHAR,
    computed_at TIMESTAMP WITH TIME ZONE NOT NULL,
    PRIMARY KEY(site_id, local_date)
);

CREATE TABLE aqi_hourly (
    site_id VARCHAR,
    "scope" VARCHAR NOT NULL,
    period_start TIMESTAMP WITH TIME ZONE,
    local_date DATE NOT NULL,
    edition VARCHAR NOT NULL,
    aqi INTEGER,
    "level" INTEGER,
    category VARCHAR,
    category_en VARCHAR,
    colour_hex VARCHAR,
    primary_pollutants VARCHAR,
    iaqi_so2 INTEGER,
    iaqi_no2 INTEGER,
    iaqi_pm10 INTEGER,
    iaqi_pm25 INTEGER,
    iaqi_co INTEGER,
    iaqi_o3_1h INTEGER,
    iaqi_o3_8h INTEGER,
    so2_1h_ugm3 DOUBLE,
    no2_1h_ugm3 DOUBLE,
    pm10_1h_ugm3 DOUBLE,
    pm25_1h_ugm3 DOUBLE,
    co_1h_mgm3 DOUBLE,
    o3_1h_ugm3 DOUBLE,
    o3_8h_ugm3 DOUBLE,
    so2_24h_ugm3 DOUBLE,
    pm10_24h_ugm3 DOUBLE,
    pm25_24h_ugm3 DOUBLE,
    "valid" BOOLEAN NOT NULL,
    missing_indicators VARCHAR,
    computed_at TIMESTAMP WITH TIME ZONE NOT NULL,
    realtime_reading VARCHAR,
    PRIMARY KEY(site_id, period_start)
);

CREATE TABLE case_attachments (
    case_id VARCHAR,
    seq INTEGER,
    sha256 VARCHAR NOT NULL,
    "name" VARCHAR NOT NULL,
    size_bytes BIGINT NOT NULL,
    media_type VARCHAR NOT NULL,
    attached_by VARCHAR NOT NULL,
    attached_at TIMESTAMP WITH TIME ZONE NOT NULL,
    PRIMARY KEY(case_id, seq),
    UNIQUE(case_id, sha256)
);

CREATE TABLE case_escalations (
    case_id VARCHAR,
    overdue_since TIMESTAMP WITH TIME ZONE,
    escalated_at TIMESTAMP WITH TIME ZONE NOT NULL,
    to_officer_id VARCHAR,
    reason VARCHAR NOT NULL,
    PRIMARY KEY(case_id, overdue_since)
);

CREATE TABLE case_events (
    case_id VARCHAR,
    seq INTEGER,
    event_at TIMESTAMP WITH TIME ZONE NOT NULL,
    actor VARCHAR NOT NULL,
    "action" VARCHAR NOT NULL,
    from_state VARCHAR,
    to_state VARCHAR,
    note VARCHAR,
    PRIMARY KEY(case_id, seq)
);

CREATE TABLE case_exceedance_days (
    case_id VARCHAR,
    local_date DATE,
    periods_exceeded INTEGER NOT NULL,
    hours_exceeded DOUBLE NOT NULL,
    max_multiple DOUBLE,
    PRIMARY KEY(case_id, local_date)
);

CREATE TABLE cases (
    case_id VARCHAR PRIMARY KEY,
    site_id VARCHAR NOT NULL,
    rule_family VARCHAR NOT NULL,
    grid_id VARCHAR NOT NULL,
    officer_id VARCHAR,
    state VARCHAR NOT NULL,
    title VARCHAR NOT NULL,
    opened_at TIMESTAMP WITH TIME ZONE NOT NULL,
    deadline TIMESTAMP WITH TIME ZONE,
    closed_at TIMESTAMP WITH TIME ZONE,
    parameter VARCHAR,
    severity VARCHAR,
    routed_by VARCHAR,
    rectification_ordered_at TIMESTAMP WITH TIME ZONE,
    dismissed_reason VARCHAR,
    escalated_to VARCHAR,
    escalated_at TIMESTAMP WITH TIME ZONE
);

CREATE TABLE data_availability (
    site_id VARCHAR NOT NULL,
    parameter VARCHAR NOT NULL,
    interval_s INTEGER NOT NULL,
    period_kind VARCHAR NOT NULL,
    period_start TIMESTAMP WITH TIME ZONE NOT NULL,
    local_date DATE NOT NULL,
    expected INTEGER NOT NULL,
    received INTEGER NOT NULL,
    "valid" INTEGER NOT NULL,
    computed_at TIMESTAMP WITH TIME ZONE NOT NULL
);

CREATE TABLE day_status (
    site_id VARCHAR,
    local_date DATE,
    status VARCHAR NOT NULL,
    status_by VARCHAR NOT NULL,
    status_at TIMESTAMP WITH TIME ZONE NOT NULL,
    note VARCHAR,
    PRIMARY KEY(site_id, local_date)
);

CREATE TABLE day_status_events (
    site_id VARCHAR NOT NULL,
    local_date DATE NOT NULL,
    status VARCHAR NOT NULL,
    status_by VARCHAR NOT NULL,
    status_at TIMESTAMP WITH TIME ZONE NOT NULL,
    note VARCHAR,
    review_id VARCHAR
);

CREATE TABLE dead_letters (
    dead_letter_id VARCHAR PRIMARY KEY,
    source_kind VARCHAR NOT NULL,
    origin VARCHAR NOT NULL,
    reason VARCHAR NOT NULL,
    raw BLOB,
    received_at TIMESTAMP WITH TIME ZONE NOT NULL,
    batch_id VARCHAR NOT NULL,
    status VARCHAR DEFAULT('waiting') NOT NULL,
    resolved_note VARCHAR
);

CREATE TABLE derivation_runs (
    run_id VARCHAR PRIMARY KEY,
    stage VARCHAR NOT NULL,
    range_start TIMESTAMP WITH TIME ZONE NOT NULL,
    range_end TIMESTAMP WITH TIME ZONE NOT NULL,
    rows_written BIGINT NOT NULL,
    started_at TIMESTAMP WITH TIME ZONE NOT NULL,
    finished_at TIMESTAMP WITH TIME ZONE NOT NULL
);

CREATE TABLE emission_totals (
    site_id VARCHAR,
    parameter VARCHAR,
    period VARCHAR,
    period_start DATE,
    total_kg DOUBLE,
    n_valid_hours INTEGER NOT NULL,
    "valid" BOOLEAN NOT NULL,
    permitted_kg DOUBLE,
    share_of_permit DOUBLE,
    over_permit BOOLEAN,
    computed_at TIMESTAMP WITH TIME ZONE NOT NULL,
    PRIMARY KEY(site_id, parameter, period, period_start)
);

CREATE TABLE enterprises (
    enterprise_id VARCHAR PRIMARY KEY,
    name_zh VARCHAR NOT NULL,
    name_en VARCHAR NOT NULL,
    grid_id VARCHAR NOT NULL,
    special_grid_id VARCHAR,
    industry VARCHAR NOT NULL,
    key_monitored BOOLEAN NOT NULL,
    credit_code VARCHAR,
    address VARCHAR
);

CREATE TABLE grids (
    grid_id VARCHAR PRIMARY KEY,
    name_en VARCHAR NOT NULL,
    name_zh VARCHAR NOT NULL,
    "level" VARCHAR NOT NULL,
    parent_id VARCHAR,
    special BOOLEAN NOT NULL
);

CREATE TABLE hour_value_runs (
    range_start TIMESTAMP WITH TIME ZONE NOT NULL,
    range_end TIMESTAMP WITH TIME ZONE NOT NULL,
    inputs_token VARCHAR NOT NULL,
    computed_at TIMESTAMP WITH TIME ZONE NOT NULL
);

CREATE TABLE hour_values (
    site_id VARCHAR NOT NULL,
    parameter VARCHAR NOT NULL,
    period_start TIMESTAMP WITH TIME ZONE NOT NULL,
    "value" DOUBLE,
    unit VARCHAR,
    "valid" BOOLEAN NOT NULL,
    n_valid INTEGER NOT NULL,
    n_expected INTEGER NOT NULL,
    invalid_reason VARCHAR,
    source_interval_s INTEGER,
    "domain" VARCHAR,
    kind VARCHAR
);

CREATE TABLE load_ledger (
    batch_id VARCHAR PRIMARY KEY,
    kind VARCHAR NOT NULL,
    source_kind VARCHAR NOT NULL,
    relpath VARCHAR NOT NULL,
    rows_in BIGINT NOT NULL,
    rows_inserted BIGINT NOT NULL,
    rows_duplicate BIGINT NOT NULL,
    rows_conflict BIGINT NOT NULL,
    loaded_at TIMESTAMP WITH TIME ZONE NOT NULL
);

CREATE TABLE logger_events (
    site_id VARCHAR NOT NULL,
    mn VARCHAR,
    cn VARCHAR NOT NULL,
    event_time TIMESTAMP WITH TIME ZONE NOT NULL,
    kind VARCHAR NOT NULL,
    code VARCHAR,
    status_code INTEGER,
    alarm_type VARCHAR,
    received_at TIMESTAMP WITH TIME ZONE NOT NULL,
    origin VARCHAR,
    extra VARCHAR,
    batch_id VARCHAR NOT NULL
);

CREATE TABLE noise_daily (
    site_id VARCHAR,
    local_date DATE,
    "zone" VARCHAR NOT NULL,
    standard VARCHAR NOT NULL,
    ld_dba DOUBLE,
    ln_dba DOUBLE,
    ld_limit_dba DOUBLE NOT NULL,
    ln_limit_dba DOUBLE NOT NULL,
    day_exceeds BOOLEAN,
    night_exceeds BOOLEAN,
    lmax_night_dba DOUBLE,
    night_max_exceeds BOOLEAN,
    n_day_hours INTEGER NOT NULL,
    n_night_hours INTEGER NOT NULL,
    computed_at TIMESTAMP WITH TIME ZONE NOT NULL,
    enterprise_id VARCHAR,
    indoor BOOLEAN,
    night_sudden_noise VARCHAR,
    night_max_limit_dba DOUBLE,
    n_day_hours_required INTEGER,
    n_night_hours_required INTEGER,
    ld_missing_reason VARCHAR,
    ln_missing_reason VARCHAR,
    PRIMARY KEY(site_id, local_date)
);

CREATE TABLE noise_points (
    site_id VARCHAR PRIMARY KEY,
    noise_standard VARCHAR NOT NULL,
    enterprise_id VARCHAR,
    indoor BOOLEAN NOT NULL,
    night_sudden_noise VARCHAR
);

CREATE TABLE notifications (
    notification_id VARCHAR PRIMARY KEY,
    "event" VARCHAR NOT NULL,
    alert_id VARCHAR,
    case_id VARCHAR,
    channel_id VARCHAR NOT NULL,
    channel_kind VARCHAR NOT NULL,
    recipient VARCHAR,
    subject VARCHAR NOT NULL,
    payload VARCHAR NOT NULL,
    queued_for TIMESTAMP WITH TIME ZONE NOT NULL,
    status VARCHAR NOT NULL,
    attempts INTEGER NOT NULL,
    next_attempt_at TIMESTAMP WITH TIME ZONE,
    last_error VARCHAR,
    sent_at TIMESTAMP WITH TIME ZONE
);

CREATE TABLE officers (
    officer_id VARCHAR PRIMARY KEY,
    name_zh VARCHAR NOT NULL,
    name_en VARCHAR NOT NULL,
    grid_id VARCHAR NOT NULL,
    "role" VARCHAR NOT NULL,
    phone VARCHAR,
    email VARCHAR
);

CREATE TABLE outlet_days (
    site_id VARCHAR NOT NULL,
    parameter VARCHAR NOT NULL,
    period_start TIMESTAMP WITH TIME ZONE NOT NULL,
    unit VARCHAR,
    official_value DOUBLE,
    obtained VARCHAR,
    "valid" BOOLEAN NOT NULL,
    invalid_reason VARCHAR,
    logger_value DOUBLE,
    derived_value DOUBLE,
    load_kg DOUBLE,
    valid_hours INTEGER NOT NULL,
    operating_hours INTEGER NOT NULL,
    computed_at TIMESTAMP WITH TIME ZONE NOT NULL
);

CREATE TABLE outlet_hours (
    site_id VARCHAR NOT NULL,
    parameter VARCHAR NOT NULL,
    period_start TIMESTAMP WITH TIME ZONE NOT NULL,
    unit VARCHAR,
    official_value DOUBLE,
    obtained VARCHAR,
    "valid" BOOLEAN NOT NULL,
    invalid_reason VARCHAR,
    derived_value DOUBLE,
    covered_minutes INTEGER NOT NULL,
    logger_value DOUBLE,
    logger_zs_value DOUBLE,
    corrected_value DOUBLE,
    o2_pct DOUBLE,
    load_kg DOUBLE,
    operating BOOLEAN,
    not_operating_reason VARCHAR,
    computed_at TIMESTAMP WITH TIME ZONE NOT NULL,
    treatment_stopped VARCHAR,
    logger_valid BOOLEAN
);

CREATE TABLE outlets (
    site_id VARCHAR PRIMARY KEY,
    enterprise_id VARCHAR NOT NULL,
    outlet_type VARCHAR NOT NULL,
    reference_o2_pct DOUBLE,
    emission_standard VARCHAR,
    logger_mn VARCHAR UNIQUE,
    logger_password_hmac VARCHAR,
    protocol_edition VARCHAR,
    minute_interval_s INTEGER,
    hour_label VARCHAR
);

CREATE TABLE parameters (
    parameter VARCHAR PRIMARY KEY,
    name_en VARCHAR NOT NULL,
    name_zh VARCHAR NOT NULL,
    "domain" VARCHAR NOT NULL,
    unit VARCHAR NOT NULL,
    hj212_2017_code VARCHAR,
    hj212_2005_code VARCHAR,
    min_possible DOUBLE,
    max_possible DOUBLE,
    decimals INTEGER
);

CREATE TABLE permit_limits (
    site_id VARCHAR,
    parameter VARCHAR,
    statistic VARCHAR,
    limit_value DOUBLE NOT NULL,
    unit VARCHAR NOT NULL,
    basis VARCHAR NOT NULL,
    valid_from DATE,
    valid_to DATE,
    PRIMARY KEY(site_id, parameter, statistic, valid_from)
);

CREATE TABLE permitted_quantities (
    site_id VARCHAR,
    parameter VARCHAR,
    period VARCHAR,
    quantity_kg DOUBLE NOT NULL,
    basis VARCHAR NOT NULL,
    valid_from DATE,
    valid_to DATE,
    PRIMARY KEY(site_id, parameter, period, valid_from)
);

CREATE TABLE qc_coverage (
    range_start TIMESTAMP WITH TIME ZONE,
    range_end TIMESTAMP WITH TIME ZONE,
    config_hash VARCHAR NOT NULL,
    readings BIGINT NOT NULL,
    flags BIGINT NOT NULL,
    evaluated_at TIMESTAMP WITH TIME ZONE NOT NULL,
    PRIMARY KEY(range_start, range_end)
);

CREATE TABLE qc_flags (
    site_id VARCHAR NOT NULL,
    parameter VARCHAR NOT NULL,
    period_start TIMESTAMP WITH TIME ZONE NOT NULL,
    interval_s INTEGER NOT NULL,
    source_kind VARCHAR NOT NULL,
    check_name VARCHAR NOT NULL,
    flag SMALLINT NOT NULL,
    detail VARCHAR,
    config_hash VARCHAR NOT NULL,
    evaluated_at TIMESTAMP WITH TIME ZONE NOT NULL
);

CREATE TABLE quarantined_batches (
    relpath VARCHAR PRIMARY KEY,
    quarantine_path VARCHAR NOT NULL,
    reason VARCHAR NOT NULL,
    quarantined_at TIMESTAMP WITH TIME ZONE NOT NULL
);

CREATE TABLE reading_conflicts (
    site_id VARCHAR NOT NULL,
    parameter VARCHAR NOT NULL,
    period_start TIMESTAMP WITH TIME ZONE NOT NULL,
    interval_s INTEGER NOT NULL,
    source_kind VARCHAR NOT NULL,
    kept_value DOUBLE,
    kept_flag VARCHAR,
    kept_batch_id VARCHAR NOT NULL,
    conflicting_value DOUBLE,
    conflicting_flag VARCHAR,
    conflicting_batch_id VARCHAR NOT NULL,
    conflicting_origin VARCHAR,
    conflicting_received_at TIMESTAMP WITH TIME ZONE NOT NULL,
    detected_at TIMESTAMP WITH TIME ZONE NOT NULL
);

CREATE TABLE readings (
    site_id VARCHAR NOT NULL,
    parameter VARCHAR NOT NULL,
    period_start TIMESTAMP WITH TIME ZONE NOT NULL,
    interval_s INTEGER NOT NULL,
    source_kind VARCHAR NOT NULL,
    "value" DOUBLE,
    value_min DOUBLE,
    value_max DOUBLE,
    value_zs DOUBLE,
    value_cou DOUBLE,
    unit VARCHAR NOT NULL,
    flag VARCHAR,
    received_at TIMESTAMP WITH TIME ZONE NOT NULL,
    origin VARCHAR,
    extra VARCHAR,
    batch_id VARCHAR NOT NULL
);

CREATE TABLE registry_loads (
    loaded_at TIMESTAMP WITH TIME ZONE NOT NULL,
    config_hash VARCHAR NOT NULL,
    files VARCHAR NOT NULL,
    changed BOOLEAN NOT NULL
);

CREATE TABLE review_events (
    review_id VARCHAR PRIMARY KEY,
    "action" VARCHAR NOT NULL,
    site_id VARCHAR NOT NULL,
    parameter VARCHAR,
    period_from TIMESTAMP WITH TIME ZONE NOT NULL,
    period_to TIMESTAMP WITH TIME ZONE NOT NULL,
    reason VARCHAR NOT NULL,
    reviewed_by VARCHAR NOT NULL,
    reviewed_at TIMESTAMP WITH TIME ZONE NOT NULL,
    reverts_review_id VARCHAR
);

CREATE TABLE schema_migrations (
    "version" INTEGER PRIMARY KEY,
    "name" VARCHAR NOT NULL,
    checksum VARCHAR NOT NULL,
    applied_at TIMESTAMP WITH TIME ZONE NOT NULL
);

CREATE TABLE silences (
    silence_id VARCHAR PRIMARY KEY,
    kind VARCHAR NOT NULL,
    site_id VARCHAR,
    rule_id VARCHAR,
    parameter VARCHAR,
    starts_at TIMESTAMP WITH TIME ZONE NOT NULL,
    ends_at TIMESTAMP WITH TIME ZONE NOT NULL,
    reason VARCHAR NOT NULL,
    created_by VARCHAR NOT NULL,
    created_at TIMESTAMP WITH TIME ZONE NOT NULL,
    revoked_by VARCHAR,
    revoked_at TIMESTAMP WITH TIME ZONE
);

CREATE TABLE site_parameters (
    site_id VARCHAR,
    parameter VARCHAR,
    interval_s INTEGER,
    unit VARCHAR,
    PRIMARY KEY(site_id, parameter, interval_s)
);

CREATE TABLE sites (
    site_id VARCHAR PRIMARY KEY,
    kind VARCHAR NOT NULL,
    name_zh VARCHAR NOT NULL,
    name_en VARCHAR NOT NULL,
    grid_id VARCHAR NOT NULL,
    special_grid_id VARCHAR,
    timezone VARCHAR NOT NULL,
    latitude DOUBLE,
    longitude DOUBLE,
    commissioned_on DATE,
    decommissioned_on DATE,
    noise_zone VARCHAR,
    water_target_class VARCHAR,
    waterbody VARCHAR,
    air_zone_class VARCHAR,
    in_city_assessment BOOLEAN
);

CREATE TABLE staff (
    person_id VARCHAR PRIMARY KEY,
    name_zh VARCHAR NOT NULL,
    name_en VARCHAR NOT NULL,
    "role" VARCHAR NOT NULL,
    phone VARCHAR,
    email VARCHAR
);

CREATE TABLE transmission_efficiency (
    site_id VARCHAR,
    "month" DATE,
    interval_s INTEGER NOT NULL,
    expected BIGINT NOT NULL,
    received BIGINT NOT NULL,
    "valid" BIGINT NOT NULL,
    transmission_rate DOUBLE,
    validity_rate DOUBLE,
    efficiency DOUBLE,
    required DOUBLE NOT NULL,
    meets_requirement BOOLEAN,
    computed_at TIMESTAMP WITH TIME ZONE NOT NULL,
    PRIMARY KEY(site_id, "month")
);

CREATE TABLE units (
    unit VARCHAR PRIMARY KEY,
    quantity VARCHAR NOT NULL,
    to_base DOUBLE NOT NULL,
    name_zh VARCHAR NOT NULL
);

CREATE TABLE validation_runs (
    batch_id VARCHAR NOT NULL,
    suite VARCHAR NOT NULL,
    suite_hash VARCHAR NOT NULL,
    expectation VARCHAR NOT NULL,
    column_name VARCHAR,
    kwargs VARCHAR NOT NULL,
    success BOOLEAN NOT NULL,
    element_count BIGINT,
    unexpected_count BIGINT,
    evaluated_at TIMESTAMP WITH TIME ZONE NOT NULL
);

CREATE TABLE water_class (
    site_id VARCHAR,
    period VARCHAR,
    period_start DATE,
    waterbody VARCHAR NOT NULL,
    water_class VARCHAR,
    target_class VARCHAR,
    compliant BOOLEAN,
    limiting_parameters VARCHAR,
    exceeding_parameters VARCHAR,
    exceedance_multiples VARCHAR,
    n_parameters INTEGER NOT NULL,
    computed_at TIMESTAMP WITH TIME ZONE NOT NULL,
    below_detection_counts VARCHAR,
    not_detected_limits VARCHAR,
    PRIMARY KEY(site_id, period, period_start)
);

CREATE TABLE web_actions (
    action_id VARCHAR PRIMARY KEY,
    username VARCHAR NOT NULL,
    person_id VARCHAR NOT NULL,
    case_id VARCHAR,
    "action" VARCHAR NOT NULL,
    submitted_at TIMESTAMP WITH TIME ZONE NOT NULL,
    applied_at TIMESTAMP WITH TIME ZONE NOT NULL,
    event_seq INTEGER
);

CREATE TABLE web_sessions (
    token_hash VARCHAR PRIMARY KEY,
    username VARCHAR NOT NULL,
    created_at TIMESTAMP WITH TIME ZONE NOT NULL,
    expires_at TIMESTAMP WITH TIME ZONE NOT NULL,
    last_seen_at TIMESTAMP WITH TIME ZONE NOT NULL,
    csrf_token VARCHAR NOT NULL
);

CREATE TABLE web_users (
    username VARCHAR PRIMARY KEY,
    person_id VARCHAR NOT NULL,
    "role" VARCHAR NOT NULL,
    password_hash VARCHAR NOT NULL,
    disabled BOOLEAN DEFAULT(false) NOT NULL,
    created_at TIMESTAMP WITH TIME ZONE NOT NULL,
    created_by VARCHAR NOT NULL,
    password_changed_at TIMESTAMP WITH TIME ZONE NOT NULL,
    disabled_at TIMESTAMP WITH TIME ZONE,
    disabled_by VARCHAR
);

-- v_latest_readings:
--     site_id VARCHAR
--     parameter VARCHAR
--     interval_s INTEGER
--     source_kind VARCHAR
--     value DOUBLE
--     unit VARCHAR
--     flag VARCHAR
--     period_start TIMESTAMP WITH TIME ZONE
CREATE VIEW v_latest_readings AS SELECT site_id, parameter, interval_s, source_kind, arg_max("value", period_start) AS "value", arg_max(unit, period_start) AS unit, arg_max(flag, period_start) AS flag, max(period_start) AS period_start FROM readings GROUP BY site_id, parameter, interval_s, source_kind;

-- v_people:
--     person_id VARCHAR
--     name_zh VARCHAR
--     name_en VARCHAR
--     role VARCHAR
--     grid_id VARCHAR
--     phone VARCHAR
--     email VARCHAR
CREATE VIEW v_people AS (SELECT officer_id AS person_id, name_zh, name_en, "role", grid_id, phone, email FROM officers) UNION ALL (SELECT person_id, name_zh, name_en, "role", NULL AS grid_id, phone, email FROM staff);

-- v_review_in_force:
--     review_id VARCHAR
--     action VARCHAR
--     site_id VARCHAR
--     parameter VARCHAR
--     period_from TIMESTAMP WITH TIME ZONE
--     period_to TIMESTAMP WITH TIME ZONE
--     reason VARCHAR
--     reviewed_by VARCHAR
--     reviewed_at TIMESTAMP WITH TIME ZONE
--     reverts_review_id VARCHAR
CREATE VIEW v_review_in_force AS SELECT e.* FROM review_events AS e WHERE ((e."action" IN ('flag', 'unflag')) AND (NOT EXISTS(SELECT 1 FROM review_events AS r WHERE ((r."action" = 'revert') AND (r.reverts_review_id = e.review_id)))));

-- v_readings_qc:
--     site_id VARCHAR
--     parameter VARCHAR
--     period_start TIMESTAMP WITH TIME ZONE
--     interval_s INTEGER
--     source_kind VARCHAR
--     value DOUBLE
--     value_min DOUBLE
--     value_max DOUBLE
--     value_zs DOUBLE
--     value_cou DOUBLE
--     unit VARCHAR
--     flag VARCHAR
--     received_at TIMESTAMP WITH TIME ZONE
--     origin VARCHAR
--     extra VARCHAR
--     batch_id VARCHAR
--     qc_flag SMALLINT
--     review_action VARCHAR
--     review_id VARCHAR
--     effective_flag SMALLINT
--     qc_verdict VARCHAR
--     effective_verdict VARCHAR
--     valid BOOLEAN
CREATE VIEW v_readings_qc AS WITH worst AS (SELECT site_id, parameter, period_start, interval_s, source_kind, max(flag) AS qc_flag FROM qc_flags GROUP BY ALL), cuts AS ((SELECT range_start AS t FROM qc_coverage) UNION (SELECT range_end FROM qc_coverage)), bounds AS (SELECT t AS seg_start, lead(t) OVER (ORDER BY t) AS seg_end FROM cuts), segments AS (SELECT b.seg_start, b.seg_end, max(c.evaluated_at) AS evaluated_at FROM (bounds AS b INNER JOIN qc_coverage AS c ON (((c.range_start <= b.seg_start) AND (b.seg_end <= c.range_end)))) WHERE (b.seg_end IS NOT NULL) GROUP BY ALL), segment_days AS (SELECT s.*, unnest("range"((epoch_us(s.seg_start) // 86400000000), (((epoch_us(s.seg_end) - 1) // 86400000000) + 1))) AS "day" FROM segments AS s), base AS (SELECT r.*, CASE  WHEN ((w.qc_flag IS NOT NULL)) THEN (w.qc_flag) WHEN ((l.loaded_at <= c.evaluated_at)) THEN (0) ELSE NULL END AS qc_flag FROM (((readings AS r LEFT JOIN load_ledger AS l ON ((l.batch_id = r.batch_id))) LEFT JOIN segment_days AS c ON (((c."day" = (epoch_us(r.period_start) // 86400000000)) AND (r.period_start >= c.seg_start) AND (r.period_start < c.seg_end)))) LEFT JOIN worst AS w ON (((w.site_id = r.site_id) AND (w.parameter = r.parameter) AND (w.period_start = r.period_start) AND (w.interval_s = r.interval_s) AND (w.source_kind = r.source_kind))))), reviewed AS (SELECT r.site_id, r.parameter, r.period_start, r.interval_s, r.source_kind, arg_max(e."action", "row"(e.reviewed_at, e.review_id)) AS review_action, arg_max(e.review_id, "row"(e.reviewed_at, e.review_id)) AS review_id FROM (readings AS r INNER JOIN v_review_in_force AS e ON (((e.site_id = r.site_id) AND ((e.parameter IS NULL) OR (e.parameter = r.parameter)) AND (r.period_start >= e.period_from) AND (r.period_start < e.period_to)))) GROUP BY ALL), verdicts AS (SELECT b.*, v.review_action, v.review_id, CASE  WHEN ((b."value" IS NULL)) THEN (3) WHEN ((v.review_action = 'flag')) THEN (2) WHEN ((v.review_action = 'unflag')) THEN (0) ELSE b.qc_flag END AS effective_flag FROM (base AS b LEFT JOIN reviewed AS v USING (site_id, parameter, period_start, interval_s, source_kind))) SELECT *, CASE  WHEN ((qc_flag = 0)) THEN ('pass') WHEN ((qc_flag = 1)) THEN ('suspect') WHEN ((qc_flag = 2)) THEN ('fail') WHEN ((qc_flag = 3)) THEN ('missing') ELSE 'not_evaluated' END AS qc_verdict, CASE  WHEN ((effective_flag = 0)) THEN ('pass') WHEN ((effective_flag = 1)) THEN ('suspect') WHEN ((effective_flag = 2)) THEN ('fail') WHEN ((effective_flag = 3)) THEN ('missing') ELSE 'not_evaluated' END AS effective_verdict, COALESCE((effective_flag <= 1), false) AS "valid" FROM verdicts;

-- v_site_labels:
--     site_id VARCHAR
--     kind VARCHAR
--     site_name_zh VARCHAR
--     site_name_en VARCHAR
--     timezone VARCHAR
--     enterprise_id VARCHAR
--     enterprise_name_zh VARCHAR
--     enterprise_name_en VARCHAR
--     credit_code VARCHAR
--     enterprise_address VARCHAR
--     label_zh VARCHAR
--     label_en VARCHAR
CREATE VIEW v_site_labels AS SELECT s.site_id, s.kind, s.name_zh AS site_name_zh, s.name_en AS site_name_en, s.timezone, e.enterprise_id, e.name_zh AS enterprise_name_zh, e.name_en AS enterprise_name_en, e.credit_code, e.address AS enterprise_address, CASE  WHEN ((e.enterprise_id IS NULL)) THEN (s.name_zh) ELSE ((e.name_zh || ' ') || s.name_zh) END AS label_zh, CASE  WHEN ((e.enterprise_id IS NULL)) THEN (s.name_en) ELSE ((e.name_en || ', ') || s.name_en) END AS label_en FROM (((sites AS s LEFT JOIN outlets AS o ON ((o.site_id = s.site_id))) LEFT JOIN noise_points AS n ON ((n.site_id = s.site_id))) LEFT JOIN enterprises AS e ON ((e.enterprise_id = COALESCE(o.enterprise_id, n.enterprise_id))));
