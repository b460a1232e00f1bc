-- Everyone who can act (issue 20): grid officers and the bureau's staff (migration 0102), by
-- person_id, to name the actor of a case event, review or acknowledgement ("李艳 Li Yan").
-- grid_id is NULL for staff. The acting person is decided by core.identity, not here.
CREATE OR REPLACE VIEW v_people AS
SELECT officer_id AS person_id, name_zh, name_en, "role", grid_id, phone, email FROM officers
UNION ALL
SELECT person_id, name_zh, name_en, "role", NULL AS grid_id, phone, email FROM staff;
