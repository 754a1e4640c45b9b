//! Tables of campaign planning.

pub mod topic {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "topics")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        #[sea_orm(unique)]
        pub code: String,
        pub name_vi: String,
        pub name_en: String,
        pub position: i32,
        pub active: bool,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod campaign {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "campaigns")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub name: String,
        pub school_year_id: i64,
        /// Target coverage in basis points (10000 = 100%).
        pub target_coverage_bp: i32,
        /// `national`, `provinces` or `schools`.
        pub scope_kind: String,
        pub starts_on: Date,
        pub ends_on: Date,
        pub owner_user_id: Option<i64>,
        pub description: String,
        /// Topic codes as `|a|b|`.
        pub topics: String,
        pub status: String,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod campaign_province {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "campaign_provinces")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub campaign_id: i64,
        #[sea_orm(primary_key, auto_increment = false)]
        pub province_id: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod campaign_school {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "campaign_schools")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub campaign_id: i64,
        #[sea_orm(primary_key, auto_increment = false)]
        pub school_id: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod activity {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "activities")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub campaign_id: i64,
        pub channel: String,
        pub title: String,
        /// The title folded (`fields::fold`), what a title search matches.
        pub search_key: String,
        pub starts_at: DateTimeUtc,
        pub ends_at: Option<DateTimeUtc>,
        pub owner_user_id: Option<i64>,
        pub status: String,
        pub topics: String,
        pub province_id: Option<i64>,
        pub school_id: Option<i64>,
        pub cost_vnd: i64,
        pub notes: String,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
