DROP TABLE child_former_upns;
ALTER TABLE children DROP COLUMN former_upns;
ALTER TABLE children DROP COLUMN former_family_names;
ALTER TABLE children DROP COLUMN preferred_family_name;
ALTER TABLE children DROP COLUMN preferred_given_name;
