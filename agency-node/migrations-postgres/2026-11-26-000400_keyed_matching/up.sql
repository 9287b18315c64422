-- Keyed (privacy-preserving) matching: each child's encodings under the federation's
-- matching key, computed by the node at every write (and at start for rows without
-- encodings under the current key). Tokens are hex HMACs; `encoding` is the JSON of the
-- remaining encodings (name tokens and Bloom filters, date and postcode tokens).
CREATE TABLE child_keyed (
    child_id TEXT PRIMARY KEY NOT NULL REFERENCES children (id),
    key_id TEXT NOT NULL,
    upn TEXT,
    nhs_number TEXT,
    date_of_birth TEXT NOT NULL,
    family_block TEXT NOT NULL,
    family_block2 TEXT,
    sector_block TEXT,
    encoding TEXT NOT NULL
);
CREATE INDEX child_keyed_upn ON child_keyed (upn);
CREATE INDEX child_keyed_nhs_number ON child_keyed (nhs_number);
CREATE INDEX child_keyed_dob ON child_keyed (date_of_birth);
CREATE INDEX child_keyed_family ON child_keyed (family_block);
CREATE INDEX child_keyed_family2 ON child_keyed (family_block2);
CREATE INDEX child_keyed_sector ON child_keyed (sector_block);
