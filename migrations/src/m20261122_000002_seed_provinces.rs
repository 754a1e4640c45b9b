//! The 34 province-level units in force since 1 July 2025 (Decision 19/2025/QĐ-TTg), with
//! their codes. Source file: `migrations/data/provinces.csv` (code,name,kind).
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const PROVINCES: &str = include_str!("../data/provinces.csv");

/// (code, name, kind) rows of the embedded file; it has no quoted fields.
fn rows() -> Vec<(&'static str, &'static str, &'static str)> {
    PROVINCES
        .lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .filter_map(|l| {
            let mut parts = l.split(',');
            Some((
                parts.next()?.trim(),
                parts.next()?.trim(),
                parts.next()?.trim(),
            ))
        })
        .collect()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let mut insert = Query::insert();
        insert.into_table(Alias::new("provinces")).columns([
            Alias::new("code"),
            Alias::new("name"),
            Alias::new("kind"),
        ]);
        for (code, name, kind) in rows() {
            insert.values_panic([code.into(), name.into(), kind.into()]);
        }
        manager.exec_stmt(insert).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .exec_stmt(
                Query::delete()
                    .from_table(Alias::new("provinces"))
                    .to_owned(),
            )
            .await
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn thirty_four_provinces() {
        let rows = super::rows();
        assert_eq!(rows.len(), 34);
        assert!(rows.contains(&("79", "Hồ Chí Minh", "city")));
    }
}
