DROP TABLE child_former_family_keys;
