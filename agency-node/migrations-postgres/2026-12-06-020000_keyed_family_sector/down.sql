DROP INDEX child_keyed_family_sector;
ALTER TABLE child_keyed DROP COLUMN family_sector_block;
