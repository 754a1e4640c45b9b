//! Activities get a search key, their title folded (no accents, lower case), so a title search
//! ignores case and accents on both databases as the student, school and user searches do. The
//! key of every existing activity is filled here, with the application's own folding.
use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::Statement;

use crate::helpers::{a, add_column, drop_column};
use crate::text::fold;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        add_column(
            manager,
            "activities",
            ColumnDef::new(a("search_key"))
                .string_len(400)
                .not_null()
                .default(""),
        )
        .await?;
        let conn = manager.get_connection();
        let rows = conn
            .query_all(Statement::from_string(
                conn.get_database_backend(),
                "SELECT id, title FROM activities",
            ))
            .await?;
        for row in rows {
            let id: i64 = row.try_get("", "id")?;
            let title: String = row.try_get("", "title")?;
            manager
                .exec_stmt(
                    Query::update()
                        .table(a("activities"))
                        .value(a("search_key"), fold(&title))
                        .and_where(Expr::col(a("id")).eq(id))
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_column(manager, "activities", "search_key").await
    }
}
