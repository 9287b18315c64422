-- How many of the node's children carry each normalised given and family name, for
-- frequency-based name weights (docs/matching.md §3). Kept by the write path; the
-- normalisation (accents folded, punctuation dropped) has no SQL form, so a node that
-- already holds children fills the table at its next start (an empty table with
-- children present is the marker).
CREATE TABLE name_counts (
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    count BIGINT NOT NULL,
    PRIMARY KEY (kind, name)
);
