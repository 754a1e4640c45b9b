//! Reminders and broadcast waves. So far: audiences (saved filters with a live count and a
//! sample).
pub mod api;
pub mod audience;
pub mod goal;
pub mod pages;
