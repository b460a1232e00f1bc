-- Every reading with its worst QC flag, the review in force over it (latest wins) and the
-- effective verdict: flag -> fail, unflag -> pass (a null value stays missing), else QC.
-- Replaces migration 0040's definition with the same columns and rows, made to scale (issue
-- #11): readings are scanned once (the review lookup reads readings itself rather than
-- `base`, which would otherwise be materialised whole, before any filter of the caller), and
-- QC coverage is joined as disjoint segments instead of a correlated EXISTS per reading.
CREATE OR REPLACE VIEW v_readings_qc AS
WITH worst AS (
    SELECT site_id, parameter, period_start, interval_s, source_kind, max(flag) AS qc_flag
    FROM qc_flags GROUP BY ALL
),
-- QC coverage as disjoint time segments, each with the latest evaluation covering it: a
-- reading is covered when its batch was loaded by then. Segments are cut per UTC day so
-- that readings find theirs by an equality join (one pass) instead of a per-row EXISTS.
cuts AS (
    SELECT range_start AS t FROM qc_coverage UNION SELECT range_end FROM qc_coverage
),
bounds AS (
    SELECT t AS seg_start, lead(t) OVER (ORDER BY t) AS seg_end FROM cuts
),
segments AS (
    SELECT b.seg_start, b.seg_end, max(c.evaluated_at) AS evaluated_at
    FROM bounds b JOIN qc_coverage c ON c.range_start <= b.seg_start AND b.seg_end <= c.range_end
    WHERE b.seg_end IS NOT NULL
    GROUP BY ALL
),
segment_days AS (
    SELECT s.*, unnest(range(epoch_us(s.seg_start) // 86400000000,
                             (epoch_us(s.seg_end) - 1) // 86400000000 + 1)) AS day
    FROM segments s
),
base AS (
    SELECT r.*,
           CASE WHEN w.qc_flag IS NOT NULL THEN w.qc_flag
                WHEN l.loaded_at <= c.evaluated_at THEN 0
           END AS qc_flag
    FROM readings r
    LEFT JOIN load_ledger l ON l.batch_id = r.batch_id
    LEFT JOIN segment_days c
      ON c.day = epoch_us(r.period_start) // 86400000000
     AND r.period_start >= c.seg_start AND r.period_start < c.seg_end
    LEFT JOIN worst w
      ON w.site_id = r.site_id AND w.parameter = r.parameter AND w.period_start = r.period_start
     AND w.interval_s = r.interval_s AND w.source_kind = r.source_kind
),
reviewed AS (  -- from readings, not base: base is then read once, and filters reach its scan
    SELECT r.site_id, r.parameter, r.period_start, r.interval_s, r.source_kind,
           arg_max(e.action, (e.reviewed_at, e.review_id)) AS review_action,
           arg_max(e.review_id, (e.reviewed_at, e.review_id)) AS review_id
    FROM readings r
    JOIN v_review_in_force e
      ON e.site_id = r.site_id
     AND (e.parameter IS NULL OR e.parameter = r.parameter)
     AND r.period_start >= e.period_from AND r.period_start < e.period_to
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
