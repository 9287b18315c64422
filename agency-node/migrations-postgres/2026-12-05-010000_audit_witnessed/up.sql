-- Audit anchoring: the signed checkpoints of other nodes' audit logs that this node keeps
-- as a witness (one row per node and entry). Expand-only: a new table.
CREATE TABLE audit_witnessed (
    node_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    hash TEXT NOT NULL,
    signed_at TIMESTAMP NOT NULL,
    signature TEXT NOT NULL,
    received_at TIMESTAMP NOT NULL,
    PRIMARY KEY (node_id, seq)
);
