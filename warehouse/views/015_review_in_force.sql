-- Review events still in force: flag/unflag events that no revert names. First created by
-- migration 0040; defined here, with every other view, from then on (v_readings_qc reads it).
CREATE OR REPLACE VIEW v_review_in_force AS
SELECT e.*
FROM review_events e
WHERE e.action IN ('flag', 'unflag')
  AND NOT EXISTS (SELECT 1 FROM review_events r
                  WHERE r.action = 'revert' AND r.reverts_review_id = e.review_id);
