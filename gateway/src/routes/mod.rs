pub mod children;
pub mod health;
