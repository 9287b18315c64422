//! The federation's single vocabulary: every type that crosses the wire between an
//! agency's systems, its node, the gateway and a practitioner's client.
//!
//! Types here carry serde, OpenAPI (utoipa) schemas and validation. Domain logic lives in
//! the services.

pub mod agency;
pub mod category;
pub mod child;
pub mod cohort;
pub mod concern;
pub mod dates;
pub mod details;
pub mod disclosure;
pub mod federation;
pub mod fields;
pub mod hex;
pub mod identifiers;
pub mod imports;
pub mod json;
pub mod keyed;
pub mod notification;
pub mod object;
pub mod openapi;
pub mod problem;
pub mod record;
pub mod view;

pub use agency::{AgencyKind, MemberRole, PractitionerRole};
pub use category::RecordCategory;
pub use child::{
    Child, ChildIdentifiers, ChildUpsert, Demographics, KnownDemographics, SearchDemographics, Sex,
};
pub use details::{RecordDetails, Sessions};
pub use disclosure::{CategoryDisclosure, ContactRoute, DisclosureLevel, WithheldReason};
pub use federation::*;
pub use identifiers::{AgencyId, InvalidIdentifier, NhsNumber, Upn};
pub use imports::{ImportElement, ImportOutcome, ImportReport, ImportedChildResult};
pub use keyed::{
    KeyedBlocks, KeyedChildQuery, KeyedDate, KeyedDemographics, KeyedIdentifiers, KeyedName,
    KeyedPostcode,
};
pub use problem::{FieldError, Problem};
pub use record::{
    BatchItemResult, BatchOperation, BatchOutcome, BatchRequest, BatchResponse, ChangeFeed,
    CheckedRecord, Record, RecordChange, RecordRetraction, RecordUpsert, RecordUpsertResult,
};
pub use view::*;
