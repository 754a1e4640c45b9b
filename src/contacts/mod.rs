//! Students, guardians, consent, CSV imports of both, unsubscribe links, export and erasure.
pub mod entity;
pub mod fields;
pub mod service;
