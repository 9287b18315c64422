CREATE INDEX children_match_keys_version ON children (match_keys_version);
CREATE INDEX children_demographics ON children (family_name_norm, date_of_birth, given_name_norm);
