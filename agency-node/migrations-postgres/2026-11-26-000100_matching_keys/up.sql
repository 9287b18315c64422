-- Blocking keys for graded matching. They are computed by the node (the phonetic code
-- has no SQL form), so existing rows get them at the next start: match_keys_version 0
-- marks a row whose keys are still to be computed.
ALTER TABLE children ADD COLUMN family_name_key TEXT NOT NULL DEFAULT '';
ALTER TABLE children ADD COLUMN family_name_key2 TEXT;
ALTER TABLE children ADD COLUMN birth_year INTEGER NOT NULL DEFAULT 0;
ALTER TABLE children ADD COLUMN postcode_sector TEXT;
ALTER TABLE children ADD COLUMN match_keys_version INTEGER NOT NULL DEFAULT 0;

CREATE INDEX children_block_family ON children (family_name_key, birth_year);
CREATE INDEX children_block_family2 ON children (family_name_key2, birth_year);
CREATE INDEX children_block_dob ON children (date_of_birth);
CREATE INDEX children_block_sector ON children (postcode_sector, birth_year);
CREATE INDEX children_match_keys_version ON children (match_keys_version);
