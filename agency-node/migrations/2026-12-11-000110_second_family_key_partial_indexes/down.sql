DROP INDEX children_block_family2;
DROP INDEX children_block_family2_dob;
CREATE INDEX children_block_family2 ON children (family_name_key2, birth_year);
CREATE INDEX children_block_family2_dob ON children (family_name_key2, date_of_birth);
