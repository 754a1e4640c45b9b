//! HI enrollment snapshots per school and date, their CSV import, and coverage: nation →
//! province → commune → school, trend, uplift since a campaign started, the schools furthest
//! from the target.
pub mod analysis;
pub mod api;
pub mod charts;
pub mod coverage;
pub mod entity;
pub mod import;
pub mod pages;
pub mod service;
