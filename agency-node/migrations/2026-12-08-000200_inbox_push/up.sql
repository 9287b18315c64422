-- Pushing inbox items to the agency's own system (`[notifications.inbox_webhook]`): the
-- inbox is the queue. Expand only: a replica of the previous release inserts items with
-- these columns unset, and the worker then takes them as never pushed and due now.
ALTER TABLE inbox ADD COLUMN pushed_at TIMESTAMP;
ALTER TABLE inbox ADD COLUMN push_attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE inbox ADD COLUMN push_next_at TIMESTAMP;
ALTER TABLE inbox ADD COLUMN push_error TEXT;
-- What is waiting to be pushed, oldest first (the worker reads it in that order).
CREATE INDEX inbox_push_due ON inbox (received_at) WHERE pushed_at IS NULL AND acknowledged_at IS NULL;
