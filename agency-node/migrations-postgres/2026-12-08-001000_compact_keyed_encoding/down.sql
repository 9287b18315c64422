-- Rows held only in compact form lose their encodings: the node re-encodes every child
-- without encodings at start, as JSON under the release before.
DELETE FROM child_keyed WHERE compact IS NOT NULL;
ALTER TABLE child_keyed DROP COLUMN compact;
