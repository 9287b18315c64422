//! What can be wrong with a file: a problem that refuses the whole file (nothing of it
//! is stored) and a problem of one element, named by its path, that fails only the pupil
//! or child it belongs to.

use serde::Serialize;

/// Why a whole file is refused. Each has a stable `code()`: the node's problem+json
/// `type` for it once the import endpoints exist.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FileProblem {
    #[error("the file has {size} bytes, over this node's limit of {limit}")]
    TooLarge { size: u64, limit: u64 },
    #[error("the file is empty")]
    Empty,
    #[error("the XML is not well formed at byte {at_byte}: {message}")]
    NotWellFormed { at_byte: u64, message: String },
    #[error("the file declares a DTD (<!DOCTYPE>); DfE returns have none, and none is read")]
    DtdRefused,
    #[error(
        "the file uses the entity &{0};: only the five XML entities and character references are allowed"
    )]
    EntityRefused(String),
    #[error("the root element is <{found}>, not <{expected}>: this is not {format}")]
    WrongRoot {
        found: String,
        expected: &'static str,
        format: &'static str,
    },
    #[error("the root element is in the namespace {found}; {format} files use none")]
    WrongNamespace { found: String, format: &'static str },
    #[error("{format} version {found} is not supported; this node reads {supported}")]
    UnsupportedVersion {
        found: String,
        format: &'static str,
        supported: String,
    },
    #[error("the header is not valid: {}", summary(.0))]
    InvalidHeader(Vec<ElementProblem>),
    #[error("{0}")]
    NotAddressedHere(String),
}

fn summary(problems: &[ElementProblem]) -> String {
    problems
        .iter()
        .map(|p| format!("{}: {}", p.path, p.message))
        .collect::<Vec<_>>()
        .join("; ")
}

impl FileProblem {
    /// The stable code of the problem (the last segment of its problem+json `type`).
    pub fn code(&self) -> &'static str {
        match self {
            FileProblem::TooLarge { .. } => "import-too-large",
            FileProblem::Empty | FileProblem::NotWellFormed { .. } => "import-not-well-formed",
            FileProblem::DtdRefused | FileProblem::EntityRefused(_) => "import-dtd-refused",
            FileProblem::WrongRoot { .. } | FileProblem::WrongNamespace { .. } => {
                "import-wrong-format"
            }
            FileProblem::UnsupportedVersion { .. } => "import-unsupported-version",
            FileProblem::InvalidHeader(_) => "import-invalid-header",
            FileProblem::NotAddressedHere(_) => "import-not-addressed-here",
        }
    }

    /// The elements at fault, where the problem is in the header.
    pub fn elements(&self) -> &[ElementProblem] {
        match self {
            FileProblem::InvalidHeader(problems) => problems,
            _ => &[],
        }
    }
}

/// One invalid element, by its path in the file
/// (`/CTfile/CTFpupilData/Pupil[12]/DOB`), with a message for a person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ElementProblem {
    pub path: String,
    pub message: String,
}

impl ElementProblem {
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            message: message.into(),
        }
    }
}
