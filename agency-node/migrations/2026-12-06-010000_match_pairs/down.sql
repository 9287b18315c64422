DROP TABLE match_pairs;
