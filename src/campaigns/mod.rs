//! Campaign planning: campaigns for a school year, the topics taxonomy, activities on every
//! channel, the calendar and the campaign overview.
pub mod activities;
pub mod api;
pub mod calendar;
pub mod entity;
pub mod kinds;
pub mod pages;
pub mod service;
