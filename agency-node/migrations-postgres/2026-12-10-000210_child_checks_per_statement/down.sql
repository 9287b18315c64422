ALTER TABLE records ADD CONSTRAINT records_child_id_fkey
    FOREIGN KEY (child_id) REFERENCES children (id);
ALTER TABLE child_keyed ADD CONSTRAINT child_keyed_child_id_fkey
    FOREIGN KEY (child_id) REFERENCES children (id);
DROP TRIGGER records_name_children_insert ON records;
DROP TRIGGER records_name_children_update ON records;
DROP TRIGGER child_keyed_names_children_insert ON child_keyed;
DROP TRIGGER child_keyed_names_children_update ON child_keyed;
DROP TRIGGER children_named_stay_delete ON children;
DROP TRIGGER children_named_stay_update ON children;
DROP FUNCTION rows_name_children();
DROP FUNCTION named_children_stay();
