DROP INDEX inbox_push_due;
ALTER TABLE inbox DROP COLUMN push_error;
ALTER TABLE inbox DROP COLUMN push_next_at;
ALTER TABLE inbox DROP COLUMN push_attempts;
ALTER TABLE inbox DROP COLUMN pushed_at;
