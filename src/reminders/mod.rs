//! Reminders and broadcast waves: audiences (saved filters with a live count and a sample),
//! one-off waves, recurring reminder rules, the scheduler that turns them into messages, and
//! goal-aware sending (nothing more about a child once insured).
pub mod api;
pub mod audience;
pub mod entity;
pub mod goal;
pub mod materialise;
pub mod pages;
pub mod rules;
pub mod schedule;
pub mod scheduler;
pub mod send_pages;
pub mod steps;
pub mod waves;
