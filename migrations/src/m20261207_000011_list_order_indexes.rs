//! The indexes the student and school lists are read from carry the lists' last sort key, the
//! id, so a page comes straight off the index: without it PostgreSQL sorted each page again (an
//! incremental sort over the rows of equal name and birth date). Each replaces an index of the
//! same columns without the id (made first, under a new name, then the old one dropped).
use sea_orm_migration::prelude::*;

use crate::helpers::a;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// An index: its name and columns.
type Named = (&'static str, &'static [&'static str]);

/// (table, the old index, the new one).
const CHANGES: [(&str, Named, Named); 2] = [
    (
        "students",
        (
            "ix_students_school_name_dob",
            &["school_id", "search_key", "date_of_birth"],
        ),
        (
            "ix_students_list",
            &["school_id", "search_key", "date_of_birth", "id"],
        ),
    ),
    (
        "schools",
        ("ix_schools_province", &["province_id", "name"]),
        ("ix_schools_list", &["province_id", "name", "id"]),
    ),
];

/// Makes `new`, then drops `old` (by name only).
async fn replace(
    manager: &SchemaManager<'_>,
    table: &str,
    old: &str,
    (new, cols): Named,
) -> Result<(), DbErr> {
    let mut index = Index::create();
    index.name(new).table(a(table));
    for col in cols {
        index.col(a(col));
    }
    manager.create_index(index.to_owned()).await?;
    manager
        .drop_index(Index::drop().name(old).table(a(table)).to_owned())
        .await
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (table, old, new) in CHANGES {
            replace(manager, table, old.0, new).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (table, old, new) in CHANGES {
            replace(manager, table, new.0, old).await?;
        }
        Ok(())
    }
}
