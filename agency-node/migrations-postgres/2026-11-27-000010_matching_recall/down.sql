DROP INDEX child_keyed_day2;
DROP INDEX child_keyed_day;
ALTER TABLE child_keyed DROP COLUMN day_block2;
ALTER TABLE child_keyed DROP COLUMN day_block;
DROP INDEX children_block_family2_dob;
DROP INDEX children_block_family_dob;
