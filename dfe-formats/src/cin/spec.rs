//! The children in need census's elements, as the DfE's business and technical
//! specifications for 2025 to 2026 and 2026 to 2027 lay them out: a header, then one
//! `Child` per child with its identifiers, characteristics and CIN episodes.

use crate::spec::{Field, Occurs, Value, group, many, not_read, one, opt};

pub const ROOT: &str = "Message";

const SEX: &[&str] = &["F", "M", "U"];
const UPN_UNKNOWN: &[&str] = &[
    "UN1", "UN2", "UN3", "UN4", "UN5", "UN6", "UN7", "UN8", "UN9", "UN10",
];
pub const REFERRAL_SOURCE: &[&str] = &[
    "1A", "1B", "1C", "1D", "2A", "2B", "3A", "3B", "3C", "3D", "3E", "3F", "4", "5A", "5B", "5C",
    "5D", "6", "7", "8", "9", "10",
];
const PRIMARY_NEED: &[&str] = &["N0", "N1", "N2", "N3", "N4", "N5", "N6", "N7", "N8", "N9"];
const CLOSURE_REASON: &[&str] = &[
    "RC1", "RC2", "RC3", "RC4", "RC5", "RC6", "RC7", "RC8", "RC9",
];
const ABUSE: &[&str] = &["NEG", "PHY", "EMO", "SAB", "MUL"];
const DISABILITY: &[&str] = &[
    "NONE", "MOB", "HAND", "PC", "INC", "COMM", "LD", "HEAR", "VIS", "BEH", "CON", "AUT", "DDA",
];

pub const HEADER: &[Field] = &[
    group(
        "CollectionDetails",
        Occurs::One,
        &[
            one("Collection", Value::Code(&["CIN"])),
            one("Year", Value::Year),
            one("ReferenceDate", Value::Date),
        ],
    ),
    group(
        "Source",
        Occurs::One,
        &[
            one("SourceLevel", Value::Code(&["L"])),
            one("LEA", Value::La(&[])),
            opt("SoftwareCode", Value::Text(100)),
            opt("Release", Value::Text(100)),
            opt("SerialNo", Value::Text(10)),
            one("DateTime", Value::DateTime),
        ],
    ),
    not_read("Content", Occurs::Optional),
];

const IDENTIFIERS: &[Field] = &[
    one("LAchildID", Value::Id(20)),
    opt("UPN", Value::Upn),
    opt("FormerUPN", Value::Upn),
    opt("UPNunknown", Value::Code(UPN_UNKNOWN)),
    opt("PersonBirthDate", Value::Date),
    opt("ExpectedPersonBirthDate", Value::Date),
    one("Sex", Value::Code(SEX)),
    opt("PersonDeathDate", Value::Date),
];

const CHARACTERISTICS: &[Field] = &[
    opt("Ethnicity", Value::Text(4)),
    group(
        "Disabilities",
        Occurs::Optional,
        &[many("Disability", Value::Code(DISABILITY))],
    ),
];

const ASSESSMENT: &[Field] = &[
    one("AssessmentActualStartDate", Value::Date),
    opt("AssessmentInternalReviewDate", Value::Date),
    opt("AssessmentAuthorisationDate", Value::Date),
    group(
        "FactorsIdentifiedAtAssessment",
        Occurs::Optional,
        &[many("AssessmentFactors", Value::Text(3))],
    ),
];

const SECTION_47: &[Field] = &[
    one("S47ActualStartDate", Value::Date),
    opt("InitialCPCtarget", Value::Date),
    opt("DateOfInitialCPC", Value::Date),
    opt("ICPCnotRequired", Value::Boolean),
];

const CP_PLAN: &[Field] = &[
    one("CPPstartDate", Value::Date),
    opt("CPPendDate", Value::Date),
    opt("InitialCategoryOfAbuse", Value::Code(ABUSE)),
    opt("LatestCategoryOfAbuse", Value::Code(ABUSE)),
    opt("NumberOfPreviousCPP", Value::Integer(0, 99)),
    group(
        "Reviews",
        Occurs::Optional,
        &[many("CPPreviewDate", Value::Date)],
    ),
];

const CIN_DETAILS: &[Field] = &[
    one("CINreferralDate", Value::Date),
    opt("ReferralSource", Value::Code(REFERRAL_SOURCE)),
    one("PrimaryNeedCode", Value::Code(PRIMARY_NEED)),
    opt("CINclosureDate", Value::Date),
    opt("ReasonForClosure", Value::Code(CLOSURE_REASON)),
    opt("DateOfInitialCPC", Value::Date),
    opt("ReferralNFA", Value::Boolean),
    group(
        "CINPlanDates",
        Occurs::Many,
        &[
            one("CINPlanStartDate", Value::Date),
            opt("CINPlanEndDate", Value::Date),
        ],
    ),
    group("Assessments", Occurs::Many, ASSESSMENT),
    group("Section47", Occurs::Many, SECTION_47),
    group("ChildProtectionPlans", Occurs::Many, CP_PLAN),
];

pub const CHILD: &[Field] = &[
    group("ChildIdentifiers", Occurs::One, IDENTIFIERS),
    group("ChildCharacteristics", Occurs::Optional, CHARACTERISTICS),
    group("CINdetails", Occurs::Many, CIN_DETAILS),
];
