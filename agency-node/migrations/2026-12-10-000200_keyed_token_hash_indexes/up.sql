-- PostgreSQL only: the keyed tokens' indexes as hash indexes (PostgreSQL's migration of
-- this name). SQLite has no hash index; its tokens are 16-byte BLOBs already.
SELECT 1;
