DROP INDEX children_match_keys_version;
DROP INDEX children_block_sector;
DROP INDEX children_block_dob;
DROP INDEX children_block_family2;
DROP INDEX children_block_family;

ALTER TABLE children DROP COLUMN match_keys_version;
ALTER TABLE children DROP COLUMN postcode_sector;
ALTER TABLE children DROP COLUMN birth_year;
ALTER TABLE children DROP COLUMN family_name_key2;
ALTER TABLE children DROP COLUMN family_name_key;
