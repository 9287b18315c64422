-- The comparison levels of recent searches' compared pairs, from which the node (every
-- replica alike) estimates its m: per pair the level of each field, NULL when either
-- side lacks it. Levels only: no value, no child, no query, no time.
CREATE TABLE match_pairs (
    id BIGSERIAL PRIMARY KEY,
    given_name SMALLINT,
    family_name SMALLINT,
    date_of_birth SMALLINT,
    postcode SMALLINT,
    sex SMALLINT
);
