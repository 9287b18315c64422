DROP INDEX children_upn;
DROP INDEX children_nhs_number;
CREATE INDEX children_upn ON children (upn);
CREATE INDEX children_nhs_number ON children (nhs_number);
DROP TABLE identifier_conflicts;
