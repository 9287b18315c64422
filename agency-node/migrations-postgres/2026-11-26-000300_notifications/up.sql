-- Notifications. The outbox is written in the same transaction as the record that
-- raised the event, so an event is never lost and never sent for a write that rolled
-- back. The inbox keeps what other agencies sent, once per event id.
CREATE TABLE outbox (
    id TEXT PRIMARY KEY NOT NULL,
    event_type TEXT NOT NULL,
    child_id TEXT NOT NULL REFERENCES children (id),
    category TEXT NOT NULL,
    occurred_at TIMESTAMP NOT NULL,
    impact TEXT NOT NULL,
    details TEXT NOT NULL,
    source_system_id TEXT,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    next_attempt_at TIMESTAMP,
    last_error TEXT,
    deadline TIMESTAMP,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX outbox_due ON outbox (status, next_attempt_at);

CREATE TABLE outbox_recipients (
    event_id TEXT NOT NULL REFERENCES outbox (id),
    agency_id TEXT NOT NULL,
    agency_name TEXT NOT NULL,
    outcome TEXT NOT NULL,
    reason TEXT,
    delivered_at TIMESTAMP,
    deadline TIMESTAMP,
    acknowledged_at TIMESTAMP,
    PRIMARY KEY (event_id, agency_id)
);

CREATE TABLE inbox (
    id TEXT PRIMARY KEY NOT NULL,
    event_type TEXT NOT NULL,
    child_id TEXT NOT NULL REFERENCES children (id),
    occurred_at TIMESTAMP NOT NULL,
    received_at TIMESTAMP NOT NULL,
    sender TEXT NOT NULL,
    sender_name TEXT NOT NULL,
    category TEXT NOT NULL,
    level TEXT NOT NULL,
    impact TEXT NOT NULL,
    details TEXT,
    deadline TIMESTAMP,
    acknowledged_at TIMESTAMP,
    acknowledged_by TEXT,
    ack_relayed BOOLEAN NOT NULL
);
CREATE INDEX inbox_unacknowledged ON inbox (acknowledged_at, deadline);
CREATE INDEX inbox_ack_relay ON inbox (ack_relayed, acknowledged_at);

CREATE TABLE subscriptions (
    event_type TEXT PRIMARY KEY NOT NULL,
    active BOOLEAN NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
