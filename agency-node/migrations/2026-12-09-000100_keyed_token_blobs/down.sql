-- Back to the tokens as lower-case hex TEXT.
CREATE TABLE child_keyed_text (
    child_id TEXT PRIMARY KEY NOT NULL REFERENCES children (id),
    key_id TEXT NOT NULL,
    upn TEXT,
    nhs_number TEXT,
    date_of_birth TEXT NOT NULL,
    family_block TEXT NOT NULL,
    family_block2 TEXT,
    sector_block TEXT,
    encoding TEXT NOT NULL,
    day_block TEXT,
    day_block2 TEXT,
    family_sector_block TEXT,
    compact BLOB
);
INSERT INTO child_keyed_text (child_id, key_id, upn, nhs_number, date_of_birth, family_block,
    family_block2, sector_block, encoding, day_block, day_block2, family_sector_block, compact)
SELECT child_id,
       key_id,
       CASE WHEN typeof(upn) <> 'blob' THEN upn
            WHEN length(upn) = 16 THEN lower(hex(upn))
            ELSE CAST(upn AS TEXT) END,
       CASE WHEN typeof(nhs_number) <> 'blob' THEN nhs_number
            WHEN length(nhs_number) = 16 THEN lower(hex(nhs_number))
            ELSE CAST(nhs_number AS TEXT) END,
       CASE WHEN typeof(date_of_birth) <> 'blob' THEN date_of_birth
            WHEN length(date_of_birth) = 16 THEN lower(hex(date_of_birth))
            ELSE CAST(date_of_birth AS TEXT) END,
       CASE WHEN typeof(family_block) <> 'blob' THEN family_block
            WHEN length(family_block) = 16 THEN lower(hex(family_block))
            ELSE CAST(family_block AS TEXT) END,
       CASE WHEN typeof(family_block2) <> 'blob' THEN family_block2
            WHEN length(family_block2) = 16 THEN lower(hex(family_block2))
            ELSE CAST(family_block2 AS TEXT) END,
       CASE WHEN typeof(sector_block) <> 'blob' THEN sector_block
            WHEN length(sector_block) = 16 THEN lower(hex(sector_block))
            ELSE CAST(sector_block AS TEXT) END,
       encoding,
       CASE WHEN typeof(day_block) <> 'blob' THEN day_block
            WHEN length(day_block) = 16 THEN lower(hex(day_block))
            ELSE CAST(day_block AS TEXT) END,
       CASE WHEN typeof(day_block2) <> 'blob' THEN day_block2
            WHEN length(day_block2) = 16 THEN lower(hex(day_block2))
            ELSE CAST(day_block2 AS TEXT) END,
       CASE WHEN typeof(family_sector_block) <> 'blob' THEN family_sector_block
            WHEN length(family_sector_block) = 16 THEN lower(hex(family_sector_block))
            ELSE CAST(family_sector_block AS TEXT) END,
       compact
FROM child_keyed;
DROP TABLE child_keyed;
ALTER TABLE child_keyed_text RENAME TO child_keyed;
CREATE INDEX child_keyed_upn ON child_keyed (upn);
CREATE INDEX child_keyed_nhs_number ON child_keyed (nhs_number);
CREATE INDEX child_keyed_dob ON child_keyed (date_of_birth);
CREATE INDEX child_keyed_family ON child_keyed (family_block);
CREATE INDEX child_keyed_family2 ON child_keyed (family_block2);
CREATE INDEX child_keyed_sector ON child_keyed (sector_block);
CREATE INDEX child_keyed_day ON child_keyed (day_block);
CREATE INDEX child_keyed_day2 ON child_keyed (day_block2);
CREATE INDEX child_keyed_family_sector ON child_keyed (family_sector_block);
