-- `aggregates` without its PRIMARY KEY index. At province scale a night replaces over a million
-- hourly rows, and maintaining the index took ten times as long as writing the rows (16.5 s
-- against 1.5 s for 1.1 million rows). The key stays unique because the only writer
-- (transforms/derive/store.py) deletes a period's rows and inserts them again in one
-- transaction, and refuses rows whose key (site_id, parameter, statistic, period_start) repeats.
CREATE TABLE aggregates_0081 (
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
    computed_at     TIMESTAMPTZ NOT NULL
);
INSERT INTO aggregates_0081 SELECT * FROM aggregates ORDER BY period_start, site_id, parameter, statistic;
DROP TABLE aggregates;
ALTER TABLE aggregates_0081 RENAME TO aggregates;
