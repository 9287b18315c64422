DROP TABLE name_counts;
