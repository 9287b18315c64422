DROP INDEX records_change_seq;
ALTER TABLE records DROP COLUMN retraction_reason;
ALTER TABLE records DROP COLUMN retracted_at;
ALTER TABLE records DROP COLUMN change_seq;
