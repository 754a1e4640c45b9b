//! Database migrations. One file per change; a file never changes once it has landed on main.
pub use sea_orm_migration::prelude::*;

mod helpers;
mod m20261122_000001_foundation;
mod m20261122_000002_seed_provinces;
mod m20261122_000003_contacts;
mod m20261122_000004_templates;
mod m20261122_000005_school_years;
mod m20261122_000006_delivery;
mod m20261122_000007_campaigns;
mod m20261122_000008_enrollment;
mod m20261122_000009_audiences;
mod m20261202_000010_reminders;
mod m20261207_000011_list_order_indexes;
mod m20261207_000012_activity_search_key;
mod m20261207_000013_student_guardian_count;
mod m20261207_000014_student_page_index;
mod text;

pub use text::fold;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261122_000001_foundation::Migration),
            Box::new(m20261122_000002_seed_provinces::Migration),
            Box::new(m20261122_000003_contacts::Migration),
            Box::new(m20261122_000004_templates::Migration),
            Box::new(m20261122_000005_school_years::Migration),
            Box::new(m20261122_000006_delivery::Migration),
            Box::new(m20261122_000007_campaigns::Migration),
            Box::new(m20261122_000008_enrollment::Migration),
            Box::new(m20261122_000009_audiences::Migration),
            Box::new(m20261202_000010_reminders::Migration),
            Box::new(m20261207_000011_list_order_indexes::Migration),
            Box::new(m20261207_000012_activity_search_key::Migration),
            Box::new(m20261207_000013_student_guardian_count::Migration),
            Box::new(m20261207_000014_student_page_index::Migration),
        ]
    }
}
