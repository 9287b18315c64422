-- A block for a child whose date of birth was replaced or mistyped beyond a slip: the
-- phonetic family name in the same postcode sector, any year (docs/matching.md).
CREATE INDEX children_block_family_sector ON children (family_name_key, postcode_sector);
