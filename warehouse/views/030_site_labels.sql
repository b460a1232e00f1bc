-- How people name a site (issue 20): an outlet by its enterprise's registered name and its own
-- ("华能北京热电厂 燃煤机组烟囱1号": dozens of enterprises have a "燃煤机组烟囱1号"), a station or
-- boundary point by its name; with the enterprise's unified social credit code and registered
-- address. The one definition case titles, alert messages, notifications, case lists and exports
-- name sites by.
CREATE OR REPLACE VIEW v_site_labels AS
SELECT s.site_id, s.kind, s.name_zh AS site_name_zh, s.name_en AS site_name_en, s.timezone,
       e.enterprise_id, e.name_zh AS enterprise_name_zh, e.name_en AS enterprise_name_en,
       e.credit_code, e.address AS enterprise_address,
       CASE WHEN e.enterprise_id IS NULL THEN s.name_zh ELSE e.name_zh || ' ' || s.name_zh END AS label_zh,
       CASE WHEN e.enterprise_id IS NULL THEN s.name_en ELSE e.name_en || ', ' || s.name_en END AS label_en
FROM sites s
LEFT JOIN outlets o ON o.site_id = s.site_id
LEFT JOIN noise_points n ON n.site_id = s.site_id
LEFT JOIN enterprises e ON e.enterprise_id = coalesce(o.enterprise_id, n.enterprise_id);
