//! The organisation map: 34 provinces, their communes, and schools.
pub mod api;
pub mod entity;
pub mod import;
pub mod level;
pub mod pages;
pub mod service;
