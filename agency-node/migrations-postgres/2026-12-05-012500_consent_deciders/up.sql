-- Who decided about consent (the child, judged Gillick competent, a parent with parental
-- responsibility, a carer, the local authority) and the child's wishes in their own
-- words. Expand-only: three nullable columns, decisions recorded before stay as they are.
ALTER TABLE consents ADD COLUMN decided_by TEXT;
ALTER TABLE consents ADD COLUMN gillick_competent BOOLEAN;
ALTER TABLE consents ADD COLUMN child_wishes TEXT;
