//! Students, guardians (many-to-many: siblings share a guardian) and consent records.
//! Consent is never updated in place: each grant or withdrawal is a new row, so the history
//! proves what was agreed, when, how and by whom (Decree 13/2023, Law 91/2025/QH15).
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

fn id<T: IntoIden>(name: T) -> ColumnDef {
    ColumnDef::new(name)
        .big_integer()
        .not_null()
        .auto_increment()
        .primary_key()
        .to_owned()
}

fn text<T: IntoIden>(name: T, len: u32) -> ColumnDef {
    ColumnDef::new(name).string_len(len).not_null().to_owned()
}

fn opt_text<T: IntoIden>(name: T, len: u32) -> ColumnDef {
    ColumnDef::new(name).string_len(len).null().to_owned()
}

fn at<T: IntoIden>(name: T) -> ColumnDef {
    ColumnDef::new(name)
        .timestamp_with_time_zone()
        .not_null()
        .to_owned()
}

fn fk(
    name: &str,
    from: (impl IntoIden + 'static, impl IntoIden + 'static),
    to: (impl IntoIden + 'static, impl IntoIden + 'static),
    on_delete: ForeignKeyAction,
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(name)
        .from(from.0, from.1)
        .to(to.0, to.1)
        .on_delete(on_delete)
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Students::Table)
                    .col(id(Students::Id))
                    .col(ColumnDef::new(Students::SchoolId).big_integer().not_null())
                    .col(opt_text(Students::SiNumber, 10))
                    .col(text(Students::FullName, 150))
                    .col(text(Students::SearchKey, 200))
                    .col(ColumnDef::new(Students::DateOfBirth).date().not_null())
                    .col(opt_text(Students::Grade, 16))
                    .col(opt_text(Students::ClassName, 32))
                    .col(text(Students::HiStatus, 16))
                    .col(ColumnDef::new(Students::CardValidUntil).date().null())
                    .col(at(Students::CreatedAt))
                    .col(at(Students::UpdatedAt))
                    .foreign_key(&mut fk(
                        "fk_students_school",
                        (Students::Table, Students::SchoolId),
                        (Schools::Table, Schools::Id),
                        ForeignKeyAction::Restrict,
                    ))
                    .to_owned(),
            )
            .await?;
        // NULL social-insurance numbers do not collide (both databases treat NULLs as distinct).
        manager
            .create_index(
                Index::create()
                    .name("ux_students_school_si")
                    .table(Students::Table)
                    .col(Students::SchoolId)
                    .col(Students::SiNumber)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_students_school_name_dob")
                    .table(Students::Table)
                    .col(Students::SchoolId)
                    .col(Students::SearchKey)
                    .col(Students::DateOfBirth)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_students_status")
                    .table(Students::Table)
                    .col(Students::HiStatus)
                    .col(Students::SchoolId)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Guardians::Table)
                    .col(id(Guardians::Id))
                    .col(text(Guardians::FullName, 150))
                    .col(text(Guardians::SearchKey, 200))
                    .col(text(Guardians::Relationship, 16))
                    .col(opt_text(Guardians::Phone, 16))
                    .col(opt_text(Guardians::Email, 254))
                    .col(
                        ColumnDef::new(Guardians::Zalo)
                            .boolean()
                            .not_null()
                            .default(false),
                    )
                    .col(opt_text(Guardians::AppRef, 64))
                    .col(text(Guardians::Language, 8))
                    .col(text(Guardians::ChannelOrder, 64))
                    .col(
                        ColumnDef::new(Guardians::OptedOutAt)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .col(
                        ColumnDef::new(Guardians::ErasedAt)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .col(at(Guardians::CreatedAt))
                    .col(at(Guardians::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        for (name, col) in [
            ("ux_guardians_phone", Guardians::Phone),
            ("ix_guardians_email", Guardians::Email),
        ] {
            let mut idx = Index::create();
            idx.name(name).table(Guardians::Table).col(col);
            if name.starts_with("ux_") {
                idx.unique();
            }
            manager.create_index(idx.to_owned()).await?;
        }

        manager
            .create_table(
                Table::create()
                    .table(StudentGuardians::Table)
                    .col(
                        ColumnDef::new(StudentGuardians::StudentId)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(StudentGuardians::GuardianId)
                            .big_integer()
                            .not_null(),
                    )
                    .primary_key(
                        Index::create()
                            .col(StudentGuardians::StudentId)
                            .col(StudentGuardians::GuardianId),
                    )
                    .foreign_key(&mut fk(
                        "fk_sg_student",
                        (StudentGuardians::Table, StudentGuardians::StudentId),
                        (Students::Table, Students::Id),
                        ForeignKeyAction::Cascade,
                    ))
                    .foreign_key(&mut fk(
                        "fk_sg_guardian",
                        (StudentGuardians::Table, StudentGuardians::GuardianId),
                        (Guardians::Table, Guardians::Id),
                        ForeignKeyAction::Cascade,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_sg_guardian")
                    .table(StudentGuardians::Table)
                    .col(StudentGuardians::GuardianId)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Consents::Table)
                    .col(id(Consents::Id))
                    .col(
                        ColumnDef::new(Consents::GuardianId)
                            .big_integer()
                            .not_null(),
                    )
                    .col(text(Consents::Channel, 16))
                    .col(text(Consents::Purpose, 32))
                    .col(ColumnDef::new(Consents::Granted).boolean().not_null())
                    .col(text(Consents::Source, 16))
                    .col(opt_text(Consents::Evidence, 255))
                    .col(at(Consents::RecordedAt))
                    .col(ColumnDef::new(Consents::RecordedBy).big_integer().null())
                    .col(text(Consents::RecordedByLabel, 254))
                    .foreign_key(&mut fk(
                        "fk_consents_guardian",
                        (Consents::Table, Consents::GuardianId),
                        (Guardians::Table, Guardians::Id),
                        ForeignKeyAction::Cascade,
                    ))
                    .foreign_key(&mut fk(
                        "fk_consents_user",
                        (Consents::Table, Consents::RecordedBy),
                        (Users::Table, Users::Id),
                        ForeignKeyAction::SetNull,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_consents_guardian")
                    .table(Consents::Table)
                    .col(Consents::GuardianId)
                    .col(Consents::Channel)
                    .col(Consents::Id)
                    .to_owned(),
            )
            .await?;

        // Uploaded files waiting for confirmation, in pieces, so a large file never has to sit
        // in memory whole and any instance can confirm what another one checked.
        manager
            .create_table(
                Table::create()
                    .table(ImportChunks::Table)
                    .col(
                        ColumnDef::new(ImportChunks::ImportId)
                            .big_integer()
                            .not_null(),
                    )
                    .col(ColumnDef::new(ImportChunks::Seq).integer().not_null())
                    .col(ColumnDef::new(ImportChunks::Data).binary().not_null())
                    .primary_key(
                        Index::create()
                            .col(ImportChunks::ImportId)
                            .col(ImportChunks::Seq),
                    )
                    .foreign_key(&mut fk(
                        "fk_import_chunks_import",
                        (ImportChunks::Table, ImportChunks::ImportId),
                        (Imports::Table, Imports::Id),
                        ForeignKeyAction::Cascade,
                    ))
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            ImportChunks::Table.into_iden(),
            Consents::Table.into_iden(),
            StudentGuardians::Table.into_iden(),
            Guardians::Table.into_iden(),
            Students::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum Schools {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Imports {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum ImportChunks {
    Table,
    ImportId,
    Seq,
    Data,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Students {
    Table,
    Id,
    SchoolId,
    SiNumber,
    FullName,
    SearchKey,
    DateOfBirth,
    Grade,
    ClassName,
    HiStatus,
    CardValidUntil,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Guardians {
    Table,
    Id,
    FullName,
    SearchKey,
    Relationship,
    Phone,
    Email,
    Zalo,
    AppRef,
    Language,
    ChannelOrder,
    OptedOutAt,
    ErasedAt,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum StudentGuardians {
    Table,
    StudentId,
    GuardianId,
}

#[derive(DeriveIden)]
enum Consents {
    Table,
    Id,
    GuardianId,
    Channel,
    Purpose,
    Granted,
    Source,
    Evidence,
    RecordedAt,
    RecordedBy,
    RecordedByLabel,
}
