-- Indexes no query reads, each one more entry to write per child (a load writes tens
-- of thousands): children_demographics (nothing filters on the normalised names; the
-- blocks read the phonetic keys) and children_match_keys_version (the refresh at start
-- asks for match_keys_version <> current, which neither backend answers from an index).
DROP INDEX children_demographics;
DROP INDEX children_match_keys_version;
