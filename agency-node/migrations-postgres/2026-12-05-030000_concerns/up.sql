-- Concerns to children's social care and outcomes back. One row per concern at each end:
-- `raised` at the referrer (the child is one of its own), `received` at the front door
-- (the child may be unknown there: a contact, with the referrer's description of the
-- child and no row in `children`, so the child is not "known to social care" until a
-- decision opens work). Content, decision and outcomes are JSON documents of the
-- `schemas::concern` types.
CREATE TABLE concerns (
    id TEXT PRIMARY KEY NOT NULL,
    side TEXT NOT NULL,
    status TEXT NOT NULL,
    child_id TEXT REFERENCES children (id),
    child_query TEXT,
    postcode TEXT,
    referrer TEXT NOT NULL,
    referrer_name TEXT NOT NULL,
    referrer_kind TEXT NOT NULL,
    front_door TEXT,
    content TEXT NOT NULL,
    raised_at TIMESTAMP NOT NULL,
    received_at TIMESTAMP,
    deadline TIMESTAMP,
    decision TEXT,
    decided_at TIMESTAMP,
    outcomes TEXT NOT NULL,
    forwarded_by TEXT,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX concerns_undecided ON concerns (side, status, deadline);

-- What a node still has to send about concerns (a concern to the gateway, a concern
-- passed to another authority, an outcome to a referrer): a durable queue with the
-- outbox's claims and backoff, kept apart from the outbox because a contact's outcome
-- names no child of this node.
CREATE TABLE concern_messages (
    id TEXT PRIMARY KEY NOT NULL,
    concern_id TEXT NOT NULL REFERENCES concerns (id),
    kind TEXT NOT NULL,
    body TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    next_attempt_at TIMESTAMP,
    last_error TEXT,
    claim_token TEXT,
    claimed_until TIMESTAMP,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX concern_messages_due ON concern_messages (status, next_attempt_at);
