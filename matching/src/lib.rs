//! The matching engine a node and a gateway share: how a child's demographics are
//! normalised, compared and scored, the `[matching]` settings, the blocking keys and the
//! keyed encodings.
//!
//! Pure code: nothing here reads a database or the network. A node reads its candidates
//! and its name counts and applies these rules (`agency-node`'s `finding`); a gateway
//! encodes keyed queries with [`MatchingKey`]. The rules, weights and thresholds are in
//! `docs/matching.md`.

pub mod em;
pub mod estimate;
pub mod given_names;
pub mod keyed;
pub mod keys;
pub mod nicknames;
pub mod normalise;
pub mod phonetic;
pub mod score;
pub mod settings;
pub mod similarity;

pub use keyed::MatchingKey;
pub use keys::{
    BlockingKeys, MATCH_KEYS_VERSION, StoredKeys, UNKNOWN_BIRTH_YEAR, blocking_keys,
    search_blocking_keys, stored_keys, stored_keys_known,
};
pub use settings::{MatchingMode, MatchingSettings};
