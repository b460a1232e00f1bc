-- The hourly values (transforms/derive/hours.py) of the last unpartitioned hourly run, kept so
-- that the daily run of the same night reads them instead of deriving the day's hours from the
-- readings a second time. A cache, not a record: the daily run uses it only while
-- `inputs_token` still equals the warehouse's input state (loads, QC, GX, reviews, registry,
-- views, the code and tables that make an hour: transforms/derive/hour_cache.py); otherwise, or
-- when the table is empty, it derives the hours as before. Emptying both tables is always safe.
CREATE TABLE hour_value_runs (
    range_start         TIMESTAMPTZ NOT NULL,
    range_end           TIMESTAMPTZ NOT NULL,
    inputs_token        VARCHAR NOT NULL,
    computed_at         TIMESTAMPTZ NOT NULL
);

CREATE TABLE hour_values (
    site_id             VARCHAR NOT NULL,
    parameter           VARCHAR NOT NULL,
    period_start        TIMESTAMPTZ NOT NULL,
    value               DOUBLE,
    unit                VARCHAR,
    valid               BOOLEAN NOT NULL,
    n_valid             INTEGER NOT NULL,
    n_expected          INTEGER NOT NULL,
    invalid_reason      VARCHAR,
    source_interval_s   INTEGER,
    domain              VARCHAR,
    kind                VARCHAR
);
