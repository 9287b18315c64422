-- The indexes of child_keyed's tokens on their first 4 bytes instead of all 16. Each
-- child writes up to nine tokens into nine indexes at random places (an HMAC lands
-- anywhere), and a load's transaction dirties nearly every page of them, so the log a
-- commit writes grows with these indexes: an entry of 4 bytes is about half as wide as
-- one of 16 (13 bytes with its row id and cell pointer, against 25). A lookup reads the
-- prefix's entries and compares the whole token in the row (agency-node/src/db/keyed.rs):
-- the same rows as before, among 1,000,000 children a stray row a few thousand lookups.
-- A token a child may lack (all but the date of birth and the family block) is indexed
-- where present: no entry for a NULL, and the queries on them say `IS NOT NULL`.
-- Only the indexes change (the rows keep their tokens); SQLite only (PostgreSQL has hash
-- indexes on them).
DROP INDEX child_keyed_upn;
DROP INDEX child_keyed_nhs_number;
DROP INDEX child_keyed_dob;
DROP INDEX child_keyed_family;
DROP INDEX child_keyed_family2;
DROP INDEX child_keyed_sector;
DROP INDEX child_keyed_day;
DROP INDEX child_keyed_day2;
DROP INDEX child_keyed_family_sector;
CREATE INDEX child_keyed_upn_prefix ON child_keyed (substr(upn, 1, 4))
    WHERE upn IS NOT NULL;
CREATE INDEX child_keyed_nhs_number_prefix ON child_keyed (substr(nhs_number, 1, 4))
    WHERE nhs_number IS NOT NULL;
CREATE INDEX child_keyed_dob_prefix ON child_keyed (substr(date_of_birth, 1, 4));
CREATE INDEX child_keyed_family_prefix ON child_keyed (substr(family_block, 1, 4));
CREATE INDEX child_keyed_family2_prefix ON child_keyed (substr(family_block2, 1, 4))
    WHERE family_block2 IS NOT NULL;
CREATE INDEX child_keyed_sector_prefix ON child_keyed (substr(sector_block, 1, 4))
    WHERE sector_block IS NOT NULL;
CREATE INDEX child_keyed_day_prefix ON child_keyed (substr(day_block, 1, 4))
    WHERE day_block IS NOT NULL;
CREATE INDEX child_keyed_day2_prefix ON child_keyed (substr(day_block2, 1, 4))
    WHERE day_block2 IS NOT NULL;
CREATE INDEX child_keyed_family_sector_prefix ON child_keyed (substr(family_sector_block, 1, 4))
    WHERE family_sector_block IS NOT NULL;
