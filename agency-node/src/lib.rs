//! An agency's node: the agency's own records behind mutual TLS, with an integration face
//! for its systems and a federation face for gateways.

pub mod access_report;
pub mod anchoring;
pub mod audit;
pub mod auth;
pub mod backup;
pub mod concerns;
pub mod config;
pub mod confirm;
pub mod db;
pub mod disclosure;
pub mod error;
pub mod finding;
pub mod imports;
pub mod notifications;
pub mod openapi;
pub mod parallel;
pub mod relationship;
pub mod routes;
pub mod startup;
pub mod writes;

pub use config::Settings;
pub use startup::Application;
