-- A block for a child whose date of birth was replaced or mistyped beyond a slip: the
-- phonetic family name in the same postcode sector, any year (docs/matching.md).
-- Version 2026-12-05-041000 (first written as 040000, which another migration of that
-- day also carries: two migrations of one version cannot both be recorded). IF NOT
-- EXISTS: a node that applied it under the old version has the index already.
CREATE INDEX IF NOT EXISTS children_block_family_sector ON children (family_name_key, postcode_sector);
