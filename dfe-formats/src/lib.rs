//! The DfE's statutory XML returns that agencies already export — the Common Transfer File
//! from every school MIS, the children in need census from every social-care system —
//! read as a stream, checked with the element path of every problem, and mapped onto the
//! federation's vocabulary (`schemas`).
//!
//! A leaf above `schemas`: no storage, no HTTP. A node's import endpoint (to come, with
//! partial children and bulk writes) takes the bytes, calls [`read_ctf`] or
//! [`read_cin_census`] with its own identity and limits, and stores what comes back:
//! either a [`FileProblem`] that refuses the whole file, or an outcome per pupil or child
//! (`docs/imports.md`).

pub mod cin;
pub mod ctf;
mod envelope;
pub mod fixtures;
pub mod imported;
pub mod problem;
pub mod spec;
pub mod xml;

pub use cin::{CinHeader, CinImport, CinSettings, read_cin_census};
pub use ctf::{Addressee, CtfHeader, CtfImport, CtfSettings, check_addressee, read_ctf};
pub use imported::{ChildOutcome, FailedChild, ImportedChild, ImportedContact, ImportedRecord};
pub use problem::{ElementProblem, FileProblem};
