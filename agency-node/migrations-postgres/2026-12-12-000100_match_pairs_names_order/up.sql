-- Whether each pair's names were compared straight (0) or crossed (1: they agree only
-- the other way round), NULL when either side lacks a name: the node estimates from it
-- the share of true matches whose names are recorded the other way round.
ALTER TABLE match_pairs ADD COLUMN names_order SMALLINT;
