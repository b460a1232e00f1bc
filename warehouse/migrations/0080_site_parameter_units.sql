-- The unit a site reports each parameter in (an outlet's SO2 in mg/m3 while the parameter's
-- unit is ug/m3), stored with the registry so the derivations read it from the warehouse like
-- the rest of the registry instead of parsing the registry YAML in every task (seconds for a
-- province). Null in rows loaded before this migration: the next `envmon registry load`
-- rewrites the registry tables even when the files are unchanged, and until then readers fall
-- back to the configuration files.
ALTER TABLE site_parameters ADD COLUMN unit VARCHAR;
