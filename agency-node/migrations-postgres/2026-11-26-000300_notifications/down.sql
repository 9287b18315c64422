DROP TABLE subscriptions;
DROP TABLE inbox;
DROP TABLE outbox_recipients;
DROP TABLE outbox;
