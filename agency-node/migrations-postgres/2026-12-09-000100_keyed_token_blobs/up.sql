-- SQLite only: the keyed tokens as their 16 bytes (SQLite's migration of this name).
-- PostgreSQL keeps them as TEXT, which replicas of the release before bind during a
-- rolling upgrade: nothing changes here.
SELECT 1;
