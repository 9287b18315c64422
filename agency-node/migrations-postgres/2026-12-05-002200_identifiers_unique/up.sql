-- An identifier (UPN, NHS number) names one child at a node: a second local id with
-- an identifier already held is refused with 409 (writes.rs), and these unique indexes
-- hold the line against concurrent writers.
--
-- A node that accepted duplicates before keeps the identifier on the child that had it
-- first (earliest created, then lowest id); the others lose it here and are listed in
-- identifier_conflicts, so that nothing is lost and the agency can resolve them
-- (docs/guide-operator.md, "Identifiers held twice").
CREATE TABLE identifier_conflicts (
    child_id TEXT NOT NULL REFERENCES children (id),
    kind TEXT NOT NULL,
    value TEXT NOT NULL,
    kept_by TEXT NOT NULL REFERENCES children (id),
    found_at TIMESTAMP NOT NULL
);

INSERT INTO identifier_conflicts (child_id, kind, value, kept_by, found_at)
SELECT c.id, 'upn', c.upn,
       (SELECT f.id FROM children f WHERE f.upn = c.upn ORDER BY f.created_at, f.id LIMIT 1),
       CURRENT_TIMESTAMP
FROM children c
WHERE c.upn IS NOT NULL
  AND EXISTS (SELECT 1 FROM children o WHERE o.upn = c.upn
              AND (o.created_at < c.created_at OR (o.created_at = c.created_at AND o.id < c.id)));

INSERT INTO identifier_conflicts (child_id, kind, value, kept_by, found_at)
SELECT c.id, 'nhs_number', c.nhs_number,
       (SELECT f.id FROM children f WHERE f.nhs_number = c.nhs_number ORDER BY f.created_at, f.id LIMIT 1),
       CURRENT_TIMESTAMP
FROM children c
WHERE c.nhs_number IS NOT NULL
  AND EXISTS (SELECT 1 FROM children o WHERE o.nhs_number = c.nhs_number
              AND (o.created_at < c.created_at OR (o.created_at = c.created_at AND o.id < c.id)));

UPDATE children SET upn = NULL
WHERE id IN (SELECT child_id FROM identifier_conflicts WHERE kind = 'upn');
UPDATE children SET nhs_number = NULL
WHERE id IN (SELECT child_id FROM identifier_conflicts WHERE kind = 'nhs_number');
UPDATE child_keyed SET upn = NULL
WHERE child_id IN (SELECT child_id FROM identifier_conflicts WHERE kind = 'upn');
UPDATE child_keyed SET nhs_number = NULL
WHERE child_id IN (SELECT child_id FROM identifier_conflicts WHERE kind = 'nhs_number');

DROP INDEX children_upn;
DROP INDEX children_nhs_number;
CREATE UNIQUE INDEX children_upn ON children (upn);
CREATE UNIQUE INDEX children_nhs_number ON children (nhs_number);
