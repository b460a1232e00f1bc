-- Per-logger habits (issue 17): the minute-data (CN 2051) interval in seconds and the label of
-- minute/hourly/daily data ('start' or 'end' of the period). Effective values: the registry's
-- own where set, else the protocol edition's default (warehouse/registry/logger_defaults.csv).
ALTER TABLE outlets ADD COLUMN minute_interval_s INTEGER;
ALTER TABLE outlets ADD COLUMN hour_label VARCHAR;
