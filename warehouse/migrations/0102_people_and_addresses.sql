-- Issue 20: every action names an authenticated person, and cases name the enterprise as people
-- know it. `staff`: the bureau's people who are not grid officers (station technicians, data
-- reviewers, administrators; config/registry/grids.yaml `staff:`), so an actor id in case events,
-- reviews and acknowledgements can be named from the warehouse (officers are in `officers`).
-- `enterprises.address`: the registered address (注册地址) printed on cases and exports.
CREATE TABLE staff (
    person_id VARCHAR PRIMARY KEY,
    name_zh VARCHAR NOT NULL,
    name_en VARCHAR NOT NULL,
    "role" VARCHAR NOT NULL,
    phone VARCHAR,
    email VARCHAR
);
ALTER TABLE enterprises ADD COLUMN address VARCHAR;
