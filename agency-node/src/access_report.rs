//! A child's access report, built from the node's audit: who has seen which kinds of
//! information, when and why, in words a young person can read. Disclosures the policy
//! defers (so an enquiry is not tipped off) stay out of the report until their date or
//! until the data protection officer releases them; that officer sees them, marked.

use crate::db::audit::AuditRow;
use crate::disclosure::Policy;
use chrono::{Duration, NaiveDate};
use schemas::disclosure::AccessReportEntry;
use schemas::federation::Purpose;
use schemas::{AgencyKind, DisclosureLevel, PractitionerRole, RecordCategory};
use std::collections::{BTreeMap, BTreeSet};

/// Who is reading the report.
pub struct Reader {
    /// A data protection officer of the holding agency: sees deferred entries too.
    pub is_holders_dpo: bool,
}

fn parse<T: serde::de::DeserializeOwned>(value: &str) -> Option<T> {
    serde_json::from_value(serde_json::Value::String(value.to_owned())).ok()
}

fn list(items: &[&str]) -> String {
    match items {
        [] => String::new(),
        [one] => (*one).to_owned(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

/// "the details of your child protection plan, and a summary of your attendance".
fn what_was_seen(levels: &BTreeMap<String, String>) -> String {
    let mut by_level: BTreeMap<DisclosureLevel, Vec<&str>> = BTreeMap::new();
    for (category, level) in levels {
        if let (Some(c), Some(l)) = (
            RecordCategory::parse(category),
            parse::<DisclosureLevel>(level),
        ) {
            by_level.entry(l).or_default().push(c.in_words());
        }
    }
    let mut parts = Vec::new();
    for (level, prefix) in [
        (DisclosureLevel::Full, "the details of "),
        (DisclosureLevel::Summary, "a summary of "),
        (
            DisclosureLevel::Existence,
            "that we hold information about ",
        ),
    ] {
        if let Some(items) = by_level.get(&level) {
            parts.push(format!("{prefix}{}", list(items)));
        }
    }
    if parts.is_empty() {
        "that we know you".to_owned()
    } else {
        parts.join(", and ")
    }
}

/// The child's consent decisions at this agency, newest first: who decided, and the
/// child's wishes shown back to them.
pub fn consents(
    stored: &[schemas::disclosure::StoredConsent],
    holder_name: &str,
) -> Vec<schemas::disclosure::AccessReportConsent> {
    let mut list: Vec<_> = stored
        .iter()
        .map(|s| schemas::disclosure::AccessReportConsent {
            holder: holder_name.to_owned(),
            decided_on: s.decision.decided_on,
            state: s.decision.state,
            decided_by: s.decision.decided_by,
            your_wishes: s.decision.child_wishes.clone(),
            sentence: s.decision.in_words(holder_name),
        })
        .collect();
    list.reverse();
    list
}

/// The report lines for one child, newest first.
pub fn build(
    rows: &[AuditRow],
    holder_name: &str,
    policy: &Policy,
    agency_names: &dyn Fn(&str) -> Option<String>,
    reader: &Reader,
    today: NaiveDate,
) -> Vec<AccessReportEntry> {
    let released: BTreeSet<i64> = rows
        .iter()
        .filter(|r| r.action == "write")
        .filter_map(|r| serde_json::from_str::<serde_json::Value>(&r.detail).ok())
        .filter_map(|d| d.get("released").and_then(|v| v.as_i64()))
        .collect();
    let mut entries: Vec<AccessReportEntry> = rows
        .iter()
        .filter(|r| r.action == "disclosure" || r.action == "confirm")
        .filter_map(|r| {
            let detail: serde_json::Value = serde_json::from_str(&r.detail).ok()?;
            // A confirmation that linked nothing (the child gone, or nothing this
            // practitioner may see) told them nothing.
            let flag = if r.action == "confirm" { "confirmed" } else { "disclosed" };
            if detail.get(flag).and_then(|v| v.as_bool()) != Some(true) {
                return None;
            }
            let levels: BTreeMap<String, String> =
                serde_json::from_value(detail.get("levels").cloned().unwrap_or_default()).unwrap_or_default();
            let role = r.actor_role.as_deref().and_then(parse::<PractitionerRole>);
            let purpose = r.purpose.as_deref().and_then(parse::<Purpose>);
            let kind = detail.get("requester_kind").and_then(|k| k.as_str()).and_then(parse::<AgencyKind>);
            let agency = r
                .actor_agency
                .as_deref()
                .map(|a| agency_names(a).unwrap_or_else(|| a.to_owned()))
                .unwrap_or_else(|| "another agency".to_owned());
            let seen_by = format!("{} at {agency}", role.map(|r| r.in_words()).unwrap_or("someone"));
            let override_used = detail.get("override").and_then(|v| v.as_bool()).unwrap_or(false);
            let break_glass = detail.get("break_glass").and_then(|v| v.as_bool()).unwrap_or(false);
            let cohort = detail.get("cohort").and_then(|v| v.as_bool()).unwrap_or(false);
            let deferred_until = match (kind, role, purpose) {
                (Some(k), Some(ro), Some(p)) => policy
                    .deferral_days(k, ro, p)
                    .map(|days| r.at.date() + Duration::days(i64::from(days)))
                    .filter(|until| *until > today && !released.contains(&r.seq)),
                _ => None,
            };
            if deferred_until.is_some() && !reader.is_holders_dpo {
                return None;
            }
            let why = purpose.map(schemas::disclosure::purpose_in_words).unwrap_or("for their work");
            let mut sentence = if r.action == "confirm" {
                format!(
                    "On {}, {seen_by} told us that you are the child they were looking for, \
                     {why}. Our records did not match their search exactly, so they saw \
                     nothing from us until they had checked and confirmed it.",
                    r.at.format("%-d %B %Y"),
                )
            } else {
                format!(
                    "On {}, {seen_by} saw {}, {why}.",
                    r.at.format("%-d %B %Y"),
                    what_was_seen(&levels)
                )
            };
            if cohort {
                sentence.push_str(
                    " They saw it in a list of all the children their agency works with, \
                     not by looking you up on your own.",
                );
            }
            if break_glass {
                sentence.push_str(
                    " They do not usually work with you: they used an emergency \"break-glass\" \
                     read, which we told our data protection officer about straight away.",
                );
            }
            if override_used {
                sentence.push_str(
                    " They shared it without asking you first, because they were worried about your safety.",
                );
            }
            Some(AccessReportEntry {
                at: r.at.and_utc(),
                holder: holder_name.to_owned(),
                seen_by,
                sentence,
                override_used,
                break_glass,
                cohort,
                deferred_until,
                audit_seq: r.seq,
            })
        })
        .collect();
    entries.sort_by(|a, b| b.at.cmp(&a.at).then(b.audit_seq.cmp(&a.audit_seq)));
    entries
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(seq: i64, action: &str, role: &str, detail: serde_json::Value) -> AuditRow {
        AuditRow {
            seq,
            at: NaiveDate::from_ymd_opt(2026, 11, 20)
                .unwrap()
                .and_hms_opt(9, 30, 0)
                .unwrap(),
            action: action.into(),
            actor_user: Some("someone".into()),
            actor_role: Some(role.into()),
            actor_agency: Some("school-a".into()),
            via_member: "gateway".into(),
            purpose: Some("safeguarding".into()),
            legal_basis: Some("public_task".into()),
            override_reason: None,
            child_id: Some("child-1".into()),
            detail: detail.to_string(),
            correlation_id: "c".into(),
            prev_hash: String::new(),
            hash: String::new(),
        }
    }

    #[test]
    fn a_confirmation_reads_as_plain_words_and_is_deferred_like_a_disclosure() {
        let policy = Policy::from_toml(
            r#"
            [contact]
            team = "Front door"
            route = "duty line"
            [[rule]]
            description = "DSLs"
            requester_kinds = ["school", "police"]
            purposes = ["safeguarding"]
            levels = { "*" = "summary" }
            [[deferral]]
            description = "A police enquiry"
            requester_kinds = ["police"]
            purposes = ["safeguarding"]
            max_days = 90
            "#,
            AgencyKind::SocialCare,
        )
        .unwrap();
        let confirmed = |confirmed: bool, kind: &str, seq: i64, role: &str| {
            row(
                seq,
                "confirm",
                role,
                serde_json::json!({"confirmed": confirmed, "reason": "checked with the carer",
                    "grade": "possible", "matched_on": ["family_name"], "requester_kind": kind}),
            )
        };
        let rows = [
            confirmed(true, "school", 1, "designated_safeguarding_lead"),
            // Linked nothing: not in the report.
            confirmed(false, "school", 2, "designated_safeguarding_lead"),
            // A police enquiry: held back from the child for now.
            confirmed(true, "police", 3, "police_officer"),
        ];
        let names = |id: &str| (id == "school-a").then(|| "Northfield Primary School".to_owned());
        let today = NaiveDate::from_ymd_opt(2026, 11, 21).unwrap();
        let child = Reader {
            is_holders_dpo: false,
        };
        let entries = build(&rows, "Social care", &policy, &names, &child, today);
        assert_eq!(entries.len(), 1, "{entries:#?}");
        assert_eq!(
            entries[0].sentence,
            "On 20 November 2026, a school's safeguarding lead at Northfield Primary School told \
             us that you are the child they were looking for, to help keep you safe. Our records \
             did not match their search exactly, so they saw nothing from us until they had \
             checked and confirmed it."
        );
        assert!(
            !entries[0].sentence.contains("carer"),
            "the reason stays in the audit"
        );
        let dpo = Reader {
            is_holders_dpo: true,
        };
        let entries = build(&rows, "Social care", &policy, &names, &dpo, today);
        assert_eq!(entries.len(), 2);
        assert!(entries.iter().any(|e| e.deferred_until.is_some()));
    }

    #[test]
    fn levels_read_as_plain_words() {
        let levels = BTreeMap::from([
            ("child_protection_plan".to_owned(), "full".to_owned()),
            ("looked_after".to_owned(), "summary".to_owned()),
            ("allocated_social_worker".to_owned(), "summary".to_owned()),
        ]);
        assert_eq!(
            what_was_seen(&levels),
            "the details of your child protection plan, and a summary of who your social worker is and your care arrangements"
        );
    }
}
