//! Accounts, roles and scope, sessions, CSRF, API tokens, login throttling.
pub mod actor;
pub mod admin;
pub mod api;
pub mod entity;
pub mod login;
pub mod pages;
pub mod password;
pub mod secrets;
pub mod session;
pub mod throttle;
pub mod tokens;
pub mod users;
