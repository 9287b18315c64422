//! The checkpoints of other nodes' audit logs this node keeps as a witness.

use super::DbConnection;
use super::DbError;
use super::schema::audit_witnessed::dsl as w;
use diesel::prelude::*;
use schemas::AgencyId;
use schemas::disclosure::AuditCheckpoint;

/// What keeping a checkpoint did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kept {
    New,
    /// The same checkpoint was kept already.
    Again,
    /// A different head was kept for that node at that entry: its log was rewritten
    /// (the kept hash).
    Conflicting(String),
}

/// Keeps `checkpoint` (its signature already checked). Call it inside [`super::write`].
pub fn keep(conn: &mut DbConnection, checkpoint: &AuditCheckpoint) -> Result<Kept, DbError> {
    let held: Option<String> = w::audit_witnessed
        .filter(w::node_id.eq(checkpoint.node.as_str()))
        .filter(w::seq.eq(checkpoint.seq))
        .select(w::hash)
        .first(conn)
        .optional()?;
    match held {
        Some(hash) if hash == checkpoint.hash => Ok(Kept::Again),
        Some(hash) => Ok(Kept::Conflicting(hash)),
        None => {
            diesel::insert_into(w::audit_witnessed)
                .values((
                    w::node_id.eq(checkpoint.node.as_str()),
                    w::seq.eq(checkpoint.seq),
                    w::hash.eq(&checkpoint.hash),
                    w::signed_at.eq(checkpoint.at.naive_utc()),
                    w::signature.eq(&checkpoint.signature),
                    w::received_at.eq(chrono::Utc::now().naive_utc()),
                ))
                .execute(conn)?;
            Ok(Kept::New)
        }
    }
}

/// The newest checkpoint of `node`'s log this node keeps.
pub fn latest(
    conn: &mut DbConnection,
    node: &AgencyId,
) -> Result<Option<AuditCheckpoint>, DbError> {
    let row: Option<(i64, String, chrono::NaiveDateTime, String)> = w::audit_witnessed
        .filter(w::node_id.eq(node.as_str()))
        .order(w::seq.desc())
        .select((w::seq, w::hash, w::signed_at, w::signature))
        .first(conn)
        .optional()?;
    Ok(row.map(|(seq, hash, at, signature)| AuditCheckpoint {
        node: node.clone(),
        seq,
        hash,
        at: at.and_utc(),
        signature,
    }))
}
