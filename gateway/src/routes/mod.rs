pub mod access_report;
pub mod children;
pub mod health;
pub mod notifications;
