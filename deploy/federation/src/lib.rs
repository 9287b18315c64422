//! The dev federation: lay out PKI, directory and configuration, seed synthetic
//! children, and run every node and the gateway. Shared by the `federation` command and
//! the cross-service tests.

pub mod bench;
pub mod cohort_bench;
pub mod fairness_bench;
pub mod import;
pub mod linkage_bench;
pub mod load;
pub mod loadgen;
pub mod locator_bench;
pub mod names;
pub mod node_bench;
pub mod onboarding_bench;
pub mod pki;
pub mod plan;
pub mod replicas_bench;
pub mod seed;
pub mod up;

pub use plan::{Federation, Plan};
