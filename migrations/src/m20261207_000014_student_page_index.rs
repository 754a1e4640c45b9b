//! On PostgreSQL, the index a page of the student list is read from carries every column the
//! list shows, so the page comes from the index alone (an index-only scan): a name search tests
//! about ten students for each it shows, and fetching each from the table was the larger part of
//! its work. It replaces `ix_students_list` (same key; made first, then the old one dropped).
//! SQLite has no included columns and keeps `ix_students_list`.
use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

const KEY: &str = "school_id, search_key, date_of_birth, id";

/// The student columns a list shows besides the key: `contacts::entity::student` less the key.
const SHOWN: &str =
    "si_number, full_name, grade, class_name, hi_status, card_valid_until, guardian_count, created_at, updated_at";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        let conn = manager.get_connection();
        conn.execute_unprepared(&format!(
            "CREATE INDEX ix_students_page ON students ({KEY}) INCLUDE ({SHOWN})"
        ))
        .await?;
        conn.execute_unprepared("DROP INDEX ix_students_list")
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        let conn = manager.get_connection();
        conn.execute_unprepared(&format!(
            "CREATE INDEX ix_students_list ON students ({KEY})"
        ))
        .await?;
        conn.execute_unprepared("DROP INDEX ix_students_page")
            .await?;
        Ok(())
    }
}
