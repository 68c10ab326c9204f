//! The pages, one module each.

pub mod audit;
pub mod clearance;
pub mod incidents;
pub mod login;
pub mod messages;
pub mod monitor;
