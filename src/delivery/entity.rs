//! Tables of the delivery engine.

pub mod provider {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "providers")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub name: String,
        pub channel: String,
        pub kind: String,
        pub enabled: bool,
        pub priority: i32,
        pub base_url: Option<String>,
        /// Non-secret settings, JSON.
        pub settings: String,
        /// Secrets, JSON; written, never shown again.
        pub credentials: String,
        pub timeout_ms: i32,
        pub rate_per_sec: i32,
        pub daily_quota: Option<i64>,
        pub concurrency: i32,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod message {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "messages")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        #[sea_orm(unique)]
        pub idempotency_key: String,
        pub source_kind: String,
        pub source_id: Option<i64>,
        pub campaign_id: Option<i64>,
        pub school_id: Option<i64>,
        pub guardian_id: i64,
        pub channel: String,
        pub provider_id: Option<i64>,
        pub template_id: Option<i64>,
        pub template_version: Option<i32>,
        pub language: String,
        pub recipient: Option<String>,
        pub content: Option<String>,
        pub fallback_plan: Option<String>,
        pub fallback_of: Option<i64>,
        pub status: String,
        pub attempts: i32,
        pub max_attempts: i32,
        pub next_attempt_at: DateTimeUtc,
        pub lease_until: Option<DateTimeUtc>,
        pub leased_by: Option<String>,
        pub error_class: Option<String>,
        pub last_error: Option<String>,
        pub provider_message_id: Option<String>,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
        pub sent_at: Option<DateTimeUtc>,
        pub delivered_at: Option<DateTimeUtc>,
        pub read_at: Option<DateTimeUtc>,
        pub content_purged_at: Option<DateTimeUtc>,
        /// The reminder rule occurrence that queued it.
        pub occurrence_id: Option<i64>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod message_student {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "message_students")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub message_id: i64,
        #[sea_orm(primary_key, auto_increment = false)]
        pub student_id: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod event {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "message_events")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub message_id: i64,
        pub kind: String,
        pub at: DateTimeUtc,
        pub detail: Option<String>,
        /// A provider's id for the event, so a receipt sent twice counts once.
        #[sea_orm(unique)]
        pub external_id: Option<String>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod usage {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "provider_usage")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub provider_id: i64,
        #[sea_orm(primary_key, auto_increment = false)]
        pub day: Date,
        pub sent: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
