-- The latest reading of each site and parameter (status pages, staff queries).
CREATE OR REPLACE VIEW v_latest_readings AS
SELECT site_id, parameter, interval_s, source_kind,
       arg_max(value, period_start) AS value,
       arg_max(unit, period_start) AS unit,
       arg_max(flag, period_start) AS flag,
       max(period_start) AS period_start
FROM readings
GROUP BY site_id, parameter, interval_s, source_kind;
