//! What a practitioner acts on, read from the sections of a merged view: the chronology,
//! the four barriers, the transitions and the key contacts, narrowed by a `ViewFilter`.
//!
//! Pure functions over the agencies' sections: they see only what the nodes disclosed.
//! Each record's details are read once, as the type of its category
//! ([`schemas::Disclosed`]); which barrier, transition or key contact a category feeds,
//! and what one record says there, is defined with the category in `schemas`, so nothing
//! here lists categories. A record disclosed at `summary` level has no details, so every
//! rule falls back on the impact line and says so.

use schemas::details::{AttendanceDetails, is_persistent_absence};
use schemas::view::{BarrierKind, Disclosed, TransitionRule};
use schemas::{
    AgencyKind, AgencySection, Barrier, BarrierEvidence, BarrierIntervention, BarrierSignal,
    Barriers, ChronologyEntry, ContactRoute, DisclosureLevel, KeyContact, KeyContactRole, Record,
    RecordCategory, RecordDetails, SectionStatus, Sessions, Transition, TransitionKind,
    ViewDecision, ViewFilter, ViewPerson,
};
use std::cmp::Reverse;

/// This many behaviour incidents in the period make behaviour a concern.
const INCIDENTS_FOR_CONCERN: usize = 3;
/// A plan starting this many days after another ended follows on from it.
const PLAN_FOLLOW_ON_DAYS: i64 = 14;

/// The parts of a view computed from its sections.
#[derive(Debug, Clone)]
pub struct Merged {
    pub sections: Vec<AgencySection>,
    pub chronology: Vec<ChronologyEntry>,
    pub barriers: Barriers,
    pub transitions: Vec<Transition>,
    pub key_contacts: Vec<KeyContact>,
    pub decisions: Vec<ViewDecision>,
    pub people: Vec<ViewPerson>,
}

/// Narrows the sections to the filter and reads everything else from them. Key contacts
/// are read before filtering (whom to call does not depend on the period asked about);
/// transitions are read from every record (a move needs the school before it) and kept
/// when they fall in the period.
pub fn merge(sections: Vec<AgencySection>, filter: &ViewFilter) -> Merged {
    merge_on(sections, filter, chrono::Utc::now().date_naive())
}

/// [`merge`] on the day `today` (which decisions are overdue).
pub fn merge_on(
    mut sections: Vec<AgencySection>,
    filter: &ViewFilter,
    today: chrono::NaiveDate,
) -> Merged {
    let (chronology, barriers, transitions, key_contacts, decisions, people) = {
        let read = read(&sections);
        let key_contacts = key_contacts(&read);
        let answered = answered(&read);
        let people = people(&answered, today);
        let transitions = transitions(&answered)
            .into_iter()
            .filter(|(t, categories)| {
                filter.contains(t.date) && categories.iter().any(|c| filter.admits_category(*c))
            })
            .map(|(t, _)| t)
            .collect();
        let kept: Vec<Seen<'_>> = answered
            .into_iter()
            .filter(|s| keeps(filter, s.record()))
            .collect();
        let chronology = chronology(&kept)
            .into_iter()
            .filter(|e| filter.contains(e.date))
            .collect();
        (
            chronology,
            barriers(&kept, filter),
            transitions,
            key_contacts,
            decisions(&kept, &sections, today),
            people,
        )
    };
    for section in &mut sections {
        section.records.retain(|r| keeps(filter, r));
    }
    Merged {
        sections,
        chronology,
        barriers,
        transitions,
        key_contacts,
        decisions,
        people,
    }
}

/// The parents and carers of the answered records still in effect, those with a contact
/// restriction first.
fn people(seen: &[Seen<'_>], today: chrono::NaiveDate) -> Vec<ViewPerson> {
    let mut list: Vec<ViewPerson> = seen
        .iter()
        .filter(|s| s.record().effective_to.is_none_or(|end| end >= today))
        .filter_map(|s| {
            let p = s.details()?.parent_carer()?;
            let r = s.record();
            Some(ViewPerson {
                agency_id: s.section.agency_id.clone(),
                agency_name: s.section.agency_name.clone(),
                source_system_id: r.source_system_id.clone(),
                relationship: p.relationship,
                name: p.name.as_ref().map(|n| n.as_str().to_owned()),
                parental_responsibility: p.parental_responsibility,
                lives_with_child: p.lives_with_child,
                contact_restrictions: p
                    .contact_restrictions
                    .iter()
                    .filter(|c| c.until.is_none_or(|until| until >= today))
                    .cloned()
                    .collect(),
                impact: r.impact.clone(),
                level: s.disclosed.level(),
            })
        })
        .collect();
    list.sort_by(|a, b| {
        // Without restrictions (`true`) after those with.
        a.contact_restrictions
            .is_empty()
            .cmp(&b.contact_restrictions.is_empty())
            .then_with(|| a.agency_id.cmp(&b.agency_id))
            .then_with(|| a.source_system_id.cmp(&b.source_system_id))
    });
    list
}

/// The decisions of the meetings read, overdue first, then by due date.
fn decisions(
    seen: &[Seen<'_>],
    sections: &[AgencySection],
    today: chrono::NaiveDate,
) -> Vec<ViewDecision> {
    let mut list: Vec<ViewDecision> = seen
        .iter()
        .filter_map(|s| Some((s, s.details()?.meeting()?)))
        .flat_map(|(s, meeting)| {
            let r = s.record();
            meeting.decisions.iter().map(move |d| ViewDecision {
                agency_id: s.section.agency_id.clone(),
                agency_name: s.section.agency_name.clone(),
                source_system_id: r.source_system_id.clone(),
                meeting_type: meeting.meeting_type,
                meeting_date: r.effective_from,
                decision: d.decision.as_str().to_owned(),
                owner: d.owner.clone(),
                owner_name: sections
                    .iter()
                    .find(|o| o.agency_id == d.owner)
                    .map(|o| o.agency_name.clone()),
                due: d.due,
                done: d.done,
                overdue: !d.done && d.due < today,
                level: s.disclosed.level(),
            })
        })
        .collect();
    list.sort_by(|a, b| {
        b.overdue
            .cmp(&a.overdue)
            .then_with(|| a.due.cmp(&b.due))
            .then_with(|| a.agency_id.cmp(&b.agency_id))
            .then_with(|| a.source_system_id.cmp(&b.source_system_id))
    });
    list
}

/// Whether the filter keeps a record: its category, in effect in the period.
fn keeps(filter: &ViewFilter, r: &Record) -> bool {
    filter.admits_category(r.category) && filter.overlaps(r.effective_from, r.last_day())
}

/// A section and its records, each with its details read once.
type Read<'a> = (&'a AgencySection, Vec<Disclosed<'a>>);

fn read(sections: &[AgencySection]) -> Vec<Read<'_>> {
    sections
        .iter()
        .map(|s| (s, s.records.iter().map(Disclosed::read).collect()))
        .collect()
}

/// A record of a section that answered, with its agency.
#[derive(Clone, Copy)]
struct Seen<'a> {
    section: &'a AgencySection,
    disclosed: &'a Disclosed<'a>,
}

impl<'a> Seen<'a> {
    fn record(&self) -> &'a Record {
        self.disclosed.record
    }

    fn details(&self) -> Option<&'a RecordDetails> {
        self.disclosed.details.as_ref()
    }

    fn feeds(&self, barrier: BarrierKind) -> bool {
        self.record().category.feeds(barrier)
    }
}

/// Records of the sections that answered.
fn answered<'a>(read: &'a [Read<'a>]) -> Vec<Seen<'a>> {
    read.iter()
        .filter(|(s, _)| s.status == SectionStatus::Ok)
        .flat_map(|(section, records)| {
            records
                .iter()
                .map(move |disclosed| Seen { section, disclosed })
        })
        .collect()
}

/// Every answered record as one event, newest first. Events on the same day are ordered
/// by agency id, category and source record id, so the order never depends on which node
/// answered first or how a node ordered its rows.
fn chronology(seen: &[Seen<'_>]) -> Vec<ChronologyEntry> {
    let mut entries: Vec<ChronologyEntry> = seen
        .iter()
        .map(|s| {
            let r = s.record();
            ChronologyEntry {
                date: r.effective_from,
                agency_id: s.section.agency_id.clone(),
                agency_name: s.section.agency_name.clone(),
                category: r.category,
                impact: r.impact.clone(),
                source_system_id: r.source_system_id.clone(),
            }
        })
        .collect();
    entries.sort_by(|a, b| {
        b.date
            .cmp(&a.date)
            .then_with(|| a.agency_id.cmp(&b.agency_id))
            .then_with(|| a.category.cmp(&b.category))
            .then_with(|| a.source_system_id.cmp(&b.source_system_id))
    });
    entries
}

// ---------------------------------------------------------------------------------------
// Barriers

fn barriers(seen: &[Seen<'_>], filter: &ViewFilter) -> Barriers {
    let with_interventions = |mut barrier: Barrier, kind: BarrierKind| {
        barrier.interventions = interventions(seen, kind);
        barrier
    };
    Barriers {
        attendance: with_interventions(attendance_barrier(seen, filter), BarrierKind::Attendance),
        learning: with_interventions(
            rule_barrier(seen, filter, BarrierKind::Learning),
            BarrierKind::Learning,
        ),
        behaviour: with_interventions(behaviour_barrier(seen, filter), BarrierKind::Behaviour),
        wellbeing: with_interventions(
            rule_barrier(seen, filter, BarrierKind::Wellbeing),
            BarrierKind::Wellbeing,
        ),
    }
}

/// The interventions aimed at a barrier, newest first: read from the details, or at
/// `summary` level from the outline the node shares there (no description, no evidence).
fn interventions(seen: &[Seen<'_>], barrier: BarrierKind) -> Vec<BarrierIntervention> {
    let mut list: Vec<BarrierIntervention> = seen
        .iter()
        .filter_map(|s| {
            let i = s.details()?.intervention()?;
            let r = s.record();
            (i.barrier == barrier).then(|| BarrierIntervention {
                agency_id: s.section.agency_id.clone(),
                agency_name: s.section.agency_name.clone(),
                source_system_id: r.source_system_id.clone(),
                intervention: i.intervention,
                started: r.effective_from,
                review_date: i.review_date,
                ended: r.effective_to,
                impact_at_review: i.impact_at_review,
                evidence: i.evidence.as_ref().map(|e| e.as_str().to_owned()),
                impact: r.impact.clone(),
                level: s.disclosed.level(),
            })
        })
        .collect();
    list.sort_by(|a, b| {
        b.started
            .cmp(&a.started)
            .then_with(|| a.agency_id.cmp(&b.agency_id))
            .then_with(|| a.source_system_id.cmp(&b.source_system_id))
    });
    list
}

/// Whether the filter keeps any category the barrier is read from.
fn assessed(barrier: BarrierKind, filter: &ViewFilter) -> bool {
    barrier
        .categories()
        .into_iter()
        .any(|c| filter.admits_category(c))
}

/// The records read for a barrier, each with what it alone says, newest first.
fn evidence(seen: &[Seen<'_>], barrier: BarrierKind) -> Vec<BarrierEvidence> {
    let mut evidence: Vec<BarrierEvidence> = seen
        .iter()
        .filter(|s| s.feeds(barrier))
        .map(|s| {
            let r = s.record();
            BarrierEvidence {
                agency_id: s.section.agency_id.clone(),
                agency_name: s.section.agency_name.clone(),
                category: r.category,
                source_system_id: r.source_system_id.clone(),
                date: r.effective_from,
                impact: r.impact.clone(),
                signal: s.disclosed.signal(),
                level: s.disclosed.level(),
            }
        })
        .collect();
    evidence.sort_by(|a, b| {
        b.date
            .cmp(&a.date)
            .then_with(|| a.agency_id.cmp(&b.agency_id))
            .then_with(|| a.source_system_id.cmp(&b.source_system_id))
    });
    evidence
}

fn not_assessed(barrier: BarrierKind) -> Barrier {
    Barrier {
        signal: BarrierSignal::NotAssessed,
        summary: format!(
            "Not assessed: the category filter leaves out every record {} is read from",
            barrier.name()
        ),
        summary_level_only: false,
        evidence: Vec::new(),
        interventions: Vec::new(),
    }
}

fn summary_level_only(evidence: &[BarrierEvidence]) -> bool {
    !evidence.is_empty() && evidence.iter().all(|e| e.level == DisclosureLevel::Summary)
}

fn signal_word(signal: BarrierSignal) -> &'static str {
    match signal {
        BarrierSignal::Concern => "Concern",
        BarrierSignal::Watch => "Watch",
        BarrierSignal::NoneKnown => "None known",
        BarrierSignal::NotAssessed => "Not assessed",
    }
}

/// A barrier whose signal is the strongest of its records'.
fn rule_barrier(seen: &[Seen<'_>], filter: &ViewFilter, barrier: BarrierKind) -> Barrier {
    if !assessed(barrier, filter) {
        return not_assessed(barrier);
    }
    finish(barrier.name(), evidence(seen, barrier), None)
}

/// Builds the barrier from its evidence: the signal is `overall` when given, else the
/// strongest piece of evidence's; the summary names the strongest, newest record.
fn finish(
    name: &str,
    evidence: Vec<BarrierEvidence>,
    overall: Option<(BarrierSignal, String)>,
) -> Barrier {
    let summary_only = summary_level_only(&evidence);
    let strongest = evidence
        .iter()
        .max_by_key(|e| (e.signal, e.date, Reverse(e.source_system_id.clone())));
    let (signal, mut summary) = match (overall, strongest) {
        (Some(overall), _) => overall,
        (None, None) => (
            BarrierSignal::NoneKnown,
            format!("No records bearing on {name} were disclosed by the agencies that answered"),
        ),
        (None, Some(e)) if e.signal <= BarrierSignal::NoneKnown => (
            BarrierSignal::NoneKnown,
            format!(
                "Nothing disclosed points to a {name} barrier ({} record{} read)",
                evidence.len(),
                if evidence.len() == 1 { "" } else { "s" }
            ),
        ),
        (None, Some(e)) => {
            let others = evidence
                .iter()
                .filter(|o| o.signal >= BarrierSignal::Watch)
                .count()
                - 1;
            let agencies: std::collections::BTreeSet<&str> = evidence
                .iter()
                .filter(|o| o.signal >= BarrierSignal::Watch)
                .map(|o| o.agency_id.as_str())
                .collect();
            let mut text = format!(
                "{}: {} ({})",
                signal_word(e.signal),
                e.impact,
                e.agency_name
            );
            if others > 0 {
                text.push_str(&format!(
                    "; {others} more record{} from {} agenc{}",
                    if others == 1 { "" } else { "s" },
                    agencies.len(),
                    if agencies.len() == 1 { "y" } else { "ies" }
                ));
            }
            (e.signal, text)
        }
    };
    if summary_only {
        summary.push_str(" [summary-level evidence only: read from the agencies' impact lines, no details disclosed]");
    }
    Barrier {
        signal,
        summary,
        summary_level_only: summary_only,
        evidence,
        interventions: Vec::new(),
    }
}

/// Attendance: the latest period decides; an earlier persistent absence keeps it on
/// watch; the rate across every period with session counts is a concern when it is
/// persistent absence.
fn attendance_barrier(seen: &[Seen<'_>], filter: &ViewFilter) -> Barrier {
    let barrier = BarrierKind::Attendance;
    if !assessed(barrier, filter) {
        return not_assessed(barrier);
    }
    let evidence = evidence(seen, barrier);
    let Some(latest) = evidence.first() else {
        return finish(barrier.name(), evidence, None);
    };
    let records: Vec<&Seen<'_>> = seen.iter().filter(|s| s.feeds(barrier)).collect();
    let counts: Vec<Sessions> = records
        .iter()
        .filter_map(|s| s.details().and_then(RecordDetails::sessions))
        .collect();
    let across = counts.iter().fold(Sessions::default(), |sum, s| sum + *s);
    let overall = across.pct();
    let earlier = evidence[1..].iter().map(|e| e.signal).max();
    let mut signal = latest.signal;
    if earlier >= Some(BarrierSignal::Watch) {
        signal = signal.max(BarrierSignal::Watch);
    }
    if overall.is_some_and(is_persistent_absence) {
        signal = BarrierSignal::Concern;
    }
    let latest_record = records
        .iter()
        .find(|s| s.record().source_system_id == latest.source_system_id);
    let latest_pct = latest_record
        .and_then(|s| s.details())
        .and_then(RecordDetails::sessions)
        .and_then(Sessions::pct);
    let latest_words = match latest_pct {
        Some(p) => format!(
            "{p:.1}% in the latest period (from {}{})",
            latest.date,
            latest_record
                .and_then(|s| s.record().effective_to)
                .map(|to| format!(" to {to}"))
                .unwrap_or_default()
        ),
        None => format!("latest record says \"{}\"", latest.impact),
    };
    let lead = match signal {
        BarrierSignal::Concern => "Persistent absence".to_owned(),
        BarrierSignal::Watch if latest.signal == BarrierSignal::Watch => {
            format!("Attendance below {}%", AttendanceDetails::WATCH_BELOW_PCT)
        }
        BarrierSignal::Watch => {
            "Attendance improved after an earlier persistent absence".to_owned()
        }
        _ => "No attendance barrier known".to_owned(),
    };
    let mut summary = format!("{lead}: {latest_words}");
    if let Some(p) = overall {
        let counted = counts.len();
        summary.push_str(&format!(
            "; {p:.1}% across {counted} period{} with session counts",
            if counted == 1 { "" } else { "s" }
        ));
    }
    finish(barrier.name(), evidence, Some((signal, summary)))
}

fn behaviour_barrier(seen: &[Seen<'_>], filter: &ViewFilter) -> Barrier {
    let barrier = BarrierKind::Behaviour;
    if !assessed(barrier, filter) {
        return not_assessed(barrier);
    }
    let evidence = evidence(seen, barrier);
    let incidents = evidence
        .iter()
        .filter(|e| e.category == RecordCategory::Behaviour)
        .count();
    let has_exclusion = evidence
        .iter()
        .any(|e| e.category == RecordCategory::Exclusion);
    if incidents >= INCIDENTS_FOR_CONCERN && !has_exclusion {
        let summary = format!("Concern: {incidents} behaviour incidents recorded in the period");
        return finish(
            barrier.name(),
            evidence,
            Some((BarrierSignal::Concern, summary)),
        );
    }
    finish(barrier.name(), evidence, None)
}

// ---------------------------------------------------------------------------------------
// Transitions

/// Every transition in the answered records, oldest first, with the categories it was
/// read from (for the category filter).
fn transitions(seen: &[Seen<'_>]) -> Vec<(Transition, Vec<RecordCategory>)> {
    let mut out = Vec::new();
    out.extend(school_moves(seen));
    out.extend(plan_changes(seen));
    out.extend(placement_moves(seen));
    for category in RecordCategory::ALL {
        if let Some(TransitionRule::Practitioner { title }) = category.transition() {
            out.extend(practitioner_changes(seen, category, title));
        }
    }
    out.sort_by(|(a, _), (b, _)| {
        a.date
            .cmp(&b.date)
            .then_with(|| a.agency_id.cmp(&b.agency_id))
            .then_with(|| a.source_system_ids.cmp(&b.source_system_ids))
    });
    out
}

/// Records whose category passes `wanted`, oldest first (ties by agency, then source id).
fn in_order<'a>(seen: &[Seen<'a>], wanted: impl Fn(RecordCategory) -> bool) -> Vec<Seen<'a>> {
    let mut records: Vec<Seen<'a>> = seen
        .iter()
        .filter(|s| wanted(s.record().category))
        .copied()
        .collect();
    records.sort_by(|a, b| {
        let (ra, rb) = (a.record(), b.record());
        ra.effective_from
            .cmp(&rb.effective_from)
            .then_with(|| a.section.agency_id.cmp(&b.section.agency_id))
            .then_with(|| ra.source_system_id.cmp(&rb.source_system_id))
    });
    records
}

fn transition(
    kind: TransitionKind,
    date: chrono::NaiveDate,
    section: &AgencySection,
    from: Option<String>,
    to: Option<String>,
    description: String,
    records: &[&Record],
) -> (Transition, Vec<RecordCategory>) {
    (
        Transition {
            kind,
            date,
            agency_id: section.agency_id.clone(),
            agency_name: section.agency_name.clone(),
            from,
            to,
            description,
            source_system_ids: records.iter().map(|r| r.source_system_id.clone()).collect(),
        },
        records.iter().map(|r| r.category).collect(),
    )
}

/// Which school an enrolment is at: its URN and name when details were disclosed. At
/// summary level, a school's latest enrolment of the child is its own roll, so the school
/// is the agency that holds it; an earlier one (a previous school, from the common
/// transfer file) is known only by its impact line.
fn school_of(s: &Seen<'_>, own_roll: bool) -> (String, String) {
    match s.details().and_then(RecordDetails::school) {
        Some((urn, name)) => (urn.to_owned(), name.to_owned()),
        None if own_roll && s.section.kind == schemas::AgencyKind::School => (
            s.section.agency_id.to_string(),
            s.section.agency_name.clone(),
        ),
        None => (s.record().impact.clone(), s.record().impact.clone()),
    }
}

fn school_moves(seen: &[Seen<'_>]) -> Vec<(Transition, Vec<RecordCategory>)> {
    let enrolments = in_order(seen, |c| c.transition() == Some(TransitionRule::SchoolMove));
    // The latest enrolment each section holds.
    let own_roll = |i: usize| {
        !enrolments[i + 1..]
            .iter()
            .any(|later| later.section.agency_id == enrolments[i].section.agency_id)
    };
    (1..enrolments.len())
        .filter_map(|i| {
            let (was_at, now_at) = (&enrolments[i - 1], &enrolments[i]);
            let (before, after) = (was_at.record(), now_at.record());
            let (was, was_label) = school_of(was_at, own_roll(i - 1));
            let (now, now_label) = school_of(now_at, own_roll(i));
            if was == now {
                return None;
            }
            // One plain sentence, whatever the level the enrolments were disclosed at.
            let description = format!(
                "Moved from {was_label} to {now_label} on {}",
                after.effective_from.format("%-d %B %Y")
            );
            Some(transition(
                TransitionKind::SchoolMove,
                after.effective_from,
                now_at.section,
                Some(was_label),
                Some(now_label),
                description,
                &[before, after],
            ))
        })
        .collect()
}

fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// Plan starts, step-ups, step-downs and ends, from the plan records' dates.
fn plan_changes(seen: &[Seen<'_>]) -> Vec<(Transition, Vec<RecordCategory>)> {
    let is_plan = |c: RecordCategory| matches!(c.transition(), Some(TransitionRule::Plan { .. }));
    let plans: Vec<(Seen<'_>, u8, &str)> = in_order(seen, is_plan)
        .into_iter()
        .filter_map(|s| match s.record().category.transition() {
            Some(TransitionRule::Plan { level, name }) => Some((s, level, name)),
            _ => None,
        })
        .collect();
    let mut out = Vec::new();
    for (i, (seen_plan, level, now)) in plans.iter().enumerate() {
        let (section, plan) = (seen_plan.section, seen_plan.record());
        // The plan this one follows on from: the latest earlier plan still open when this
        // one started, or ended shortly before.
        let previous = plans[..i].iter().rev().find(|(p, _, _)| {
            p.record()
                .effective_to
                .is_none_or(|end| days_from(end, plan.effective_from) <= PLAN_FOLLOW_ON_DAYS)
        });
        let change = match previous {
            None => transition(
                TransitionKind::PlanChange,
                plan.effective_from,
                section,
                None,
                Some((*now).into()),
                format!("{} started", capitalised(now)),
                &[plan],
            ),
            Some((before, was_level, was)) => {
                let verb = match level.cmp(was_level) {
                    std::cmp::Ordering::Greater => "stepped up",
                    std::cmp::Ordering::Less => "stepped down",
                    std::cmp::Ordering::Equal => "renewed",
                };
                transition(
                    TransitionKind::PlanChange,
                    plan.effective_from,
                    section,
                    Some((*was).into()),
                    Some((*now).into()),
                    format!("{} {verb} to {now}", capitalised(was)),
                    &[before.record(), plan],
                )
            }
        };
        out.push(change);
        // An ended plan no other plan follows on from.
        if let Some(end) = plan.effective_to {
            let followed = plans.iter().any(|(next, _, _)| {
                let next = next.record();
                next.source_system_id != plan.source_system_id
                    && next.effective_from >= plan.effective_from
                    && days_from(end, next.effective_from).abs() <= PLAN_FOLLOW_ON_DAYS
            });
            if !followed {
                out.push(transition(
                    TransitionKind::PlanChange,
                    end,
                    section,
                    Some((*now).into()),
                    None,
                    format!("{} ended", capitalised(now)),
                    &[plan],
                ));
            }
        }
    }
    out
}

/// Days from `a` to `b` (negative when `b` is earlier). Counted, not shifted: a date
/// ± 14 days panics at the ends of the calendar, and a node (an older or a faulty one)
/// may send a record dated there; one such record must not take a child's view down.
fn days_from(a: chrono::NaiveDate, b: chrono::NaiveDate) -> i64 {
    use chrono::Datelike;
    i64::from(b.num_days_from_ce()) - i64::from(a.num_days_from_ce())
}

fn placement_moves(seen: &[Seen<'_>]) -> Vec<(Transition, Vec<RecordCategory>)> {
    in_order(seen, |c| {
        c.transition() == Some(TransitionRule::PlacementMove)
    })
    .into_iter()
    .map(|s| {
        let r = s.record();
        let (from, to) = s
            .details()
            .and_then(RecordDetails::placement_move)
            .map(|(from, to)| (from.wire_name(), to.wire_name()))
            .unzip();
        transition(
            TransitionKind::PlacementMove,
            r.effective_from,
            s.section,
            from,
            to,
            r.impact.clone(),
            &[r],
        )
    })
    .collect()
}

fn practitioner_name(s: &Seen<'_>) -> Option<String> {
    s.details()
        .and_then(RecordDetails::person)
        .map(str::to_owned)
}

fn practitioner_changes(
    seen: &[Seen<'_>],
    category: RecordCategory,
    who: &str,
) -> Vec<(Transition, Vec<RecordCategory>)> {
    in_order(seen, |c| c == category)
        .windows(2)
        .filter_map(|pair| {
            let (was_held, now_held) = (&pair[0], &pair[1]);
            let (was, now) = (practitioner_name(was_held), practitioner_name(now_held));
            if was.is_some() && was == now {
                return None;
            }
            let after = now_held.record();
            let description = match (&was, &now) {
                (Some(w), Some(n)) => format!("New {who}: {n} took over from {w}"),
                _ => format!("New {who}: {}", after.impact),
            };
            Some(transition(
                TransitionKind::PractitionerChange,
                after.effective_from,
                now_held.section,
                was,
                now,
                description,
                &[was_held.record(), after],
            ))
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// Key contacts

/// Whom to contact, from what was disclosed. A name only when an agency disclosed one;
/// an agency that shares only that it knows the child gives its contact route. A school's
/// designated safeguarding lead is reached through the school's contact route.
fn key_contacts(read: &[Read<'_>]) -> Vec<KeyContact> {
    let mut out = Vec::new();
    for role in KeyContactRole::ALL {
        for (section, records) in read
            .iter()
            .filter(|(s, _)| matches!(s.status, SectionStatus::Ok | SectionStatus::Withheld))
        {
            if role == KeyContactRole::DesignatedSafeguardingLead {
                if let (Some(route), AgencyKind::School) = (&section.contact, section.kind) {
                    out.push(route_only(role, section, route));
                }
                continue;
            }
            for category in RecordCategory::ALL
                .into_iter()
                .filter(|c| c.key_contact() == Some(role) && c.held_by(section.kind))
            {
                let current = records
                    .iter()
                    .filter(|d| d.record.category == category)
                    .max_by_key(|d| {
                        (
                            d.record.effective_to.is_none(),
                            d.record.effective_from,
                            d.record.source_system_id.clone(),
                        )
                    });
                match current {
                    Some(d) => {
                        let details = d.details.as_ref();
                        out.push(KeyContact {
                            role,
                            agency_id: section.agency_id.clone(),
                            agency_name: section.agency_name.clone(),
                            name: details.and_then(RecordDetails::person).map(str::to_owned),
                            team: details.and_then(RecordDetails::team).map(str::to_owned),
                            note: Some(d.record.impact.clone()),
                            route: section.contact.clone(),
                            source_system_id: Some(d.record.source_system_id.clone()),
                        })
                    }
                    None => {
                        let existence_only = section.disclosure.iter().any(|d| {
                            d.category == category && d.level == DisclosureLevel::Existence
                        });
                        if let (true, Some(route)) = (existence_only, &section.contact) {
                            out.push(route_only(role, section, route));
                        }
                    }
                }
            }
        }
    }
    out
}

fn route_only(role: KeyContactRole, section: &AgencySection, route: &ContactRoute) -> KeyContact {
    KeyContact {
        role,
        agency_id: section.agency_id.clone(),
        agency_name: section.agency_name.clone(),
        name: None,
        team: Some(route.team.clone()),
        note: None,
        route: Some(route.clone()),
        source_system_id: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{NaiveDate, TimeZone, Utc};
    use schemas::{AgencyId, CategoryDisclosure};
    use serde_json::json;

    // The rules over sections as `merge` runs them, each record's details read once.

    fn chronology(sections: &[AgencySection]) -> Vec<ChronologyEntry> {
        super::chronology(&answered(&read(sections)))
    }

    fn barriers(sections: &[AgencySection], filter: &ViewFilter) -> Barriers {
        super::barriers(&answered(&read(sections)), filter)
    }

    fn transitions(sections: &[AgencySection]) -> Vec<(Transition, Vec<RecordCategory>)> {
        super::transitions(&answered(&read(sections)))
    }

    fn key_contacts(sections: &[AgencySection]) -> Vec<KeyContact> {
        super::key_contacts(&read(sections))
    }

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    /// An open record of `category` from `from`, with no details; [`RecordBuilder`] sets
    /// an end and details.
    fn record(id: &str, category: RecordCategory, from: &str, impact: &str) -> Record {
        Record {
            source_system_id: id.into(),
            category,
            effective_from: d(from),
            effective_to: None,
            recorded_at: Utc.with_ymd_and_hms(2026, 11, 1, 9, 0, 0).unwrap(),
            impact: impact.into(),
            details: None,
            outline: None,
            version: 1,
        }
    }

    trait RecordBuilder {
        /// The record's period ends on `to`.
        fn until(self, to: &str) -> Self;
        /// The record carries these details (full level).
        fn with_details(self, details: serde_json::Value) -> Self;
    }

    impl RecordBuilder for Record {
        fn until(mut self, to: &str) -> Self {
            self.effective_to = Some(d(to));
            self
        }
        fn with_details(mut self, details: serde_json::Value) -> Self {
            self.details = Some(details);
            self
        }
    }

    fn section(id: &str, kind: AgencyKind, records: Vec<Record>) -> AgencySection {
        AgencySection {
            agency_id: AgencyId::parse(id).unwrap(),
            agency_name: format!("{id} name"),
            kind,
            status: SectionStatus::Ok,
            reason: None,
            elapsed_ms: 3,
            contact: Some(ContactRoute {
                team: format!("{id} team"),
                route: format!("{id} duty line"),
            }),
            disclosure: Vec::new(),
            override_used: false,
            records,
        }
    }

    fn social_care(records: Vec<Record>) -> AgencySection {
        section("social-care", AgencyKind::SocialCare, records)
    }

    fn police(records: Vec<Record>) -> AgencySection {
        section("police", AgencyKind::Police, records)
    }

    /// Attendance over a term: from `from` for about seven weeks.
    fn attendance(id: &str, from: &str, possible: i64, present: i64) -> Record {
        let to = (d(from) + chrono::Duration::days(50)).to_string();
        let impact = format!(
            "Attendance {:.1}%",
            100.0 * present as f64 / possible as f64
        );
        record(id, RecordCategory::Attendance, from, &impact)
            .until(&to)
            .with_details(
                json!({"sessions_possible": possible, "sessions_present": present,
                "authorised_absence": possible - present, "unauthorised_absence": 0}),
            )
    }

    fn all() -> ViewFilter {
        ViewFilter::default()
    }

    fn school(records: Vec<Record>) -> Vec<AgencySection> {
        vec![section("school-a", AgencyKind::School, records)]
    }

    /// The barriers of a school's records, unfiltered.
    fn school_barriers(records: Vec<Record>) -> Barriers {
        barriers(&school(records), &all())
    }

    /// The barrier has `signal`, and its summary says `says`.
    #[track_caller]
    fn assert_barrier(barrier: &Barrier, signal: BarrierSignal, says: &str) {
        assert_eq!(barrier.signal, signal, "{}", barrier.summary);
        assert!(barrier.summary.contains(says), "{}", barrier.summary);
    }

    // --- chronology

    #[test]
    fn chronology_is_newest_first_with_deterministic_ties() {
        use RecordCategory::*;
        let sections = vec![
            social_care(vec![
                record("sc-2", ChildProtectionPlan, "2026-03-01", "CP"),
                record("sc-1", ChildInNeedEpisode, "2025-01-01", "CIN"),
            ]),
            police(vec![record(
                "p-1",
                EncompassNotification,
                "2026-03-01",
                "E",
            )]),
            section(
                "school-a",
                AgencyKind::School,
                vec![
                    record("s-b", Exclusion, "2026-03-01", "X2"),
                    record("s-a", Exclusion, "2026-03-01", "X1"),
                    record("s-c", Attendance, "2026-06-01", "A"),
                ],
            ),
        ];
        let ids = |sections: &[AgencySection]| -> Vec<String> {
            chronology(sections)
                .into_iter()
                .map(|e| e.source_system_id)
                .collect()
        };
        assert_eq!(ids(&sections), ["s-c", "p-1", "s-a", "s-b", "sc-2", "sc-1"]);
        let mut reversed = sections.clone();
        reversed.reverse();
        for s in &mut reversed {
            s.records.reverse();
        }
        assert_eq!(
            ids(&sections),
            ids(&reversed),
            "order does not depend on answer order"
        );
    }

    #[test]
    fn chronology_leaves_out_agencies_that_did_not_answer() {
        let mut down = police(vec![record(
            "p-1",
            RecordCategory::EncompassNotification,
            "2026-03-01",
            "E",
        )]);
        down.status = SectionStatus::Unavailable;
        assert!(chronology(&[down]).is_empty());
    }

    // --- attendance

    #[test]
    fn attendance_under_90_percent_in_the_latest_period_is_a_concern() {
        let b = school_barriers(vec![
            attendance("a1", "2026-01-05", 100, 97),
            attendance("a2", "2026-09-03", 100, 84),
        ]);
        assert_barrier(&b.attendance, BarrierSignal::Concern, "84.0%");
        assert_eq!(b.attendance.evidence[0].source_system_id, "a2");
        assert!(!b.attendance.summary_level_only);
    }

    #[test]
    fn attendance_that_recovered_from_persistent_absence_is_watched() {
        let b = school_barriers(vec![
            attendance("a1", "2026-01-05", 100, 91),
            attendance("a2", "2025-09-03", 100, 89),
            attendance("a3", "2026-09-03", 100, 98),
        ]);
        assert_barrier(&b.attendance, BarrierSignal::Watch, "improved");
    }

    #[test]
    fn attendance_between_90_and_95_percent_is_watched_and_above_is_fine() {
        for (present, signal) in [(93, BarrierSignal::Watch), (97, BarrierSignal::NoneKnown)] {
            let b = school_barriers(vec![attendance("a1", "2026-09-03", 100, present)]);
            assert_eq!(b.attendance.signal, signal, "{present}%");
        }
    }

    #[test]
    fn attendance_across_periods_under_90_percent_is_a_concern() {
        let b = school_barriers(vec![
            attendance("a1", "2026-01-05", 200, 150),
            attendance("a2", "2026-09-03", 100, 95),
        ]);
        assert_barrier(&b.attendance, BarrierSignal::Concern, "across 2 periods");
    }

    #[test]
    fn summary_level_attendance_falls_back_on_the_impact_line_and_says_so() {
        let b = school_barriers(vec![
            record(
                "a1",
                RecordCategory::Attendance,
                "2026-09-03",
                "Attendance 86.2% (autumn term 2026 to date): persistent absence",
            )
            .until("2026-10-23"),
        ]);
        assert_eq!(b.attendance.signal, BarrierSignal::Concern);
        assert!(b.attendance.summary_level_only);
        assert!(
            b.attendance.summary.contains("summary-level"),
            "{}",
            b.attendance.summary
        );
        assert_eq!(b.attendance.evidence[0].level, DisclosureLevel::Summary);

        let b = school_barriers(vec![record(
            "a1",
            RecordCategory::Attendance,
            "2026-09-03",
            "Attendance is a persistent absence concern",
        )]);
        assert_eq!(b.attendance.signal, BarrierSignal::Concern);
    }

    #[test]
    fn no_attendance_records_means_none_known() {
        let b = school_barriers(vec![]);
        assert_eq!(b.attendance.signal, BarrierSignal::NoneKnown);
        assert!(b.attendance.evidence.is_empty());
    }

    // --- learning

    #[test]
    fn an_ehc_plan_is_a_learning_concern_and_sen_support_is_watched() {
        let sen = |id: &str, impact: &str| {
            record(
                id,
                RecordCategory::SpecialEducationalNeeds,
                "2024-09-03",
                impact,
            )
        };
        let ehcp = sen("s1", "EHC plan: autistic spectrum needs")
            .with_details(json!({"provision": "ehc_plan", "primary_need": "ASD"}));
        assert_eq!(
            school_barriers(vec![ehcp.clone()]).learning.signal,
            BarrierSignal::Concern
        );
        let mut summary = ehcp.clone();
        summary.details = None;
        let b = school_barriers(vec![summary]);
        assert_eq!(b.learning.signal, BarrierSignal::Concern);
        assert!(b.learning.summary_level_only);
        let support = sen(
            "s2",
            "SEN support: speech, language and communication needs",
        );
        assert_eq!(
            school_barriers(vec![support]).learning.signal,
            BarrierSignal::Watch
        );
    }

    #[test]
    fn attainment_below_expected_and_a_pep_are_learning_signals() {
        let attainment =
            |id: &str, impact: &str| record(id, RecordCategory::Attainment, "2026-07-01", impact);
        let below = attainment("t1", "Reading well below the expected standard")
            .with_details(json!({"subject": "reading", "working_at": "well_below"}));
        assert_eq!(
            school_barriers(vec![below]).learning.signal,
            BarrierSignal::Concern
        );
        let at = attainment("t2", "At the expected standard");
        assert_eq!(
            school_barriers(vec![at]).learning.signal,
            BarrierSignal::NoneKnown
        );
        let pep = vec![social_care(vec![record(
            "p1",
            RecordCategory::PersonalEducationPlan,
            "2026-02-01",
            "PEP in place",
        )])];
        assert_eq!(barriers(&pep, &all()).learning.signal, BarrierSignal::Watch);
    }

    // --- behaviour

    #[test]
    fn an_exclusion_is_a_behaviour_concern() {
        let b = school_barriers(vec![
            record(
                "x1",
                RecordCategory::Exclusion,
                "2026-10-01",
                "Suspended for 2 days from 2026-10-01",
            )
            .until("2026-10-02")
            .with_details(
                json!({"exclusion_type": "suspension", "days": 2, "reason_category": "PD"}),
            ),
        ]);
        assert_barrier(&b.behaviour, BarrierSignal::Concern, "Suspended");
    }

    #[test]
    fn behaviour_incidents_are_watched_until_there_are_three() {
        let incident =
            |id: &str, day: &str| record(id, RecordCategory::Behaviour, day, "Left lesson");
        let b = school_barriers(vec![incident("b1", "2026-09-10")]);
        assert_eq!(b.behaviour.signal, BarrierSignal::Watch);
        let b = school_barriers(vec![
            incident("b1", "2026-09-10"),
            incident("b2", "2026-09-17"),
            incident("b3", "2026-10-01"),
        ]);
        assert_barrier(
            &b.behaviour,
            BarrierSignal::Concern,
            "3 behaviour incidents",
        );
    }

    // --- wellbeing

    #[test]
    fn an_open_cp_plan_or_an_encompass_notification_is_a_wellbeing_concern() {
        let sections = vec![
            social_care(vec![record(
                "c1",
                RecordCategory::ChildProtectionPlan,
                "2026-03-01",
                "Open CP plan",
            )]),
            police(vec![record(
                "e1",
                RecordCategory::EncompassNotification,
                "2026-10-01",
                "Encompass",
            )]),
        ];
        let b = barriers(&sections, &all());
        assert_eq!(b.wellbeing.signal, BarrierSignal::Concern);
        assert_eq!(b.wellbeing.evidence.len(), 2);
        assert!(
            b.wellbeing
                .summary
                .contains("1 more record from 2 agencies"),
            "{}",
            b.wellbeing.summary
        );
    }

    #[test]
    fn ended_plans_cin_camhs_and_early_help_are_watched() {
        use RecordCategory::*;
        for r in [
            record("c1", ChildProtectionPlan, "2025-03-01", "Ended CP plan").until("2025-09-01"),
            record("c2", ChildInNeedPlan, "2026-03-01", "CIN plan"),
            record("c3", CamhsReferral, "2026-03-01", "CAMHS"),
            record("c4", EarlyHelpAssessment, "2026-03-01", "EHA"),
        ] {
            let b = barriers(
                &[section("x-agency", AgencyKind::SocialCare, vec![r.clone()])],
                &all(),
            );
            assert_eq!(b.wellbeing.signal, BarrierSignal::Watch, "{:?}", r.category);
        }
        let b = barriers(&[section("x-agency", AgencyKind::Health, vec![])], &all());
        assert_eq!(b.wellbeing.signal, BarrierSignal::NoneKnown);
    }

    #[test]
    fn a_cp_is_flag_is_a_wellbeing_concern() {
        let flag = record(
            "h1",
            RecordCategory::ChildProtectionInformation,
            "2026-03-01",
            "CP-IS flag",
        )
        .with_details(json!({"flag": "child_protection_plan"}));
        let b = barriers(&[section("health", AgencyKind::Health, vec![flag])], &all());
        assert_eq!(b.wellbeing.signal, BarrierSignal::Concern);
    }

    #[test]
    fn a_category_filter_that_leaves_a_barrier_out_marks_it_not_assessed() {
        let filter = ViewFilter::from_pairs([("category", "attendance")]).unwrap();
        let b = barriers(
            &school(vec![attendance("a1", "2026-09-03", 100, 80)]),
            &filter,
        );
        assert_eq!(b.attendance.signal, BarrierSignal::Concern);
        assert_eq!(b.behaviour.signal, BarrierSignal::NotAssessed);
        assert_eq!(b.wellbeing.signal, BarrierSignal::NotAssessed);
        assert_eq!(b.learning.signal, BarrierSignal::NotAssessed);
    }

    // --- transitions

    fn enrolment(id: &str, from: &str, to: Option<&str>, urn: &str, name: &str) -> Record {
        let mut r = record(
            id,
            RecordCategory::Enrolment,
            from,
            &format!("On roll at {name}"),
        )
        .with_details(json!({"urn": urn, "school_name": name, "year_group": 5}));
        r.effective_to = to.map(d);
        r
    }

    /// The transitions of one social care section's records, without their categories.
    fn social_care_transitions(records: Vec<Record>) -> Vec<Transition> {
        transitions(&[social_care(records)])
            .into_iter()
            .map(|(t, _)| t)
            .collect()
    }

    #[test]
    fn enrolments_at_different_schools_are_a_school_move() {
        let t = transitions(&school(vec![
            enrolment(
                "e2",
                "2026-01-05",
                None,
                "999101",
                "Northfield Primary School",
            ),
            enrolment(
                "e1",
                "2023-09-04",
                Some("2025-12-19"),
                "999103",
                "Hillcrest Primary School",
            ),
        ]));
        assert_eq!(t.len(), 1);
        let (t, categories) = &t[0];
        assert_eq!(t.kind, TransitionKind::SchoolMove);
        assert_eq!(t.date, d("2026-01-05"));
        assert_eq!(t.from.as_deref(), Some("Hillcrest Primary School"));
        assert_eq!(t.to.as_deref(), Some("Northfield Primary School"));
        assert_eq!(t.source_system_ids, ["e1", "e2"]);
        assert_eq!(
            categories,
            &[RecordCategory::Enrolment, RecordCategory::Enrolment]
        );
    }

    #[test]
    fn a_move_between_two_schools_reads_in_plain_words_at_summary_level() {
        let mut left = record(
            "a1",
            RecordCategory::Enrolment,
            "2025-09-03",
            "Left Northfield Primary School on 2026-12-03 (moved to Riverside Academy)",
        );
        left.effective_to = Some(d("2026-12-03"));
        let joined = record(
            "b1",
            RecordCategory::Enrolment,
            "2026-12-04",
            "On roll at Riverside Academy",
        );
        let mut a = section("school-a", AgencyKind::School, vec![left]);
        a.agency_name = "Northfield Primary School".into();
        let mut b = section("school-b", AgencyKind::School, vec![joined]);
        b.agency_name = "Riverside Academy".into();
        let t = transitions(&[a, b]);
        assert_eq!(t.len(), 1);
        assert_eq!(
            t[0].0.description,
            "Moved from Northfield Primary School to Riverside Academy on 4 December 2026"
        );
        assert_eq!(t[0].0.from.as_deref(), Some("Northfield Primary School"));
    }

    #[test]
    fn a_new_enrolment_at_the_same_school_is_not_a_move() {
        let t = transitions(&school(vec![
            enrolment(
                "e1",
                "2023-09-04",
                Some("2025-07-19"),
                "999101",
                "Northfield",
            ),
            enrolment("e2", "2025-09-03", None, "999101", "Northfield"),
        ]));
        assert!(t.is_empty());
    }

    #[test]
    fn plans_stepping_up_and_down_are_plan_changes_in_date_order() {
        use RecordCategory::*;
        let t = social_care_transitions(vec![
            record("p3", LookedAfter, "2026-06-01", "LAC"),
            record("p1", ChildInNeedPlan, "2025-05-01", "CIN").until("2025-11-02"),
            record("p2", ChildProtectionPlan, "2025-11-03", "CP").until("2026-06-01"),
        ]);
        let described: Vec<&str> = t.iter().map(|t| t.description.as_str()).collect();
        assert_eq!(
            described,
            [
                "Child in need plan started",
                "Child in need plan stepped up to child protection plan",
                "Child protection plan stepped up to looked after",
            ]
        );
        assert!(t.iter().all(|t| t.kind == TransitionKind::PlanChange));
        assert_eq!(t[1].date, d("2025-11-03"));
        assert_eq!(t[1].source_system_ids, ["p1", "p2"]);

        let t: Vec<String> = social_care_transitions(vec![
            record("p1", ChildProtectionPlan, "2025-05-01", "CP").until("2026-01-10"),
            record("p2", ChildInNeedPlan, "2026-01-10", "CIN").until("2026-07-01"),
        ])
        .into_iter()
        .map(|t| t.description)
        .collect();
        assert_eq!(
            t,
            [
                "Child protection plan started",
                "Child protection plan stepped down to child in need plan",
                "Child in need plan ended",
            ]
        );
    }

    #[test]
    fn plans_dated_at_the_ends_of_the_calendar_are_read_without_panicking() {
        use RecordCategory::*;
        let mut poison = record("p2", ChildProtectionPlan, "2026-01-10", "CP");
        poison.effective_to = Some(NaiveDate::MAX);
        let mut ancient = record("p0", ChildInNeedPlan, "2025-01-01", "CIN");
        ancient.effective_from = NaiveDate::MIN;
        ancient.effective_to = Some(NaiveDate::MIN);
        let t: Vec<(String, NaiveDate)> = social_care_transitions(vec![
            ancient,
            record("p1", ChildInNeedPlan, "2025-05-01", "CIN").until("2026-01-10"),
            poison,
        ])
        .into_iter()
        .map(|t| (t.description, t.date))
        .collect();
        assert_eq!(
            t,
            [
                ("Child in need plan started".to_owned(), NaiveDate::MIN),
                ("Child in need plan ended".to_owned(), NaiveDate::MIN),
                ("Child in need plan started".to_owned(), d("2025-05-01")),
                (
                    "Child in need plan stepped up to child protection plan".to_owned(),
                    d("2026-01-10")
                ),
                ("Child protection plan ended".to_owned(), NaiveDate::MAX),
            ]
        );
    }

    #[test]
    fn placement_moves_and_new_social_workers_are_transitions() {
        use RecordCategory::*;
        let worker = |id: &str, from: &str| {
            record(id, AllocatedSocialWorker, from, "Allocated social worker")
        };
        let t = social_care_transitions(vec![
            worker("w1", "2025-05-01")
                .until("2026-02-01")
                .with_details(json!({"worker": "K. Brennan", "team": "Family Support"})),
            worker("w2", "2026-02-02")
                .with_details(json!({"worker": "D. Osei", "team": "Family Support"})),
            record(
                "m1",
                PlacementMove,
                "2026-04-20",
                "Moved to a new foster placement",
            )
            .with_details(
                json!({"from_placement": "foster_relative_or_friend", "to_placement": "foster_agency_carer"}),
            ),
        ]);
        assert_eq!(t.len(), 2);
        assert_eq!(t[0].kind, TransitionKind::PractitionerChange);
        assert_eq!(
            t[0].description,
            "New allocated social worker: D. Osei took over from K. Brennan"
        );
        assert_eq!(t[1].kind, TransitionKind::PlacementMove);
        assert_eq!(t[1].to.as_deref(), Some("foster_agency_carer"));
    }

    #[test]
    fn practitioner_change_at_summary_level_names_nobody() {
        use RecordCategory::*;
        let t = social_care_transitions(vec![
            record(
                "w1",
                AllocatedSocialWorker,
                "2025-05-01",
                "Allocated social worker",
            )
            .until("2026-02-01"),
            record(
                "w2",
                AllocatedSocialWorker,
                "2026-02-02",
                "New allocated social worker",
            ),
        ]);
        assert_eq!(t.len(), 1);
        assert_eq!(t[0].from, None);
        assert_eq!(t[0].to, None);
    }

    // --- key contacts and filtering

    #[test]
    fn key_contacts_name_only_who_was_disclosed() {
        let mut social = social_care(vec![]);
        social.status = SectionStatus::Withheld;
        social.disclosure = vec![CategoryDisclosure {
            category: RecordCategory::AllocatedSocialWorker,
            level: DisclosureLevel::Existence,
            withheld: None,
        }];
        let sections = vec![
            section(
                "school-a",
                AgencyKind::School,
                vec![
                    record(
                        "t1",
                        RecordCategory::TrustedAdult,
                        "2026-09-10",
                        "Trusted adult in school: Mr Obi",
                    )
                    .with_details(json!({"name": "Mr Obi", "role": "learning mentor"})),
                ],
            ),
            social,
            section(
                "early-help",
                AgencyKind::EarlyHelp,
                vec![record(
                    "l1",
                    RecordCategory::LeadPractitioner,
                    "2026-01-10",
                    "Lead practitioner: family support worker",
                )],
            ),
        ];
        let contacts = key_contacts(&sections);
        let roles: Vec<KeyContactRole> = contacts.iter().map(|c| c.role).collect();
        assert_eq!(
            roles,
            [
                KeyContactRole::TrustedAdult,
                KeyContactRole::SocialWorker,
                KeyContactRole::DesignatedSafeguardingLead,
                KeyContactRole::LeadPractitioner,
            ]
        );
        assert_eq!(contacts[0].name.as_deref(), Some("Mr Obi"));
        assert_eq!(contacts[1].name, None);
        assert_eq!(
            contacts[1].route.as_ref().unwrap().route,
            "social-care duty line"
        );
        assert_eq!(contacts[2].route.as_ref().unwrap().team, "school-a team");
        assert_eq!(contacts[3].name, None, "summary level names nobody");
        assert_eq!(
            contacts[3].note.as_deref(),
            Some("Lead practitioner: family support worker")
        );
    }

    #[test]
    fn merge_filters_records_chronology_evidence_and_transitions() {
        let sections = school(vec![
            enrolment(
                "e1",
                "2023-09-04",
                Some("2025-12-19"),
                "999103",
                "Hillcrest",
            ),
            enrolment("e2", "2026-01-05", None, "999101", "Northfield"),
            attendance("a1", "2025-09-03", 100, 80),
            attendance("a2", "2026-09-03", 100, 97),
            record("x1", RecordCategory::Exclusion, "2026-02-01", "Suspended").until("2026-02-01"),
        ]);
        let filter = ViewFilter::from_pairs([("from", "2026-06-01")]).unwrap();
        let merged = merge(sections.clone(), &filter);
        let kept: Vec<&str> = merged.sections[0]
            .records
            .iter()
            .map(|r| r.source_system_id.as_str())
            .collect();
        assert_eq!(
            kept,
            ["e2", "a2"],
            "open enrolment overlaps, others ended before"
        );
        assert_eq!(merged.chronology.len(), 1, "only a2 happened in the period");
        assert_eq!(merged.barriers.attendance.signal, BarrierSignal::NoneKnown);
        assert_eq!(merged.barriers.behaviour.signal, BarrierSignal::NoneKnown);
        assert!(merged.transitions.is_empty());
        assert_eq!(merged.key_contacts.len(), 1, "contacts are not filtered");

        let filter = ViewFilter::from_pairs([("category", "enrolment,exclusion")]).unwrap();
        let merged = merge(sections, &filter);
        assert_eq!(merged.sections[0].records.len(), 3);
        assert_eq!(merged.transitions.len(), 1);
        assert_eq!(
            merged.barriers.attendance.signal,
            BarrierSignal::NotAssessed
        );
        assert_eq!(merged.barriers.behaviour.signal, BarrierSignal::Concern);
        assert!(
            merged
                .chronology
                .iter()
                .all(|e| e.category != RecordCategory::Attendance)
        );
    }
}
