DROP TABLE child_keyed;
