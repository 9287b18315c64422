-- Outbox claims, so that several replicas of one node can work one outbox: a replica
-- claims an event by writing a fresh token and a lease end; another replica may take it
-- only once the lease has run out, and a result is recorded only under the token that
-- is still there. Expand-only (two nullable columns, no rewrite of existing rows), so a
-- replica of the previous release keeps working beside one of this release while a
-- rolling upgrade runs: see docs/guide-operator.md, "Upgrades".
ALTER TABLE outbox ADD COLUMN claim_token TEXT;
ALTER TABLE outbox ADD COLUMN claimed_until TIMESTAMP;
