-- SQLite only: child_keyed's token indexes on the tokens' first 4 bytes (SQLite's
-- migration of this name). PostgreSQL has hash indexes on the tokens: nothing changes.
SELECT 1;
