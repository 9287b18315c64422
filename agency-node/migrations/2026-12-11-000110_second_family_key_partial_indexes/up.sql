-- The two indexes of the second phonetic family key, on the children that have one.
-- Most children have a single family name, so most entries were a NULL key with the
-- child's birth year or date of birth: (NULL, date of birth) lands at a random place, a
-- random-keyed index written by every child of a load and read by no query (the blocks
-- on the second key say `family_name_key2 IS NOT NULL`, agency-node/src/db/children.rs).
-- SQLite only (PostgreSQL: nothing changes).
DROP INDEX children_block_family2;
DROP INDEX children_block_family2_dob;
CREATE INDEX children_block_family2 ON children (family_name_key2, birth_year)
    WHERE family_name_key2 IS NOT NULL;
CREATE INDEX children_block_family2_dob ON children (family_name_key2, date_of_birth)
    WHERE family_name_key2 IS NOT NULL;
