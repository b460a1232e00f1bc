-- 0040 QC: validation results, QC coverage, data availability, transmission efficiency,
-- day status, and the per-reading verdict view. Flag scale (transforms.qc.flags):
-- 0 pass < 1 suspect < 2 fail < 3 missing; a reading no QC run has covered is not_evaluated.

-- One row per (batch, suite, expectation) of a Great Expectations run over a loaded batch.
CREATE TABLE validation_runs (
    batch_id            VARCHAR NOT NULL,
    suite               VARCHAR NOT NULL,
    suite_hash          VARCHAR NOT NULL,
    expectation         VARCHAR NOT NULL,   -- expectation type
    column_name         VARCHAR,
    kwargs              VARCHAR NOT NULL,   -- JSON of the expectation's arguments
    success             BOOLEAN NOT NULL,
    element_count       BIGINT,
    unexpected_count    BIGINT,
    evaluated_at        TIMESTAMPTZ NOT NULL
);

-- The UTC ranges a QC run has evaluated: a reading inside one, loaded before the run and with
-- no flag row, passed every check (pass flags are not stored: they would be ~8 rows a reading).
CREATE TABLE qc_coverage (
    range_start     TIMESTAMPTZ NOT NULL,
    range_end       TIMESTAMPTZ NOT NULL,
    config_hash     VARCHAR NOT NULL,
    readings        BIGINT NOT NULL,
    flags           BIGINT NOT NULL,
    evaluated_at    TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (range_start, range_end)
);

-- Per site, parameter and interval, per local hour and local day: expected, received, valid.
CREATE TABLE data_availability (
    site_id         VARCHAR NOT NULL,
    parameter       VARCHAR NOT NULL,
    interval_s      INTEGER NOT NULL,
    period_kind     VARCHAR NOT NULL,       -- hour | day
    period_start    TIMESTAMPTZ NOT NULL,   -- start of the local hour / local day
    local_date      DATE NOT NULL,
    expected        INTEGER NOT NULL,
    received        INTEGER NOT NULL,
    valid           INTEGER NOT NULL,       -- effective verdict pass or suspect, after reviews
    computed_at     TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (site_id, parameter, interval_s, period_kind, period_start)
);

-- Enterprise data transmission efficiency per outlet and month (transmission × validity).
CREATE TABLE transmission_efficiency (
    site_id             VARCHAR NOT NULL,
    month               DATE NOT NULL,      -- first day of the local month
    interval_s          INTEGER NOT NULL,   -- the data level counted (configured)
    expected            BIGINT NOT NULL,
    received            BIGINT NOT NULL,
    valid               BIGINT NOT NULL,
    transmission_rate   DOUBLE,
    validity_rate       DOUBLE,
    efficiency          DOUBLE,
    required            DOUBLE NOT NULL,
    meets_requirement   BOOLEAN,
    computed_at         TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (site_id, month)
);

-- Days that are audited (absence of a row = provisional).
CREATE TABLE day_status (
    site_id         VARCHAR NOT NULL,
    local_date      DATE NOT NULL,
    status          VARCHAR NOT NULL,       -- provisional | audited
    status_by       VARCHAR NOT NULL,       -- staff id, or 'auto' after the grace period
    status_at       TIMESTAMPTZ NOT NULL,
    note            VARCHAR,
    PRIMARY KEY (site_id, local_date)
);

-- Review events still in force: flag/unflag events that no revert names.
CREATE OR REPLACE VIEW v_review_in_force AS
SELECT e.*
FROM review_events e
WHERE e.action IN ('flag', 'unflag')
  AND NOT EXISTS (SELECT 1 FROM review_events r
                  WHERE r.action = 'revert' AND r.reverts_review_id = e.review_id);

-- Every reading with its worst QC flag, the review in force over it (latest wins) and the
-- effective verdict: flag -> fail, unflag -> pass (a null value stays missing), else QC.
CREATE OR REPLACE VIEW v_readings_qc AS
WITH worst AS (
    SELECT site_id, parameter, period_start, interval_s, source_kind, max(flag) AS qc_flag
    FROM qc_flags GROUP BY ALL
),
base AS (
    SELECT r.*,
           CASE WHEN w.qc_flag IS NOT NULL THEN w.qc_flag
                WHEN EXISTS (SELECT 1 FROM qc_coverage c
                             WHERE r.period_start >= c.range_start AND r.period_start < c.range_end
                               AND l.loaded_at <= c.evaluated_at) THEN 0
           END AS qc_flag
    FROM readings r
    LEFT JOIN load_ledger l ON l.batch_id = r.batch_id
    LEFT JOIN worst w
      ON w.site_id = r.site_id AND w.parameter = r.parameter AND w.period_start = r.period_start
     AND w.interval_s = r.interval_s AND w.source_kind = r.source_kind
),
reviewed AS (
    SELECT b.site_id, b.parameter, b.period_start, b.interval_s, b.source_kind,
           arg_max(e.action, (e.reviewed_at, e.review_id)) AS review_action,
           arg_max(e.review_id, (e.reviewed_at, e.review_id)) AS review_id
    FROM base b
    JOIN v_review_in_force e
      ON e.site_id = b.site_id
     AND (e.parameter IS NULL OR e.parameter = b.parameter)
     AND b.period_start >= e.period_from AND b.period_start < e.period_to
    GROUP BY ALL
),
verdicts AS (
    SELECT b.*, v.review_action, v.review_id,
           CASE WHEN b.value IS NULL THEN 3
                WHEN v.review_action = 'flag' THEN 2
                WHEN v.review_action = 'unflag' THEN 0
                ELSE b.qc_flag
           END AS effective_flag
    FROM base b
    LEFT JOIN reviewed v USING (site_id, parameter, period_start, interval_s, source_kind)
)
SELECT *,
       CASE qc_flag WHEN 0 THEN 'pass' WHEN 1 THEN 'suspect' WHEN 2 THEN 'fail' WHEN 3 THEN 'missing'
            ELSE 'not_evaluated' END AS qc_verdict,
       CASE effective_flag WHEN 0 THEN 'pass' WHEN 1 THEN 'suspect' WHEN 2 THEN 'fail' WHEN 3 THEN 'missing'
            ELSE 'not_evaluated' END AS effective_verdict,
       coalesce(effective_flag <= 1, false) AS valid
FROM verdicts;
