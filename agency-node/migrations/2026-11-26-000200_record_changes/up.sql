-- A node-wide, strictly increasing change number for the change feed, and retraction
-- (records are retracted with a reason, not deleted: the feed must tell syncing systems).
ALTER TABLE records ADD COLUMN change_seq BIGINT NOT NULL DEFAULT 0;
ALTER TABLE records ADD COLUMN retracted_at TIMESTAMP;
ALTER TABLE records ADD COLUMN retraction_reason TEXT;
UPDATE records SET change_seq = rowid;
CREATE INDEX records_change_seq ON records (change_seq);
