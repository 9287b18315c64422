//! The Common Transfer File's elements, as the DfE's CTF specifications (versions 23 to
//! 25) lay them out: the header, then one `Pupil` per pupil. Elements the federation does
//! not read but the specification has (Welsh data, admissions) are accepted unread.

use crate::spec::{Field, Occurs, Value, group, many, not_read, one, opt};

pub const ROOT: &str = "CTfile";

const SEN_PROVISION: &[&str] = &["N", "K", "E", "S"];
pub const SEN_TYPES: &[&str] = &[
    "SPLD", "MLD", "SLD", "PMLD", "SEMH", "SLCN", "HI", "VI", "MSI", "PD", "ASD", "OTH", "NSA",
];
const NC_YEARS: &[&str] = &[
    "N1", "N2", "R", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14", "X",
];
const SEX: &[&str] = &["M", "F", "U"];
const UK_COUNTRY: &[&str] = &["ENG", "WLS", "SCT", "NIR"];
const SERVICE_CHILD: &[&str] = &["Y", "N", "R", "U"];

const NAME: Value = Value::Text(100);
const SCHOOL_NAME: Value = Value::Text(200);
const LA: Value = Value::La(&[]);
const ESTAB: Value = Value::Estab(&[]);

/// A sender or an addressee: a school (LA and establishment numbers), the local authority
/// itself (`LLLL`), no known school (`MMM`/`MMMM`, the lost pupils database) or a school
/// outside the maintained sector (`XXX`/`XXXX`).
const SOURCE_SCHOOL: &[Field] = &[
    one("LEA", Value::La(&["MMM", "XXX"])),
    one("Estab", Value::Estab(&["LLLL", "MMMM", "XXXX"])),
    opt("URN", Value::Digits(6)),
    opt("SchoolName", SCHOOL_NAME),
    opt("AcademicYear", Value::Year),
];

const DEST_SCHOOL: &[Field] = &[
    one("LEA", Value::La(&["MMM", "XXX"])),
    one("Estab", Value::Estab(&["LLLL", "MMMM", "XXXX"])),
    opt("URN", Value::Digits(6)),
];

pub const HEADER: &[Field] = &[
    one("DocumentName", Value::Code(&["Common Transfer File"])),
    one("CTFversion", Value::Text(10)),
    one("DateTime", Value::DateTime),
    one("DocumentQualifier", Value::Code(&["full", "partial"])),
    opt("DataQualifier", Value::Text(100)),
    opt("DataDescriptor", Value::Text(200)),
    opt("SupplierID", Value::Text(100)),
    group("SourceSchool", Occurs::One, SOURCE_SCHOOL),
    group("DestSchool", Occurs::One, DEST_SCHOOL),
    opt("SuppID", Value::Text(100)),
];

const LANGUAGE_TYPE: &[Field] = &[
    opt("LanguageType", Value::Text(1)),
    opt("Language", Value::Text(4)),
];

const BASIC_DETAILS: &[Field] = &[
    opt("FormerUPN", Value::Upn),
    opt("PreferredSurname", NAME),
    opt("FormerSurname", NAME),
    opt("PreferredForename", NAME),
    opt("FormerForename", NAME),
    opt("MiddleNames", NAME),
    opt("NCyearActual", Value::Code(NC_YEARS)),
    opt("Ethnicity", Value::Text(4)),
    opt("EthnicitySource", Value::Text(1)),
    group(
        "Languages",
        Occurs::Optional,
        &[group("Type", Occurs::Many, LANGUAGE_TYPE)],
    ),
    opt("MedicalFlag", Value::Boolean),
    group(
        "Disabilities",
        Occurs::Optional,
        &[many("Disability", Value::Text(4))],
    ),
    opt("EnrolStatus", Value::Text(1)),
    opt("ServiceChild", Value::Code(SERVICE_CHILD)),
];

const FSM_INSTANCE: &[Field] = &[
    one("FSMstartDate", Value::Date),
    opt("FSMendDate", Value::Date),
    opt("UKcountry", Value::Code(UK_COUNTRY)),
];

const LOOKED_AFTER: &[Field] = &[one("InCare", Value::Boolean), opt("CareAuthority", LA)];

const SEN: &[Field] = &[
    opt("StartDate", Value::Date),
    opt("EndDate", Value::Date),
    one("SENprovision", Value::Code(SEN_PROVISION)),
];

const SEN_NEED: &[Field] = &[
    one("SENtype", Value::Code(SEN_TYPES)),
    opt("SENtypeRank", Value::Integer(1, 9)),
];

const SEN_HISTORY: &[Field] = &[
    group("SEN", Occurs::Many, SEN),
    group(
        "SENneeds",
        Occurs::Optional,
        &[group("SENneed", Occurs::Many, SEN_NEED)],
    ),
];

const BS7666: &[Field] = &[
    opt("SAON", Value::Text(100)),
    opt("PAON", Value::Text(100)),
    opt("Street", Value::Text(100)),
    opt("Locality", Value::Text(100)),
    opt("Town", Value::Text(100)),
    opt("AdministrativeArea", Value::Text(100)),
    opt("PostTown", Value::Text(100)),
    opt("UniquePropertyReferenceNumber", Value::Text(12)),
];

const ADDRESS_LINES: &[Field] = &[
    opt("AddressLine1", Value::Text(100)),
    opt("AddressLine2", Value::Text(100)),
    opt("AddressLine3", Value::Text(100)),
    opt("AddressLine4", Value::Text(100)),
    opt("AddressLine5", Value::Text(100)),
];

const ADDRESS: &[Field] = &[
    group("BS7666Address", Occurs::Optional, BS7666),
    group("AddressLines", Occurs::Optional, ADDRESS_LINES),
    opt("County", Value::Text(100)),
    opt("PostCode", Value::Postcode),
    opt("Zip", Value::Text(20)),
    opt("Country", Value::Text(100)),
    opt("Easting", Value::Text(12)),
    opt("Northing", Value::Text(12)),
];

const PHONE: &[Field] = &[
    opt("TelephoneType", Value::Text(3)),
    one("PhoneNo", Value::Text(30)),
];

const PHONES: &[Field] = &[group("Phone", Occurs::Many, PHONE)];

const CONTACT: &[Field] = &[
    opt("Order", Value::Integer(1, 99)),
    opt("Title", Value::Text(35)),
    opt("Surname", NAME),
    opt("Forename", NAME),
    opt("MiddleNames", NAME),
    opt("Gender", Value::Code(SEX)),
    opt("Sex", Value::Code(SEX)),
    opt("Relationship", Value::Text(3)),
    opt("Responsibility", Value::Boolean),
    opt("AddressAsPupil", Value::Boolean),
    group("Address", Occurs::Optional, ADDRESS),
    group("Phones", Occurs::Optional, PHONES),
    opt("Email", Value::Text(250)),
];

const ATTEND_SESSIONS: &[Field] = &[
    opt("AttendanceStartDate", Value::Date),
    opt("AttendanceMarks", Value::Text(1000)),
];

const YEAR_DATA: &[Field] = &[
    one("Year", Value::Year),
    opt("LEA", LA),
    opt("Estab", ESTAB),
    opt("URN", Value::Digits(6)),
    opt("SchoolName", SCHOOL_NAME),
    opt("SessionsPossible", Value::Integer(0, 1000)),
    opt("SessionsAuthorised", Value::Integer(0, 1000)),
    opt("SessionsAttended", Value::Integer(0, 1000)),
    opt("SessionsUnauthorised", Value::Integer(0, 1000)),
    group("AttendSessions", Occurs::Optional, ATTEND_SESSIONS),
];

const STAGE_ASSESSMENT: &[Field] = &[
    opt("Locale", Value::Text(3)),
    opt("Year", Value::Year),
    one("Subject", Value::Text(10)),
    opt("Method", Value::Text(6)),
    opt("Component", Value::Text(20)),
    opt("ResultStatus", Value::Text(6)),
    opt("ResultQualifier", Value::Text(6)),
    one("Result", Value::Text(10)),
    opt("ResultDate", Value::Date),
];

const KEY_STAGE: &[Field] = &[
    one("Stage", Value::Text(6)),
    group("StageAssessment", Occurs::Many, STAGE_ASSESSMENT),
];

const SCHOOL: &[Field] = &[
    one("LEA", LA),
    one("Estab", ESTAB),
    opt("URN", Value::Digits(6)),
    opt("SchoolName", SCHOOL_NAME),
    opt("EntryDate", Value::Date),
    opt("LeavingDate", Value::Date),
    opt("LeavingReason", Value::Text(4)),
    opt("LastSchool", Value::Boolean),
];

pub const PUPIL: &[Field] = &[
    opt("ApplicationReference", Value::Text(50)),
    one("UPN", Value::Upn),
    opt("UniqueLearnerNumber", Value::Digits(10)),
    opt("UCI", Value::Text(13)),
    one("Surname", NAME),
    one("Forename", NAME),
    one("DOB", Value::Date),
    // CTF 23 and before name it Gender; the DfE renamed it Sex (M, F, U) with CBDS RFC 1233.
    opt("Gender", Value::Code(SEX)),
    opt("Sex", Value::Code(SEX)),
    group("BasicDetails", Occurs::Optional, BASIC_DETAILS),
    group(
        "FSMhistory",
        Occurs::Optional,
        &[
            opt("FSMreviewDate", Value::Date),
            group("FSMinstance", Occurs::Many, FSM_INSTANCE),
        ],
    ),
    not_read("NAWdetails", Occurs::Many),
    group("LookedAfter", Occurs::Optional, LOOKED_AFTER),
    group("SENhistory", Occurs::Optional, SEN_HISTORY),
    not_read("Admissions", Occurs::Optional),
    group("Address", Occurs::Optional, ADDRESS),
    group("Phones", Occurs::Optional, PHONES),
    opt("Email", Value::Text(250)),
    group(
        "Contacts",
        Occurs::Optional,
        &[group("Contact", Occurs::Many, CONTACT)],
    ),
    group(
        "Attendance",
        Occurs::Optional,
        &[group("YearData", Occurs::Many, YEAR_DATA)],
    ),
    group(
        "StageAssessments",
        Occurs::Optional,
        &[group("KeyStage", Occurs::Many, KEY_STAGE)],
    ),
    group(
        "SchoolHistory",
        Occurs::Optional,
        &[group("School", Occurs::Many, SCHOOL)],
    ),
];
