-- A child's keyed encodings for comparison (name tokens and Bloom filters, date and
-- postcode tokens) as compact bytes: tokens as their 16 bytes, Bloom filters as their
-- 128, about half the JSON in `encoding` (the largest part of the largest table).
-- Rows written from this release carry them here and `null` in `encoding`; rows
-- written before keep their JSON and are read as they are. A replica of the release
-- before reads `null` as a child with identifiers only: it still finds such a child
-- by identifier, not by demographics, until it is upgraded.
ALTER TABLE child_keyed ADD COLUMN compact BLOB;
