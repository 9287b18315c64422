-- The counts now include each part of a double-barrelled family name (kind
-- `family_part`, docs/matching.md §3). Emptied so that every node recounts all of them
-- at its next start (db::name_counts::fill_if_missing: an empty table with children
-- present is the marker).
DELETE FROM name_counts;
