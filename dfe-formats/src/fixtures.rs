//! Writes spec-shaped Common Transfer Files and children in need census returns with
//! synthetic pupils and children, for tests (this crate's, and the end-to-end import
//! tests to come). Everything here is made up: names from a short invented list, UPNs on
//! local authority `999`, postcodes in the `ZZ` area, which no real address uses. Fields
//! are strings so a test can write a value that is not valid.

use schemas::Upn;
use std::fmt::Write;

/// An XML writer: elements in order, text escaped.
#[derive(Default)]
pub struct Xml(String);

impl Xml {
    pub fn open(&mut self, name: &str) -> &mut Self {
        let _ = write!(self.0, "<{name}>");
        self
    }

    pub fn close(&mut self, name: &str) -> &mut Self {
        let _ = write!(self.0, "</{name}>");
        self
    }

    /// `<name>value</name>`, escaped; nothing when `value` is `None`.
    pub fn el<'v>(&mut self, name: &str, value: impl Into<Option<&'v str>>) -> &mut Self {
        if let Some(value) = value.into() {
            let _ = write!(self.0, "<{name}>{}</{name}>", escape(value));
        }
        self
    }

    /// Raw XML, as a test wants it (an unknown element, a broken one).
    pub fn raw(&mut self, xml: &str) -> &mut Self {
        self.0.push_str(xml);
        self
    }

    pub fn finish(self) -> String {
        self.0
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

const GIVEN: [&str; 8] = [
    "Amara", "Tobin", "Lior", "Maisie", "Oren", "Priya", "Cato", "Wren",
];
const FAMILY: [&str; 8] = [
    "Testwell",
    "Sampleford",
    "Fixture",
    "Mockridge",
    "Placeholm",
    "Dummer",
    "Synthe",
    "Exampleton",
];

/// A synthetic UPN on local authority 999, numbered `n`.
pub fn upn(n: u32) -> String {
    Upn::with_check_letter(&format!("999{:09}", n))
        .map(|u| u.as_str().to_owned())
        .unwrap_or_default()
}

/// A school or authority in a CTF header.
#[derive(Debug, Clone)]
pub struct CtfSchool {
    pub la: String,
    pub estab: String,
    pub urn: Option<String>,
    pub name: Option<String>,
}

impl CtfSchool {
    pub fn new(la: &str, estab: &str, urn: Option<&str>, name: Option<&str>) -> Self {
        Self {
            la: la.into(),
            estab: estab.into(),
            urn: urn.map(Into::into),
            name: name.map(Into::into),
        }
    }
}

/// A Common Transfer File to write.
#[derive(Debug, Clone)]
pub struct CtfFile {
    /// `CTFversion`, such as `25.0`.
    pub version: String,
    pub date_time: String,
    /// `full` or `partial`.
    pub qualifier: String,
    pub source: CtfSchool,
    pub destination: CtfSchool,
    pub academic_year: String,
    pub pupils: Vec<CtfPupil>,
}

impl CtfFile {
    /// A full CTF of `version` (23 to 26) from school 999/2001 (URN 999201) to school
    /// 999/4001 (URN 999401), with `pupils` synthetic pupils.
    pub fn synthetic(version: u32, pupils: u32) -> Self {
        Self {
            version: format!("{version}.0"),
            date_time: "2026-07-15T10:30:00".into(),
            qualifier: "full".into(),
            source: CtfSchool::new("999", "2001", Some("999201"), Some("Brookside Primary")),
            destination: CtfSchool::new("999", "4001", Some("999401"), None),
            academic_year: "2025".into(),
            pupils: (1..=pupils)
                .map(|n| CtfPupil::synthetic(n, version))
                .collect(),
        }
    }

    pub fn to_xml(&self) -> String {
        let mut x = Xml::default();
        x.raw("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n")
            .open("CTfile")
            .open("Header")
            .el("DocumentName", "Common Transfer File")
            .el("CTFversion", self.version.as_str())
            .el("DateTime", self.date_time.as_str())
            .el("DocumentQualifier", self.qualifier.as_str())
            .el("SupplierID", "Synthetic MIS")
            .open("SourceSchool")
            .el("LEA", self.source.la.as_str())
            .el("Estab", self.source.estab.as_str())
            .el("URN", self.source.urn.as_deref())
            .el("SchoolName", self.source.name.as_deref())
            .el("AcademicYear", self.academic_year.as_str())
            .close("SourceSchool")
            .open("DestSchool")
            .el("LEA", self.destination.la.as_str())
            .el("Estab", self.destination.estab.as_str())
            .el("URN", self.destination.urn.as_deref())
            .close("DestSchool")
            .close("Header")
            .open("CTFpupilData");
        for pupil in &self.pupils {
            pupil.write(&mut x);
        }
        x.close("CTFpupilData").close("CTfile");
        x.finish()
    }
}

/// One year's attendance (CTF `YearData`).
#[derive(Debug, Clone)]
pub struct CtfAttendance {
    pub year: String,
    pub la: String,
    pub estab: String,
    pub school: String,
    pub possible: String,
    pub authorised: String,
    pub attended: String,
    pub unauthorised: String,
}

/// One school of a pupil's history (CTF `School`).
#[derive(Debug, Clone)]
pub struct CtfSchoolHistory {
    pub la: String,
    pub estab: String,
    pub urn: Option<String>,
    pub name: String,
    pub entry: String,
    pub leaving: Option<String>,
    pub reason: Option<String>,
}

/// One key stage result (CTF `StageAssessment`, with its `Stage`).
#[derive(Debug, Clone)]
pub struct CtfResult {
    pub stage: String,
    pub year: String,
    pub subject: String,
    pub method: String,
    pub result: String,
}

/// A pupil of a CTF.
#[derive(Debug, Clone)]
pub struct CtfPupil {
    pub upn: String,
    pub former_upn: Option<String>,
    pub surname: String,
    pub forename: String,
    pub preferred_forename: Option<String>,
    pub preferred_surname: Option<String>,
    pub former_surname: Option<String>,
    pub dob: String,
    /// The element the sex is in: `Gender` up to CTF 23, `Sex` after.
    pub sex_element: String,
    pub sex: String,
    pub nc_year: String,
    pub ethnicity: Option<String>,
    pub service_child: Option<String>,
    /// FSM periods: start and end.
    pub fsm: Vec<(String, Option<String>)>,
    /// `InCare` and `CareAuthority`.
    pub looked_after: Option<(String, Option<String>)>,
    /// SEN periods: start date and provision (`K`, `E`); needs by rank.
    pub sen: Vec<(String, String)>,
    pub sen_needs: Vec<String>,
    pub postcode: String,
    pub attendance: Vec<CtfAttendance>,
    pub results: Vec<CtfResult>,
    pub schools: Vec<CtfSchoolHistory>,
    /// Contacts: forename, surname, relationship, parental responsibility.
    pub contacts: Vec<(String, String, String, String)>,
    /// Raw XML written at the end of the pupil (an element the specification lacks).
    pub extra: String,
}

impl CtfPupil {
    /// Pupil `n`, deterministic: born in 2014, moved from an infant school to the sender,
    /// two years of attendance, key stage results, and some of SEN support, free school
    /// meals, being looked after and contacts, depending on `n`.
    pub fn synthetic(n: u32, version: u32) -> Self {
        let i = n as usize;
        let school =
            |la: &str, estab: &str, urn: &str, name: &str, entry: &str, leaving: Option<&str>| {
                CtfSchoolHistory {
                    la: la.into(),
                    estab: estab.into(),
                    urn: Some(urn.into()),
                    name: name.into(),
                    entry: entry.into(),
                    leaving: leaving.map(Into::into),
                    reason: leaving.map(|_| "MOVE".into()),
                }
            };
        let attendance = |year: &str, possible: u32, absent: u32| CtfAttendance {
            year: year.into(),
            la: "999".into(),
            estab: "2001".into(),
            school: "Brookside Primary".into(),
            possible: possible.to_string(),
            authorised: (absent / 2).to_string(),
            attended: (possible - absent).to_string(),
            unauthorised: (absent - absent / 2).to_string(),
        };
        let result =
            |stage: &str, year: &str, subject: &str, method: &str, result: &str| CtfResult {
                stage: stage.into(),
                year: year.into(),
                subject: subject.into(),
                method: method.into(),
                result: result.into(),
            };
        Self {
            upn: upn(n),
            former_upn: n.is_multiple_of(5).then(|| upn(n + 500_000)),
            surname: FAMILY[i % FAMILY.len()].into(),
            forename: GIVEN[i % GIVEN.len()].into(),
            preferred_forename: n.is_multiple_of(4).then(|| "Sam".into()),
            preferred_surname: n.is_multiple_of(4).then(|| "Quill-Harte".into()),
            former_surname: n.is_multiple_of(5).then(|| "Brightwater".into()),
            dob: format!("2014-{:02}-{:02}", 1 + n % 12, 1 + n % 28),
            sex_element: if version <= 23 { "Gender" } else { "Sex" }.into(),
            sex: if n.is_multiple_of(2) { "F" } else { "M" }.into(),
            nc_year: "6".into(),
            ethnicity: Some("WBRI".into()),
            service_child: n.is_multiple_of(7).then(|| "Y".into()),
            fsm: if n.is_multiple_of(3) {
                vec![("2022-09-01".into(), None)]
            } else {
                Vec::new()
            },
            looked_after: n
                .is_multiple_of(6)
                .then(|| ("true".into(), Some("999".into()))),
            sen: if n % 2 == 1 {
                vec![(
                    "2023-01-09".into(),
                    if n % 4 == 1 { "K" } else { "E" }.into(),
                )]
            } else {
                Vec::new()
            },
            sen_needs: if n % 2 == 1 {
                vec!["SEMH".into(), "SLCN".into()]
            } else {
                Vec::new()
            },
            postcode: format!("ZZ{} {}AB", 1 + n % 9, n % 10),
            attendance: vec![
                attendance("2024", 380, 12 + n % 40),
                attendance("2025", 360, 20 + n % 30),
            ],
            results: vec![
                result("KS1", "2021", "MAT", "TA", "EXS"),
                result("KS2", "2025", "MAT", "TT", &(95 + n % 20).to_string()),
                result("KS2", "2025", "REA", "TA", "GDS"),
                result("MTC", "2024", "MTC", "TT", "21"),
            ],
            schools: vec![
                school(
                    "999",
                    "1001",
                    "999101",
                    "Hillcrest Infant School",
                    "2018-09-04",
                    Some("2021-07-20"),
                ),
                school(
                    "999",
                    "2001",
                    "999201",
                    "Brookside Primary",
                    "2021-09-02",
                    None,
                ),
            ],
            contacts: vec![
                (
                    "Jordan".into(),
                    FAMILY[i % FAMILY.len()].into(),
                    "PAR".into(),
                    "true".into(),
                ),
                (
                    "Alex".into(),
                    "Carerson".into(),
                    "CAR".into(),
                    "false".into(),
                ),
            ],
            extra: String::new(),
        }
    }

    fn write(&self, x: &mut Xml) {
        x.open("Pupil")
            .el("UPN", self.upn.as_str())
            .el("Surname", self.surname.as_str())
            .el("Forename", self.forename.as_str())
            .el("DOB", self.dob.as_str())
            .el(self.sex_element.as_str(), self.sex.as_str())
            .open("BasicDetails")
            .el("FormerUPN", self.former_upn.as_deref())
            .el("PreferredSurname", self.preferred_surname.as_deref())
            .el("FormerSurname", self.former_surname.as_deref())
            .el("PreferredForename", self.preferred_forename.as_deref())
            .el("NCyearActual", self.nc_year.as_str())
            .el("Ethnicity", self.ethnicity.as_deref())
            .el("EthnicitySource", "C")
            .el("MedicalFlag", "false")
            .el("EnrolStatus", "C")
            .el("ServiceChild", self.service_child.as_deref())
            .close("BasicDetails");
        if !self.fsm.is_empty() {
            x.open("FSMhistory");
            for (start, end) in &self.fsm {
                x.open("FSMinstance")
                    .el("FSMstartDate", start.as_str())
                    .el("FSMendDate", end.as_deref())
                    .el("UKcountry", "ENG")
                    .close("FSMinstance");
            }
            x.close("FSMhistory");
        }
        if let Some((in_care, authority)) = &self.looked_after {
            x.open("LookedAfter")
                .el("InCare", in_care.as_str())
                .el("CareAuthority", authority.as_deref())
                .close("LookedAfter");
        }
        if !self.sen.is_empty() {
            x.open("SENhistory");
            for (start, provision) in &self.sen {
                x.open("SEN")
                    .el("StartDate", start.as_str())
                    .el("SENprovision", provision.as_str())
                    .close("SEN");
            }
            x.open("SENneeds");
            for (rank, need) in self.sen_needs.iter().enumerate() {
                x.open("SENneed")
                    .el("SENtype", need.as_str())
                    .el("SENtypeRank", (rank + 1).to_string().as_str())
                    .close("SENneed");
            }
            x.close("SENneeds").close("SENhistory");
        }
        x.open("Address")
            .open("BS7666Address")
            .el("PAON", "1")
            .el("Street", "Synthetic Street")
            .el("Town", "Nowhere")
            .close("BS7666Address")
            .el("PostCode", self.postcode.as_str())
            .close("Address")
            .open("Phones")
            .open("Phone")
            .el("TelephoneType", "H")
            .el("PhoneNo", "01632 960000")
            .close("Phone")
            .close("Phones");
        if !self.contacts.is_empty() {
            x.open("Contacts");
            for (order, (forename, surname, relationship, responsibility)) in
                self.contacts.iter().enumerate()
            {
                x.open("Contact")
                    .el("Order", (order + 1).to_string().as_str())
                    .el("Surname", surname.as_str())
                    .el("Forename", forename.as_str())
                    .el("Relationship", relationship.as_str())
                    .el("Responsibility", responsibility.as_str())
                    .el("AddressAsPupil", "true")
                    .open("Phones")
                    .open("Phone")
                    .el("TelephoneType", "M")
                    .el("PhoneNo", "07700 900000")
                    .close("Phone")
                    .close("Phones")
                    .close("Contact");
            }
            x.close("Contacts");
        }
        if !self.attendance.is_empty() {
            x.open("Attendance");
            for a in &self.attendance {
                x.open("YearData")
                    .el("Year", a.year.as_str())
                    .el("LEA", a.la.as_str())
                    .el("Estab", a.estab.as_str())
                    .el("SchoolName", a.school.as_str())
                    .el("SessionsPossible", a.possible.as_str())
                    .el("SessionsAuthorised", a.authorised.as_str())
                    .el("SessionsAttended", a.attended.as_str())
                    .el("SessionsUnauthorised", a.unauthorised.as_str())
                    .close("YearData");
            }
            x.close("Attendance");
        }
        if !self.results.is_empty() {
            x.open("StageAssessments");
            let mut stages: Vec<&str> = self.results.iter().map(|r| r.stage.as_str()).collect();
            stages.dedup();
            for stage in stages {
                x.open("KeyStage").el("Stage", stage);
                for r in self.results.iter().filter(|r| r.stage == stage) {
                    x.open("StageAssessment")
                        .el("Locale", "ENG")
                        .el("Year", r.year.as_str())
                        .el("Subject", r.subject.as_str())
                        .el("Method", r.method.as_str())
                        .el("Result", r.result.as_str())
                        .close("StageAssessment");
                }
                x.close("KeyStage");
            }
            x.close("StageAssessments");
        }
        if !self.schools.is_empty() {
            x.open("SchoolHistory");
            for s in &self.schools {
                x.open("School")
                    .el("LEA", s.la.as_str())
                    .el("Estab", s.estab.as_str())
                    .el("URN", s.urn.as_deref())
                    .el("SchoolName", s.name.as_str())
                    .el("EntryDate", s.entry.as_str())
                    .el("LeavingDate", s.leaving.as_deref())
                    .el("LeavingReason", s.reason.as_deref())
                    .close("School");
            }
            x.close("SchoolHistory");
        }
        x.raw(&self.extra).close("Pupil");
    }
}

/// A children in need census return to write.
#[derive(Debug, Clone)]
pub struct CinFile {
    /// The census year (`2027` for 2026 to 2027).
    pub year: String,
    pub reference_date: String,
    pub la: String,
    pub children: Vec<CinChild>,
}

impl CinFile {
    /// The census of `year` from authority 999 with `children` synthetic children.
    pub fn synthetic(year: u32, children: u32) -> Self {
        Self {
            year: year.to_string(),
            reference_date: format!("{year}-03-31"),
            la: "999".into(),
            children: (1..=children)
                .map(|n| CinChild::synthetic(n, year))
                .collect(),
        }
    }

    pub fn to_xml(&self) -> String {
        let mut x = Xml::default();
        x.raw("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n")
            .open("Message")
            .open("Header")
            .open("CollectionDetails")
            .el("Collection", "CIN")
            .el("Year", self.year.as_str())
            .el("ReferenceDate", self.reference_date.as_str())
            .close("CollectionDetails")
            .open("Source")
            .el("SourceLevel", "L")
            .el("LEA", self.la.as_str())
            .el("SoftwareCode", "Synthetic case system")
            .el("Release", "1.0")
            .el("SerialNo", "001")
            .el("DateTime", format!("{}-05-01T09:00:00", self.year).as_str())
            .close("Source")
            .close("Header")
            .open("Children");
        for child in &self.children {
            child.write(&mut x);
        }
        x.close("Children").close("Message");
        x.finish()
    }
}

/// A child protection plan of a census child.
#[derive(Debug, Clone)]
pub struct CinPlan {
    pub start: String,
    pub end: Option<String>,
    pub initial: String,
    pub latest: String,
    pub reviews: Vec<String>,
}

/// A child of a census return: one CIN episode with an assessment, a section 47
/// enquiry and a child protection plan, or a referral with no further action.
#[derive(Debug, Clone)]
pub struct CinChild {
    pub la_child_id: String,
    pub upn: Option<String>,
    pub former_upn: Option<String>,
    pub birth_date: Option<String>,
    pub expected_birth_date: Option<String>,
    pub sex: String,
    pub ethnicity: String,
    pub disabilities: Vec<String>,
    pub referral: String,
    pub referral_source: String,
    pub primary_need: String,
    pub nfa: String,
    pub closure: Option<(String, String)>,
    pub cin_plan: Option<(String, Option<String>)>,
    pub factors: Vec<String>,
    pub assessment_start: Option<String>,
    pub section_47: Option<(String, String)>,
    pub cp_plan: Option<CinPlan>,
    pub extra: String,
}

impl CinChild {
    /// Child `n` of the census of `year`, deterministic. Every fourth child was referred
    /// with no further action; every tenth is unborn.
    pub fn synthetic(n: u32, year: u32) -> Self {
        let y = year - 1;
        let nfa = n.is_multiple_of(4);
        let unborn = n.is_multiple_of(10);
        Self {
            la_child_id: format!("CH{n:06}"),
            upn: (!unborn).then(|| upn(n + 100_000)),
            former_upn: (!unborn && n.is_multiple_of(3)).then(|| upn(n + 700_000)),
            birth_date: (!unborn)
                .then(|| format!("{}-{:02}-{:02}", 2010 + n % 10, 1 + n % 12, 1 + n % 28)),
            expected_birth_date: unborn.then(|| format!("{year}-06-15")),
            sex: if unborn {
                "U"
            } else if n.is_multiple_of(2) {
                "F"
            } else {
                "M"
            }
            .into(),
            ethnicity: "WBRI".into(),
            disabilities: if n % 5 == 1 {
                vec!["LD".into(), "COMM".into()]
            } else {
                vec!["NONE".into()]
            },
            referral: format!("{y}-05-{:02}", 1 + n % 28),
            referral_source: "2A".into(),
            primary_need: if nfa { "N0" } else { "N1" }.into(),
            nfa: nfa.to_string(),
            closure: nfa.then(|| (format!("{y}-06-{:02}", 1 + n % 28), "RC8".into())),
            cin_plan: (!nfa).then(|| (format!("{y}-07-01"), Some(format!("{y}-09-30")))),
            factors: if nfa {
                Vec::new()
            } else {
                vec!["3A".into(), "4B".into(), "8E".into()]
            },
            assessment_start: (!nfa).then(|| format!("{y}-06-01")),
            section_47: (!nfa).then(|| (format!("{y}-09-10"), format!("{y}-09-24"))),
            cp_plan: (!nfa).then(|| CinPlan {
                start: format!("{y}-10-01"),
                end: None,
                initial: "EMO".into(),
                latest: "NEG".into(),
                reviews: vec![format!("{year}-01-05")],
            }),
            extra: String::new(),
        }
    }

    fn write(&self, x: &mut Xml) {
        x.open("Child")
            .open("ChildIdentifiers")
            .el("LAchildID", self.la_child_id.as_str())
            .el("UPN", self.upn.as_deref())
            .el("FormerUPN", self.former_upn.as_deref())
            .el(
                "UPNunknown",
                if self.upn.is_none() {
                    Some("UN1")
                } else {
                    None
                },
            )
            .el("PersonBirthDate", self.birth_date.as_deref())
            .el(
                "ExpectedPersonBirthDate",
                self.expected_birth_date.as_deref(),
            )
            .el("Sex", self.sex.as_str())
            .close("ChildIdentifiers")
            .open("ChildCharacteristics")
            .el("Ethnicity", self.ethnicity.as_str())
            .open("Disabilities");
        for d in &self.disabilities {
            x.el("Disability", d.as_str());
        }
        x.close("Disabilities")
            .close("ChildCharacteristics")
            .open("CINdetails")
            .el("CINreferralDate", self.referral.as_str())
            .el("ReferralSource", self.referral_source.as_str())
            .el("PrimaryNeedCode", self.primary_need.as_str());
        if let Some((date, reason)) = &self.closure {
            x.el("CINclosureDate", date.as_str())
                .el("ReasonForClosure", reason.as_str());
        }
        x.el("ReferralNFA", self.nfa.as_str());
        if let Some((start, end)) = &self.cin_plan {
            x.open("CINPlanDates")
                .el("CINPlanStartDate", start.as_str())
                .el("CINPlanEndDate", end.as_deref())
                .close("CINPlanDates");
        }
        if let Some(start) = &self.assessment_start {
            x.open("Assessments")
                .el("AssessmentActualStartDate", start.as_str())
                .el(
                    "AssessmentAuthorisationDate",
                    start.replace("-06-01", "-06-28").as_str(),
                )
                .open("FactorsIdentifiedAtAssessment");
            for f in &self.factors {
                x.el("AssessmentFactors", f.as_str());
            }
            x.close("FactorsIdentifiedAtAssessment")
                .close("Assessments");
        }
        if let Some((start, icpc)) = &self.section_47 {
            x.open("Section47")
                .el("S47ActualStartDate", start.as_str())
                .el("InitialCPCtarget", icpc.as_str())
                .el("DateOfInitialCPC", icpc.as_str())
                .el("ICPCnotRequired", "false")
                .close("Section47");
        }
        if let Some(plan) = &self.cp_plan {
            x.open("ChildProtectionPlans")
                .el("CPPstartDate", plan.start.as_str())
                .el("CPPendDate", plan.end.as_deref())
                .el("InitialCategoryOfAbuse", plan.initial.as_str())
                .el("LatestCategoryOfAbuse", plan.latest.as_str())
                .el("NumberOfPreviousCPP", "0")
                .open("Reviews");
            for r in &plan.reviews {
                x.el("CPPreviewDate", r.as_str());
            }
            x.close("Reviews").close("ChildProtectionPlans");
        }
        x.close("CINdetails").raw(&self.extra).close("Child");
    }
}
