//! The federation's front door for practitioners: finds a child at every agency node,
//! fans reads out in parallel under deadlines and merges the answers. Stateless: it keeps
//! no children and no identity index.

pub mod auth;
pub mod cohort;
pub mod config;
pub mod error;
pub mod federation;
pub mod locator;
pub mod openapi;
pub mod reference;
pub mod routes;
pub mod startup;
pub mod upstream;
pub mod view;

pub use config::Settings;
pub use startup::Application;
