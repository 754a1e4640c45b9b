//! Parent message templates and their versions. A template's content is never edited in
//! place: every save is a new version, and a message records the version it was rendered from.
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(MessageTemplates::Table)
                    .col(
                        ColumnDef::new(MessageTemplates::Id)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(MessageTemplates::Code)
                            .string_len(100)
                            .null()
                            .unique_key(),
                    )
                    .col(
                        ColumnDef::new(MessageTemplates::Name)
                            .string_len(150)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(MessageTemplates::Purpose)
                            .string_len(32)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(MessageTemplates::Channel)
                            .string_len(16)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(MessageTemplates::Language)
                            .string_len(8)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(MessageTemplates::CurrentVersion)
                            .integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(MessageTemplates::Archived)
                            .boolean()
                            .not_null()
                            .default(false),
                    )
                    .col(
                        ColumnDef::new(MessageTemplates::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(MessageTemplates::UpdatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(TemplateVersions::Table)
                    .col(
                        ColumnDef::new(TemplateVersions::Id)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(TemplateVersions::TemplateId)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(TemplateVersions::Version)
                            .integer()
                            .not_null(),
                    )
                    .col(ColumnDef::new(TemplateVersions::Content).text().not_null())
                    .col(
                        ColumnDef::new(TemplateVersions::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(TemplateVersions::CreatedBy)
                            .big_integer()
                            .null(),
                    )
                    .col(
                        ColumnDef::new(TemplateVersions::CreatedByLabel)
                            .string_len(254)
                            .not_null(),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_template_versions_template")
                            .from(TemplateVersions::Table, TemplateVersions::TemplateId)
                            .to(MessageTemplates::Table, MessageTemplates::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_template_versions")
                    .table(TemplateVersions::Table)
                    .col(TemplateVersions::TemplateId)
                    .col(TemplateVersions::Version)
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(TemplateVersions::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(MessageTemplates::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum MessageTemplates {
    Table,
    Id,
    Code,
    Name,
    Purpose,
    Channel,
    Language,
    CurrentVersion,
    Archived,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum TemplateVersions {
    Table,
    Id,
    TemplateId,
    Version,
    Content,
    CreatedAt,
    CreatedBy,
    CreatedByLabel,
}
