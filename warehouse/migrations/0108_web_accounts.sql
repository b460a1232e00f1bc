-- Issue 21: the staff console's accounts, server-side sessions and the actions submitted through
-- it. An account is tied to one person of the registry (person_id: officers or staff, view
-- v_people); every case action it makes is recorded for that person in case_events, as the CLI's.
-- Passwords are stored as argon2id hashes only; a session's token is stored as its SHA-256 (the
-- cookie holds the token itself), with the CSRF token its forms must carry.
CREATE TABLE web_users (
    username VARCHAR PRIMARY KEY,         -- lower case, [a-z0-9._-]
    person_id VARCHAR NOT NULL,           -- the registry's person (v_people)
    "role" VARCHAR NOT NULL,              -- administrator | station_staff | officer | leader | viewer
    password_hash VARCHAR NOT NULL,       -- argon2id, PHC string
    disabled BOOLEAN NOT NULL DEFAULT false,
    created_at TIMESTAMPTZ NOT NULL,
    created_by VARCHAR NOT NULL,          -- a person_id, or login:<os user> when the login maps to nobody
    password_changed_at TIMESTAMPTZ NOT NULL,
    disabled_at TIMESTAMPTZ,
    disabled_by VARCHAR
);
CREATE TABLE web_sessions (
    token_hash VARCHAR PRIMARY KEY,       -- sha256 hex of the cookie's token
    username VARCHAR NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,      -- idle expiry, moved on as the session is used
    last_seen_at TIMESTAMPTZ NOT NULL,
    csrf_token VARCHAR NOT NULL
);
-- One row per action submitted through the console and saved: the form's one-time id makes a
-- re-submitted form (a retry after a lost answer) a no-op that says when it was saved.
CREATE TABLE web_actions (
    action_id VARCHAR PRIMARY KEY,        -- the form's one-time id
    username VARCHAR NOT NULL,
    person_id VARCHAR NOT NULL,
    case_id VARCHAR,
    action VARCHAR NOT NULL,              -- assign | move | note | reopen
    submitted_at TIMESTAMPTZ NOT NULL,    -- when the person sent it
    applied_at TIMESTAMPTZ NOT NULL,      -- when it was saved (the event's time)
    event_seq INTEGER                     -- the case event it made
);
