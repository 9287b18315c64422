CREATE TABLE consents (
    id TEXT PRIMARY KEY NOT NULL,
    child_id TEXT NOT NULL REFERENCES children (id),
    category TEXT,
    recipient_kind TEXT NOT NULL,
    state TEXT NOT NULL,
    decided_on DATE NOT NULL,
    recorded_by TEXT NOT NULL,
    recorded_at TIMESTAMP NOT NULL
);
CREATE INDEX consents_child ON consents (child_id);

-- Append-only, hash-chained: hash = SHA-256(prev_hash || canonical entry).
CREATE TABLE audit_log (
    seq BIGINT PRIMARY KEY NOT NULL,
    at TIMESTAMP NOT NULL,
    action TEXT NOT NULL,
    actor_user TEXT,
    actor_role TEXT,
    actor_agency TEXT,
    via_member TEXT NOT NULL,
    purpose TEXT,
    legal_basis TEXT,
    override_reason TEXT,
    child_id TEXT,
    detail TEXT NOT NULL,
    correlation_id TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE INDEX audit_log_child ON audit_log (child_id, seq);

-- The last entry's sequence number and hash, written with every append, so removing
-- entries from the end of the chain is detected too.
CREATE TABLE audit_head (
    id INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
    seq BIGINT NOT NULL,
    hash TEXT NOT NULL
);
