-- The reading of the real-time AQI each aqi_hourly row was computed under (issue #19 item 1;
-- settings.aqi_realtime_reading, transforms/standards/tables/aqi_indicators.csv `reading`):
--   national_practice  PM10/PM2.5 IAQI from the 1-h values against the 24-h breakpoints, O3 from
--                      its 1-h value only (iaqi_o3_8h NULL): what the national platform (CNEMC)
--                      published under HJ 633-2012, and what HJ 633-2026 writes down
--   literal            HJ 633-2012 §5 to the letter: PM IAQI from the 24-h moving means, plus an
--                      O3 8-h IAQI
-- HJ 633-2026 hours are the same under both. Rows derived before this migration were computed
-- literally (the only reading then), so they are marked 'literal'; re-derive the hours
-- (`envmon aggregate hourly`) to have them under the national practice. The derivation always
-- writes it (transforms/derive/store.py refuses rows lacking a column); NULL = not recorded.
ALTER TABLE aqi_hourly ADD COLUMN realtime_reading VARCHAR;
UPDATE aqi_hourly SET realtime_reading = 'literal';
