-- The keyed twin of the block on the phonetic family name in the postcode sector, any
-- year (children_block_family_sector): a child whose date of birth was replaced.
-- Written with keyed encoding version 4; rows encoded before have none until the node
-- re-encodes them at start (their key id names the old version).
ALTER TABLE child_keyed ADD COLUMN family_sector_block TEXT;
CREATE INDEX child_keyed_family_sector ON child_keyed (family_sector_block);
