//! The consents table: a child's consent decisions, appended and read per child.

use super::DbConnection;
use super::DbError;
use super::schema::consents::dsl as k;
use diesel::prelude::*;
use schemas::disclosure::{ConsentDecider, ConsentDecision, ConsentState, StoredConsent};
use schemas::{AgencyKind, RecordCategory};

fn parse<T: serde::de::DeserializeOwned>(value: &str) -> Result<T, DbError> {
    serde_json::from_value(serde_json::Value::String(value.to_owned()))
        .map_err(|e| DbError::Corrupt(format!("consent: {e}")))
}

/// Records a decision. Decisions are never overwritten: the latest one applies.
/// Call it inside [`super::write`].
pub fn record(
    conn: &mut DbConnection,
    child_id: &str,
    decision: &ConsentDecision,
) -> Result<StoredConsent, DbError> {
    let recorded_at = crate::audit::now();
    diesel::insert_into(k::consents)
        .values((
            k::id.eq(uuid::Uuid::new_v4().to_string()),
            k::child_id.eq(child_id),
            k::category.eq(decision.category.map(|c| c.as_str())),
            k::recipient_kind.eq(decision.recipient_kind.as_str()),
            k::state.eq(crate::audit::wire_name(&decision.state)),
            k::decided_on.eq(decision.decided_on),
            k::recorded_by.eq(&decision.recorded_by),
            k::recorded_at.eq(recorded_at),
            k::decided_by.eq(decision.decided_by.map(|d| crate::audit::wire_name(&d))),
            k::gillick_competent.eq(decision.gillick_competent),
            k::child_wishes.eq(decision.child_wishes.as_deref()),
        ))
        .execute(conn)?;
    Ok(StoredConsent {
        decision: decision.clone(),
        recorded_at: recorded_at.and_utc(),
    })
}

/// A child's decisions, oldest first. Pass an id that matches nothing to get an empty
/// list at the same cost.
pub fn for_child(conn: &mut DbConnection, child_id: &str) -> Result<Vec<StoredConsent>, DbError> {
    type Row = (
        Option<String>,
        String,
        String,
        chrono::NaiveDate,
        String,
        chrono::NaiveDateTime,
        Option<String>,
        Option<bool>,
        Option<String>,
    );
    let rows: Vec<Row> = k::consents
        .filter(k::child_id.eq(child_id))
        .order((k::decided_on.asc(), k::recorded_at.asc()))
        .select((
            k::category,
            k::recipient_kind,
            k::state,
            k::decided_on,
            k::recorded_by,
            k::recorded_at,
            k::decided_by,
            k::gillick_competent,
            k::child_wishes,
        ))
        .load(conn)?;
    rows.into_iter()
        .map(
            |(
                category,
                recipient,
                state,
                decided_on,
                recorded_by,
                recorded_at,
                decided_by,
                gillick_competent,
                child_wishes,
            )| {
                Ok(StoredConsent {
                    decision: ConsentDecision {
                        category: category
                            .map(|c| {
                                RecordCategory::parse(&c).ok_or_else(|| {
                                    DbError::Corrupt(format!("consent category {c}"))
                                })
                            })
                            .transpose()?,
                        recipient_kind: parse::<AgencyKind>(&recipient)?,
                        state: parse::<ConsentState>(&state)?,
                        decided_on,
                        recorded_by,
                        decided_by: decided_by
                            .map(|d| parse::<ConsentDecider>(&d))
                            .transpose()?,
                        gillick_competent,
                        child_wishes,
                    },
                    recorded_at: recorded_at.and_utc(),
                })
            },
        )
        .collect()
}
