//! Media outlets and the pieces they run about student health insurance.
pub mod api;
pub mod entity;
pub mod pages;
pub mod service;
