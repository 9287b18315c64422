DROP TABLE concern_messages;
DROP TABLE concerns;
