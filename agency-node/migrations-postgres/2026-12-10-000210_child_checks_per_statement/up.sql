-- That every record and every keyed encoding names a child, and that no child they name
-- goes, checked once per statement instead of once per row.
--
-- The foreign keys records.child_id and child_keyed.child_id ran a query for each row
-- inserted: a bulk chunk of 5,000 items (1,667 children, 3,333 records) ran 5,000 of
-- them, about a fifth of the writing backend's CPU in a load. The triggers below check
-- a statement's rows in one query each (a `COPY` of a chunk's records is one statement):
-- a row naming no child, or a statement removing (or re-keying) a child that rows still
-- name, fails with SQLSTATE 23503 (foreign_key_violation), as the foreign keys did.
--
-- What they do not do that the foreign keys did: lock the child's row (FOR KEY SHARE)
-- against a concurrent transaction removing it before the inserting one commits. Every
-- write of a node (and of a replica of the release before) holds the node's write lock
-- (one advisory lock, db::write), so two writes never overlap; and no node removes
-- children. Only a writer outside the nodes (by hand, in SQL, at the same moment) could
-- slip between a check and a commit.
--
-- Joins by index (nested loop over the statement's rows, the children's primary key
-- for each), whatever the tables' statistics: never a scan of a whole table for a row.
CREATE FUNCTION rows_name_children() RETURNS trigger
LANGUAGE plpgsql
SET enable_hashjoin = off
SET enable_mergejoin = off
AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM new_rows n
               WHERE NOT EXISTS (SELECT 1 FROM children c WHERE c.id = n.child_id)) THEN
        RAISE EXCEPTION USING
            ERRCODE = 'foreign_key_violation',
            MESSAGE = format('a row of %I names no child', TG_TABLE_NAME);
    END IF;
    RETURN NULL;
END
$$;

CREATE FUNCTION named_children_stay() RETURNS trigger
LANGUAGE plpgsql
SET enable_hashjoin = off
SET enable_mergejoin = off
AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM old_rows o
               WHERE NOT EXISTS (SELECT 1 FROM children c WHERE c.id = o.id)
                 AND (EXISTS (SELECT 1 FROM records r WHERE r.child_id = o.id)
                      OR EXISTS (SELECT 1 FROM child_keyed k WHERE k.child_id = o.id))) THEN
        RAISE EXCEPTION USING
            ERRCODE = 'foreign_key_violation',
            MESSAGE = 'a child removed is still named by records or keyed encodings';
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER records_name_children_insert AFTER INSERT ON records
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION rows_name_children();
CREATE TRIGGER records_name_children_update AFTER UPDATE ON records
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION rows_name_children();
CREATE TRIGGER child_keyed_names_children_insert AFTER INSERT ON child_keyed
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION rows_name_children();
CREATE TRIGGER child_keyed_names_children_update AFTER UPDATE ON child_keyed
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION rows_name_children();
CREATE TRIGGER children_named_stay_delete AFTER DELETE ON children
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION named_children_stay();
CREATE TRIGGER children_named_stay_update AFTER UPDATE ON children
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION named_children_stay();

ALTER TABLE records DROP CONSTRAINT records_child_id_fkey;
ALTER TABLE child_keyed DROP CONSTRAINT child_keyed_child_id_fkey;
