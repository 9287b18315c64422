-- A child's preferred names, former family names and former UPNs (a CTF's
-- PreferredForename, PreferredSurname, FormerSurname and FormerUPN). Expand-only:
-- nullable columns, children stored before hold none. The lists are JSON arrays of
-- strings, NULL when empty; the former UPNs are also kept one a row in
-- child_former_upns, so that a search by UPN finds a child by a former one through an
-- index.
ALTER TABLE children ADD COLUMN preferred_given_name TEXT;
ALTER TABLE children ADD COLUMN preferred_family_name TEXT;
ALTER TABLE children ADD COLUMN former_family_names TEXT;
ALTER TABLE children ADD COLUMN former_upns TEXT;
CREATE TABLE child_former_upns (
    upn TEXT NOT NULL,
    child_id TEXT NOT NULL REFERENCES children(id) ON DELETE CASCADE,
    PRIMARY KEY (upn, child_id)
);
CREATE INDEX child_former_upns_child ON child_former_upns (child_id);
