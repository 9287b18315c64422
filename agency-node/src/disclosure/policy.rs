//! A node's sharing policy: a TOML file of rules over the requester's agency kind, role
//! and purpose, each granting a disclosure level per record category. Loaded and
//! validated at start; an invalid file stops the node with a message naming the problem.
//!
//! ```toml
//! [contact]
//! team = "Children's Services front door"
//! route = "duty line 0000 000 0000"
//!
//! [[rule]]
//! description = "School DSLs, for safeguarding, see plans in full"
//! requester_kinds = ["school"]
//! roles = ["designated_safeguarding_lead"]
//! purposes = ["safeguarding"]
//! allow_override = true
//! levels = { "*" = "summary", child_protection_plan = "full" }
//! ```
//!
//! Rules grant: the level for a category is the highest any matching rule gives it
//! (`"*"` stands for every category a rule does not name). No matching rule: `none`.
//! Practitioners of the node's own agency see its records in `full`. Anyone else sees
//! more than `existence` only with a relationship (`[relationship]`, see
//! [`crate::relationship`]) or by a safeguarding override.

use schemas::federation::Purpose;
use schemas::{AgencyKind, ContactRoute, DisclosureLevel, PractitionerRole, RecordCategory};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyFile {
    pub contact: ContactRoute,
    #[serde(default, rename = "rule")]
    pub rules: Vec<Rule>,
    #[serde(default)]
    pub access_report: AccessReportPolicy,
    #[serde(default, rename = "deferral")]
    pub deferrals: Vec<Deferral>,
    /// What counts as this agency's active involvement with a child (see
    /// [`crate::relationship`]); the agency kind's defaults when absent.
    #[serde(default)]
    pub relationship: Option<crate::relationship::RulesFile>,
}

/// Who may fetch a child's access report on the child's behalf.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessReportPolicy {
    pub roles: Vec<PractitionerRole>,
}

impl Default for AccessReportPolicy {
    fn default() -> Self {
        Self {
            roles: vec![PractitionerRole::DataProtectionOfficer],
        }
    }
}

/// Disclosures to these requesters are held back from the child's access report (so an
/// enquiry is not tipped off) for at most `max_days`, or until the data protection
/// officer releases them.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Deferral {
    pub description: String,
    #[serde(default)]
    pub requester_kinds: Vec<AgencyKind>,
    #[serde(default)]
    pub roles: Vec<PractitionerRole>,
    #[serde(default)]
    pub purposes: Vec<Purpose>,
    pub max_days: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Why the rule exists, for people reading the policy and the audit.
    pub description: String,
    /// Kinds of the requesting practitioner's agency; empty means any.
    #[serde(default)]
    pub requester_kinds: Vec<AgencyKind>,
    /// Practitioner roles; empty means any.
    #[serde(default)]
    pub roles: Vec<PractitionerRole>,
    /// Purposes; empty means any.
    #[serde(default)]
    pub purposes: Vec<Purpose>,
    /// Whether requesters this rule matches may use `safeguarding_override`.
    #[serde(default)]
    pub allow_override: bool,
    /// Level per category name, and `"*"` for the others.
    pub levels: BTreeMap<String, DisclosureLevel>,
}

/// A validated policy.
#[derive(Debug, Clone)]
pub struct Policy {
    pub contact: ContactRoute,
    rules: Vec<CompiledRule>,
    pub access_report_roles: Vec<PractitionerRole>,
    deferrals: Vec<Deferral>,
    /// When this agency's practitioners have a relationship with a child.
    pub relationship: crate::relationship::Rules,
}

#[derive(Debug, Clone)]
struct CompiledRule {
    kinds: Vec<AgencyKind>,
    roles: Vec<PractitionerRole>,
    purposes: Vec<Purpose>,
    allow_override: bool,
    default: DisclosureLevel,
    levels: BTreeMap<RecordCategory, DisclosureLevel>,
}

/// Who is asking and why, as far as policy is concerned.
#[derive(Debug, Clone, Copy)]
pub struct Requester {
    pub kind: AgencyKind,
    pub role: PractitionerRole,
    pub purpose: Purpose,
    /// The practitioner works for this node's own agency.
    pub own_agency: bool,
    /// The practitioner's agency asserted an active involvement with the child, and the
    /// assertion held (see [`crate::relationship::check`]). Without it (and outside
    /// their own agency) nothing goes beyond `existence`, unless by a safeguarding
    /// override.
    pub related: bool,
    /// No relationship, but a break-glass their agency's node granted (and counted),
    /// under a safeguarding override: policy applies as with a relationship.
    pub break_glass: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("cannot read the sharing policy {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("the sharing policy {path} is invalid: {message}")]
    Invalid { path: String, message: String },
}

impl Policy {
    pub fn load(path: &Path, holder: AgencyKind) -> Result<Self, PolicyError> {
        let text = std::fs::read_to_string(path).map_err(|source| PolicyError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_toml(&text, holder).map_err(|message| PolicyError::Invalid {
            path: path.display().to_string(),
            message,
        })
    }

    /// Parses and validates: every category named must exist and be one this kind of
    /// agency holds.
    pub fn from_toml(text: &str, holder: AgencyKind) -> Result<Self, String> {
        let file: PolicyFile = toml::from_str(text).map_err(|e| e.to_string())?;
        let mut rules = Vec::with_capacity(file.rules.len());
        for (i, rule) in file.rules.into_iter().enumerate() {
            let mut default = DisclosureLevel::None;
            let mut levels = BTreeMap::new();
            for (name, level) in rule.levels {
                if name == "*" {
                    default = level;
                    continue;
                }
                let category = RecordCategory::parse(&name).ok_or_else(|| {
                    format!(
                        "rule {} ('{}'): unknown category '{name}'",
                        i + 1,
                        rule.description
                    )
                })?;
                if !category.held_by(holder) {
                    return Err(format!(
                        "rule {} ('{}'): a {} node does not hold '{name}'",
                        i + 1,
                        rule.description,
                        holder.as_str()
                    ));
                }
                levels.insert(category, level);
            }
            rules.push(CompiledRule {
                kinds: rule.requester_kinds,
                roles: rule.roles,
                purposes: rule.purposes,
                allow_override: rule.allow_override,
                default,
                levels,
            });
        }
        for d in &file.deferrals {
            if !(1..=365).contains(&d.max_days) {
                return Err(format!(
                    "deferral '{}': max_days must be 1 to 365, not {}",
                    d.description, d.max_days
                ));
            }
        }
        let relationship = crate::relationship::Rules::from_file(file.relationship, holder)?;
        Ok(Self {
            contact: file.contact,
            rules,
            access_report_roles: file.access_report.roles,
            deferrals: file.deferrals,
            relationship,
        })
    }

    fn matching<'a>(&'a self, who: &'a Requester) -> impl Iterator<Item = &'a CompiledRule> {
        self.rules.iter().filter(move |r| {
            (r.kinds.is_empty() || r.kinds.contains(&who.kind))
                && (r.roles.is_empty() || r.roles.contains(&who.role))
                && (r.purposes.is_empty() || r.purposes.contains(&who.purpose))
        })
    }

    /// The level policy grants this requester for a category.
    pub fn level(&self, who: &Requester, category: RecordCategory) -> DisclosureLevel {
        if who.own_agency {
            return DisclosureLevel::Full;
        }
        self.matching(who)
            .map(|r| r.levels.get(&category).copied().unwrap_or(r.default))
            .max()
            .unwrap_or(DisclosureLevel::None)
    }

    /// Whether policy gives this requester any level above `none` for any category a
    /// node of kind `holder` holds.
    pub fn grants_anything(&self, who: &Requester, holder: AgencyKind) -> bool {
        RecordCategory::ALL
            .iter()
            .filter(|c| c.held_by(holder))
            .any(|c| self.level(who, *c) > DisclosureLevel::None)
    }

    /// How many days a disclosure to this requester is held back from the child's access
    /// report: the longest of the matching deferrals, if any.
    pub fn deferral_days(
        &self,
        kind: AgencyKind,
        role: PractitionerRole,
        purpose: Purpose,
    ) -> Option<u32> {
        self.deferrals
            .iter()
            .filter(|d| {
                (d.requester_kinds.is_empty() || d.requester_kinds.contains(&kind))
                    && (d.roles.is_empty() || d.roles.contains(&role))
                    && (d.purposes.is_empty() || d.purposes.contains(&purpose))
            })
            .map(|d| d.max_days)
            .max()
    }

    /// Whether a matching rule lets this requester override consent.
    pub fn allows_override(&self, who: &Requester) -> bool {
        who.own_agency || self.matching(who).any(|r| r.allow_override)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: &str = r#"
        [contact]
        team = "Front door"
        route = "duty line"

        [[rule]]
        description = "DSLs"
        requester_kinds = ["school"]
        roles = ["designated_safeguarding_lead"]
        purposes = ["safeguarding"]
        allow_override = true
        levels = { "*" = "summary", child_protection_plan = "full" }

        [[rule]]
        description = "Any school"
        requester_kinds = ["school"]
        levels = { child_protection_plan = "existence" }
    "#;

    fn who(role: PractitionerRole, purpose: Purpose) -> Requester {
        Requester {
            kind: AgencyKind::School,
            role,
            purpose,
            own_agency: false,
            related: true,
            break_glass: false,
        }
    }

    #[test]
    fn highest_grant_of_matching_rules_applies() {
        use DisclosureLevel::{Existence, Full, Summary};
        use RecordCategory::{ChildProtectionPlan, LookedAfter};
        let p = Policy::from_toml(POLICY, AgencyKind::SocialCare).unwrap();
        let dsl = who(
            PractitionerRole::DesignatedSafeguardingLead,
            Purpose::Safeguarding,
        );
        let teacher = who(PractitionerRole::Teacher, Purpose::EducationSupport);
        let police = Requester {
            kind: AgencyKind::Police,
            ..teacher
        };
        let own = Requester {
            own_agency: true,
            ..police
        };
        for (who, requester, category, level) in [
            ("DSL", &dsl, ChildProtectionPlan, Full),
            ("DSL", &dsl, LookedAfter, Summary),
            ("teacher", &teacher, ChildProtectionPlan, Existence),
            ("teacher", &teacher, LookedAfter, DisclosureLevel::None),
            (
                "police",
                &police,
                ChildProtectionPlan,
                DisclosureLevel::None,
            ),
            ("own agency", &own, LookedAfter, Full),
        ] {
            assert_eq!(p.level(requester, category), level, "{who}, {category:?}");
        }
        assert!(p.allows_override(&dsl) && !p.allows_override(&teacher));
    }

    #[test]
    fn invalid_policies_are_refused_with_the_reason() {
        let unknown = POLICY.replace("child_protection_plan = \"full\"", "gossip = \"full\"");
        assert!(
            Policy::from_toml(&unknown, AgencyKind::SocialCare)
                .unwrap_err()
                .contains("unknown category 'gossip'")
        );
        let wrong_holder = Policy::from_toml(POLICY, AgencyKind::Police).unwrap_err();
        assert!(
            wrong_holder.contains("police node does not hold"),
            "{wrong_holder}"
        );
        let bad_level = POLICY.replace("\"summary\"", "\"most\"");
        assert!(Policy::from_toml(&bad_level, AgencyKind::SocialCare).is_err());
        let bad_role = POLICY.replace("designated_safeguarding_lead", "head_chef");
        assert!(Policy::from_toml(&bad_role, AgencyKind::SocialCare).is_err());
    }
}
