//! Parent message templates: content per channel, validation, rendering, SMS length.
pub mod api;
pub mod content;
pub mod entity;
pub mod pages;
pub mod render;
pub mod service;
pub mod sms;
