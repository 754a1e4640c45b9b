//! Students, guardians, consent, CSV imports of both, unsubscribe links, export and erasure.
pub mod api;
pub mod entity;
pub mod fields;
pub mod import;
pub mod pages;
pub mod service;
pub mod unsubscribe;
