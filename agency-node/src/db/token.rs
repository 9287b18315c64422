//! [`Token`]: the SQL type of `child_keyed`'s indexed keyed tokens, 32 lower-case hex
//! characters in Rust and on PostgreSQL, their 16 bytes on SQLite.
//!
//! Each child writes up to nine of them into nine indexes at random places (an HMAC
//! lands anywhere), the index writes that grow with the table during a load. As 16-byte
//! BLOBs instead of 32-character TEXT, an index entry is about half as wide, so an index
//! has about 40% fewer pages and a chunk of new children dirties (and copies into the
//! log) fewer of them. PostgreSQL keeps TEXT: replicas of the release before share its
//! database during a rolling upgrade and bind text (a SQLite database has one node
//! process; migration `2026-12-09-000100_keyed_token_blobs` rewrote its columns).
//!
//! The conversion happens at the bind and the read: Rust holds a token as its hex text
//! ([`KeyedToken`]). On SQLite a value that is not a token, the empty date token of a
//! child without a date of birth, is stored as the BLOB of its UTF-8 bytes (an empty
//! BLOB for the empty token, so those still equal each other as the empty TEXT did); a
//! 16-byte BLOB always reads as a token, any other as text, and a TEXT value (one the
//! migration kept) as it is, so every value round-trips exactly. A value that is neither
//! a token nor of another length than 16 bytes could not, and is refused (none is
//! written: the other values are HMACs; a query's tokens are checked as hex on the wire).

use super::MultiBackend;
use diesel::backend::Backend;
use diesel::deserialize::{self, FromSql};
use diesel::pg::Pg;
use diesel::serialize::{self, IsNull, Output, ToSql};
use diesel::sql_types::{Binary, HasSqlType, Text};
use diesel::sqlite::{Sqlite, SqliteType};
use schemas::keyed::TOKEN_HEX_LEN;

/// A keyed token as Rust holds it: its 32 lower-case hex characters.
#[derive(Debug, Clone, PartialEq, Eq, diesel::AsExpression, diesel::FromSqlRow)]
#[diesel(sql_type = Token)]
pub struct KeyedToken(pub String);

/// A keyed token column: TEXT on PostgreSQL, BLOB on SQLite.
#[derive(
    Debug, Clone, Copy, Default, diesel::sql_types::SqlType, diesel::query_builder::QueryId,
)]
#[diesel(postgres_type(oid = 25, array_oid = 1009))]
#[diesel(sqlite_type(name = "Binary"))]
pub struct Token;

const TOKEN_BYTES: usize = TOKEN_HEX_LEN / 2;

/// `hex`'s 16 bytes, if it is a token's 32 hex characters.
pub fn token_bytes(hex: &str) -> Option<[u8; TOKEN_BYTES]> {
    fn digit(b: u8) -> Option<u8> {
        match b {
            b'0'..=b'9' => Some(b - b'0'),
            b'a'..=b'f' => Some(b - b'a' + 10),
            b'A'..=b'F' => Some(b - b'A' + 10),
            _ => None,
        }
    }
    let hex = hex.as_bytes();
    if hex.len() != TOKEN_HEX_LEN {
        return None;
    }
    let mut out = [0u8; TOKEN_BYTES];
    for (byte, pair) in out.iter_mut().zip(hex.chunks_exact(2)) {
        *byte = (digit(pair[0])? << 4) | digit(pair[1])?;
    }
    Some(out)
}

impl HasSqlType<Token> for MultiBackend {
    fn metadata(lookup: &mut Self::MetadataLookup) -> Self::TypeMetadata {
        MultiBackend::lookup_sql_type::<Token>(lookup)
    }
}

impl ToSql<Token, Pg> for KeyedToken {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
        <str as ToSql<Text, Pg>>::to_sql(self.0.as_str(), out)
    }
}

/// How many leading bytes of a token SQLite's token indexes hold (migration
/// `2026-12-11-000100_keyed_token_prefix_indexes`): a lookup reads the entries of the
/// prefix and compares the whole token in the row.
pub const SQLITE_INDEXED_PREFIX: usize = 4;

impl KeyedToken {
    /// The bytes SQLite stores for this value: a token's 16, any other value's UTF-8
    /// bytes, except one of 16 bytes, which would read back as a token.
    fn sqlite_bytes(&self) -> Result<Vec<u8>, String> {
        match token_bytes(&self.0) {
            Some(bytes) => Ok(bytes.to_vec()),
            None if self.0.len() == TOKEN_BYTES => Err(format!(
                "a keyed value of {TOKEN_BYTES} bytes that is not a token would read back as one"
            )),
            None => Ok(self.0.as_bytes().to_vec()),
        }
    }

    /// What SQLite's index of a token column holds for this value: the first
    /// [`SQLITE_INDEXED_PREFIX`] bytes it stores (`substr(column, 1, 4)` of a BLOB).
    pub fn sqlite_indexed_prefix(&self) -> Vec<u8> {
        let mut bytes = self
            .sqlite_bytes()
            .unwrap_or_else(|_| self.0.as_bytes().to_vec());
        bytes.truncate(SQLITE_INDEXED_PREFIX);
        bytes
    }
}

impl ToSql<Token, Sqlite> for KeyedToken {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Sqlite>) -> serialize::Result {
        out.set_value(self.sqlite_bytes()?);
        Ok(IsNull::No)
    }
}

impl ToSql<Token, MultiBackend> for KeyedToken {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, MultiBackend>) -> serialize::Result {
        out.set_value((Token, self));
        Ok(IsNull::No)
    }
}

impl FromSql<Token, Pg> for KeyedToken {
    fn from_sql(bytes: <Pg as Backend>::RawValue<'_>) -> deserialize::Result<Self> {
        <String as FromSql<Text, Pg>>::from_sql(bytes).map(Self)
    }
}

impl FromSql<Token, Sqlite> for KeyedToken {
    fn from_sql(value: <Sqlite as Backend>::RawValue<'_>) -> deserialize::Result<Self> {
        if value.value_type() == Some(SqliteType::Text) {
            return <String as FromSql<Text, Sqlite>>::from_sql(value).map(Self);
        }
        let bytes = <Vec<u8> as FromSql<Binary, Sqlite>>::from_sql(value)?;
        if bytes.len() == TOKEN_BYTES {
            return Ok(Self(schemas::hex::lower_hex(&bytes)));
        }
        Ok(Self(String::from_utf8(bytes)?))
    }
}

impl FromSql<Token, MultiBackend> for KeyedToken {
    fn from_sql(bytes: <MultiBackend as Backend>::RawValue<'_>) -> deserialize::Result<Self> {
        bytes.from_sql::<Self, Token>()
    }
}

#[cfg(test)]
mod tests {
    use super::token_bytes;

    #[test]
    fn token_bytes_reads_32_hex_characters_only() {
        let hex = "000fa5ff".repeat(4);
        let bytes = token_bytes(&hex).unwrap();
        assert_eq!(schemas::hex::lower_hex(&bytes), hex);
        assert_eq!(token_bytes(&hex.to_uppercase()), Some(bytes));
        assert_eq!(token_bytes(&hex[..30]), None);
        assert_eq!(token_bytes(&format!("{hex}00")), None);
        assert_eq!(token_bytes(&format!("{}g", &hex[..31])), None);
        assert_eq!(token_bytes(""), None);
    }
}
