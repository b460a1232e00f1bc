-- Issue 21: files attached to a case through the staff console (site photos, inspection records,
-- rectification reports). The file itself is stored once per content, by its SHA-256, under the
-- home (<home>/attachments/<sha256[:2]>/<sha256>); this table says which case it belongs to, the
-- name it was uploaded with (display text only, never a path), its sniffed type and who attached
-- it when. Each row has its case event (case_events, action 'attachment', the hash in its note).
CREATE TABLE case_attachments (
    case_id VARCHAR NOT NULL,
    seq INTEGER NOT NULL,                 -- the case event that recorded it
    sha256 VARCHAR NOT NULL,              -- 64 lower-case hex digits: the stored file's name
    name VARCHAR NOT NULL,                -- the uploaded file's name, sanitised, shown as text
    size_bytes BIGINT NOT NULL,
    media_type VARCHAR NOT NULL,          -- from the content: image/jpeg | image/png | image/webp | application/pdf
    attached_by VARCHAR NOT NULL,         -- a person_id (v_people)
    attached_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (case_id, seq),
    UNIQUE (case_id, sha256)              -- the same content is attached to a case once
);
