//! The delivery engine: providers, the outbox (one row per message to one guardian on one
//! channel, unique by idempotency key), message events, per-day provider usage, and the
//! students a message is about (so a reminder can be withdrawn once a child is insured).
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

fn at<T: IntoIden>(name: T, null: bool) -> ColumnDef {
    let mut c = ColumnDef::new(name);
    c.timestamp_with_time_zone();
    if null {
        c.null();
    } else {
        c.not_null();
    }
    c.to_owned()
}

fn text<T: IntoIden>(name: T, len: u32, null: bool) -> ColumnDef {
    let mut c = ColumnDef::new(name);
    c.string_len(len);
    if null {
        c.null();
    } else {
        c.not_null();
    }
    c.to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Providers::Table)
                    .col(id(Providers::Id))
                    .col(text(Providers::Name, 100, false))
                    .col(text(Providers::Channel, 16, false))
                    .col(text(Providers::Kind, 16, false))
                    .col(
                        ColumnDef::new(Providers::Enabled)
                            .boolean()
                            .not_null()
                            .default(true),
                    )
                    .col(
                        ColumnDef::new(Providers::Priority)
                            .integer()
                            .not_null()
                            .default(0),
                    )
                    .col(text(Providers::BaseUrl, 500, true))
                    .col(ColumnDef::new(Providers::Settings).text().not_null())
                    .col(ColumnDef::new(Providers::Credentials).text().not_null())
                    .col(ColumnDef::new(Providers::TimeoutMs).integer().not_null())
                    .col(ColumnDef::new(Providers::RatePerSec).integer().not_null())
                    .col(ColumnDef::new(Providers::DailyQuota).big_integer().null())
                    .col(ColumnDef::new(Providers::Concurrency).integer().not_null())
                    .col(at(Providers::CreatedAt, false))
                    .col(at(Providers::UpdatedAt, false))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Messages::Table)
                    .col(id(Messages::Id))
                    .col(text(Messages::IdempotencyKey, 200, false).unique_key())
                    .col(text(Messages::SourceKind, 16, false))
                    .col(ColumnDef::new(Messages::SourceId).big_integer().null())
                    .col(ColumnDef::new(Messages::CampaignId).big_integer().null())
                    .col(ColumnDef::new(Messages::SchoolId).big_integer().null())
                    .col(
                        ColumnDef::new(Messages::GuardianId)
                            .big_integer()
                            .not_null(),
                    )
                    .col(text(Messages::Channel, 16, false))
                    .col(ColumnDef::new(Messages::ProviderId).big_integer().null())
                    .col(ColumnDef::new(Messages::TemplateId).big_integer().null())
                    .col(ColumnDef::new(Messages::TemplateVersion).integer().null())
                    .col(text(Messages::Language, 8, false))
                    .col(text(Messages::Recipient, 254, true))
                    .col(ColumnDef::new(Messages::Content).text().null())
                    .col(ColumnDef::new(Messages::FallbackPlan).text().null())
                    .col(ColumnDef::new(Messages::FallbackOf).big_integer().null())
                    .col(text(Messages::Status, 16, false))
                    .col(
                        ColumnDef::new(Messages::Attempts)
                            .integer()
                            .not_null()
                            .default(0),
                    )
                    .col(ColumnDef::new(Messages::MaxAttempts).integer().not_null())
                    .col(at(Messages::NextAttemptAt, false))
                    .col(at(Messages::LeaseUntil, true))
                    .col(text(Messages::LeasedBy, 200, true))
                    .col(text(Messages::ErrorClass, 32, true))
                    .col(text(Messages::LastError, 500, true))
                    .col(text(Messages::ProviderMessageId, 200, true))
                    .col(at(Messages::CreatedAt, false))
                    .col(at(Messages::UpdatedAt, false))
                    .col(at(Messages::SentAt, true))
                    .col(at(Messages::DeliveredAt, true))
                    .col(at(Messages::ReadAt, true))
                    .col(at(Messages::ContentPurgedAt, true))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_messages_guardian")
                            .from(Messages::Table, Messages::GuardianId)
                            .to(Guardians::Table, Guardians::Id)
                            .on_delete(ForeignKeyAction::Restrict),
                    )
                    .to_owned(),
            )
            .await?;
        // The claim queries read only what is waiting (partial indexes, the same SQL on both
        // databases): due messages of a channel oldest first, and claims whose lease ran out.
        // Sent messages, the bulk of the table, are in neither.
        let conn = manager.get_connection();
        conn.execute_unprepared(
            "CREATE INDEX ix_messages_claim ON messages (channel, next_attempt_at) \
             WHERE status IN ('queued', 'retrying')",
        )
        .await?;
        conn.execute_unprepared(
            "CREATE INDEX ix_messages_leases ON messages (channel, lease_until) \
             WHERE status = 'sending'",
        )
        .await?;
        // Filters of the delivery log and the funnel.
        manager
            .create_index(
                Index::create()
                    .name("ix_messages_status")
                    .table(Messages::Table)
                    .col(Messages::Status)
                    .col(Messages::Channel)
                    .to_owned(),
            )
            .await?;
        for (name, col) in [
            ("ix_messages_source", Messages::SourceId),
            ("ix_messages_guardian", Messages::GuardianId),
            ("ix_messages_campaign", Messages::CampaignId),
            ("ix_messages_school", Messages::SchoolId),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(Messages::Table)
                        .col(col)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_index(
                Index::create()
                    .name("ix_messages_provider_id")
                    .table(Messages::Table)
                    .col(Messages::ProviderId)
                    .col(Messages::ProviderMessageId)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(MessageStudents::Table)
                    .col(
                        ColumnDef::new(MessageStudents::MessageId)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(MessageStudents::StudentId)
                            .big_integer()
                            .not_null(),
                    )
                    .primary_key(
                        Index::create()
                            .col(MessageStudents::MessageId)
                            .col(MessageStudents::StudentId),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_message_students_message")
                            .from(MessageStudents::Table, MessageStudents::MessageId)
                            .to(Messages::Table, Messages::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_message_students_student")
                    .table(MessageStudents::Table)
                    .col(MessageStudents::StudentId)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(MessageEvents::Table)
                    .col(id(MessageEvents::Id))
                    .col(
                        ColumnDef::new(MessageEvents::MessageId)
                            .big_integer()
                            .not_null(),
                    )
                    .col(text(MessageEvents::Kind, 16, false))
                    .col(at(MessageEvents::At, false))
                    .col(ColumnDef::new(MessageEvents::Detail).text().null())
                    .col(text(MessageEvents::ExternalId, 200, true).unique_key())
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_message_events_message")
                            .from(MessageEvents::Table, MessageEvents::MessageId)
                            .to(Messages::Table, Messages::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_message_events_message")
                    .table(MessageEvents::Table)
                    .col(MessageEvents::MessageId)
                    .col(MessageEvents::Kind)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(ProviderUsage::Table)
                    .col(
                        ColumnDef::new(ProviderUsage::ProviderId)
                            .big_integer()
                            .not_null(),
                    )
                    .col(ColumnDef::new(ProviderUsage::Day).date().not_null())
                    .col(ColumnDef::new(ProviderUsage::Sent).big_integer().not_null())
                    .primary_key(
                        Index::create()
                            .col(ProviderUsage::ProviderId)
                            .col(ProviderUsage::Day),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for t in [
            ProviderUsage::Table.into_iden(),
            MessageEvents::Table.into_iden(),
            MessageStudents::Table.into_iden(),
            Messages::Table.into_iden(),
            Providers::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(t).to_owned())
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum Guardians {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Providers {
    Table,
    Id,
    Name,
    Channel,
    Kind,
    Enabled,
    Priority,
    BaseUrl,
    Settings,
    Credentials,
    TimeoutMs,
    RatePerSec,
    DailyQuota,
    Concurrency,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Messages {
    Table,
    Id,
    IdempotencyKey,
    SourceKind,
    SourceId,
    CampaignId,
    SchoolId,
    GuardianId,
    Channel,
    ProviderId,
    TemplateId,
    TemplateVersion,
    Language,
    Recipient,
    Content,
    FallbackPlan,
    FallbackOf,
    Status,
    Attempts,
    MaxAttempts,
    NextAttemptAt,
    LeaseUntil,
    LeasedBy,
    ErrorClass,
    LastError,
    ProviderMessageId,
    CreatedAt,
    UpdatedAt,
    SentAt,
    DeliveredAt,
    ReadAt,
    ContentPurgedAt,
}

#[derive(DeriveIden)]
enum MessageStudents {
    Table,
    MessageId,
    StudentId,
}

#[derive(DeriveIden)]
enum MessageEvents {
    Table,
    Id,
    MessageId,
    Kind,
    At,
    Detail,
    ExternalId,
}

#[derive(DeriveIden)]
enum ProviderUsage {
    Table,
    ProviderId,
    Day,
    Sent,
}
