-- A node-wide, strictly increasing change number for the change feed, and retraction
-- (records are retracted with a reason, not deleted: the feed must tell syncing systems).
ALTER TABLE records ADD COLUMN change_seq BIGINT NOT NULL DEFAULT 0;
ALTER TABLE records ADD COLUMN retracted_at TIMESTAMP;
ALTER TABLE records ADD COLUMN retraction_reason TEXT;
-- Existing records get numbers in the order they were last written.
UPDATE records SET change_seq = numbered.n
FROM (SELECT id, row_number() OVER (ORDER BY updated_at, id) AS n FROM records) AS numbered
WHERE records.id = numbered.id;
CREATE INDEX records_change_seq ON records (change_seq);
