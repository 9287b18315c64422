//! Deciding, at the node, what a requester sees of one child: the sharing policy grants a
//! level per category, the requester's relationship with the child caps it at
//! `existence` when there is none (unless a permitted safeguarding override is used),
//! the child's consent decisions cap it (unless overridden), and the records are shaped
//! to the level.

pub mod policy;

pub use policy::{Policy, PolicyError, Requester};

use schemas::disclosure::{ConsentDecision, ConsentState};
use schemas::federation::{AccessContext, LegalBasis};
use schemas::{
    AgencyId, AgencyKind, CategoryDisclosure, DisclosureLevel, Record, RecordCategory,
    RecordDetails, WithheldReason,
};
use std::collections::BTreeSet;

/// The outcome for one child and one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub categories: Vec<CategoryDisclosure>,
    /// Consent was overridden for safeguarding.
    pub override_used: bool,
    /// The requester may know the node holds the child. When `false` the node answers
    /// exactly as if it did not.
    pub visible: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecisionError {
    #[error(
        "this node's sharing policy does not allow a safeguarding override for this role and purpose"
    )]
    OverrideNotAllowed,
}

/// The decision that applies to a category: the latest decision about that category or
/// about every category, for the requester's kind of agency.
fn consent_for(
    consents: &[ConsentDecision],
    category: RecordCategory,
    recipient: AgencyKind,
) -> Option<&ConsentDecision> {
    consents
        .iter()
        .filter(|c| c.recipient_kind == recipient && c.category.is_none_or(|cat| cat == category))
        .max_by_key(|c| (c.decided_on, c.category.is_some()))
}

/// Decides every category a node of kind `holder` can hold. `consents` are the child's
/// decisions; `held` the categories the node has records of.
pub fn decide(
    policy: &Policy,
    who: &Requester,
    context: &AccessContext,
    holder: AgencyKind,
    consents: &[ConsentDecision],
    held: &BTreeSet<RecordCategory>,
) -> Result<Decision, DecisionError> {
    let override_used = context.legal_basis == LegalBasis::SafeguardingOverride;
    if override_used && !policy.allows_override(who) {
        return Err(DecisionError::OverrideNotAllowed);
    }
    let mut visible = false;
    let categories = RecordCategory::ALL
        .iter()
        .copied()
        .filter(|c| c.held_by(holder))
        .map(|category| {
            let granted = policy.level(who, category);
            // Relationship first: without one, at most `existence`, and the answer says
            // why without saying whether the category is held.
            let capped = !who.own_agency
                && !who.related
                && !who.break_glass
                && granted > DisclosureLevel::Existence;
            let granted = if capped {
                DisclosureLevel::Existence
            } else {
                granted
            };
            let (level, withheld) = if granted == DisclosureLevel::None {
                (DisclosureLevel::None, Some(WithheldReason::Policy))
            } else if override_used || who.own_agency {
                (granted, None)
            } else {
                match consent_for(consents, category, who.kind).map(|c| c.state) {
                    Some(ConsentState::Refused | ConsentState::Withdrawn) => {
                        (DisclosureLevel::None, Some(WithheldReason::ConsentRefused))
                    }
                    Some(ConsentState::Given) => (granted, None),
                    None if context.legal_basis == LegalBasis::Consent => (
                        DisclosureLevel::None,
                        Some(WithheldReason::ConsentNotRecorded),
                    ),
                    None => (granted, None),
                }
            };
            visible |= level > DisclosureLevel::None;
            if capped && level == DisclosureLevel::Existence {
                CategoryDisclosure {
                    category,
                    level,
                    withheld: Some(WithheldReason::NoRelationship),
                }
            } else if level > DisclosureLevel::None && !held.contains(&category) {
                CategoryDisclosure {
                    category,
                    level: DisclosureLevel::None,
                    withheld: Some(WithheldReason::NotHeld),
                }
            } else {
                CategoryDisclosure {
                    category,
                    level,
                    withheld,
                }
            }
        })
        .collect();
    Ok(Decision {
        categories,
        override_used,
        visible,
    })
}

impl Decision {
    pub fn level(&self, category: RecordCategory) -> DisclosureLevel {
        self.categories
            .iter()
            .find(|c| c.category == category)
            .map(|c| c.level)
            .unwrap_or(DisclosureLevel::None)
    }

    /// Keeps the records the levels allow: `full` as stored, `summary` without details
    /// (the impact line, and the outline the category shares there with the reader's
    /// agency: [`RecordDetails::outline`]), `existence` and `none` not at all.
    pub fn shape(&self, records: Vec<Record>, reader: &AgencyId) -> Vec<Record> {
        records
            .into_iter()
            .filter_map(|mut r| match self.level(r.category) {
                DisclosureLevel::Full => Some(r),
                DisclosureLevel::Summary => {
                    r.outline = r
                        .details
                        .take()
                        .and_then(|d| RecordDetails::read(r.category, &d))
                        .and_then(|d| d.outline(reader))
                        .map(|o| o.to_value());
                    Some(r)
                }
                DisclosureLevel::Existence | DisclosureLevel::None => None,
            })
            .collect()
    }
}
