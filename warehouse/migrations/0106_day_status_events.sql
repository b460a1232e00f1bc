-- Issue 20: the history of a site-day's data status. `day_status` keeps the day's current status;
-- every audit (by a person or `auto`) and every re-opening (a flag, unflag or revert over an
-- audited day: 'reopened', the day is audited again by a person) is appended here, so a second
-- audit does not erase the first one's note. `review_id`: the review that re-opened the day.
CREATE TABLE day_status_events (
    site_id VARCHAR NOT NULL,
    local_date DATE NOT NULL,
    status VARCHAR NOT NULL,
    status_by VARCHAR NOT NULL,
    status_at TIMESTAMP WITH TIME ZONE NOT NULL,
    note VARCHAR,
    review_id VARCHAR
);
INSERT INTO day_status_events
SELECT site_id, local_date, status, status_by, status_at, note, NULL FROM day_status;
