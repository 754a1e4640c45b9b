//! Students carry how many guardians they have, which every list of students shows: counted for
//! each listed row, the count was a sub-query per student, the larger part of a list page's
//! work in the database. The application adds to a student's count whenever it links guardians;
//! links are never removed. The count of every existing student is filled here (on 20 million
//! students, every row is rewritten once).
use sea_orm_migration::prelude::*;

use crate::helpers::{a, add_column, drop_column};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        add_column(
            manager,
            "students",
            ColumnDef::new(a("guardian_count"))
                .integer()
                .not_null()
                .default(0),
        )
        .await?;
        manager
            .get_connection()
            .execute_unprepared(
                "UPDATE students SET guardian_count = \
                 (SELECT COUNT(*) FROM student_guardians sg WHERE sg.student_id = students.id) \
                 WHERE EXISTS (SELECT 1 FROM student_guardians sg WHERE sg.student_id = students.id)",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_column(manager, "students", "guardian_count").await
    }
}
