//! Tables of waves, reminder rules, their occurrences and schools' collection deadlines.

pub mod wave {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "waves")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub name: String,
        pub campaign_id: i64,
        pub activity_id: Option<i64>,
        pub audience_id: i64,
        pub scope_province_id: Option<i64>,
        /// The channels in fallback order (JSON, see `steps::Step`).
        pub steps: String,
        pub send_at: DateTimeUtc,
        /// draft, scheduled, materialising, sending, done, cancelled.
        pub status: String,
        pub recipients: Option<i64>,
        pub sms_segments: Option<i32>,
        pub cost_vnd: Option<i64>,
        pub queued: i64,
        pub done_through: Option<i64>,
        pub leased_by: Option<String>,
        pub lease_until: Option<DateTimeUtc>,
        pub created_by: Option<i64>,
        pub confirmed_by: Option<i64>,
        pub confirmed_at: Option<DateTimeUtc>,
        pub finished_at: Option<DateTimeUtc>,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod rule {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "reminder_rules")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub name: String,
        pub campaign_id: i64,
        pub audience_id: i64,
        pub scope_province_id: Option<i64>,
        pub steps: String,
        /// `cron` or `deadline`.
        pub schedule_kind: String,
        pub cron: Option<String>,
        /// Days relative to each school's deadline, e.g. `-7,-3,-1`.
        pub offsets: Option<String>,
        /// Minutes after local midnight.
        pub at_minute: Option<i32>,
        pub max_per_guardian: Option<i32>,
        /// A thank-you step (JSON, see `steps::Step`) sent when a reminded child is insured.
        pub thank_you: Option<String>,
        pub active: bool,
        pub next_run_at: Option<DateTimeUtc>,
        pub last_run_at: Option<DateTimeUtc>,
        pub created_by: Option<i64>,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod occurrence {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "rule_occurrences")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub rule_id: i64,
        pub due_at: DateTimeUtc,
        /// running, done, skipped, failed.
        pub status: String,
        pub queued: i64,
        pub done_through: Option<i64>,
        pub leased_by: Option<String>,
        pub lease_until: Option<DateTimeUtc>,
        pub note: Option<String>,
        /// For deadline rules: the deadlines served, `yyyy-mm-dd,…`.
        pub deadlines: Option<String>,
        pub started_at: DateTimeUtc,
        pub finished_at: Option<DateTimeUtc>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod school_deadline {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "school_deadlines")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub school_id: i64,
        #[sea_orm(primary_key, auto_increment = false)]
        pub school_year_id: i64,
        pub deadline: Date,
        pub updated_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
