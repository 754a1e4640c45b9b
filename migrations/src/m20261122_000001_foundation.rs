//! Foundation: the organisation map (provinces, communes, schools), accounts, sessions,
//! API tokens, login throttling, the audit log and recorded imports.
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

fn fk_col<T: IntoIden>(name: T) -> ColumnDef {
    ColumnDef::new(name).big_integer().not_null().to_owned()
}

fn opt_fk_col<T: IntoIden>(name: T) -> ColumnDef {
    ColumnDef::new(name).big_integer().null().to_owned()
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

fn opt_at<T: IntoIden>(name: T) -> ColumnDef {
    ColumnDef::new(name)
        .timestamp_with_time_zone()
        .null()
        .to_owned()
}

fn fk(
    name: &str,
    from_table: impl IntoIden + 'static,
    from_col: impl IntoIden + 'static,
    to_table: impl IntoIden + 'static,
    to_col: impl IntoIden + 'static,
    on_delete: ForeignKeyAction,
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(name)
        .from(from_table, from_col)
        .to(to_table, to_col)
        .on_delete(on_delete)
        .to_owned()
}

fn index(
    name: &str,
    table: impl IntoIden + 'static,
    cols: &[&'static str],
    unique: bool,
) -> IndexCreateStatement {
    let mut stmt = Index::create();
    stmt.name(name).table(table);
    for col in cols {
        stmt.col(Alias::new(*col));
    }
    if unique {
        stmt.unique();
    }
    stmt.to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Provinces::Table)
                    .col(id(Provinces::Id))
                    .col(text(Provinces::Code, 8).unique_key())
                    .col(text(Provinces::Name, 100))
                    .col(text(Provinces::Kind, 16))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Communes::Table)
                    .col(id(Communes::Id))
                    .col(fk_col(Communes::ProvinceId))
                    .col(text(Communes::Code, 16).unique_key())
                    .col(text(Communes::Name, 150))
                    .col(text(Communes::SearchKey, 200))
                    .foreign_key(&mut fk(
                        "fk_communes_province",
                        Communes::Table,
                        Communes::ProvinceId,
                        Provinces::Table,
                        Provinces::Id,
                        ForeignKeyAction::Restrict,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "ux_communes_province_name",
                Communes::Table,
                &["province_id", "name"],
                true,
            ))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Schools::Table)
                    .col(id(Schools::Id))
                    .col(text(Schools::Code, 32).unique_key())
                    .col(text(Schools::Name, 255))
                    .col(text(Schools::Level, 32))
                    .col(fk_col(Schools::ProvinceId))
                    .col(opt_fk_col(Schools::CommuneId))
                    .col(
                        ColumnDef::new(Schools::EnrolledStudents)
                            .integer()
                            .not_null()
                            .default(0),
                    )
                    .col(opt_text(Schools::Address, 255))
                    .col(text(Schools::SearchKey, 320))
                    .col(at(Schools::CreatedAt))
                    .col(at(Schools::UpdatedAt))
                    .foreign_key(&mut fk(
                        "fk_schools_province",
                        Schools::Table,
                        Schools::ProvinceId,
                        Provinces::Table,
                        Provinces::Id,
                        ForeignKeyAction::Restrict,
                    ))
                    .foreign_key(&mut fk(
                        "fk_schools_commune",
                        Schools::Table,
                        Schools::CommuneId,
                        Communes::Table,
                        Communes::Id,
                        ForeignKeyAction::SetNull,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "ix_schools_province",
                Schools::Table,
                &["province_id", "name"],
                false,
            ))
            .await?;
        manager
            .create_index(index(
                "ix_schools_commune",
                Schools::Table,
                &["commune_id"],
                false,
            ))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Users::Table)
                    .col(id(Users::Id))
                    .col(text(Users::Email, 254).unique_key())
                    .col(text(Users::DisplayName, 120))
                    .col(text(Users::SearchKey, 400))
                    .col(text(Users::PasswordHash, 255))
                    .col(text(Users::Role, 16))
                    .col(opt_fk_col(Users::ProvinceId))
                    .col(
                        ColumnDef::new(Users::Active)
                            .boolean()
                            .not_null()
                            .default(true),
                    )
                    .col(text(Users::Language, 8))
                    .col(at(Users::CreatedAt))
                    .col(at(Users::UpdatedAt))
                    .foreign_key(&mut fk(
                        "fk_users_province",
                        Users::Table,
                        Users::ProvinceId,
                        Provinces::Table,
                        Provinces::Id,
                        ForeignKeyAction::Restrict,
                    ))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(UserSchools::Table)
                    .col(fk_col(UserSchools::UserId))
                    .col(fk_col(UserSchools::SchoolId))
                    .primary_key(
                        Index::create()
                            .col(UserSchools::UserId)
                            .col(UserSchools::SchoolId),
                    )
                    .foreign_key(&mut fk(
                        "fk_user_schools_user",
                        UserSchools::Table,
                        UserSchools::UserId,
                        Users::Table,
                        Users::Id,
                        ForeignKeyAction::Cascade,
                    ))
                    .foreign_key(&mut fk(
                        "fk_user_schools_school",
                        UserSchools::Table,
                        UserSchools::SchoolId,
                        Schools::Table,
                        Schools::Id,
                        ForeignKeyAction::Cascade,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "ix_user_schools_school",
                UserSchools::Table,
                &["school_id"],
                false,
            ))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Sessions::Table)
                    .col(id(Sessions::Id))
                    .col(text(Sessions::TokenHash, 64).unique_key())
                    .col(fk_col(Sessions::UserId))
                    .col(at(Sessions::CreatedAt))
                    .col(at(Sessions::LastSeenAt))
                    .col(at(Sessions::ExpiresAt))
                    .col(opt_at(Sessions::RevokedAt))
                    .foreign_key(&mut fk(
                        "fk_sessions_user",
                        Sessions::Table,
                        Sessions::UserId,
                        Users::Table,
                        Users::Id,
                        ForeignKeyAction::Cascade,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "ix_sessions_user",
                Sessions::Table,
                &["user_id"],
                false,
            ))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(ApiTokens::Table)
                    .col(id(ApiTokens::Id))
                    .col(fk_col(ApiTokens::UserId))
                    .col(text(ApiTokens::Name, 100))
                    .col(text(ApiTokens::TokenHash, 64).unique_key())
                    .col(text(ApiTokens::Prefix, 16))
                    .col(at(ApiTokens::CreatedAt))
                    .col(opt_at(ApiTokens::LastUsedAt))
                    .col(opt_at(ApiTokens::RevokedAt))
                    .foreign_key(&mut fk(
                        "fk_api_tokens_user",
                        ApiTokens::Table,
                        ApiTokens::UserId,
                        Users::Table,
                        Users::Id,
                        ForeignKeyAction::Cascade,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "ix_api_tokens_user",
                ApiTokens::Table,
                &["user_id"],
                false,
            ))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(LoginAttempts::Table)
                    .col(id(LoginAttempts::Id))
                    .col(text(LoginAttempts::AccountKey, 64))
                    .col(text(LoginAttempts::IpKey, 64))
                    .col(at(LoginAttempts::At))
                    .col(
                        ColumnDef::new(LoginAttempts::Succeeded)
                            .boolean()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "ix_login_attempts_account_ip",
                LoginAttempts::Table,
                &["account_key", "ip_key", "at"],
                false,
            ))
            .await?;
        manager
            .create_index(index(
                "ix_login_attempts_ip",
                LoginAttempts::Table,
                &["ip_key", "at"],
                false,
            ))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(AuditLog::Table)
                    .col(id(AuditLog::Id))
                    .col(at(AuditLog::At))
                    .col(opt_fk_col(AuditLog::ActorUserId))
                    .col(text(AuditLog::ActorLabel, 254))
                    .col(text(AuditLog::Action, 64))
                    .col(text(AuditLog::EntityType, 64))
                    .col(opt_text(AuditLog::EntityId, 64))
                    .col(ColumnDef::new(AuditLog::Summary).text().not_null())
                    .col(opt_text(AuditLog::RequestId, 64))
                    .foreign_key(&mut fk(
                        "fk_audit_log_user",
                        AuditLog::Table,
                        AuditLog::ActorUserId,
                        Users::Table,
                        Users::Id,
                        ForeignKeyAction::SetNull,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index("ix_audit_log_at", AuditLog::Table, &["at"], false))
            .await?;
        manager
            .create_index(index(
                "ix_audit_log_entity",
                AuditLog::Table,
                &["entity_type", "entity_id"],
                false,
            ))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Imports::Table)
                    .col(id(Imports::Id))
                    .col(text(Imports::Kind, 32))
                    .col(fk_col(Imports::UserId))
                    .col(text(Imports::Filename, 255))
                    .col(text(Imports::Status, 16))
                    .col(ColumnDef::new(Imports::Content).binary().null())
                    .col(
                        ColumnDef::new(Imports::RowsTotal)
                            .integer()
                            .not_null()
                            .default(0),
                    )
                    .col(
                        ColumnDef::new(Imports::RowsValid)
                            .integer()
                            .not_null()
                            .default(0),
                    )
                    .col(
                        ColumnDef::new(Imports::RowsInvalid)
                            .integer()
                            .not_null()
                            .default(0),
                    )
                    .col(
                        ColumnDef::new(Imports::RowsWritten)
                            .integer()
                            .not_null()
                            .default(0),
                    )
                    .col(at(Imports::CreatedAt))
                    .col(opt_at(Imports::CommittedAt))
                    .foreign_key(&mut fk(
                        "fk_imports_user",
                        Imports::Table,
                        Imports::UserId,
                        Users::Table,
                        Users::Id,
                        ForeignKeyAction::Restrict,
                    ))
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            Imports::Table.into_iden(),
            AuditLog::Table.into_iden(),
            LoginAttempts::Table.into_iden(),
            ApiTokens::Table.into_iden(),
            Sessions::Table.into_iden(),
            UserSchools::Table.into_iden(),
            Users::Table.into_iden(),
            Schools::Table.into_iden(),
            Communes::Table.into_iden(),
            Provinces::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum Provinces {
    Table,
    Id,
    Code,
    Name,
    Kind,
}

#[derive(DeriveIden)]
enum Communes {
    Table,
    Id,
    ProvinceId,
    Code,
    Name,
    SearchKey,
}

#[derive(DeriveIden)]
enum Schools {
    Table,
    Id,
    Code,
    Name,
    Level,
    ProvinceId,
    CommuneId,
    EnrolledStudents,
    Address,
    SearchKey,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    Email,
    DisplayName,
    SearchKey,
    PasswordHash,
    Role,
    ProvinceId,
    Active,
    Language,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum UserSchools {
    Table,
    UserId,
    SchoolId,
}

#[derive(DeriveIden)]
enum Sessions {
    Table,
    Id,
    TokenHash,
    UserId,
    CreatedAt,
    LastSeenAt,
    ExpiresAt,
    RevokedAt,
}

#[derive(DeriveIden)]
enum ApiTokens {
    Table,
    Id,
    UserId,
    Name,
    TokenHash,
    Prefix,
    CreatedAt,
    LastUsedAt,
    RevokedAt,
}

#[derive(DeriveIden)]
enum LoginAttempts {
    Table,
    Id,
    AccountKey,
    IpKey,
    At,
    Succeeded,
}

#[derive(DeriveIden)]
enum AuditLog {
    Table,
    Id,
    At,
    ActorUserId,
    ActorLabel,
    Action,
    EntityType,
    EntityId,
    Summary,
    RequestId,
}

#[derive(DeriveIden)]
enum Imports {
    Table,
    Id,
    Kind,
    UserId,
    Filename,
    Status,
    Content,
    RowsTotal,
    RowsValid,
    RowsInvalid,
    RowsWritten,
    CreatedAt,
    CommittedAt,
}
