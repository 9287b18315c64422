ALTER TABLE match_pairs DROP COLUMN names_order;
