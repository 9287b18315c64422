-- A child's former family names as blocking keys, one a row: the phonetic code of each
-- former family name with the child's date of birth, so that a search by a name the
-- child was known by before reads it through an index (docs/matching.md, "Former family
-- names"). Children stored with former family names before this migration have their
-- keys recomputed at start (their match_keys_version is cleared here).
CREATE TABLE child_former_family_keys (
    family_name_key TEXT NOT NULL,
    date_of_birth DATE NOT NULL,
    child_id TEXT NOT NULL REFERENCES children(id) ON DELETE CASCADE,
    PRIMARY KEY (family_name_key, date_of_birth, child_id)
);
CREATE INDEX child_former_family_keys_child ON child_former_family_keys (child_id);
UPDATE children SET match_keys_version = 0 WHERE former_family_names IS NOT NULL;
