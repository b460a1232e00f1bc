-- Issue 19 items 6-7: noise points at enterprises' boundaries (GB 12348-2008) and the coverage
-- of day/night levels (GB 3096-2008).
-- noise_points: one row per noise point of the registry: the standard it is judged by
-- (GB3096-2008 ambient, GB12348-2008 at an enterprise's boundary), the boundary's enterprise,
-- whether it measures indoors (limits -10 dB(A)) and the kind of night-time sudden noise
-- (frequent | sporadic) its night Lmax is judged by. The zone stays sites.noise_zone (for a
-- boundary point: the GB 3096 zone outside the boundary).
CREATE TABLE noise_points (
    site_id VARCHAR PRIMARY KEY,
    noise_standard VARCHAR NOT NULL,
    enterprise_id VARCHAR,
    indoor BOOLEAN NOT NULL,
    night_sudden_noise VARCHAR
);
-- noise_daily: the same facts as applied, the highest allowed night Lmax, and the coverage:
-- hours an Ld / Ln needs and, when it is missing, why (e.g. '7 of 8 night-time hours valid,
-- 8 required'). ld_limit_dba / ln_limit_dba are the limits applied (indoors: already -10).
ALTER TABLE noise_daily ADD COLUMN enterprise_id VARCHAR;
ALTER TABLE noise_daily ADD COLUMN indoor BOOLEAN;
ALTER TABLE noise_daily ADD COLUMN night_sudden_noise VARCHAR;
ALTER TABLE noise_daily ADD COLUMN night_max_limit_dba DOUBLE;
ALTER TABLE noise_daily ADD COLUMN n_day_hours_required INTEGER;
ALTER TABLE noise_daily ADD COLUMN n_night_hours_required INTEGER;
ALTER TABLE noise_daily ADD COLUMN ld_missing_reason VARCHAR;
ALTER TABLE noise_daily ADD COLUMN ln_missing_reason VARCHAR;
