//! The delivery engine: a durable outbox, workers that send through SMTP, Zalo ZNS, SMS
//! gateways, app webhooks or the outbox folder, retries and dead letters, quiet hours,
//! receipts and engagement tracking.
pub mod api;
pub mod channels;
pub mod compose;
pub mod entity;
pub mod metrics;
pub mod model;
pub mod outbox;
pub mod pages;
pub mod providers;
pub mod service;
pub mod tracking;
pub mod worker;
