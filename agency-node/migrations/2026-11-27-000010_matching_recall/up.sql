-- Blocks for dates of birth one digit off (a slip in the year included): the phonetic
-- family name with the date, read for every date one digit from the searched-for one.
CREATE INDEX children_block_family_dob ON children (family_name_key, date_of_birth);
CREATE INDEX children_block_family2_dob ON children (family_name_key2, date_of_birth);
-- Their keyed twins: the phonetic family name with day and month of birth, without the
-- year. Written with encoding version 2; rows encoded before have none until the node
-- re-encodes them at start.
ALTER TABLE child_keyed ADD COLUMN day_block TEXT;
ALTER TABLE child_keyed ADD COLUMN day_block2 TEXT;
CREATE INDEX child_keyed_day ON child_keyed (day_block);
CREATE INDEX child_keyed_day2 ON child_keyed (day_block2);
