//! Deterministic synthetic children for the dev federation and tests. Every name, date,
//! identifier and event here is generated: no real person's data.
//!
//! Shape: about 1 in 10 children are ever in need (held by social care, mostly with
//! health too, some with police notifications and early help); half of those have SEN;
//! absence and suspensions are more common among them.

use crate::names;
use chrono::{Datelike, Duration, NaiveDate};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use schemas::{
    ChildIdentifiers, ChildUpsert, Demographics, NhsNumber, RecordCategory, RecordDetails,
    RecordUpsert, Sex, Upn,
};
use serde::Serialize;
use serde_json::json;

/// The day the synthetic history runs up to. Fixed, so a seed always gives the same data.
pub fn anchor() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 2).unwrap_or_default()
}

const STAFF: &[&str] = &[
    "Ms Achterberg",
    "Mr Obi",
    "Mrs Lindqvist",
    "Ms Farah",
    "Mr Delaney",
    "Ms Quarshie",
];
const SEN_NEEDS: &[(&str, &str)] = &[
    ("SEMH", "social, emotional and mental health"),
    ("SLCN", "speech, language and communication"),
    ("ASD", "autistic spectrum"),
    ("MLD", "moderate learning difficulty"),
    ("SPLD", "specific learning difficulty"),
];
const OTHER_SCHOOLS_PRIMARY: &[(&str, &str)] = &[
    ("999103", "Hillcrest Primary School"),
    ("999105", "St Anne's C of E Primary School"),
];
const OTHER_SCHOOLS_SECONDARY: &[(&str, &str)] = &[
    ("999104", "Kingsmead Academy"),
    ("999106", "Lowfield High School"),
];
const SOCIAL_WORKERS: &[&str] = &["K. Brennan", "D. Osei", "R. Lindgren", "M. Achebe"];
/// Placement types (`schemas::details::PlacementType`).
const PLACEMENTS: &[&str] = &[
    "foster_relative_or_friend",
    "foster_agency_carer",
    "foster_local_authority_carer",
    "childrens_home",
];
/// CIN census categories of abuse: neglect, emotional, physical, multiple.
const ABUSE: &[&str] = &["NEG", "EMO", "PHY", "MUL"];
/// DfE suspension reasons: persistent disruptive behaviour, verbal abuse or threatening
/// behaviour against an adult, physical assault against a pupil.
const SUSPENSION_REASONS: &[&str] = &["PD", "VA", "PP"];

/// One agency's copy of a child.
#[derive(Debug, Clone, Serialize)]
pub struct Holding {
    pub node: &'static str,
    pub local_id: String,
    pub child: ChildUpsert,
    pub records: Vec<RecordUpsert>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SyntheticChild {
    pub index: usize,
    pub demographics: Demographics,
    pub upn: Upn,
    pub nhs_number: Option<NhsNumber>,
    pub in_need: bool,
    /// A short description of this child's situation, for people reading the samples.
    pub story: String,
    pub holdings: Vec<Holding>,
}

impl SyntheticChild {
    pub fn agencies(&self) -> Vec<&'static str> {
        self.holdings.iter().map(|h| h.node).collect()
    }
}

struct Gen {
    rng: ChaCha8Rng,
    /// Draws for transitions (school moves, plan steps, placement moves, new workers).
    /// A stream of its own, so adding transitions left every other generated value as it
    /// was.
    moves: ChaCha8Rng,
    nhs_counter: u32,
}

impl Gen {
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.rng.random_range(0..items.len())]
    }

    fn chance(&mut self, p: f64) -> bool {
        self.rng.random_bool(p.clamp(0.0, 1.0))
    }

    fn date_between(&mut self, from: NaiveDate, to: NaiveDate) -> NaiveDate {
        let days = (to - from).num_days().max(1);
        from + Duration::days(self.rng.random_range(0..days))
    }

    fn next_nhs(&mut self) -> Option<NhsNumber> {
        // 999 prefixes are never issued to real patients; skip numbers with no check digit.
        loop {
            self.nhs_counter += 1;
            if self.nhs_counter > 999_999 {
                return None;
            }
            if let Some(n) = NhsNumber::with_check_digit(&format!("999{:06}", self.nhs_counter)) {
                return Some(n);
            }
        }
    }

    fn postcode(&mut self) -> String {
        let letters = b"ABDEFGHJLNPQRSTUWXYZ";
        format!(
            "ZZ{} {}{}{}",
            self.rng.random_range(1..10),
            self.rng.random_range(1..10),
            *self.pick(letters) as char,
            *self.pick(letters) as char
        )
    }
}

/// Source system ids for one agency's records of one child.
struct SourceIds {
    node: &'static str,
    index: usize,
    n: usize,
}

impl SourceIds {
    fn new(node: &'static str, index: usize) -> Self {
        Self { node, index, n: 0 }
    }
}

fn rec(
    ids: &mut SourceIds,
    category: RecordCategory,
    from: NaiveDate,
    to: Option<NaiveDate>,
    impact: String,
    details: serde_json::Value,
) -> RecordUpsert {
    ids.n += 1;
    // As the node stores it: typed, with computed fields (an attendance rate) filled in.
    let details = RecordDetails::parse(category, &details)
        .map(|d| d.to_value())
        .unwrap_or(details);
    RecordUpsert {
        source_system_id: format!(
            "{}-{}-{:06}-{}",
            ids.node,
            category.as_str(),
            ids.index,
            ids.n
        ),
        category,
        effective_from: from,
        effective_to: to,
        recorded_at: None,
        impact,
        details,
    }
}

/// The academic year (starting September) a date of birth falls in.
fn cohort(dob: NaiveDate) -> i32 {
    if dob.month() >= 9 {
        dob.year()
    } else {
        dob.year() - 1
    }
}

/// Generates `count` children from `seed`. Same seed, same children.
pub fn population(seed: u64, count: usize) -> Vec<SyntheticChild> {
    population_iter(seed, count).collect()
}

/// The children of [`population`], one at a time (the same children for the same seed),
/// so that a caller keeping only part of each child never holds all their records.
pub fn population_iter(seed: u64, count: usize) -> impl Iterator<Item = SyntheticChild> {
    let mut g = Gen {
        rng: ChaCha8Rng::seed_from_u64(seed),
        moves: ChaCha8Rng::seed_from_u64(seed ^ 0x6d6f_7665_735f_7631),
        nhs_counter: 0,
    };
    (0..count).map(move |i| child(&mut g, i))
}

fn child(g: &mut Gen, index: usize) -> SyntheticChild {
    let sex = if g.chance(0.5) {
        Sex::Female
    } else {
        Sex::Male
    };
    // One uniform draw per name, read through the pool's skewed shares.
    let given = names::given(sex).draw(g.rng.random::<f64>());
    let family = names::family().draw(g.rng.random::<f64>());
    let dob = g.date_between(
        NaiveDate::from_ymd_opt(2010, 9, 1).unwrap_or_default(),
        NaiveDate::from_ymd_opt(2021, 8, 31).unwrap_or_default(),
    );
    let demographics = Demographics {
        given_name: given.to_owned(),
        family_name: family.to_owned(),
        date_of_birth: dob,
        sex: Some(sex),
        postcode: Some(g.postcode()),
    };
    // LA code 999 is not a real authority: these UPNs cannot collide with a real pupil's.
    let upn = Upn::with_check_letter(&format!("999{:09}", index + 1))
        .unwrap_or_else(|_| unreachable_upn());
    let nhs_number = g.next_nhs();
    let in_need = g.chance(0.10);
    let a = anchor();
    let mut holdings = Vec::new();
    let mut story = Vec::new();

    // School: primary for the younger cohorts, the academy for the older.
    let year_group = 2026 - cohort(dob) - 5;
    let (school, prefix, school_name) = if year_group <= 6 {
        ("school-a", "NPS", "Northfield Primary School")
    } else {
        ("school-b", "RVA", "Riverside Academy")
    };
    let mut ids = SourceIds::new(school, index);
    let mut records = Vec::new();
    let year_label = if year_group <= 0 {
        "Reception".to_owned()
    } else {
        format!("Year {year_group}")
    };
    let joined = NaiveDate::from_ymd_opt(
        if year_group <= 6 {
            cohort(dob) + 4
        } else {
            cohort(dob) + 11
        },
        9,
        3,
    )
    .unwrap_or(a);
    let urn = if school == "school-a" {
        "999101"
    } else {
        "999102"
    };
    // Some children joined mid-year from another school: the previous school's
    // enrolment (from the common transfer file) ends the day before they started here.
    let moved_on = {
        let p = if in_need { 0.12 } else { 0.05 };
        let earliest = NaiveDate::from_ymd_opt(2025, 10, 6).unwrap_or(a);
        if g.moves.random_bool(p) && joined < earliest {
            let day = earliest
                + Duration::days(
                    g.moves
                        .random_range(0..(a - earliest).num_days().max(1) - 14),
                );
            let (other_urn, other_name) = if year_group <= 6 {
                OTHER_SCHOOLS_PRIMARY[g.moves.random_range(0..OTHER_SCHOOLS_PRIMARY.len())]
            } else {
                OTHER_SCHOOLS_SECONDARY[g.moves.random_range(0..OTHER_SCHOOLS_SECONDARY.len())]
            };
            records.push(rec(
                &mut ids,
                RecordCategory::Enrolment,
                joined,
                Some(day - Duration::days(1)),
                format!(
                    "Was on roll at {other_name} until {}",
                    day - Duration::days(1)
                ),
                json!({"urn": other_urn, "school_name": other_name, "year_group": year_group,
                       "leaving_reason": "moved house"}),
            ));
            story.push("moved school mid-year");
            Some(day)
        } else {
            None
        }
    };
    records.push(rec(
        &mut ids,
        RecordCategory::Enrolment,
        moved_on.unwrap_or(joined),
        None,
        match moved_on {
            Some(day) => {
                format!("On roll at {school_name}, {year_label}, since {day} (joined mid-year)")
            }
            None => format!("On roll at {school_name}, {year_label}"),
        },
        json!({"urn": urn, "school_name": school_name, "year_group": year_group}),
    ));
    let terms = [
        ("autumn term 2025", (2025, 9, 3), (2025, 12, 19)),
        ("spring term 2026", (2026, 1, 5), (2026, 3, 27)),
        ("summer term 2026", (2026, 4, 13), (2026, 7, 22)),
        ("autumn term 2026 to date", (2026, 9, 3), (2026, 10, 23)),
    ];
    let base: f64 = if in_need { 0.87 } else { 0.955 };
    for (label, from, to) in terms {
        let from = NaiveDate::from_ymd_opt(from.0, from.1, from.2).unwrap_or(a);
        let to = NaiveDate::from_ymd_opt(to.0, to.1, to.2).unwrap_or(a);
        if to < joined {
            continue;
        }
        let possible: i64 = (to - from).num_days() * 10 / 7;
        let rate = (base + g.rng.random_range(-0.06..0.04)).clamp(0.5, 1.0);
        let present = (possible as f64 * rate).round() as i64;
        let absent = possible - present;
        let authorised = absent / 2;
        let pct = 100.0 * present as f64 / possible as f64;
        let pa = pct < 90.0;
        records.push(rec(
            &mut ids,
            RecordCategory::Attendance,
            from,
            Some(to),
            format!(
                "Attendance {pct:.1}% ({label}){}",
                if pa { ": persistent absence" } else { "" }
            ),
            json!({"sessions_possible": possible, "sessions_present": present,
                   "authorised_absence": authorised, "unauthorised_absence": absent - authorised,
                   "persistent_absence": pa}),
        ));
    }
    if g.chance(if in_need { 0.18 } else { 0.02 }) && year_group >= 1 {
        let date = g.date_between(NaiveDate::from_ymd_opt(2025, 9, 8).unwrap_or(a), a);
        let days = g.rng.random_range(1..=5);
        let reason = *g.pick(SUSPENSION_REASONS);
        records.push(rec(
            &mut ids,
            RecordCategory::Exclusion,
            date,
            Some(date + Duration::days(days - 1)),
            format!(
                "Suspended for {days} day{} from {date}",
                if days == 1 { "" } else { "s" }
            ),
            json!({"exclusion_type": "suspension", "days": days, "reason_category": reason}),
        ));
        story.push("suspension");
    }
    if g.chance(if in_need { 0.5 } else { 0.13 }) {
        let (code, label) = *g.pick(SEN_NEEDS);
        let ehcp = g.chance(0.2);
        records.push(rec(&mut ids, RecordCategory::SpecialEducationalNeeds, joined, None,
            format!("{}: {label} needs", if ehcp { "EHC plan" } else { "SEN support" }),
            json!({"provision": if ehcp { "ehc_plan" } else { "sen_support" }, "primary_need": code})));
        story.push(if ehcp { "EHC plan" } else { "SEN support" });
    }
    if g.chance(if in_need { 0.7 } else { 0.24 }) {
        records.push(rec(
            &mut ids,
            RecordCategory::PupilPremium,
            NaiveDate::from_ymd_opt(2026, 9, 1).unwrap_or(a),
            None,
            "Eligible for pupil premium".into(),
            json!({"eligible": true}),
        ));
    }
    if in_need || g.chance(0.05) {
        let adult = *g.pick(STAFF);
        records.push(rec(
            &mut ids,
            RecordCategory::TrustedAdult,
            NaiveDate::from_ymd_opt(2026, 9, 10).unwrap_or(a),
            None,
            format!("Trusted adult in school: {adult}"),
            json!({"name": adult, "role": "learning mentor"}),
        ));
    }
    if in_need && g.chance(0.3) {
        let date = g.date_between(NaiveDate::from_ymd_opt(2026, 9, 3).unwrap_or(a), a);
        records.push(rec(
            &mut ids,
            RecordCategory::Behaviour,
            date,
            None,
            "Behaviour incident: left lesson without permission, calmed with trusted adult".into(),
            json!({"incident_type": "left_lesson", "points": 2,
                   "action_taken": "calmed with trusted adult"}),
        ));
    }
    holdings.push(Holding {
        node: school,
        local_id: format!("{prefix}-{:06}", index + 1),
        child: ChildUpsert {
            demographics: demographics.clone().into(),
            identifiers: ChildIdentifiers {
                upn: Some(upn.clone()),
                nhs_number: None,
                ..Default::default()
            },
        },
        records,
    });

    if in_need {
        let mut ids = SourceIds::new("social-care", index);
        let mut records = Vec::new();
        let referral = g.date_between(
            NaiveDate::from_ymd_opt(2024, 1, 8).unwrap_or(a),
            a - Duration::days(40),
        );
        records.push(rec(&mut ids, RecordCategory::ChildInNeedEpisode, referral, None,
            format!("Known to children's social care since {referral}"),
            json!({"referral_date": referral, "primary_need_code": *g.pick(&["N1", "N2", "N3", "N4", "N5"])})));
        let plan_start = g.date_between(referral + Duration::days(20), a);
        let roll: f64 = g.rng.random();
        // Plans step up (CIN to CP, CP to looked after) or down (CP to CIN): the earlier
        // plan ends the day before the next starts. Only where there is room for both.
        let step: Option<NaiveDate> = if (a - plan_start).num_days() > 90 {
            let room = (a - plan_start).num_days() - 60;
            Some(plan_start + Duration::days(30 + g.moves.random_range(0..room)))
        } else {
            None
        };
        let step_roll: f64 = g.moves.random();
        let mut plan = if roll < 0.4 {
            PlanKind::Cp
        } else if roll < 0.6 {
            PlanKind::Lac
        } else {
            PlanKind::Cin
        };
        let mut start = plan_start;
        // Drawn from the main stream only where it always was (children whose first plan
        // is child protection), so every other value stays as it was.
        let abuse = if roll < 0.4 {
            *g.pick(ABUSE)
        } else {
            ABUSE[g.moves.random_range(0..ABUSE.len())]
        };
        if let Some(step) = step {
            let next = match plan {
                PlanKind::Cin if step_roll < 0.3 => Some(PlanKind::Cp),
                PlanKind::Cp if step_roll < 0.2 => Some(PlanKind::Lac),
                PlanKind::Cp if step_roll < 0.35 => Some(PlanKind::Cin),
                _ => None,
            };
            if let Some(next) = next {
                records.push(plan_record(
                    &mut ids,
                    plan,
                    start,
                    Some(step - Duration::days(1)),
                    abuse,
                ));
                story.push(match (plan, next) {
                    (PlanKind::Cin, _) => "stepped up from child in need to child protection",
                    (_, PlanKind::Lac) => "came into care from a child protection plan",
                    _ => "stepped down from child protection to child in need",
                });
                plan = next;
                start = step;
            }
        }
        records.push(plan_record(&mut ids, plan, start, None, abuse));
        match plan {
            PlanKind::Cp => story.push("child protection plan"),
            PlanKind::Cin => story.push("child in need plan"),
            PlanKind::Lac => {
                records.push(rec(
                    &mut ids,
                    RecordCategory::PersonalEducationPlan,
                    start + Duration::days(20),
                    None,
                    "Personal education plan in place; next review this term".into(),
                    json!({"targets": ["reading fluency", "attendance above 95%"]}),
                ));
                story.push("looked after");
                // Some looked-after children have moved placement since.
                let mut placement = PLACEMENTS[0];
                let mut since = start;
                for _ in 0..g.moves.random_range(0..=2u32) {
                    if (a - since).num_days() < 45 {
                        break;
                    }
                    let day = since
                        + Duration::days(g.moves.random_range(30..(a - since).num_days() - 7));
                    let others: Vec<&str> = PLACEMENTS
                        .iter()
                        .copied()
                        .filter(|p| *p != placement)
                        .collect();
                    let next = others[g.moves.random_range(0..others.len())];
                    records.push(rec(
                        &mut ids,
                        RecordCategory::PlacementMove,
                        day,
                        None,
                        format!("Moved placement on {day}: the child may be unsettled and travelling further to school"),
                        json!({"from_placement": placement, "to_placement": next, "reason": "placement ended at the carer's request"}),
                    ));
                    story.push("placement move");
                    placement = next;
                    since = day;
                }
            }
        }
        let worker = *g.pick(&["K. Brennan", "D. Osei", "R. Lindgren"]);
        // Some children's social worker changed (a worker left, or the case moved team).
        let handover = if (a - plan_start).num_days() > 60 && g.moves.random_bool(0.3) {
            Some(
                plan_start
                    + Duration::days(g.moves.random_range(20..(a - plan_start).num_days() - 10)),
            )
        } else {
            None
        };
        let asw_impact =
            "Allocated social worker in the Family Support team (contact via the duty line)";
        match handover {
            Some(day) => {
                let others: Vec<&str> = SOCIAL_WORKERS
                    .iter()
                    .copied()
                    .filter(|w| *w != worker)
                    .collect();
                let new = others[g.moves.random_range(0..others.len())];
                records.push(rec(
                    &mut ids,
                    RecordCategory::AllocatedSocialWorker,
                    plan_start,
                    Some(day - Duration::days(1)),
                    asw_impact.into(),
                    json!({"team": "Family Support", "worker": worker}),
                ));
                records.push(rec(&mut ids, RecordCategory::AllocatedSocialWorker, day, None,
                    format!("New allocated social worker from {day} in the Family Support team (contact via the duty line)"),
                    json!({"team": "Family Support", "worker": new})));
                story.push("new social worker");
            }
            None => records.push(rec(
                &mut ids,
                RecordCategory::AllocatedSocialWorker,
                plan_start,
                None,
                asw_impact.into(),
                json!({"team": "Family Support", "worker": worker}),
            )),
        }
        if g.chance(0.5) {
            records.push(rec(
                &mut ids,
                RecordCategory::AssessmentFactors,
                referral,
                None,
                "Assessment identified factors affecting the family".into(),
                json!({"factors": [*g.pick(&["3A", "4A", "2A", "1C"])]}),
            ));
        }
        holdings.push(Holding {
            node: "social-care",
            local_id: format!("LCS-{:06}", index + 1),
            child: ChildUpsert {
                demographics: demographics.clone().into(),
                identifiers: ChildIdentifiers {
                    upn: Some(upn.clone()),
                    nhs_number: nhs_number.clone(),
                    ..Default::default()
                },
            },
            records,
        });
        // The virtual school's cohort: every looked-after child, and every child with a
        // social worker (the extended duty). Drawn from nothing random, so every other
        // generated value stays as it was.
        let looked_after = plan == PlanKind::Lac;
        let mut ids = SourceIds::new("virtual-school", index);
        let mut cohort = vec![rec(
            &mut ids,
            RecordCategory::LookedAfterStatus,
            referral,
            None,
            if looked_after {
                "In the virtual school's cohort: looked after by the local authority".into()
            } else {
                "In the virtual school's cohort: has a social worker".into()
            },
            json!({"in_care": looked_after, "care_authority": "999"}),
        )];
        if looked_after {
            cohort.push(rec(
                &mut ids,
                RecordCategory::PersonalEducationPlan,
                start + Duration::days(20),
                None,
                "Personal education plan agreed with the school; reviewed termly".into(),
                json!({"targets": ["reading fluency", "attendance above 95%"]}),
            ));
        }
        holdings.push(Holding {
            node: "virtual-school",
            local_id: format!("VS-{:06}", index + 1),
            child: ChildUpsert {
                demographics: demographics.clone().into(),
                identifiers: ChildIdentifiers {
                    upn: Some(upn.clone()),
                    nhs_number: None,
                    ..Default::default()
                },
            },
            records: cohort,
        });
    }

    if nhs_number.is_some() && (in_need || g.chance(0.2)) {
        let mut ids = SourceIds::new("health", index);
        let mut records = Vec::new();
        let date = g.date_between(NaiveDate::from_ymd_opt(2025, 9, 1).unwrap_or(a), a);
        records.push(rec(
            &mut ids,
            RecordCategory::SchoolNurseContact,
            date,
            None,
            "Seen by the school nursing team".into(),
            json!({"reason": *g.pick(&["wellbeing check", "sleep difficulties", "continence"])}),
        ));
        if story.contains(&"child protection plan") || story.contains(&"looked after") {
            records.push(rec(
                &mut ids,
                RecordCategory::ChildProtectionInformation,
                date,
                None,
                "CP-IS flag: child subject to a plan; unscheduled care settings alerted".into(),
                json!({"flag": if story.contains(&"looked after") {
                    "looked_after"
                } else {
                    "child_protection_plan"
                }}),
            ));
        }
        if g.chance(if in_need { 0.35 } else { 0.08 }) {
            let referred = g.date_between(NaiveDate::from_ymd_opt(2025, 6, 1).unwrap_or(a), a);
            records.push(rec(
                &mut ids,
                RecordCategory::CamhsReferral,
                referred,
                None,
                "CAMHS referral accepted; waiting for first appointment".into(),
                json!({"status": "waiting"}),
            ));
            story.push("CAMHS referral");
        }
        holdings.push(Holding {
            node: "health",
            local_id: format!("HLT-{:06}", index + 1),
            child: ChildUpsert {
                demographics: demographics.clone().into(),
                identifiers: ChildIdentifiers {
                    upn: None,
                    nhs_number: nhs_number.clone(),
                    ..Default::default()
                },
            },
            records,
        });
    }

    if g.chance(if in_need { 0.3 } else { 0.005 }) {
        let mut ids = SourceIds::new("police", index);
        let mut records = Vec::new();
        for _ in 0..g.rng.random_range(1..=2) {
            let date = g.date_between(NaiveDate::from_ymd_opt(2026, 6, 1).unwrap_or(a), a);
            let hour = g.rng.random_range(18..24);
            records.push(rec(&mut ids, RecordCategory::EncompassNotification, date, None,
                format!("Operation Encompass: police attended a domestic abuse incident at the child's home on {date}; the child may need support at school"),
                json!({"incident_at": format!("{date}T{hour:02}:{:02}:00Z", g.rng.random_range(0..60)),
                       "child_present": g.chance(0.6), "police_reference": format!("CC-{:07}", g.rng.random_range(0..10_000_000)),
                       "school_to_inform": urn})));
        }
        story.push("police notification");
        // The police hold names, date of birth and address, not education or NHS numbers.
        holdings.push(Holding {
            node: "police",
            local_id: format!("CC-P-{:06}", index + 1),
            child: ChildUpsert {
                demographics: demographics.clone().into(),
                identifiers: ChildIdentifiers::default(),
            },
            records,
        });
    }

    if g.chance(if in_need { 0.2 } else { 0.05 }) {
        let mut ids = SourceIds::new("early-help", index);
        let start = g.date_between(NaiveDate::from_ymd_opt(2025, 1, 6).unwrap_or(a), a);
        let records = vec![
            rec(
                &mut ids,
                RecordCategory::EarlyHelpAssessment,
                start,
                None,
                format!("Early help assessment completed {start}"),
                json!({"assessment_type": "EHA"}),
            ),
            rec(
                &mut ids,
                RecordCategory::TeamAroundTheFamily,
                start + Duration::days(14),
                None,
                "Team around the family meets every six weeks".into(),
                json!({"frequency_weeks": 6}),
            ),
            rec(
                &mut ids,
                RecordCategory::LeadPractitioner,
                start + Duration::days(14),
                None,
                "Lead practitioner: family support worker".into(),
                json!({"role": "family support worker"}),
            ),
        ];
        story.push("early help");
        holdings.push(Holding {
            node: "early-help",
            local_id: format!("EH-{:06}", index + 1),
            child: ChildUpsert {
                demographics: demographics.clone().into(),
                identifiers: ChildIdentifiers {
                    upn: Some(upn.clone()),
                    nhs_number: None,
                    ..Default::default()
                },
            },
            records,
        });
    }

    SyntheticChild {
        index,
        demographics,
        upn,
        nhs_number,
        in_need,
        story: if story.is_empty() {
            "attends school".into()
        } else {
            story.join(", ")
        },
        holdings,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PlanKind {
    Cin,
    Cp,
    Lac,
}

fn plan_record(
    ids: &mut SourceIds,
    plan: PlanKind,
    from: NaiveDate,
    to: Option<NaiveDate>,
    abuse: &str,
) -> RecordUpsert {
    let ended = to.map(|to| format!(", ended {to}")).unwrap_or_default();
    match plan {
        PlanKind::Cp => rec(
            ids,
            RecordCategory::ChildProtectionPlan,
            from,
            to,
            match to {
                None => format!(
                    "Open child protection plan since {from}: be alert to distress and share concerns with the DSL"
                ),
                Some(_) => format!("Child protection plan from {from}{ended}"),
            },
            json!({"category_of_abuse": abuse, "review_due": from + Duration::days(90)}),
        ),
        PlanKind::Lac => rec(
            ids,
            RecordCategory::LookedAfter,
            from,
            to,
            format!("Looked after by the local authority since {from}{ended}"),
            json!({"legal_status": "C2", "placement_type": PLACEMENTS[0]}),
        ),
        PlanKind::Cin => rec(
            ids,
            RecordCategory::ChildInNeedPlan,
            from,
            to,
            format!("Child in need plan since {from}{ended}"),
            json!({}),
        ),
    }
}

#[allow(clippy::panic)]
fn unreachable_upn() -> Upn {
    // with_check_letter only fails on non-digit input, which the format above never makes.
    panic!("synthetic UPN body was not 12 digits")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_children() {
        let a = serde_json::to_string(&population(7, 50)).unwrap();
        let b = serde_json::to_string(&population(7, 50)).unwrap();
        assert_eq!(a, b);
        assert_ne!(a, serde_json::to_string(&population(8, 50)).unwrap());
    }

    #[test]
    fn population_has_the_expected_shape() {
        let children = population(42, 2000);
        let in_need = children.iter().filter(|c| c.in_need).count();
        assert!((140..=260).contains(&in_need), "in need: {in_need}");
        let at_social_care = children
            .iter()
            .filter(|c| c.agencies().contains(&"social-care"))
            .count();
        assert_eq!(at_social_care, in_need);
        assert!(children.iter().all(|c| {
            c.agencies()
                .iter()
                .filter(|a| a.starts_with("school"))
                .count()
                == 1
        }));
        let multi = children.iter().filter(|c| c.holdings.len() >= 4).count();
        assert!(multi > 10, "children known to 4+ agencies: {multi}");
        let upns: std::collections::HashSet<_> = children.iter().map(|c| c.upn.clone()).collect();
        assert_eq!(upns.len(), children.len());
    }

    fn records_of(
        child: &SyntheticChild,
        category: RecordCategory,
    ) -> impl Iterator<Item = &RecordUpsert> {
        child
            .holdings
            .iter()
            .flat_map(|h| h.records.iter())
            .filter(move |r| r.category == category)
    }

    #[test]
    fn every_record_is_valid_for_the_node_that_holds_it() {
        let kinds: std::collections::HashMap<String, schemas::AgencyKind> =
            crate::plan::Plan::dev(0, 0)
                .nodes
                .into_iter()
                .map(|n| (n.id, n.kind))
                .collect();
        for child in population(42, 2000) {
            for holding in &child.holdings {
                for record in &holding.records {
                    let errors = record.validate(kinds[holding.node]);
                    assert!(errors.is_empty(), "{}: {errors:?}", record.source_system_id);
                }
            }
        }
    }

    #[test]
    fn some_children_move_school_step_plans_move_placement_or_change_worker() {
        let children = population(42, 2000);
        let count = |f: &dyn Fn(&SyntheticChild) -> bool| children.iter().filter(|c| f(c)).count();
        let school_moves = count(&|c| {
            let urns: std::collections::BTreeSet<String> = records_of(c, RecordCategory::Enrolment)
                .map(|r| r.details["urn"].to_string())
                .collect();
            urns.len() == 2
        });
        let plan_steps = count(&|c| {
            [
                RecordCategory::ChildInNeedPlan,
                RecordCategory::ChildProtectionPlan,
                RecordCategory::LookedAfter,
            ]
            .iter()
            .map(|cat| records_of(c, *cat).count())
            .sum::<usize>()
                == 2
        });
        let placement_moves = count(&|c| records_of(c, RecordCategory::PlacementMove).count() > 0);
        let new_workers =
            count(&|c| records_of(c, RecordCategory::AllocatedSocialWorker).count() == 2);
        assert!(school_moves >= 40, "school moves: {school_moves}");
        assert!(plan_steps >= 10, "plan steps: {plan_steps}");
        assert!(placement_moves >= 3, "placement moves: {placement_moves}");
        assert!(new_workers >= 10, "new social workers: {new_workers}");
        // An earlier enrolment or plan always ends before the next one starts.
        for c in &children {
            for cat in [
                RecordCategory::Enrolment,
                RecordCategory::AllocatedSocialWorker,
            ] {
                let mut spans: Vec<_> = records_of(c, cat)
                    .map(|r| (r.effective_from, r.effective_to))
                    .collect();
                spans.sort();
                for pair in spans.windows(2) {
                    assert!(
                        pair[0].1.is_some_and(|end| end < pair[1].0),
                        "{}: {pair:?}",
                        c.index
                    );
                }
            }
        }
    }
}
