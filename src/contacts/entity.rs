//! Tables of students, guardians, their links and consent records.

pub mod student {
    use sea_orm::entity::prelude::*;

    /// A column added here is added to the included columns of `ix_students_page` too (on
    /// PostgreSQL a page of the list is read from that index alone).
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "students")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub school_id: i64,
        pub si_number: Option<String>,
        pub full_name: String,
        pub search_key: String,
        pub date_of_birth: Date,
        pub grade: Option<String>,
        pub class_name: Option<String>,
        pub hi_status: String,
        pub card_valid_until: Option<Date>,
        /// How many guardians are linked to the student, kept by `service::count_new_links`
        /// whenever links are made (links are never removed).
        pub guardian_count: i32,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod guardian {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "guardians")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub full_name: String,
        pub search_key: String,
        pub relationship: String,
        pub phone: Option<String>,
        pub email: Option<String>,
        pub zalo: bool,
        pub app_ref: Option<String>,
        pub language: String,
        pub channel_order: String,
        pub opted_out_at: Option<DateTimeUtc>,
        pub erased_at: Option<DateTimeUtc>,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod student_guardian {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "student_guardians")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub student_id: i64,
        #[sea_orm(primary_key, auto_increment = false)]
        pub guardian_id: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod consent {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "consents")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub guardian_id: i64,
        pub channel: String,
        pub purpose: String,
        pub granted: bool,
        pub source: String,
        pub evidence: Option<String>,
        pub recorded_at: DateTimeUtc,
        pub recorded_by: Option<i64>,
        pub recorded_by_label: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
