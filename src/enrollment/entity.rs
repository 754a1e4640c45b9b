//! Tables of enrollment snapshots.

pub mod snapshot {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "enrollment_snapshots")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub school_id: i64,
        pub taken_on: Date,
        pub enrolled: i32,
        /// Insured students, the state-funded ones included.
        pub insured: i32,
        pub state_funded: i32,
        pub source: String,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
        pub updated_by: Option<i64>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod history {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "enrollment_snapshot_history")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub snapshot_id: i64,
        pub enrolled: i32,
        pub insured: i32,
        pub state_funded: i32,
        pub source: String,
        /// When these values were recorded.
        pub recorded_at: DateTimeUtc,
        /// When a correction replaced them.
        pub replaced_at: DateTimeUtc,
        pub replaced_by: Option<i64>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
