CREATE TABLE children (
    id TEXT PRIMARY KEY NOT NULL,
    local_id TEXT NOT NULL UNIQUE,
    given_name TEXT NOT NULL,
    family_name TEXT NOT NULL,
    given_name_norm TEXT NOT NULL,
    family_name_norm TEXT NOT NULL,
    date_of_birth DATE NOT NULL,
    sex TEXT,
    postcode TEXT,
    postcode_norm TEXT,
    upn TEXT,
    nhs_number TEXT,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX children_upn ON children (upn);
CREATE INDEX children_nhs_number ON children (nhs_number);
CREATE INDEX children_demographics ON children (family_name_norm, date_of_birth, given_name_norm);

CREATE TABLE records (
    id TEXT PRIMARY KEY NOT NULL,
    child_id TEXT NOT NULL REFERENCES children (id),
    source_system_id TEXT NOT NULL UNIQUE,
    category TEXT NOT NULL,
    effective_from DATE NOT NULL,
    effective_to DATE,
    recorded_at TIMESTAMP NOT NULL,
    impact TEXT NOT NULL,
    details TEXT NOT NULL,
    version BIGINT NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX records_child ON records (child_id, effective_from);
