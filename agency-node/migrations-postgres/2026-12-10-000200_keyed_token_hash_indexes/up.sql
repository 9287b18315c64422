-- The 9 keyed tokens of child_keyed (HMACs as 32 hex characters) are only ever looked up
-- by equality (`= $1`, `= ANY($1)`): hash indexes instead of B-trees. An entry is the
-- token's 4-byte hash, found without comparing text on the way down a tree, and a NULL
-- token (no NHS number, no second family key) has no entry at all. Same columns, same
-- queries: a replica of the release before reads and writes the table as it did.
--
-- The hash indexes are built first (a SHARE lock: reads go on meanwhile), the B-trees
-- dropped last, so the exclusive lock of the drops is held only until the commit.
CREATE INDEX child_keyed_upn_hash ON child_keyed USING hash (upn);
CREATE INDEX child_keyed_nhs_number_hash ON child_keyed USING hash (nhs_number);
CREATE INDEX child_keyed_dob_hash ON child_keyed USING hash (date_of_birth);
CREATE INDEX child_keyed_family_hash ON child_keyed USING hash (family_block);
CREATE INDEX child_keyed_family2_hash ON child_keyed USING hash (family_block2);
CREATE INDEX child_keyed_sector_hash ON child_keyed USING hash (sector_block);
CREATE INDEX child_keyed_day_hash ON child_keyed USING hash (day_block);
CREATE INDEX child_keyed_day2_hash ON child_keyed USING hash (day_block2);
CREATE INDEX child_keyed_family_sector_hash ON child_keyed USING hash (family_sector_block);
DROP INDEX child_keyed_upn;
DROP INDEX child_keyed_nhs_number;
DROP INDEX child_keyed_dob;
DROP INDEX child_keyed_family;
DROP INDEX child_keyed_family2;
DROP INDEX child_keyed_sector;
DROP INDEX child_keyed_day;
DROP INDEX child_keyed_day2;
DROP INDEX child_keyed_family_sector;
