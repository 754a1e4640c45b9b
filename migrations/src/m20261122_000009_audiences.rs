//! Audiences: saved filters over students and their guardians, the start of reminders and
//! broadcast waves.
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

fn a(name: &str) -> Alias {
    Alias::new(name)
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let fk = |col: &str, to: &str, on_delete| {
            ForeignKey::create()
                .name(format!("fk_audiences_{col}"))
                .from(a("audiences"), a(col))
                .to(a(to), a("id"))
                .on_delete(on_delete)
                .to_owned()
        };
        manager
            .create_table(
                Table::create()
                    .table(a("audiences"))
                    .col(
                        ColumnDef::new(a("id"))
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(a("name")).string_len(200).not_null())
                    .col(ColumnDef::new(a("province_id")).big_integer().null())
                    .col(ColumnDef::new(a("commune_id")).big_integer().null())
                    .col(ColumnDef::new(a("school_id")).big_integer().null())
                    .col(ColumnDef::new(a("grade")).string_len(16).null())
                    .col(ColumnDef::new(a("hi_status")).string_len(16).not_null())
                    .col(ColumnDef::new(a("channels")).string_len(64).not_null())
                    .col(ColumnDef::new(a("language")).string_len(8).null())
                    .col(ColumnDef::new(a("created_by")).big_integer().null())
                    .col(
                        ColumnDef::new(a("created_at"))
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(a("updated_at"))
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .foreign_key(&mut fk(
                        "province_id",
                        "provinces",
                        ForeignKeyAction::Restrict,
                    ))
                    .foreign_key(&mut fk(
                        "commune_id",
                        "communes",
                        ForeignKeyAction::Restrict,
                    ))
                    .foreign_key(&mut fk("school_id", "schools", ForeignKeyAction::Restrict))
                    .foreign_key(&mut fk("created_by", "users", ForeignKeyAction::SetNull))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(a("audiences")).to_owned())
            .await
    }
}
