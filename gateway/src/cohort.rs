//! A live cohort: the children the practitioner's own agency works with, as its node
//! lists them, each read across the federation in batches and turned into one row.
//!
//! Per chunk of children (250 by default): one listing call to the practitioner's own
//! node, one batched match and one batched read per other node, all in parallel under
//! the node deadline. A row is read only from what the nodes disclosed, through the
//! same merge as the child's view ([`crate::view::merge`]), so nothing shows that the
//! view would withhold. Nothing is kept: rows leave as they are made.

use crate::federation::Fanout;
use crate::reference::{NodeEntry, ReferenceClaims};
use crate::startup::AppState;
use crate::upstream::Failure;
use actix_web::web;
use chrono::{Datelike, NaiveDate};
use futures::future::join_all;
use schemas::cohort::{
    BatchMatchRequest, BatchReadItem, BatchRecordsRequest, CohortAttainment, CohortAttendance,
    CohortBarriers, CohortColumn, CohortExclusions, CohortFigures, CohortMember, CohortPage,
    CohortPep, CohortQuery, CohortRow, CohortSen, PlanKind, agency_kind,
};
use schemas::details::{ExclusionType, is_persistent_absence};
use schemas::view::Disclosed;
use schemas::{
    AccessContext, AgencyId, AgencySection, DisclosureLevel, MatchOutcome, RecordCategory,
    RecordDetails, SectionStatus, Sessions, ViewFilter,
};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use trust::Directory;

/// One cohort request: who asks, why, and what they narrowed it to.
pub struct Run {
    pub state: web::Data<AppState>,
    pub token: String,
    pub practitioner: trust::Practitioner,
    pub traceparent: Option<String>,
    pub context: AccessContext,
    pub query: CohortQuery,
    pub chunk: usize,
    /// Nodes that let a call run out its deadline in this request: not asked again, so a
    /// frozen node costs one deadline, not one per chunk. Their column is `timeout`.
    given_up: Mutex<BTreeSet<AgencyId>>,
}

impl Run {
    pub fn new(
        state: web::Data<AppState>,
        auth: &crate::auth::Authenticated,
        traceparent: Option<String>,
        context: AccessContext,
        query: CohortQuery,
    ) -> Self {
        let chunk = state.cohort_chunk;
        Self {
            state,
            token: auth.token.clone(),
            practitioner: auth.practitioner.clone(),
            traceparent,
            context,
            query,
            chunk,
            given_up: Mutex::new(BTreeSet::new()),
        }
    }

    fn fanout(&self) -> Fanout<'_> {
        Fanout {
            http: &self.state.http,
            token: &self.token,
            deadline: self.state.node_deadline,
            traceparent: self.traceparent.as_deref(),
            agency: &self.practitioner.agency,
        }
    }

    fn given_up(&self) -> BTreeSet<AgencyId> {
        match self.given_up.lock() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    fn give_up(&self, id: &AgencyId) {
        match self.given_up.lock() {
            Ok(mut g) => g.insert(id.clone()),
            Err(p) => p.into_inner().insert(id.clone()),
        };
    }

    /// A page of the practitioner's own agency's cohort, from its node.
    pub async fn page(
        &self,
        directory: &Directory,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<CohortPage, Failure> {
        let Some(own) = directory.nodes().find(|n| n.id == self.practitioner.agency) else {
            return Err(Failure::NotFound);
        };
        self.fanout()
            .client(own)
            .cohort_page(&self.context, cursor, limit)
            .await
            .result
    }

    /// The rows of one chunk of members, in their order, narrowed by the filters.
    pub async fn rows(&self, directory: &Directory, members: Vec<CohortMember>) -> Vec<CohortRow> {
        let nodes: Vec<trust::Node<'_>> = directory.nodes().collect();
        let own = &self.practitioner.agency;
        let fanout = self.fanout();
        let given_up = self.given_up();
        // Every other node: one batched match of the members that can be searched for.
        let searchable: Vec<usize> = (0..members.len())
            .filter(|&i| members[i].query.is_some())
            .collect();
        let matched = join_all(nodes.iter().map(|node| {
            let fanout = &fanout;
            let searchable = &searchable;
            let members = &members;
            let skip = &node.id == own || given_up.contains(&node.id) || searchable.is_empty();
            async move {
                if skip {
                    return None;
                }
                let request = BatchMatchRequest {
                    queries: searchable
                        .iter()
                        .filter_map(|&i| members[i].query.clone())
                        .collect(),
                };
                let outcome = fanout
                    .client(*node)
                    .match_batch(&request, &self.context)
                    .await;
                Some(outcome.result.and_then(|r| {
                    if r.answers.len() == request.queries.len() {
                        Ok(r.answers)
                    } else {
                        Err(Failure::Error(
                            "a batched match answered another number of children".into(),
                        ))
                    }
                }))
            }
        }))
        .await;
        // entries[node][member]: what each node said of each child.
        let mut entries: Vec<Vec<(NodeEntry, Option<SectionStatus>)>> = Vec::new();
        for (node, outcome) in nodes.iter().zip(matched) {
            let mut column = vec![(NodeEntry::NotFound, None); members.len()];
            if &node.id == own {
                for (i, m) in members.iter().enumerate() {
                    column[i] = (
                        NodeEntry::Held {
                            r: m.local_ref.clone(),
                            m: None,
                        },
                        None,
                    );
                }
            } else if given_up.contains(&node.id) {
                column.fill((NodeEntry::Unknown, Some(SectionStatus::Timeout)));
            } else {
                match outcome {
                    None => {}
                    Some(Ok(answers)) => {
                        for (&i, answer) in searchable.iter().zip(answers) {
                            column[i] = match (answer.answer.held, answer.answer.local_ref) {
                                (true, Some(r)) => (
                                    NodeEntry::Held {
                                        r,
                                        m: answer.match_token,
                                    },
                                    None,
                                ),
                                _ if answer.answer.outcome == MatchOutcome::Candidates
                                    && !answer.candidate_tokens.is_empty() =>
                                {
                                    (
                                        NodeEntry::Candidates {
                                            t: answer.candidate_tokens,
                                        },
                                        Some(SectionStatus::Candidates),
                                    )
                                }
                                _ => (NodeEntry::NotFound, None),
                            };
                        }
                    }
                    Some(Err(failure)) => {
                        let status = failed(&failure);
                        if status == SectionStatus::Timeout {
                            self.give_up(&node.id);
                        }
                        column.fill((NodeEntry::Unknown, Some(status)));
                    }
                }
            }
            entries.push(column);
        }
        // Every node: one batched read of the children it holds.
        let reads = join_all(nodes.iter().zip(&entries).map(|(node, column)| {
            let fanout = &fanout;
            let members = &members;
            async move {
                let held: Vec<(usize, BatchReadItem)> = column
                    .iter()
                    .enumerate()
                    .filter_map(|(i, (entry, _))| match entry {
                        NodeEntry::Held { r, m } => Some((
                            i,
                            BatchReadItem {
                                local_ref: r.clone(),
                                match_token: m.clone(),
                                relationship: (node.id != self.practitioner.agency)
                                    .then(|| members[i].relationship.clone()),
                            },
                        )),
                        _ => None,
                    })
                    .collect();
                if held.is_empty() {
                    return (Vec::new(), None);
                }
                let (index, items): (Vec<usize>, Vec<BatchReadItem>) = held.into_iter().unzip();
                let outcome = fanout
                    .client(*node)
                    .records_batch(&BatchRecordsRequest { children: items }, &self.context)
                    .await;
                let result = outcome.result.and_then(|r| {
                    if r.answers.len() == index.len() {
                        Ok(r.answers)
                    } else {
                        Err(Failure::Error(
                            "a batched read answered another number of children".into(),
                        ))
                    }
                });
                (index, Some(result))
            }
        }))
        .await;
        let mut sections: Vec<Vec<AgencySection>> =
            vec![Vec::with_capacity(nodes.len()); members.len()];
        for ((node, column), (index, read)) in nodes.iter().zip(&entries).zip(reads) {
            let mut per_child: Vec<AgencySection> = column
                .iter()
                .map(|(_, status)| AgencySection {
                    agency_id: node.id.clone(),
                    agency_name: node.name.clone(),
                    kind: node.kind,
                    status: status.unwrap_or(SectionStatus::NotFound),
                    reason: None,
                    elapsed_ms: 0,
                    contact: None,
                    disclosure: Vec::new(),
                    override_used: false,
                    records: Vec::new(),
                })
                .collect();
            match read {
                None => {}
                Some(Ok(answers)) => {
                    for (i, answer) in index.into_iter().zip(answers) {
                        let section = &mut per_child[i];
                        match answer.records {
                            Some(records) => {
                                section.status = if records.records.is_empty() {
                                    SectionStatus::Withheld
                                } else {
                                    SectionStatus::Ok
                                };
                                section.contact = records.contact;
                                section.disclosure = records.disclosure;
                                section.override_used = records.override_used;
                                section.records = records.records;
                            }
                            None => section.status = SectionStatus::NotFound,
                        }
                    }
                }
                Some(Err(failure)) => {
                    let status = failed(&failure);
                    if status == SectionStatus::Timeout {
                        self.give_up(&node.id);
                    }
                    for i in index {
                        per_child[i].status = status;
                    }
                }
            }
            for (i, section) in per_child.into_iter().enumerate() {
                sections[i].push(section);
            }
        }
        let today = chrono::Utc::now()
            .with_timezone(&chrono_tz::Europe::London)
            .date_naive();
        let expires = chrono::Utc::now().timestamp() + self.state.reference_ttl_seconds;
        let mut rows = Vec::with_capacity(members.len());
        for (i, (member, sections)) in members.into_iter().zip(sections).enumerate() {
            let reference = self
                .state
                .references
                .seal(&ReferenceClaims {
                    iss: self.practitioner.issuer.clone(),
                    sub: self.practitioner.subject.clone(),
                    exp: expires,
                    nodes: nodes
                        .iter()
                        .zip(&entries)
                        .map(|(n, column)| (n.id.clone(), column[i].0.clone()))
                        .collect(),
                    rel: Some(member.relationship.clone()),
                    q: member
                        .query
                        .as_ref()
                        .map(|q| schemas::query_hash("plain", q)),
                })
                .unwrap_or_default();
            let row = row(member, sections, reference, today);
            if self.keeps(&row) {
                rows.push(row);
            }
        }
        rows
    }

    /// Whether a row passes the request's filters.
    pub fn keeps(&self, row: &CohortRow) -> bool {
        if let Some(known) = &self.query.known_to {
            let kind = agency_kind(known);
            let knows = row.agencies.iter().any(|c| {
                (Some(c.kind) == kind || c.agency_id.as_str() == known)
                    && matches!(c.status, SectionStatus::Ok | SectionStatus::Withheld)
            });
            if !knows {
                return false;
            }
        }
        if let Some(wanted) = self.query.persistent_absence {
            let is = row
                .attendance
                .as_ref()
                .is_some_and(|a| a.persistent_absence);
            if is != wanted {
                return false;
            }
        }
        if let Some(plan) = self.query.plan.as_deref().and_then(PlanKind::parse)
            && !row.plans.contains(&plan)
        {
            return false;
        }
        true
    }
}

fn failed(failure: &Failure) -> SectionStatus {
    match failure {
        Failure::NotFound => SectionStatus::NotFound,
        Failure::Timeout => SectionStatus::Timeout,
        Failure::Unavailable(_) => SectionStatus::Unavailable,
        Failure::Error(_) => SectionStatus::Error,
    }
}

/// The first day of the school term `today` is in (England: autumn from 1 September,
/// spring from 1 January, summer from 1 April).
pub fn term_start(today: NaiveDate) -> NaiveDate {
    let (year, month) = match today.month() {
        9..=12 => (today.year(), 9),
        1..=3 => (today.year(), 1),
        _ => (today.year(), 4),
    };
    NaiveDate::from_ymd_opt(year, month, 1).unwrap_or(today)
}

fn rounded(pct: f64) -> f64 {
    (pct * 10.0).round() / 10.0
}

/// One child's row, read from the sections as the child's view reads them.
pub fn row(
    member: CohortMember,
    sections: Vec<AgencySection>,
    reference: String,
    today: NaiveDate,
) -> CohortRow {
    let agencies: Vec<CohortColumn> = sections
        .iter()
        .map(|s| CohortColumn {
            agency_id: s.agency_id.clone(),
            kind: s.kind,
            status: s.status,
        })
        .collect();
    let merged = crate::view::merge(sections, &ViewFilter::default());
    let term = term_start(today);
    let mut read: Vec<Disclosed<'_>> = merged
        .sections
        .iter()
        .flat_map(|s| s.records.iter().map(Disclosed::read))
        .collect();
    read.sort_by_key(|d| std::cmp::Reverse(d.record.effective_from));
    let in_effect = |d: &Disclosed<'_>| {
        d.record.effective_from <= today && d.record.last_day().is_none_or(|last| last >= today)
    };
    let of = |category: RecordCategory| read.iter().filter(move |d| d.record.category == category);

    // Attendance: the latest period, and this term's periods added up.
    let attendance = of(RecordCategory::Attendance).next().map(|latest| {
        let mut cell = CohortAttendance {
            latest_from: Some(latest.record.effective_from),
            impact: Some(latest.record.impact.clone()),
            level: Some(latest.level()),
            ..Default::default()
        };
        let term_sessions = of(RecordCategory::Attendance)
            .filter(|d| d.record.effective_from >= term)
            .filter_map(|d| match &d.details {
                Some(RecordDetails::Attendance(a)) if d.level() == DisclosureLevel::Full => {
                    Some(a.sessions())
                }
                _ => None,
            })
            .fold(Sessions::default(), |a, b| a + b);
        cell.term_rate = term_sessions.pct().map(rounded);
        match &latest.details {
            Some(RecordDetails::Attendance(a)) if latest.level() == DisclosureLevel::Full => {
                cell.latest_rate = Some(a.rate());
                cell.persistent_absence =
                    a.is_persistent_absence() || term_sessions.is_persistent_absence();
            }
            _ => {
                cell.persistent_absence = latest.impact_says("persistent absence")
                    || term_sessions.pct().is_some_and(is_persistent_absence);
            }
        }
        cell
    });

    // Attainment: the latest assessment of each subject, with details.
    let mut subjects = BTreeSet::new();
    let attainment = of(RecordCategory::Attainment)
        .filter_map(|d| match &d.details {
            Some(RecordDetails::Attainment(a))
                if subjects.insert(a.subject.as_str().to_owned()) =>
            {
                Some(CohortAttainment {
                    subject: a.subject.as_str().to_owned(),
                    working_at: a.working_at,
                    progress_score: a.progress_score,
                    date: d.record.effective_from,
                })
            }
            _ => None,
        })
        .collect();

    // Suspensions and exclusions that started this term.
    let mut exclusions = CohortExclusions::default();
    for d in of(RecordCategory::Exclusion).filter(|d| d.record.effective_from >= term) {
        match &d.details {
            Some(RecordDetails::Exclusion(e)) => match e.exclusion_type {
                ExclusionType::Suspension => {
                    exclusions.suspensions += 1;
                    exclusions.suspension_days += e
                        .days
                        .map(|n| u32::try_from(n.get()).unwrap_or(0))
                        .unwrap_or(0);
                }
                ExclusionType::PermanentExclusion => exclusions.permanent_exclusions += 1,
            },
            _ if d.impact_says("permanent") => exclusions.permanent_exclusions += 1,
            _ => exclusions.suspensions += 1,
        }
    }

    // Open plans.
    let plans: Vec<PlanKind> = read
        .iter()
        .filter(|d| in_effect(d))
        .filter_map(|d| PlanKind::of(d.record.category))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let looked_after = plans.contains(&PlanKind::LookedAfter)
        || of(RecordCategory::LookedAfterStatus).any(|d| {
            in_effect(d)
                && match &d.details {
                    Some(RecordDetails::LookedAfterStatus(s)) => s.in_care,
                    _ => true,
                }
        });
    let pep = looked_after.then(|| {
        match of(RecordCategory::PersonalEducationPlan).find(|d| in_effect(d)) {
            Some(d) => {
                let review_due = match &d.details {
                    Some(RecordDetails::PersonalEducationPlan(p)) => p.review_due,
                    _ => None,
                };
                CohortPep {
                    status: if review_due.is_some_and(|due| due < today) {
                        "review_overdue".into()
                    } else {
                        "in_place".into()
                    },
                    review_due,
                }
            }
            None => CohortPep {
                status: "none".into(),
                review_due: None,
            },
        }
    });
    let sen = of(RecordCategory::SpecialEducationalNeeds)
        .find(|d| in_effect(d))
        .map(|d| match &d.details {
            Some(RecordDetails::SpecialEducationalNeeds(s)) => CohortSen {
                provision: Some(s.provision),
                primary_need: Some(s.primary_need),
                impact: d.record.impact.clone(),
            },
            _ => CohortSen {
                provision: None,
                primary_need: None,
                impact: d.record.impact.clone(),
            },
        });
    let barriers = CohortBarriers {
        attendance: merged.barriers.attendance.signal,
        learning: merged.barriers.learning.signal,
        behaviour: merged.barriers.behaviour.signal,
        wellbeing: merged.barriers.wellbeing.signal,
    };
    CohortRow {
        cursor: member.cursor,
        identity: member.identity,
        reference,
        attendance,
        attainment,
        exclusions,
        pep,
        plans,
        sen,
        barriers,
        unacknowledged_notifications: member.unacknowledged_notifications,
        agencies,
    }
}

/// Orders rows by a sort key (`schemas::cohort::SORT_KEYS`); ties keep the node's order.
pub fn sort(rows: &mut [CohortRow], key: &str) {
    match key {
        "family_name" => rows.sort_by(|a, b| {
            let name = |r: &CohortRow| {
                r.identity
                    .family_name
                    .clone()
                    .unwrap_or_default()
                    .to_lowercase()
            };
            name(a).cmp(&name(b))
        }),
        "attendance" => rows.sort_by(|a, b| {
            let rate = |r: &CohortRow| {
                r.attendance
                    .as_ref()
                    .and_then(|a| a.term_rate.or(a.latest_rate))
                    .unwrap_or(f64::INFINITY)
            };
            rate(a).total_cmp(&rate(b))
        }),
        "suspension_days" => rows.sort_by_key(|r| std::cmp::Reverse(r.exclusions.suspension_days)),
        "notifications" => rows.sort_by_key(|r| std::cmp::Reverse(r.unacknowledged_notifications)),
        _ => {}
    }
}

/// Headline figures of a whole (filtered) cohort.
pub fn figures(rows: &[CohortRow]) -> CohortFigures {
    let n = rows.len() as u64;
    let count = |f: &dyn Fn(&CohortRow) -> bool| rows.iter().filter(|r| f(r)).count() as u64;
    let persistently_absent =
        count(&|r| r.attendance.as_ref().is_some_and(|a| a.persistent_absence));
    let exclusions: u64 = rows
        .iter()
        .map(|r| u64::from(r.exclusions.suspensions + r.exclusions.permanent_exclusions))
        .sum();
    let pct = |k: u64| {
        if n == 0 {
            0.0
        } else {
            rounded(100.0 * k as f64 / n as f64)
        }
    };
    let mut known_to = BTreeMap::new();
    for r in rows {
        for c in &r.agencies {
            if matches!(c.status, SectionStatus::Ok | SectionStatus::Withheld) {
                *known_to.entry(c.agency_id.to_string()).or_insert(0) += 1;
            }
        }
    }
    CohortFigures {
        children: n,
        persistently_absent,
        persistently_absent_pct: pct(persistently_absent),
        suspensions: rows
            .iter()
            .map(|r| u64::from(r.exclusions.suspensions))
            .sum(),
        exclusions_per_100: pct(exclusions),
        looked_after: count(&|r| r.plans.contains(&PlanKind::LookedAfter) || r.pep.is_some()),
        child_protection: count(&|r| r.plans.contains(&PlanKind::ChildProtection)),
        child_in_need: count(&|r| r.plans.contains(&PlanKind::ChildInNeed)),
        with_sen: count(&|r| r.sen.is_some()),
        with_unacknowledged_notifications: count(&|r| r.unacknowledged_notifications > 0),
        known_to,
        incomplete: count(&|r| {
            r.agencies.iter().any(|c| {
                matches!(
                    c.status,
                    SectionStatus::Timeout | SectionStatus::Unavailable | SectionStatus::Error
                )
            })
        }),
    }
}

/// The CSV header: the row's fields, then one column per agency (its status).
pub fn csv_header(agencies: &[AgencyId]) -> String {
    let mut fields: Vec<String> = CSV_FIELDS.iter().map(|s| (*s).to_owned()).collect();
    fields.extend(agencies.iter().map(|a| format!("agency:{a}")));
    fields.join(",") + "\r\n"
}

const CSV_FIELDS: [&str; 27] = [
    "cursor",
    "local_id",
    "given_name",
    "family_name",
    "date_of_birth",
    "upn",
    "nhs_number",
    "attendance_latest_rate",
    "attendance_latest_from",
    "attendance_term_rate",
    "persistent_absence",
    "attendance_level",
    "attainment",
    "suspensions",
    "suspension_days",
    "permanent_exclusions",
    "pep_status",
    "pep_review_due",
    "plans",
    "sen_provision",
    "sen_primary_need",
    "barrier_attendance",
    "barrier_learning",
    "barrier_behaviour",
    "barrier_wellbeing",
    "unacknowledged_notifications",
    "reference",
];

fn csv_field(text: &str) -> String {
    // A spreadsheet must not read a name as a formula.
    let text = if text.starts_with(['=', '+', '-', '@']) && text.parse::<f64>().is_err() {
        format!("'{text}")
    } else {
        text.to_owned()
    };
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text
    }
}

fn wire<T: serde::Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(other) => other.to_string(),
        Err(_) => String::new(),
    }
}

/// One row as a CSV line, the columns of [`csv_header`].
pub fn csv_line(row: &CohortRow, agencies: &[AgencyId]) -> String {
    let opt = |v: Option<String>| v.unwrap_or_default();
    let a = row.attendance.as_ref();
    let mut fields = vec![
        row.cursor.clone(),
        row.identity.local_id.clone(),
        opt(row.identity.given_name.clone()),
        opt(row.identity.family_name.clone()),
        opt(row.identity.date_of_birth.map(|d| d.to_string())),
        opt(row.identity.upn.as_ref().map(wire)),
        opt(row.identity.nhs_number.as_ref().map(wire)),
        opt(a.and_then(|a| a.latest_rate).map(|r| r.to_string())),
        opt(a.and_then(|a| a.latest_from).map(|d| d.to_string())),
        opt(a.and_then(|a| a.term_rate).map(|r| r.to_string())),
        opt(a.map(|a| a.persistent_absence.to_string())),
        opt(a.and_then(|a| a.level).map(|l| wire(&l))),
        row.attainment
            .iter()
            .map(|t| {
                format!(
                    "{}:{}{}",
                    t.subject,
                    wire(&t.working_at),
                    t.progress_score
                        .map(|p| format!(":{p}"))
                        .unwrap_or_default()
                )
            })
            .collect::<Vec<_>>()
            .join(";"),
        row.exclusions.suspensions.to_string(),
        row.exclusions.suspension_days.to_string(),
        row.exclusions.permanent_exclusions.to_string(),
        opt(row.pep.as_ref().map(|p| p.status.clone())),
        opt(row
            .pep
            .as_ref()
            .and_then(|p| p.review_due)
            .map(|d| d.to_string())),
        row.plans
            .iter()
            .map(|p| p.as_str())
            .collect::<Vec<_>>()
            .join(";"),
        opt(row.sen.as_ref().and_then(|s| s.provision).map(|p| wire(&p))),
        opt(row
            .sen
            .as_ref()
            .and_then(|s| s.primary_need)
            .map(|p| wire(&p))),
        wire(&row.barriers.attendance),
        wire(&row.barriers.learning),
        wire(&row.barriers.behaviour),
        wire(&row.barriers.wellbeing),
        row.unacknowledged_notifications.to_string(),
        row.reference.clone(),
    ];
    for id in agencies {
        fields.push(opt(row
            .agencies
            .iter()
            .find(|c| &c.agency_id == id)
            .map(|c| wire(&c.status))));
    }
    fields
        .iter()
        .map(|f| csv_field(f))
        .collect::<Vec<_>>()
        .join(",")
        + "\r\n"
}
