-- Logger passwords are not stored in clear (issue 18 item 9): `outlets.logger_password` becomes
-- `logger_password_hmac` = 'hmac-sha256:' || hex(HMAC-SHA256(installation key, MN NUL password)),
-- the key being <ENVMON_HOME>/secrets/installation.key (0600; envmon/installation_key.py). The
-- clear values are erased here; the next `envmon registry load` writes the hashes
-- (warehouse/registry/store.py rewrites outlets whose hash is missing).
ALTER TABLE outlets RENAME COLUMN logger_password TO logger_password_hmac;
UPDATE outlets SET logger_password_hmac = NULL;
