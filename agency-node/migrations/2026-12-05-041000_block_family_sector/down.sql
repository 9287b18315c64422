DROP INDEX IF EXISTS children_block_family_sector;
