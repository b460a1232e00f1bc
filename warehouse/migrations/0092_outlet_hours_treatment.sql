-- Outlet hours: the pollution-treatment facilities' running status and the logger's own hourly
-- validity (review findings T1, T4, T5, T10; transforms/derive/outlet_hours.py).
-- HJ 212-2017 CN 2021 SBn-RS is the running status of the pollution-TREATMENT facility n, not of
-- production: a stopped treatment facility never makes an hour "not operating". Not operating
-- is process evidence only (zero flow; flue-gas O2 above the cap of
-- transforms/standards/tables/emission_o2_cap.csv), and such a pollutant hour is not judged.
-- `treatment_stopped`: the facilities (e.g. 'SB1' or 'SB1, SB2') stopped for at least
--   transforms/derive/tables/run_status.csv stopped_min_minutes of the hour (time-weighted, the
--   last status carried forward from before the hour up to its lookback_hours) while the outlet
--   is operating; NULL when running, unknown or not operating.
-- `logger_valid`: whether the logger's own hourly reading (CN 2061, source hj212) passed QC;
--   NULL when it sent none.
-- `obtained` gains 'reported': an hourly value of a source other than the logger (file, lab
--   backfill); 'logger' is only the logger's own (hj212) hourly value.
-- `operating` becomes nullable: NULL (no verdict) for a site-hour without any data and without
--   process evidence of a shut-down. (In outlet_hours `valid` is the data's validity; only
--   `aggregates` hour_avg / hour_avg_o2 of a pollutant in a shut-down hour are invalid.)
ALTER TABLE outlet_hours ADD COLUMN treatment_stopped VARCHAR;
ALTER TABLE outlet_hours ADD COLUMN logger_valid BOOLEAN;
ALTER TABLE outlet_hours ALTER COLUMN operating DROP NOT NULL;
