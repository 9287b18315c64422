-- PostgreSQL only: the checks that records and keyed encodings name a child, per
-- statement (PostgreSQL's migration of this name). SQLite keeps its foreign keys.
SELECT 1;
