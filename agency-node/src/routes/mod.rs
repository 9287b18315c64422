pub mod audit;
pub mod children;
pub mod federation;
pub mod health;
pub mod notifications;
pub mod records;
