-- Break-glass alerts on their way to the data protection officer's own system (a
-- Standard Webhooks endpoint named in the node's configuration): written in the
-- transaction that raises the alert, delivered and retried by the notification worker
-- until the endpoint accepts it. Nothing is ever deleted.
CREATE TABLE dpo_alerts (
    id TEXT PRIMARY KEY NOT NULL,
    body TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    attempts INTEGER NOT NULL,
    next_attempt_at TIMESTAMP NOT NULL,
    delivered_at TIMESTAMP,
    last_error TEXT
);
CREATE INDEX dpo_alerts_due ON dpo_alerts (delivered_at, next_attempt_at);
