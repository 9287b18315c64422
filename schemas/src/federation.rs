//! What gateways and nodes say to each other, and what the gateway answers practitioners.

use crate::agency::AgencyKind;
use crate::category::RecordCategory;
use crate::child::{ChildIdentifiers, KnownDemographics, SearchDemographics};
use crate::disclosure::{CategoryDisclosure, ContactRoute};
use crate::identifiers::AgencyId;
use crate::problem::FieldError;
use crate::record::Record;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// Why the practitioner is reading. Every federated read carries one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Purpose {
    Safeguarding,
    EducationSupport,
    CarePlanning,
    HealthCare,
    EarlyHelp,
}

/// The lawful basis the practitioner relies on for this read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LegalBasis {
    Consent,
    PublicTask,
    /// Sharing without consent to protect a child; needs `reason`, and is flagged in the
    /// audit and in the child's access report.
    SafeguardingOverride,
}

/// Purpose and legal basis of a federated read, sent as query parameters.
#[derive(Debug, Clone, Serialize, Deserialize, IntoParams, ToSchema)]
#[into_params(parameter_in = Query)]
pub struct AccessContext {
    /// Why the record is being read.
    pub purpose: Purpose,
    /// The lawful basis for reading it.
    pub legal_basis: LegalBasis,
    /// Mandatory with `safeguarding_override`: why consent is being overridden, in at
    /// most 1,000 characters. Recorded in the audit of every agency that discloses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[param(max_length = 1000)]
    #[schema(max_length = 1000)]
    pub reason: Option<String>,
}

/// Most characters of an override's reason: room for the facts that justify it, not
/// for a document (it is stored in every disclosing agency's audit).
pub const MAX_OVERRIDE_REASON_CHARS: usize = 1000;

impl AccessContext {
    pub fn validate(&self) -> Vec<FieldError> {
        let reason_given = self.reason.as_deref().is_some_and(|r| !r.trim().is_empty());
        if self.legal_basis == LegalBasis::SafeguardingOverride && !reason_given {
            vec![FieldError::new(
                "reason",
                "a safeguarding override needs a reason",
            )]
        } else if self
            .reason
            .as_deref()
            .is_some_and(|r| r.chars().count() > MAX_OVERRIDE_REASON_CHARS)
        {
            vec![FieldError::new(
                "reason",
                format!("at most {MAX_OVERRIDE_REASON_CHARS} characters"),
            )]
        } else {
            Vec::new()
        }
    }
}

/// Who to look for: identifiers, demographics, or both. Identifiers are tried first.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "identifiers": {"upn": "U999123456789"},
    "demographics": {"given_name": "Amelia", "family_name": "Okafor",
      "date_of_birth": "2014-03-09", "postcode": "ZZ1 4AB"}
}))]
pub struct ChildQuery {
    #[serde(default, deserialize_with = "crate::object::object")]
    pub identifiers: ChildIdentifiers,
    /// May be partial: without identifiers, enough to search by (see
    /// `SearchDemographics`); beside an identifier, any fields at all.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::object::optional_object"
    )]
    pub demographics: Option<SearchDemographics>,
}

impl ChildQuery {
    /// Parses a query from a JSON body, naming every invalid field of its identifiers
    /// and demographics at once (`demographics.date_of_birth`), then applies
    /// [`ChildQuery::validate`]. A key sent twice is refused by the body itself.
    pub fn parse(body: crate::json::Body) -> Result<Self, Vec<FieldError>> {
        let value = body.into_value()?;
        let serde_json::Value::Object(object) = &value else {
            return Err(vec![FieldError::new(
                "body",
                "must be a JSON object with identifiers and demographics",
            )]);
        };
        let mut errors = Vec::new();
        let identifiers = match object.get("identifiers") {
            None => Some(ChildIdentifiers::default()),
            Some(i) => crate::fields::parse::<ChildIdentifiers>(i, "identifiers.")
                .map_err(|e| errors.extend(e))
                .ok(),
        };
        let demographics = match object.get("demographics") {
            None | Some(serde_json::Value::Null) => Some(None),
            Some(d) => crate::fields::parse::<SearchDemographics>(d, "demographics.")
                .map(Some)
                .map_err(|e| errors.extend(e))
                .ok(),
        };
        let (Some(identifiers), Some(demographics)) = (identifiers, demographics) else {
            return Err(errors);
        };
        let query = ChildQuery {
            identifiers,
            demographics,
        };
        match query.validate() {
            errors if errors.is_empty() => Ok(query),
            errors => Err(errors),
        }
    }

    /// The query another agency finds a child held here by: its identifiers and every
    /// demographic field it has, so a partial child (no date of birth, no names) is
    /// looked for by what is known of it, as a practitioner's partial search would be.
    /// Demographics are left out when they would not pass a search's validation (a
    /// value stored under older rules); `None` when nothing valid is left to find the
    /// child by.
    pub fn of_child(identifiers: &ChildIdentifiers, known: &KnownDemographics) -> Option<Self> {
        let demographics = SearchDemographics::from(known);
        let stated = demographics.given_name.is_some()
            || demographics.family_name.is_some()
            || demographics.date_of_birth.is_some()
            || demographics.postcode.is_some();
        let mut query = Self {
            identifiers: identifiers.clone(),
            demographics: stated.then_some(demographics),
        };
        if !query.validate().is_empty() {
            query.demographics = None;
        }
        query.validate().is_empty().then_some(query)
    }

    pub fn validate(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        self.identifiers.validate("identifiers.", &mut errors);
        if let Some(d) = &self.demographics {
            let before = errors.len();
            d.validate("demographics.", &mut errors);
            if errors.len() == before && self.identifiers.is_empty() && !d.enough() {
                errors.push(FieldError::new(
                    "demographics",
                    crate::child::SEARCH_NOT_ENOUGH,
                ));
            }
        } else if self.identifiers.is_empty() {
            errors.push(FieldError::new(
                "identifiers",
                "give at least one identifier, or demographics",
            ));
        }
        errors
    }
}

/// How sure a node is that its child is the one searched for.
///
/// `certain`: an agreeing UPN or NHS number that the demographics do not contradict.
/// `probable`: demographics alone, strong enough to link. `possible`: some agreement,
/// not enough to link; never linked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MatchGrade {
    Certain,
    Probable,
    Possible,
}

/// What a node concluded about a match request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MatchOutcome {
    /// One child, `certain` or `probable`: linked, with a `local_ref`. Also the answer to
    /// a confirmation: a `possible` candidate the practitioner confirmed (`confirmed`).
    Held,
    /// No child here resembles the one searched for.
    NotHeld,
    /// More than one child here fits about equally well (or the identifiers point to
    /// different children): none is linked. Search with an identifier.
    Ambiguous,
    /// Only `possible` matches: none is linked. Search with an identifier or fuller
    /// demographics.
    Candidates,
}

/// Most candidates a node lists in one answer (`ambiguous` or `candidates`), best first:
/// a practitioner checks each before confirming one, and a node offers no more children
/// than that to a search it may not be able to answer (issue 28: at most 3 per search).
/// The OpenAPI `maxItems` of the candidate lists states the same number.
pub const MAX_CANDIDATES: usize = 3;

/// A child a node did not link: how well it matched and which fields agreed. It carries
/// no reference and none of the node's own demographics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct MatchCandidate {
    pub grade: MatchGrade,
    /// Fields of the query that agreed, as in `matched_on`.
    pub matched_on: Vec<String>,
    /// With outcome `candidates` only: the fields of the query that did not agree at
    /// any level, so the practitioner knows what to check before confirming.
    /// `field:disagree` (both sides hold it and it differs) or `field:missing` (the node
    /// holds none), for `given_name`, `family_name`, `date_of_birth`, `postcode`, `sex`,
    /// `upn`, `nhs_number`. Never the node's values. Each such answer is audited at the
    /// node, and a gateway lists them in at most `candidate_detail_limits` answers per
    /// practitioner (beyond, the answer leaves them out: `disagreed_withheld`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub disagreed: Vec<String>,
}

/// A node's answer to a match request. It never returns the node's own demographics.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"outcome": "held", "held": true,
  "local_ref": "c6f1e0c2-3f5e-4c1e-9d1c-2d4b5f6a7b8c",
  "grade": "certain", "matched_on": ["upn", "date_of_birth"]}))]
pub struct MatchResponse {
    pub outcome: MatchOutcome,
    /// `true` exactly when `outcome` is `held`.
    pub held: bool,
    /// The node's reference for the child, valid only at this node. Only when held.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_ref: Option<String>,
    /// The grade of the linked child. Only when held.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grade: Option<MatchGrade>,
    /// Which fields of the query agreed with the linked child: `upn`, `nhs_number`,
    /// `given_name`, `family_name`, `date_of_birth`, `postcode`, `sex` for full agreement;
    /// `given_name:alias`, `given_name:similar`, `family_name:part`,
    /// `family_name:similar`, `date_of_birth:day_month_swapped`,
    /// `date_of_birth:one_digit`, `date_of_birth:same_month`, `postcode:sector`,
    /// `postcode:district` for partial agreement; `given_name:transposed` and
    /// `family_name:transposed` when the names agreed the other way round (the query's
    /// given name with the child's family name and the reverse), `family_name:former`
    /// when the query's family name is one the child was known by before.
    #[serde(default)]
    pub matched_on: Vec<String>,
    /// With `ambiguous` or `candidates`: the children not linked, best first, at most
    /// three.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(max_items = 3)]
    pub candidates: Vec<MatchCandidate>,
    /// Inside the node only: its own references of `candidates`, in the same order, for
    /// sealing candidate tokens. Never serialised, so it never leaves the node.
    #[serde(skip)]
    pub candidate_refs: Vec<String>,
}

/// A node's answer on its federation face: the match, and for `candidates` a token per
/// candidate with which a practitioner can confirm it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"outcome": "candidates", "held": false, "matched_on": [],
  "candidates": [{"grade": "possible",
    "matched_on": ["given_name:similar", "family_name", "date_of_birth", "sex"]}],
  "candidate_tokens": ["ct1.3q2-7wFh0cQ9L1mVx5…"]}))]
pub struct NodeMatchAnswer {
    #[serde(flatten)]
    pub answer: MatchResponse,
    /// With outcome `candidates`: one opaque token per entry of `candidates`, in the same
    /// order, sealed by this node for this practitioner and gateway and expiring. Pass
    /// one to `POST /v1/federation/match/confirm`. Absent otherwise: the candidates of
    /// an `ambiguous` answer cannot be confirmed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(max_items = 3)]
    pub candidate_tokens: Vec<String>,
    /// The link was made by a practitioner confirming a candidate, not by this node's
    /// matching alone; `grade` is the candidate's.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub confirmed: bool,
    /// With outcome `held`: this node's signed record of the match, bound to the
    /// practitioner, the child it found and a hash of the query. Opaque; send it back in
    /// the `Match-Token` header of a records read, with the requester's relationship
    /// assertion, so the node can check that both came from the same search.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub match_token: Option<String>,
    /// Only from the node of the practitioner's own agency, when it holds the child with
    /// an active involvement by its relationship rules: a short-lived assertion signed
    /// with this node's key (listed in the directory), bound to the practitioner, the
    /// purpose and the query's hash. Other nodes disclose more than `existence` only
    /// with it (`Relationship-Assertion` header of a records read).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relationship: Option<String>,
}

/// The hash a relationship assertion and a node's match token carry to bind a read to
/// the search it follows: of the query as sent to the nodes, and of its form (`plain`
/// or `keyed`). 128 bits, hex.
pub fn query_hash(form: &str, query: &impl Serialize) -> String {
    use sha2::{Digest, Sha256};
    let mut hash = Sha256::new();
    hash.update(form.as_bytes());
    hash.update(b"\n");
    hash.update(serde_json::to_vec(query).unwrap_or_default());
    crate::hex::lower_hex(&hash.finalize()[..16])
}

/// A break-glass request from the gateway to the node of the practitioner's own agency,
/// which counts it against the practitioner's daily limit and audits it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"query_hash": "3f1c9a0d5b7e2a64c8d1f09e7b3a5c2d"}))]
pub struct BreakGlassRequest {
    /// The hash of the search the read follows ([`query_hash`]).
    pub query_hash: String,
}

/// A granted break-glass: an assertion (signed by the practitioner's own agency's node)
/// that the disclosing nodes accept under `safeguarding_override` instead of a
/// relationship.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"assertion": "eyJ2IjoxLCJpc3MiOi...signed by the node", "used_today": 2, "daily_limit": 5}))]
pub struct BreakGlassGrant {
    pub assertion: String,
    /// Break-glass views this practitioner has used today, this one included.
    pub used_today: u32,
    pub daily_limit: u32,
}

/// The header a records read carries the requester's relationship assertion in.
pub const RELATIONSHIP_HEADER: &str = "relationship-assertion";
/// The header a records read carries the disclosing node's own match token in.
pub const MATCH_TOKEN_HEADER: &str = "match-token";

impl From<MatchResponse> for NodeMatchAnswer {
    fn from(answer: MatchResponse) -> Self {
        Self {
            answer,
            candidate_tokens: Vec::new(),
            confirmed: false,
            match_token: None,
            relationship: None,
        }
    }
}

/// Most characters of a confirmation's reason.
pub const MAX_REASON_CHARS: usize = 2000;

fn reason_errors(reason: &str, errors: &mut Vec<FieldError>) {
    if reason.trim().is_empty() {
        errors.push(FieldError::new(
            "reason",
            "say why you are sure this candidate is the child (it is recorded in the agency's audit)",
        ));
    } else if reason.chars().count() > MAX_REASON_CHARS {
        errors.push(FieldError::new(
            "reason",
            format!("at most {MAX_REASON_CHARS} characters"),
        ));
    }
}

/// A practitioner's confirmation, sent by a gateway to the node that issued the token.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"candidate_token": "ct1.3q2-7wFh0cQ9L1mVx5…",
  "reason": "Same child: date of birth and family name confirmed with the child's carer; the given name was misspelt at enrolment."}))]
pub struct CandidateConfirmation {
    /// A token from this node's `candidate_tokens`, issued to the same practitioner
    /// through the same gateway, not expired.
    #[schema(min_length = 1)]
    pub candidate_token: String,
    /// Why the practitioner is sure the candidate is the child. Recorded in the node's
    /// audit.
    #[serde(default)]
    #[schema(required = true, min_length = 1, max_length = 2000)]
    pub reason: String,
}

impl CandidateConfirmation {
    pub fn validate(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        if self.candidate_token.trim().is_empty() {
            errors.push(FieldError::new(
                "candidate_token",
                "give the candidate's token",
            ));
        }
        reason_errors(&self.reason, &mut errors);
        errors
    }
}

/// Which candidate of a search the practitioner confirms, and why.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"agency_id": "social-care", "candidate": 1,
  "reason": "Same child: date of birth and family name confirmed with the child's carer; the given name was misspelt at enrolment."}))]
pub struct ConfirmRequest {
    /// The agency whose candidate it is, as in the search answer.
    #[schema(value_type = String)]
    pub agency_id: AgencyId,
    /// The candidate's number in the search answer.
    #[schema(minimum = 1, maximum = 3)]
    pub candidate: u32,
    /// Why you are sure this candidate is the child you searched for. Recorded in the
    /// agency's audit.
    #[serde(default)]
    #[schema(required = true, min_length = 1, max_length = 2000)]
    pub reason: String,
}

impl ConfirmRequest {
    pub fn validate(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        if self.candidate == 0 {
            errors.push(FieldError::new(
                "candidate",
                "candidates are numbered from 1",
            ));
        }
        reason_errors(&self.reason, &mut errors);
        errors
    }
}

/// The answer to a confirmation: a new reference in which the agency is linked.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "reference": "fr1.Zm9vYmFy…",
    "expires_at": "2026-11-25T23:10:00Z",
    "agency": {"agency_id": "social-care", "agency_name": "County Children's Social Care",
      "kind": "social_care", "status": "held", "grade": "possible", "confirmed": true,
      "matched_on": ["given_name:similar", "family_name", "date_of_birth", "sex"]}
}))]
pub struct ConfirmResponse {
    /// A new reference: the old one with this agency linked. The old reference still
    /// shows the agency as `candidates`. It expires when the old one does.
    pub reference: String,
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: DateTime<Utc>,
    /// The agency's part of the search, now `held` and `confirmed`.
    pub agency: AgencySearchResult,
}

/// What a node discloses of one child to a gateway, for one practitioner and purpose.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ChildRecords {
    pub agency_id: AgencyId,
    pub agency_kind: AgencyKind,
    /// How to reach the agency about this child.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact: Option<ContactRoute>,
    /// The level applied to every category this kind of agency can hold, and why any
    /// was withheld.
    #[serde(default)]
    pub disclosure: Vec<CategoryDisclosure>,
    /// Consent was overridden for safeguarding; the override is in the node's audit and
    /// in the child's access report.
    #[serde(default)]
    pub override_used: bool,
    /// Whether the requester's relationship with the child was established: `own_agency`
    /// (the practitioner works here), `asserted` (their agency's node asserted an active
    /// involvement and this node checked it), `break_glass` (no relationship: an
    /// emergency read under `safeguarding_override`, granted and counted by their
    /// agency's node, and alerted to this agency), or `none` (capped at `existence`, with
    /// `withheld: no_relationship` on what policy would otherwise grant).
    #[serde(default)]
    pub relationship: RelationshipStatus,
    /// Whether this agency works with the child now (by its relationship rules, without
    /// a handover window: a school the child has left says `false`). Given only with
    /// more than `existence`; the gateway takes key contacts only from agencies that do.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub involved_now: Option<bool>,
    /// The records at the levels applied: `full` with details, `summary` without.
    pub records: Vec<Record>,
}

/// How a disclosing node established the requester's relationship with the child.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RelationshipStatus {
    /// The practitioner works for the disclosing agency.
    OwnAgency,
    /// The practitioner's agency asserted an active involvement, and the assertion held.
    Asserted,
    /// No relationship: a break-glass read (flagged in both agencies' audits, alerted to
    /// this agency's data protection officer and safeguarding lead).
    BreakGlass,
    /// No valid assertion: at most `existence`.
    #[default]
    None,
}

/// Whether an agency holds the searched-for child.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SearchStatus {
    /// The agency holds the child (`certain` or `probable`, or a candidate the
    /// practitioner confirmed).
    Held,
    /// The agency does not hold a child like the one searched for.
    NotFound,
    /// Several of the agency's children fit about equally well; none is linked.
    Ambiguous,
    /// The agency has only `possible` matches; none is linked.
    Candidates,
    Timeout,
    Unavailable,
    Error,
}

/// One agency's part of a search answer.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AgencySearchResult {
    pub agency_id: AgencyId,
    pub agency_name: String,
    pub kind: AgencyKind,
    pub status: SearchStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grade: Option<MatchGrade>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub matched_on: Vec<String>,
    /// Linked because a practitioner confirmed one of the agency's candidates
    /// (`POST /v1/children/{reference}/confirm`), not by the agency's matching alone.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub confirmed: bool,
    /// With `ambiguous` or `candidates`: the unlinked matches, best first, at most three.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(max_items = 3)]
    pub candidates: Vec<SearchCandidate>,
    /// Why the agency could not answer, when it could not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// One unlinked match in a search answer, numbered so the practitioner can name it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"candidate": 1, "grade": "possible",
  "matched_on": ["given_name:similar", "family_name", "date_of_birth", "sex"],
  "confirmable": true}))]
pub struct SearchCandidate {
    /// The candidate's number within its agency (1, 2, …): what
    /// `POST /v1/children/{reference}/confirm` takes as `candidate`.
    pub candidate: u32,
    #[serde(flatten)]
    pub matched: MatchCandidate,
    /// Whether a practitioner may confirm this candidate: only the candidates of an
    /// agency whose status is `candidates` (never those of an `ambiguous` one, which
    /// nothing the practitioner is shown tells apart).
    #[serde(default)]
    pub confirmable: bool,
}

/// The gateway's answer to a search.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "reference": "fr1.q83vEjRk…",
    "expires_at": "2026-11-25T23:10:00Z",
    "agencies": [
        {"agency_id": "school-a", "agency_name": "Northfield Primary School", "kind": "school",
         "status": "held", "grade": "certain", "matched_on": ["upn"]},
        {"agency_id": "police", "agency_name": "County Police", "kind": "police",
         "status": "unavailable", "reason": "connection refused"}
    ]
}))]
pub struct SearchResponse {
    /// Opaque, signed, expiring reference to this child across the federation; pass it to
    /// the view, or to confirm a candidate. Absent when no agency holds the child or has
    /// a candidate a practitioner may confirm.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub expires_at: Option<DateTime<Utc>>,
    pub agencies: Vec<AgencySearchResult>,
    /// `true` when agencies answered with candidates but the fields they disagreed on
    /// are left out: this practitioner has had as many answers listing them as the
    /// gateway allows for now (`candidate_detail_limits`; each is audited at the
    /// agency). Everything else is here: the candidates, their grades and `matched_on`
    /// (they may still be confirmed), and every other agency's answer.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub disagreed_withheld: bool,
}

/// The state of one agency's section of a view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SectionStatus {
    /// The agency answered.
    Ok,
    /// The agency does not hold the child.
    NotFound,
    /// The agency knows the child but shares no records for this request (its policy
    /// gives existence only, or consent was refused): `contact` says how to reach it.
    Withheld,
    /// The agency did not answer within its deadline.
    Timeout,
    /// The agency could not be reached (connection refused, TLS failure).
    Unavailable,
    /// The agency answered with something that is not a valid answer.
    Error,
    /// The agency has only possible matches: nothing is read until the practitioner
    /// confirms one (`POST /v1/children/{reference}/confirm`).
    Candidates,
}

/// One agency's section of a view.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AgencySection {
    pub agency_id: AgencyId,
    pub agency_name: String,
    pub kind: AgencyKind,
    pub status: SectionStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// How long the agency took to answer, in milliseconds.
    pub elapsed_ms: u64,
    /// How to reach the agency about this child, when it answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact: Option<ContactRoute>,
    /// The level the agency applied per category, when it answered.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub disclosure: Vec<CategoryDisclosure>,
    /// The agency disclosed under a safeguarding override.
    #[serde(default)]
    pub override_used: bool,
    #[serde(default)]
    pub records: Vec<Record>,
}

/// One significant event in the merged chronology.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ChronologyEntry {
    /// The day the event happened or began.
    #[schema(value_type = String, format = Date)]
    pub date: NaiveDate,
    pub agency_id: AgencyId,
    pub agency_name: String,
    pub category: RecordCategory,
    /// The agency's one-line statement of what the event means for the child.
    pub impact: String,
    /// The record's id in the agency's own system.
    #[serde(default)]
    pub source_system_id: String,
}

/// A child's multi-agency view: exists only for the duration of the request.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ChildView {
    #[schema(value_type = String, format = DateTime)]
    pub generated_at: DateTime<Utc>,
    pub purpose: Purpose,
    pub legal_basis: LegalBasis,
    /// One section per agency in the federation, each with its status.
    pub sections: Vec<AgencySection>,
    /// Events from every agency that answered, newest first; events on the same day in
    /// agency id, then category, then source record id order.
    pub chronology: Vec<ChronologyEntry>,
    /// The four barriers (attendance, learning, behaviour, wellbeing): the current
    /// signal of each and the records it rests on.
    pub barriers: crate::view::Barriers,
    /// School moves, plan changes, placement moves and changes of practitioner, oldest
    /// first.
    pub transitions: Vec<crate::view::Transition>,
    /// Whom to contact about the child: trusted adult, social worker, designated
    /// safeguarding lead, lead practitioner, as far as the agencies disclosed them.
    pub key_contacts: Vec<crate::view::KeyContact>,
    /// Decisions of multi-agency meetings with their owners, overdue ones first, then by
    /// due date.
    #[serde(default)]
    pub decisions: Vec<crate::view::ViewDecision>,
    /// The child's parents and carers as the agencies disclosed them, those with a
    /// contact restriction first. Like key contacts, given in full whatever the filter.
    #[serde(default)]
    pub people: Vec<crate::view::ViewPerson>,
    /// The filter applied to this view (`from`, `to`, `category`), when one was given.
    #[serde(default, skip_serializing_if = "crate::view::ViewFilter::is_empty")]
    pub filter: crate::view::ViewFilter,
    /// This view was a break-glass read: no relationship with the child, a
    /// safeguarding override with a reason. Each agency that disclosed under it says so
    /// (`override_used`), audited it and alerted its data protection officer.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub break_glass: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fields a search body is refused for, or none.
    fn refused(body: serde_json::Value) -> Vec<String> {
        let body = crate::json::Body::from_slice(body.to_string().as_bytes()).unwrap();
        match ChildQuery::parse(body) {
            Ok(_) => Vec::new(),
            Err(errors) => errors.into_iter().map(|e| e.field).collect(),
        }
    }

    /// A child held here is looked for elsewhere by everything known of it.
    #[test]
    fn a_childs_query_states_what_is_known_of_it() {
        use serde_json::json;
        let known =
            |v: serde_json::Value| -> KnownDemographics { serde_json::from_value(v).unwrap() };
        let ids = |v: serde_json::Value| -> ChildIdentifiers { serde_json::from_value(v).unwrap() };
        let query = |i: &ChildIdentifiers, d: &KnownDemographics| {
            ChildQuery::of_child(i, d).map(|q| serde_json::to_value(q).unwrap())
        };
        let none = ids(json!({}));
        let upn = ids(json!({"upn": "U999123456789"}));
        // Undated, no identifier: names, address and sex, no date.
        let undated = known(
            json!({"given_name": "Rowan", "family_name": "Quenby-Astley",
                                   "postcode": "ZZ9 4QT", "sex": "male",
                                   "preferred_given_name": "Ro"}),
        );
        assert_eq!(
            query(&none, &undated),
            Some(
                json!({"identifiers": {}, "demographics": {"given_name": "Rowan",
                "family_name": "Quenby-Astley", "sex": "male", "postcode": "ZZ9 4QT"}})
            )
        );
        // Beside an identifier, any field at all; an identifier alone, no demographics.
        assert_eq!(
            query(&upn, &known(json!({"given_name": "Rowan"}))),
            Some(json!({"identifiers": {"upn": "U999123456789"},
                        "demographics": {"given_name": "Rowan"}}))
        );
        assert_eq!(
            query(&upn, &known(json!({"sex": "male"}))),
            Some(json!({"identifiers": {"upn": "U999123456789"}}))
        );
        // Too little to search by and no identifier: nothing to find the child by.
        assert_eq!(query(&none, &known(json!({"given_name": "Rowan"}))), None);
        // A stored value a search would refuse (a date before the earliest): left out,
        // the identifier still finds the child; without one, nothing is left.
        let old = known(
            json!({"given_name": "Rowan", "family_name": "Quenby-Astley",
                               "date_of_birth": "1950-01-01"}),
        );
        assert_eq!(
            query(&upn, &old),
            Some(json!({"identifiers": {"upn": "U999123456789"}}))
        );
        assert_eq!(query(&none, &old), None);
    }

    #[test]
    fn a_search_may_be_partial_by_the_rule_a_child_is_stored_by() {
        use serde_json::json;
        for enough in [
            json!({"demographics": {"given_name": "Amelia", "family_name": "Okafor"}}),
            json!({"demographics": {"family_name": "Okafor", "postcode": "ZZ1 4AB"}}),
            json!({"demographics": {"family_name": "Okafor", "date_of_birth": "2014-03-09"}}),
            json!({"demographics": {"given_name": "Amelia", "date_of_birth": "2014-03-09"}}),
            json!({"identifiers": {"upn": "U999123456789"}, "demographics": {"sex": "female"}}),
            json!({"demographics": {"given_name": "Amelia", "family_name": "Okafor",
                   "date_of_birth": "2014-03-09", "sex": "female", "postcode": "ZZ1 4AB"}}),
        ] {
            assert_eq!(refused(enough.clone()), Vec::<String>::new(), "{enough}");
        }
        for too_little in [
            json!({"demographics": {"family_name": "Okafor"}}),
            json!({"demographics": {"given_name": "Amelia", "postcode": "ZZ1 4AB"}}),
            json!({"demographics": {"date_of_birth": "2014-03-09", "sex": "female"}}),
            json!({"demographics": {}}),
        ] {
            assert_eq!(
                refused(too_little.clone()),
                ["demographics"],
                "{too_little}"
            );
        }
        // A field present is checked and named as itself, every one at once.
        assert_eq!(
            refused(json!({"identifiers": {"upn": "A999123456789"},
                "demographics": {"family_name": "Okafor", "date_of_birth": "2014-02-30",
                                 "middle_name": "Rose"}})),
            [
                "identifiers.upn",
                "demographics.middle_name",
                "demographics.date_of_birth"
            ]
        );
        assert_eq!(refused(json!({})), ["identifiers"]);
        // A full search reads as before: the same value, serialised the same way.
        let full = json!({"identifiers": {}, "demographics": {"given_name": "Amelia",
            "family_name": "Okafor", "date_of_birth": "2014-03-09"}});
        let query: ChildQuery = serde_json::from_value(full.clone()).unwrap();
        assert_eq!(
            serde_json::to_value(&query).unwrap()["demographics"],
            full["demographics"]
        );
    }

    #[test]
    fn override_without_reason_is_invalid() {
        let ctx = AccessContext {
            purpose: Purpose::Safeguarding,
            legal_basis: LegalBasis::SafeguardingOverride,
            reason: Some("  ".into()),
        };
        assert_eq!(ctx.validate().len(), 1);
        let ctx = AccessContext {
            reason: Some("child disclosed harm this morning".into()),
            ..ctx
        };
        assert!(ctx.validate().is_empty());
        let at_most = AccessContext {
            reason: Some("é".repeat(MAX_OVERRIDE_REASON_CHARS)),
            ..ctx.clone()
        };
        assert!(at_most.validate().is_empty(), "characters, not bytes");
        let too_long = AccessContext {
            reason: Some("x".repeat(MAX_OVERRIDE_REASON_CHARS + 1)),
            ..ctx
        };
        let errors = too_long.validate();
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].field, "reason");
    }

    #[test]
    fn confirmation_needs_a_reason_and_a_numbered_candidate() {
        let r: ConfirmRequest =
            serde_json::from_str(r#"{"agency_id": "social-care", "candidate": 0}"#).unwrap();
        let fields: Vec<_> = r.validate().into_iter().map(|e| e.field).collect();
        assert_eq!(fields, ["candidate", "reason"]);
        let c: CandidateConfirmation =
            serde_json::from_str(r#"{"candidate_token": " ", "reason": "  "}"#).unwrap();
        let fields: Vec<_> = c.validate().into_iter().map(|e| e.field).collect();
        assert_eq!(fields, ["candidate_token", "reason"]);
        let long = ConfirmRequest {
            reason: "x".repeat(MAX_REASON_CHARS + 1),
            candidate: 1,
            ..r
        };
        assert_eq!(long.validate()[0].field, "reason");
    }

    #[test]
    fn node_answer_reads_as_a_match_response_with_tokens() {
        let text = r#"{"outcome": "candidates", "held": false,
            "candidates": [{"grade": "possible", "matched_on": ["family_name"]}],
            "candidate_tokens": ["ct1.x"]}"#;
        let answer: NodeMatchAnswer = serde_json::from_str(text).unwrap();
        assert_eq!(answer.answer.outcome, MatchOutcome::Candidates);
        assert_eq!(answer.candidate_tokens, ["ct1.x"]);
        // An answer without tokens (an older node) still reads.
        let plain: NodeMatchAnswer =
            serde_json::from_str(r#"{"outcome": "not_held", "held": false}"#).unwrap();
        assert!(plain.candidate_tokens.is_empty() && !plain.confirmed);
    }

    #[test]
    fn candidate_references_never_leave_the_node() {
        let answer = MatchResponse {
            outcome: MatchOutcome::Candidates,
            held: false,
            local_ref: None,
            grade: None,
            matched_on: Vec::new(),
            candidates: vec![MatchCandidate {
                grade: MatchGrade::Possible,
                matched_on: vec!["family_name".into()],
                disagreed: vec!["given_name:disagree".into()],
            }],
            candidate_refs: vec!["child-secret-ref".into()],
        };
        let text = serde_json::to_string(&answer).unwrap();
        assert!(!text.contains("child-secret-ref"), "{text}");
        let back: MatchResponse = serde_json::from_str(&text).unwrap();
        assert!(back.candidate_refs.is_empty());
    }

    /// The OpenAPI bound of every candidate list, and of a confirmation's candidate
    /// number, is the cap a node applies.
    #[test]
    fn candidate_lists_are_bounded_by_the_cap_in_the_schema() {
        fn property<T: utoipa::PartialSchema>(name: &str) -> serde_json::Value {
            let schema = serde_json::to_value(T::schema()).unwrap();
            schema["properties"][name].clone()
        }
        let cap = serde_json::json!(MAX_CANDIDATES);
        assert_eq!(property::<MatchResponse>("candidates")["maxItems"], cap);
        assert_eq!(
            property::<AgencySearchResult>("candidates")["maxItems"],
            cap
        );
        assert_eq!(property::<ConfirmRequest>("candidate")["maximum"], cap);
        // The tokens, one per candidate, sit beside the flattened answer (`allOf`).
        let node =
            serde_json::to_value(<NodeMatchAnswer as utoipa::PartialSchema>::schema()).unwrap();
        let tokens = node["allOf"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|part| &part["properties"]["candidate_tokens"])
            .find(|t| !t.is_null());
        assert_eq!(tokens.map(|t| &t["maxItems"]), Some(&cap), "{node}");
    }

    #[test]
    fn empty_query_is_invalid() {
        let q: ChildQuery = serde_json::from_str("{}").unwrap();
        assert_eq!(q.validate()[0].field, "identifiers");
    }
}

/// A node's record-locator filter: a keyed membership filter of the children it holds,
/// which a gateway tests before asking the node (DESIGN §6). It holds no identifier and
/// no name, only bits set by HMAC-SHA-256 tokens under the federation's locator key.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct LocatorFilterDocument {
    /// The node that published it.
    #[schema(value_type = String)]
    pub agency: AgencyId,
    /// Format of `filter`: `blocked-bloom-512/v1`.
    pub format: String,
    /// Public name of the locator key the tokens were made with (not the key).
    pub key_id: String,
    /// Children the filter covers.
    pub children: u64,
    /// Tokens inserted (identifiers and demographic blocking keys).
    pub tokens: u64,
    /// The false-positive rate per looked-up token expected from its size and contents.
    pub expected_false_positive_rate: f64,
    #[schema(value_type = String, format = DateTime)]
    pub built_at: DateTime<Utc>,
    /// The filter, base64.
    pub filter: String,
}
