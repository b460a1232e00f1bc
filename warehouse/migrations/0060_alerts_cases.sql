-- 0060 alerts and inspection cases: rule state, evidence, silences and maintenance windows,
-- notification outbox, escalations, continuing-exceedance days. Builds on `alerts`, `cases`
-- and `case_events` of 0001. Automatic rows carry times derived from the period evaluated
-- (never the clock), so evaluating the same hours twice writes nothing new.

-- alerts: the rule family and kind, the statistic compared, hysteresis and notification state.
ALTER TABLE alerts ADD COLUMN rule_family VARCHAR;
ALTER TABLE alerts ADD COLUMN rule_kind VARCHAR;          -- threshold | flat_line | no_data | flagged | transmission_efficiency
ALTER TABLE alerts ADD COLUMN statistic VARCHAR;
ALTER TABLE alerts ADD COLUMN grid_id VARCHAR;            -- grid the site routes to (special grid first)
ALTER TABLE alerts ADD COLUMN officer_id VARCHAR;         -- responsible officer of that grid
ALTER TABLE alerts ADD COLUMN periods_exceeded INTEGER;   -- periods whose value broke the condition
ALTER TABLE alerts ADD COLUMN hours_exceeded DOUBLE;      -- the same, in hours
ALTER TABLE alerts ADD COLUMN max_multiple DOUBLE;        -- max value ÷ limit (超标倍数 = max_multiple − 1)
ALTER TABLE alerts ADD COLUMN normal_streak INTEGER;      -- normal periods in a row (hysteresis)
ALTER TABLE alerts ADD COLUMN silenced_by VARCHAR;        -- silence_id in force when last evaluated
ALTER TABLE alerts ADD COLUMN last_notified_period TIMESTAMPTZ;

-- cases: routing and workflow details.
ALTER TABLE cases ADD COLUMN parameter VARCHAR;           -- parameter of the alert that opened it
ALTER TABLE cases ADD COLUMN severity VARCHAR;
ALTER TABLE cases ADD COLUMN routed_by VARCHAR;           -- special_grid | territorial_grid | parent_grid
ALTER TABLE cases ADD COLUMN rectification_ordered_at TIMESTAMPTZ;
ALTER TABLE cases ADD COLUMN dismissed_reason VARCHAR;
ALTER TABLE cases ADD COLUMN escalated_to VARCHAR;        -- leader officer_id after escalation
ALTER TABLE cases ADD COLUMN escalated_at TIMESTAMPTZ;

-- Where each (rule, site, parameter) has been evaluated up to: a period ending at or before
-- `evaluated_through` is never evaluated again (idempotent re-runs). parameter '' = site level.
CREATE TABLE alert_cursors (
    rule_id             VARCHAR NOT NULL,
    site_id             VARCHAR NOT NULL,
    parameter           VARCHAR NOT NULL,
    evaluated_through   TIMESTAMPTZ NOT NULL,   -- end of the last period evaluated
    PRIMARY KEY (rule_id, site_id, parameter)
);

-- Evidence: every period evaluated while an alert was active, plus the periods just before it.
CREATE TABLE alert_periods (
    alert_id        VARCHAR NOT NULL,
    period_start    TIMESTAMPTZ NOT NULL,
    interval_s      INTEGER NOT NULL,
    value           DOUBLE,
    limit_value     DOUBLE,
    unit            VARCHAR,
    multiple        DOUBLE,                 -- value ÷ limit
    exceeded        BOOLEAN NOT NULL,
    detail          VARCHAR,
    PRIMARY KEY (alert_id, period_start)
);

-- Silences (alerts still recorded, but no notification and no case while in force) and
-- declared maintenance windows (periods inside are not evaluated at all).
CREATE TABLE silences (
    silence_id      VARCHAR PRIMARY KEY,
    kind            VARCHAR NOT NULL,       -- silence | maintenance
    site_id         VARCHAR,                -- null = every site
    rule_id         VARCHAR,                -- null = every rule
    parameter       VARCHAR,                -- null = every parameter
    starts_at       TIMESTAMPTZ NOT NULL,
    ends_at         TIMESTAMPTZ NOT NULL,   -- expiry
    reason          VARCHAR NOT NULL,
    created_by      VARCHAR NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL,
    revoked_by      VARCHAR,
    revoked_at      TIMESTAMPTZ
);

-- Outbox: one row per message and channel; delivery retried with backoff, never deleted.
CREATE TABLE notifications (
    notification_id VARCHAR PRIMARY KEY,
    event           VARCHAR NOT NULL,       -- alert_firing | alert_repeat | alert_resolved | case_opened | case_escalated
    alert_id        VARCHAR,
    case_id         VARCHAR,
    channel_id      VARCHAR NOT NULL,
    channel_kind    VARCHAR NOT NULL,       -- email | webhook | log
    recipient       VARCHAR,                -- e-mail address, URL or log path
    subject         VARCHAR NOT NULL,
    payload         VARCHAR NOT NULL,       -- JSON
    queued_for      TIMESTAMPTZ NOT NULL,   -- the period that caused it
    status          VARCHAR NOT NULL,       -- pending | sending | sent | failed
    attempts        INTEGER NOT NULL,
    next_attempt_at TIMESTAMPTZ,
    last_error      VARCHAR,
    sent_at         TIMESTAMPTZ
);

-- Escalations of overdue cases to the grid's leader: once per case and deadline.
CREATE TABLE case_escalations (
    case_id         VARCHAR NOT NULL,
    overdue_since   TIMESTAMPTZ NOT NULL,   -- the deadline (or response deadline) missed
    escalated_at    TIMESTAMPTZ NOT NULL,
    to_officer_id   VARCHAR,
    reason          VARCHAR NOT NULL,
    PRIMARY KEY (case_id, overdue_since)
);

-- Local days on which the exceedance continued after the rectification order (grounds for
-- day-by-day continuous penalties).
CREATE TABLE case_exceedance_days (
    case_id         VARCHAR NOT NULL,
    local_date      DATE NOT NULL,
    periods_exceeded INTEGER NOT NULL,
    hours_exceeded  DOUBLE NOT NULL,
    max_multiple    DOUBLE,
    PRIMARY KEY (case_id, local_date)
);

-- One row per evaluation of a UTC range with one rules configuration.
CREATE TABLE alert_evaluations (
    range_start     TIMESTAMPTZ NOT NULL,
    range_end       TIMESTAMPTZ NOT NULL,
    rules_hash      VARCHAR NOT NULL,
    periods_evaluated BIGINT NOT NULL,
    alerts_opened   INTEGER NOT NULL,
    alerts_resolved INTEGER NOT NULL,
    cases_opened    INTEGER NOT NULL,
    PRIMARY KEY (range_start, range_end, rules_hash)
);
