-- Logger events (issue 17): HJ 212 CN 2021 running status (SBn-RS) and CN 2072 alarm events,
-- loaded from the landing zone's `loggerevents` batches (warehouse/event_loader.py).
-- Natural key (site_id, cn, event_time, kind, code): a redelivered event is a no-op.
CREATE TABLE logger_events (
    site_id         VARCHAR NOT NULL,
    mn              VARCHAR,
    cn              VARCHAR NOT NULL,
    event_time      TIMESTAMPTZ NOT NULL,  -- the packet's period start (DataTime, label applied), UTC
    kind            VARCHAR NOT NULL,      -- 'run_status' (CN 2021) | 'alarm' (CN 2072)
    code            VARCHAR,               -- run_status: the facility ('SB1'...); alarm: pollutant code or NULL
    status_code     INTEGER,               -- run_status: RS (HJ 212-2017: 0 stopped, 1 running, 2 calibration,
                                           --   3 maintenance, 4 alarm, 5 backflush); alarm: NULL
    alarm_type      VARCHAR,               -- alarm: AlarmType as sent; run_status: NULL
    received_at     TIMESTAMPTZ NOT NULL,
    origin          VARCHAR,
    extra           VARCHAR,               -- JSON of every other field
    batch_id        VARCHAR NOT NULL
);
