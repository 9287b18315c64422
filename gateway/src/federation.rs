//! Searching for a child across every node and merging their answers into one view.
//! Nodes are asked in parallel, each under its own deadline; one failing node never
//! fails the whole answer.

use crate::reference::{NodeEntry, ReferenceClaims};
use crate::upstream::{Failure, NodeClient};
use chrono::Utc;
use futures::future::join_all;
use schemas::{
    AccessContext, AgencyId, AgencySearchResult, AgencySection, ChildQuery, ChildView,
    KeyedChildQuery, MatchGrade, MatchOutcome, SearchCandidate, SearchStatus, SectionStatus,
    ViewFilter,
};
use std::time::Duration;
use trust::{Directory, Node};

pub struct Fanout<'a> {
    pub http: &'a crate::upstream::Upstream,
    pub token: &'a str,
    pub deadline: Duration,
    pub traceparent: Option<&'a str>,
    /// The practitioner's agency: a node's 429 holds back this agency's calls only.
    pub agency: &'a AgencyId,
}

impl<'a> Fanout<'a> {
    pub fn client(&self, member: Node<'a>) -> NodeClient<'a> {
        self.http
            .node(member, self.token, self.deadline, self.traceparent)
            .on_behalf_of(self.agency)
    }
}

pub struct SearchOutcome {
    pub agencies: Vec<AgencySearchResult>,
    pub nodes: Vec<(AgencyId, NodeEntry)>,
    /// The relationship assertion of the practitioner's own agency's node, if it gave one.
    pub relationship: Option<String>,
}

/// What nodes are asked: the plain query, or its keyed encodings.
#[derive(Clone, Copy)]
pub enum NodeQuery<'a> {
    Plain(&'a ChildQuery),
    Keyed(&'a KeyedChildQuery),
}

/// With the record locator: the nodes' filters and the search's tokens.
pub type LocatorLookup<'a> = Option<(&'a crate::locator::Locator, &'a [locator::Token])>;

pub async fn search(
    directory: &Directory,
    fanout: &Fanout<'_>,
    query: NodeQuery<'_>,
    context: &AccessContext,
    locator: LocatorLookup<'_>,
    requester_agency: &AgencyId,
) -> SearchOutcome {
    let nodes: Vec<Node<'_>> = directory.nodes().collect();
    let answers = join_all(nodes.iter().map(|member| async {
        if let Some((locator, tokens)) = locator
            && locator.decide(&member.id, tokens) == crate::locator::Decision::NotHeld
        {
            return None;
        }
        let client = fanout.client(*member);
        Some(match query {
            NodeQuery::Plain(q) => client.match_child(q, context).await,
            NodeQuery::Keyed(q) => client.match_child_keyed(q, context).await,
        })
    }))
    .await;
    let mut agencies = Vec::with_capacity(nodes.len());
    let mut entries = Vec::with_capacity(nodes.len());
    let mut relationship = None;
    for (member, outcome) in nodes.into_iter().zip(answers) {
        let mut result = AgencySearchResult {
            agency_id: member.id.clone(),
            agency_name: member.name.clone(),
            kind: member.kind,
            status: SearchStatus::NotFound,
            grade: None,
            matched_on: Vec::new(),
            confirmed: false,
            candidates: Vec::new(),
            reason: None,
        };
        let Some(outcome) = outcome else {
            result.reason = Some(
                "not asked: the agency's record-locator filter does not hold this child".into(),
            );
            agencies.push(result);
            entries.push((member.id.clone(), NodeEntry::NotFound));
            continue;
        };
        let entry = match outcome.result {
            Ok(node_answer) => match (
                node_answer.answer.held,
                node_answer.answer.local_ref.clone(),
            ) {
                (true, Some(local_ref)) => {
                    result.status = SearchStatus::Held;
                    result.grade = node_answer.answer.grade.or(Some(MatchGrade::Possible));
                    result.matched_on = node_answer.answer.matched_on;
                    // Only the practitioner's own agency vouches for their relationship.
                    if &member.id == requester_agency {
                        relationship = node_answer.relationship;
                    }
                    NodeEntry::Held {
                        r: local_ref,
                        m: node_answer.match_token,
                    }
                }
                (true, None) => {
                    result.status = SearchStatus::Error;
                    result.reason =
                        Some("node said it holds the child but gave no reference".into());
                    NodeEntry::Unknown
                }
                (false, _) => {
                    // Ambiguous and possible matches are reported, never linked. Possible
                    // ones the node gave a token for can be confirmed by the practitioner.
                    let answer = node_answer.answer;
                    result.status = match answer.outcome {
                        MatchOutcome::Ambiguous => SearchStatus::Ambiguous,
                        MatchOutcome::Candidates => SearchStatus::Candidates,
                        MatchOutcome::Held | MatchOutcome::NotHeld => SearchStatus::NotFound,
                    };
                    let (candidates, tokens) = listed_candidates(
                        answer.outcome,
                        answer.candidates,
                        node_answer.candidate_tokens,
                    );
                    result.candidates = candidates;
                    match tokens {
                        Some(t) => NodeEntry::Candidates { t },
                        None => NodeEntry::NotFound,
                    }
                }
            },
            Err(failure) => {
                let (status, reason) = search_failure(failure);
                result.status = status;
                result.reason = reason;
                if status == SearchStatus::NotFound {
                    NodeEntry::NotFound
                } else {
                    NodeEntry::Unknown
                }
            }
        };
        agencies.push(result);
        entries.push((member.id.clone(), entry));
    }
    SearchOutcome {
        agencies,
        nodes: entries,
        relationship,
    }
}

/// The candidates of a node's `ambiguous` or `candidates` answer as the search lists
/// them, numbered from 1, at most [`schemas::MAX_CANDIDATES`] (a node of an earlier
/// release may send more), and the candidate tokens the reference keeps for them:
/// only for a `candidates` answer with one token per candidate listed by the node.
fn listed_candidates(
    outcome: MatchOutcome,
    mut candidates: Vec<schemas::MatchCandidate>,
    mut tokens: Vec<String>,
) -> (Vec<SearchCandidate>, Option<Vec<String>>) {
    let confirmable = outcome == MatchOutcome::Candidates
        && !candidates.is_empty()
        && tokens.len() == candidates.len();
    candidates.truncate(schemas::MAX_CANDIDATES);
    tokens.truncate(schemas::MAX_CANDIDATES);
    let listed = (1..)
        .zip(candidates)
        .map(|(candidate, matched)| SearchCandidate {
            candidate,
            matched,
            confirmable,
        })
        .collect();
    (listed, confirmable.then_some(tokens))
}

fn search_failure(failure: Failure) -> (SearchStatus, Option<String>) {
    match failure {
        Failure::NotFound => (SearchStatus::NotFound, None),
        Failure::Timeout => (
            SearchStatus::Timeout,
            Some("no answer within the deadline".into()),
        ),
        Failure::Unavailable(why) => (SearchStatus::Unavailable, Some(why)),
        Failure::Error(why) => (SearchStatus::Error, Some(why)),
    }
}

pub async fn view(
    directory: &Directory,
    fanout: &Fanout<'_>,
    reference: &ReferenceClaims,
    context: &AccessContext,
    filter: &ViewFilter,
    break_glass: Option<&str>,
) -> ChildView {
    // A break-glass grant stands in for the relationship the practitioner lacks.
    let relationship = break_glass.or(reference.rel.as_deref());
    let nodes: Vec<Node<'_>> = directory.nodes().collect();
    let entry_for = |id: &AgencyId| {
        reference
            .nodes
            .iter()
            .find(|(node, _)| node == id)
            .map(|(_, entry)| entry.clone())
    };
    let sections = join_all(nodes.iter().map(|member| {
        let entry = entry_for(&member.id);
        async move {
            let mut involved_now = None;
            let mut section = AgencySection {
                agency_id: member.id.clone(),
                agency_name: member.name.clone(),
                kind: member.kind,
                status: SectionStatus::NotFound,
                reason: None,
                elapsed_ms: 0,
                contact: None,
                disclosure: Vec::new(),
                override_used: false,
                records: Vec::new(),
            };
            match entry {
                Some(NodeEntry::Held { r, m }) => {
                    let outcome = fanout
                        .client(*member)
                        .records(&r, context, m.as_deref(), relationship)
                        .await;
                    section.elapsed_ms = outcome.elapsed.as_millis() as u64;
                    match outcome.result {
                        Ok(answer) => {
                            // Known to the agency, but nothing shared beyond how to
                            // reach it (existence level, or consent refused).
                            section.status = if answer.records.is_empty() {
                                SectionStatus::Withheld
                            } else {
                                SectionStatus::Ok
                            };
                            section.contact = answer.contact;
                            section.disclosure = answer.disclosure;
                            section.override_used = answer.override_used;
                            section.records = answer.records;
                            involved_now = answer.involved_now;
                        }
                        Err(failure) => {
                            let (status, reason) = view_failure(failure);
                            section.status = status;
                            section.reason = reason;
                        }
                    }
                }
                Some(NodeEntry::NotFound) => {}
                Some(NodeEntry::Candidates { t }) => {
                    section.status = SectionStatus::Candidates;
                    section.reason = Some(format!(
                        "candidates: this agency has {} possible match{} and nothing is read \
                         until you confirm one (POST /v1/children/{{reference}}/confirm)",
                        t.len(),
                        if t.len() == 1 { "" } else { "es" }
                    ));
                }
                Some(NodeEntry::Unknown) => {
                    section.status = SectionStatus::Unavailable;
                    section.reason = Some(
                        "this agency could not be asked when the child was searched for; search again"
                            .into(),
                    );
                }
                None => {
                    section.status = SectionStatus::Unavailable;
                    section.reason =
                        Some("this agency joined the federation after the search; search again".into());
                }
            }
            (section, involved_now)
        }
    }))
    .await;
    // Key contacts follow relationships: none from an agency that no longer works with
    // the child (a school they left, within its handover window).
    let former: Vec<AgencyId> = sections
        .iter()
        .filter(|(_, involved)| *involved == Some(false))
        .map(|(s, _)| s.agency_id.clone())
        .collect();
    let sections = sections.into_iter().map(|(s, _)| s).collect();
    let mut merged = crate::view::merge(sections, filter);
    merged
        .key_contacts
        .retain(|contact| !former.contains(&contact.agency_id));
    ChildView {
        generated_at: Utc::now(),
        purpose: context.purpose,
        legal_basis: context.legal_basis,
        sections: merged.sections,
        chronology: merged.chronology,
        barriers: merged.barriers,
        transitions: merged.transitions,
        key_contacts: merged.key_contacts,
        decisions: merged.decisions,
        people: merged.people,
        filter: filter.clone(),
        break_glass: break_glass.is_some(),
    }
}

fn view_failure(failure: Failure) -> (SectionStatus, Option<String>) {
    match failure {
        Failure::NotFound => (
            SectionStatus::NotFound,
            Some("the agency no longer holds this child".into()),
        ),
        Failure::Timeout => (
            SectionStatus::Timeout,
            Some("no answer within the deadline".into()),
        ),
        Failure::Unavailable(why) => (SectionStatus::Unavailable, Some(why)),
        Failure::Error(why) => (SectionStatus::Error, Some(why)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use schemas::MatchCandidate;

    fn possible(field: &str) -> MatchCandidate {
        MatchCandidate {
            grade: MatchGrade::Possible,
            matched_on: vec![field.to_owned()],
            disagreed: Vec::new(),
        }
    }

    /// A node of an earlier release listed up to five: the search lists the best three,
    /// numbered 1 to 3, and the reference keeps their three tokens in the same order.
    #[test]
    fn a_node_listing_more_than_the_cap_is_cut_to_its_best_three() {
        let five: Vec<_> = ["a", "b", "c", "d", "e"].map(possible).into();
        let tokens: Vec<String> = (1..=5).map(|i| format!("token-{i}")).collect();
        let (listed, kept) = listed_candidates(MatchOutcome::Candidates, five, tokens);
        assert_eq!(listed.len(), schemas::MAX_CANDIDATES);
        let numbers: Vec<u32> = listed.iter().map(|c| c.candidate).collect();
        assert_eq!(numbers, [1, 2, 3]);
        assert_eq!(listed[2].matched.matched_on, ["c"]);
        assert!(listed.iter().all(|c| c.confirmable));
        assert_eq!(
            kept,
            Some(vec!["token-1".into(), "token-2".into(), "token-3".into()])
        );
    }

    /// Candidates of an `ambiguous` answer, or of an answer whose tokens do not pair
    /// one to one with its candidates, are listed but cannot be confirmed.
    #[test]
    fn candidates_without_one_token_each_are_listed_unconfirmable() {
        let two: Vec<_> = ["a", "b"].map(possible).into();
        let (listed, kept) = listed_candidates(
            MatchOutcome::Ambiguous,
            two.clone(),
            vec!["t1".into(), "t2".into()],
        );
        assert_eq!(listed.len(), 2);
        assert!(listed.iter().all(|c| !c.confirmable));
        assert_eq!(kept, None);
        let (listed, kept) = listed_candidates(MatchOutcome::Candidates, two, vec!["t1".into()]);
        assert!(listed.iter().all(|c| !c.confirmable));
        assert_eq!(kept, None);
    }
}
