-- SQLite only: the second family key's indexes on the children that have one (SQLite's
-- migration of this name). Nothing changes on PostgreSQL.
SELECT 1;
