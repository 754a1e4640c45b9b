//! Integration tests: each test starts the application on a free port against its own fresh
//! database — a SQLite file by default, a new PostgreSQL database when TEST_DATABASE_URL is set.
mod helpers;

mod audit;
mod auth;
mod bad_input;
mod browser;
mod campaigns;
mod cli;
mod connections;
mod contacts;
mod delivery;
mod enrollment;
mod generate;
mod health;
mod import;
mod instances;
mod pages;
mod reminders;
mod scope;
mod sinks;
mod templates;
mod tokens;
mod waves;
