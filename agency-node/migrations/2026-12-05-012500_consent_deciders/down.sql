ALTER TABLE consents DROP COLUMN child_wishes;
ALTER TABLE consents DROP COLUMN gillick_competent;
ALTER TABLE consents DROP COLUMN decided_by;
