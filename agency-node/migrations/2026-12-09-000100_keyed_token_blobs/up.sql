-- The indexed keyed tokens as their 16 bytes (BLOB) instead of 32 hex characters
-- (TEXT): each child writes up to nine of them into nine indexes at random places, the
-- index writes that grew with the table during a load; an entry about half as wide
-- makes each index about half as many pages. SQLite only (a SQLite database has one node
-- process; PostgreSQL keeps TEXT for replicas of the release before). SQLite cannot
-- change a column's type, so the table is rebuilt. A value that is not a token (the
-- empty date token of a child without a date of birth) becomes the BLOB of its bytes,
-- unless it is 16 bytes long (none is written), which stays TEXT so that it cannot read
-- back as a token. The node binds and reads tokens as hex either way
-- (agency-node/src/db/token.rs).
CREATE TABLE child_keyed_blobs (
    child_id TEXT PRIMARY KEY NOT NULL REFERENCES children (id),
    key_id TEXT NOT NULL,
    upn BLOB,
    nhs_number BLOB,
    date_of_birth BLOB NOT NULL,
    family_block BLOB NOT NULL,
    family_block2 BLOB,
    sector_block BLOB,
    encoding TEXT NOT NULL,
    day_block BLOB,
    day_block2 BLOB,
    family_sector_block BLOB,
    compact BLOB
);
INSERT INTO child_keyed_blobs (child_id, key_id, upn, nhs_number, date_of_birth, family_block,
    family_block2, sector_block, encoding, day_block, day_block2, family_sector_block, compact)
SELECT child_id,
       key_id,
       CASE WHEN typeof(upn) <> 'text' THEN upn
            WHEN length(upn) = 32 AND unhex(upn) IS NOT NULL THEN unhex(upn)
            WHEN length(CAST(upn AS BLOB)) <> 16 THEN CAST(upn AS BLOB)
            ELSE upn END,
       CASE WHEN typeof(nhs_number) <> 'text' THEN nhs_number
            WHEN length(nhs_number) = 32 AND unhex(nhs_number) IS NOT NULL THEN unhex(nhs_number)
            WHEN length(CAST(nhs_number AS BLOB)) <> 16 THEN CAST(nhs_number AS BLOB)
            ELSE nhs_number END,
       CASE WHEN typeof(date_of_birth) <> 'text' THEN date_of_birth
            WHEN length(date_of_birth) = 32 AND unhex(date_of_birth) IS NOT NULL THEN unhex(date_of_birth)
            WHEN length(CAST(date_of_birth AS BLOB)) <> 16 THEN CAST(date_of_birth AS BLOB)
            ELSE date_of_birth END,
       CASE WHEN typeof(family_block) <> 'text' THEN family_block
            WHEN length(family_block) = 32 AND unhex(family_block) IS NOT NULL THEN unhex(family_block)
            WHEN length(CAST(family_block AS BLOB)) <> 16 THEN CAST(family_block AS BLOB)
            ELSE family_block END,
       CASE WHEN typeof(family_block2) <> 'text' THEN family_block2
            WHEN length(family_block2) = 32 AND unhex(family_block2) IS NOT NULL THEN unhex(family_block2)
            WHEN length(CAST(family_block2 AS BLOB)) <> 16 THEN CAST(family_block2 AS BLOB)
            ELSE family_block2 END,
       CASE WHEN typeof(sector_block) <> 'text' THEN sector_block
            WHEN length(sector_block) = 32 AND unhex(sector_block) IS NOT NULL THEN unhex(sector_block)
            WHEN length(CAST(sector_block AS BLOB)) <> 16 THEN CAST(sector_block AS BLOB)
            ELSE sector_block END,
       encoding,
       CASE WHEN typeof(day_block) <> 'text' THEN day_block
            WHEN length(day_block) = 32 AND unhex(day_block) IS NOT NULL THEN unhex(day_block)
            WHEN length(CAST(day_block AS BLOB)) <> 16 THEN CAST(day_block AS BLOB)
            ELSE day_block END,
       CASE WHEN typeof(day_block2) <> 'text' THEN day_block2
            WHEN length(day_block2) = 32 AND unhex(day_block2) IS NOT NULL THEN unhex(day_block2)
            WHEN length(CAST(day_block2 AS BLOB)) <> 16 THEN CAST(day_block2 AS BLOB)
            ELSE day_block2 END,
       CASE WHEN typeof(family_sector_block) <> 'text' THEN family_sector_block
            WHEN length(family_sector_block) = 32 AND unhex(family_sector_block) IS NOT NULL THEN unhex(family_sector_block)
            WHEN length(CAST(family_sector_block AS BLOB)) <> 16 THEN CAST(family_sector_block AS BLOB)
            ELSE family_sector_block END,
       compact
FROM child_keyed;
DROP TABLE child_keyed;
ALTER TABLE child_keyed_blobs RENAME TO child_keyed;
CREATE INDEX child_keyed_upn ON child_keyed (upn);
CREATE INDEX child_keyed_nhs_number ON child_keyed (nhs_number);
CREATE INDEX child_keyed_dob ON child_keyed (date_of_birth);
CREATE INDEX child_keyed_family ON child_keyed (family_block);
CREATE INDEX child_keyed_family2 ON child_keyed (family_block2);
CREATE INDEX child_keyed_sector ON child_keyed (sector_block);
CREATE INDEX child_keyed_day ON child_keyed (day_block);
CREATE INDEX child_keyed_day2 ON child_keyed (day_block2);
CREATE INDEX child_keyed_family_sector ON child_keyed (family_sector_block);
