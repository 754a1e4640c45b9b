//! HI enrollment snapshots: per school and day, how many students are enrolled, how many are
//! insured (state-funded included) and how many of those are state-funded. A correction keeps
//! the earlier values in the history table.
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

fn a(name: &str) -> Alias {
    Alias::new(name)
}

fn int(name: &str) -> ColumnDef {
    ColumnDef::new(a(name)).integer().not_null().to_owned()
}

fn at(name: &str) -> ColumnDef {
    ColumnDef::new(a(name))
        .timestamp_with_time_zone()
        .not_null()
        .to_owned()
}

fn id() -> ColumnDef {
    ColumnDef::new(a("id"))
        .big_integer()
        .not_null()
        .auto_increment()
        .primary_key()
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(a("enrollment_snapshots"))
                    .col(id())
                    .col(ColumnDef::new(a("school_id")).big_integer().not_null())
                    .col(ColumnDef::new(a("taken_on")).date().not_null())
                    .col(int("enrolled"))
                    .col(int("insured"))
                    .col(int("state_funded"))
                    .col(ColumnDef::new(a("source")).string_len(32).not_null())
                    .col(at("created_at"))
                    .col(at("updated_at"))
                    .col(ColumnDef::new(a("updated_by")).big_integer().null())
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_enrollment_snapshots_school")
                            .from(a("enrollment_snapshots"), a("school_id"))
                            .to(a("schools"), a("id"))
                            .on_delete(ForeignKeyAction::Restrict),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_enrollment_snapshots_user")
                            .from(a("enrollment_snapshots"), a("updated_by"))
                            .to(a("users"), a("id"))
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_enrollment_snapshots_school_day")
                    .table(a("enrollment_snapshots"))
                    .col(a("school_id"))
                    .col(a("taken_on"))
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_enrollment_snapshots_day")
                    .table(a("enrollment_snapshots"))
                    .col(a("taken_on"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(a("enrollment_snapshot_history"))
                    .col(id())
                    .col(ColumnDef::new(a("snapshot_id")).big_integer().not_null())
                    .col(int("enrolled"))
                    .col(int("insured"))
                    .col(int("state_funded"))
                    .col(ColumnDef::new(a("source")).string_len(32).not_null())
                    .col(at("recorded_at"))
                    .col(at("replaced_at"))
                    .col(ColumnDef::new(a("replaced_by")).big_integer().null())
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_enrollment_history_snapshot")
                            .from(a("enrollment_snapshot_history"), a("snapshot_id"))
                            .to(a("enrollment_snapshots"), a("id"))
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_enrollment_history_snapshot")
                    .table(a("enrollment_snapshot_history"))
                    .col(a("snapshot_id"))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(
                Table::drop()
                    .table(a("enrollment_snapshot_history"))
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table(a("enrollment_snapshots")).to_owned())
            .await
    }
}
