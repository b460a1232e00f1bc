-- `data_availability` without its PRIMARY KEY index, for the reason of 0081: a province's day is
-- about 700,000 rows, and committing them through the index took most of the job's time. The
-- only writer (transforms/qc/availability.py) deletes the dates it rebuilds and inserts rows
-- grouped by the key in the same transaction, so each key is written once.
CREATE TABLE data_availability_0082 (
    site_id         VARCHAR NOT NULL,
    parameter       VARCHAR NOT NULL,
    interval_s      INTEGER NOT NULL,
    period_kind     VARCHAR NOT NULL,       -- hour | day
    period_start    TIMESTAMPTZ NOT NULL,   -- start of the local hour / local day
    local_date      DATE NOT NULL,
    expected        INTEGER NOT NULL,
    received        INTEGER NOT NULL,
    valid           INTEGER NOT NULL,       -- effective verdict pass or suspect, after reviews
    computed_at     TIMESTAMPTZ NOT NULL
);
INSERT INTO data_availability_0082 SELECT * FROM data_availability ORDER BY local_date, site_id, parameter;
DROP TABLE data_availability;
ALTER TABLE data_availability_0082 RENAME TO data_availability;
