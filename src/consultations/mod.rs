//! School Q&A / consultation sessions, their logs, and iCalendar feeds.
pub mod api;
pub mod entity;
pub mod ics;
pub mod pages;
pub mod service;
