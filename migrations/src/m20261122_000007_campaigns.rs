//! Campaign planning: the topics taxonomy, campaigns with their scope, activities on every
//! channel, consultation sessions at schools with their logs, calendar feed tokens, and media
//! outlets and pieces. Topic codes on activities and pieces are kept as `|code|code|` text:
//! the taxonomy is small, codes never change once created, and a filter is one LIKE.
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

fn a(name: &str) -> Alias {
    Alias::new(name)
}

fn id() -> ColumnDef {
    ColumnDef::new(a("id"))
        .big_integer()
        .not_null()
        .auto_increment()
        .primary_key()
        .to_owned()
}

fn text(name: &str, len: u32) -> ColumnDef {
    ColumnDef::new(a(name))
        .string_len(len)
        .not_null()
        .to_owned()
}

fn opt_text(name: &str, len: u32) -> ColumnDef {
    ColumnDef::new(a(name)).string_len(len).null().to_owned()
}

fn long_text(name: &str) -> ColumnDef {
    ColumnDef::new(a(name)).text().not_null().to_owned()
}

fn at(name: &str) -> ColumnDef {
    ColumnDef::new(a(name))
        .timestamp_with_time_zone()
        .not_null()
        .to_owned()
}

fn opt_at(name: &str) -> ColumnDef {
    ColumnDef::new(a(name))
        .timestamp_with_time_zone()
        .null()
        .to_owned()
}

fn big(name: &str) -> ColumnDef {
    ColumnDef::new(a(name)).big_integer().not_null().to_owned()
}

fn opt_big(name: &str) -> ColumnDef {
    ColumnDef::new(a(name)).big_integer().null().to_owned()
}

fn int(name: &str) -> ColumnDef {
    ColumnDef::new(a(name))
        .integer()
        .not_null()
        .default(0)
        .to_owned()
}

fn fk(
    table: &str,
    column: &str,
    to: &str,
    on_delete: ForeignKeyAction,
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(format!("fk_{table}_{column}"))
        .from(a(table), a(column))
        .to(a(to), a("id"))
        .on_delete(on_delete)
        .to_owned()
}

async fn index(
    manager: &SchemaManager<'_>,
    table: &str,
    cols: &[&str],
    unique: bool,
) -> Result<(), DbErr> {
    let mut idx = Index::create();
    idx.name(format!(
        "{}_{table}_{}",
        if unique { "ux" } else { "ix" },
        cols.join("_")
    ))
    .table(a(table));
    for c in cols {
        idx.col(a(c));
    }
    if unique {
        idx.unique();
    }
    manager.create_index(idx.to_owned()).await
}

/// The topics every campaign talks about (VSS official letter 1918/BHXH-TTHT lists them).
const TOPICS: [(&str, &str, &str); 8] = [
    (
        "meaning",
        "Ý nghĩa và giá trị nhân văn của BHYT",
        "Meaning and humanitarian value of HI",
    ),
    (
        "benefits",
        "Quyền lợi khi tham gia BHYT",
        "Benefits and entitlements",
    ),
    (
        "mandatory",
        "Tham gia BHYT là bắt buộc",
        "Participation is mandatory",
    ),
    (
        "premium",
        "Mức đóng và hỗ trợ của Nhà nước",
        "Premium and state support",
    ),
    (
        "school_health",
        "Chăm sóc sức khỏe ban đầu tại trường",
        "Primary health care at school",
    ),
    (
        "registration",
        "Cách đăng ký và nộp tiền (cả trực tuyến và VssID)",
        "How to register and pay (online and VssID too)",
    ),
    (
        "hardship",
        "Hỗ trợ học sinh có hoàn cảnh khó khăn",
        "Support for students in difficult circumstances",
    ),
    (
        "card_use",
        "Sử dụng thẻ BHYT khi khám chữa bệnh",
        "Using the HI card for medical examination",
    ),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use ForeignKeyAction::{Cascade, Restrict, SetNull};
        manager
            .create_table(
                Table::create()
                    .table(a("topics"))
                    .col(id())
                    .col(text("code", 32).unique_key().to_owned())
                    .col(text("name_vi", 200))
                    .col(text("name_en", 200))
                    .col(int("position"))
                    .col(
                        ColumnDef::new(a("active"))
                            .boolean()
                            .not_null()
                            .default(true),
                    )
                    .to_owned(),
            )
            .await?;
        let mut insert = Query::insert();
        insert.into_table(a("topics")).columns([
            a("code"),
            a("name_vi"),
            a("name_en"),
            a("position"),
            a("active"),
        ]);
        for (i, (code, vi, en)) in TOPICS.iter().enumerate() {
            insert.values_panic([
                (*code).into(),
                (*vi).into(),
                (*en).into(),
                ((i as i32 + 1) * 10).into(),
                true.into(),
            ]);
        }
        manager.exec_stmt(insert.to_owned()).await?;

        manager
            .create_table(
                Table::create()
                    .table(a("campaigns"))
                    .col(id())
                    .col(text("name", 200))
                    .col(big("school_year_id"))
                    .col(int("target_coverage_bp"))
                    .col(text("scope_kind", 16))
                    .col(ColumnDef::new(a("starts_on")).date().not_null())
                    .col(ColumnDef::new(a("ends_on")).date().not_null())
                    .col(opt_big("owner_user_id"))
                    .col(long_text("description"))
                    .col(text("topics", 400))
                    .col(text("status", 16))
                    .col(at("created_at"))
                    .col(at("updated_at"))
                    .foreign_key(&mut fk(
                        "campaigns",
                        "school_year_id",
                        "school_years",
                        Restrict,
                    ))
                    .foreign_key(&mut fk("campaigns", "owner_user_id", "users", SetNull))
                    .to_owned(),
            )
            .await?;
        index(manager, "campaigns", &["status"], false).await?;
        for (table, col, to) in [
            ("campaign_provinces", "province_id", "provinces"),
            ("campaign_schools", "school_id", "schools"),
        ] {
            manager
                .create_table(
                    Table::create()
                        .table(a(table))
                        .col(big("campaign_id"))
                        .col(big(col))
                        .primary_key(Index::create().col(a("campaign_id")).col(a(col)))
                        .foreign_key(&mut fk(table, "campaign_id", "campaigns", Cascade))
                        .foreign_key(&mut fk(table, col, to, Restrict))
                        .to_owned(),
                )
                .await?;
            index(manager, table, &[col], false).await?;
        }

        manager
            .create_table(
                Table::create()
                    .table(a("activities"))
                    .col(id())
                    .col(big("campaign_id"))
                    .col(text("channel", 32))
                    .col(text("title", 200))
                    .col(at("starts_at"))
                    .col(opt_at("ends_at"))
                    .col(opt_big("owner_user_id"))
                    .col(text("status", 16))
                    .col(text("topics", 400))
                    .col(opt_big("province_id"))
                    .col(opt_big("school_id"))
                    .col(big("cost_vnd"))
                    .col(long_text("notes"))
                    .col(at("created_at"))
                    .col(at("updated_at"))
                    .foreign_key(&mut fk("activities", "campaign_id", "campaigns", Cascade))
                    .foreign_key(&mut fk("activities", "owner_user_id", "users", SetNull))
                    .foreign_key(&mut fk("activities", "province_id", "provinces", Restrict))
                    .foreign_key(&mut fk("activities", "school_id", "schools", Restrict))
                    .to_owned(),
            )
            .await?;
        index(manager, "activities", &["campaign_id", "starts_at"], false).await?;
        index(manager, "activities", &["starts_at"], false).await?;

        manager
            .create_table(
                Table::create()
                    .table(a("consultation_sessions"))
                    .col(id())
                    .col(big("campaign_id"))
                    .col(big("school_id"))
                    .col(at("starts_at"))
                    .col(at("ends_at"))
                    .col(text("format", 16))
                    .col(int("expected_audience"))
                    .col(opt_text("location", 255))
                    .col(text("status", 16))
                    .col(opt_text("status_reason", 500))
                    .col(int("attendance_students"))
                    .col(int("attendance_parents"))
                    .col(int("attendance_teachers"))
                    .col(int("registered_on_spot"))
                    .col(long_text("materials"))
                    .col(long_text("notes"))
                    .col(opt_at("logged_at"))
                    .col(opt_big("logged_by"))
                    .col(opt_big("created_by"))
                    .col(at("created_at"))
                    .col(at("updated_at"))
                    .foreign_key(&mut fk(
                        "consultation_sessions",
                        "campaign_id",
                        "campaigns",
                        Restrict,
                    ))
                    .foreign_key(&mut fk(
                        "consultation_sessions",
                        "school_id",
                        "schools",
                        Restrict,
                    ))
                    .foreign_key(&mut fk(
                        "consultation_sessions",
                        "logged_by",
                        "users",
                        SetNull,
                    ))
                    .foreign_key(&mut fk(
                        "consultation_sessions",
                        "created_by",
                        "users",
                        SetNull,
                    ))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "consultation_sessions",
            &["school_id", "starts_at"],
            false,
        )
        .await?;
        index(
            manager,
            "consultation_sessions",
            &["campaign_id", "starts_at"],
            false,
        )
        .await?;
        index(manager, "consultation_sessions", &["starts_at"], false).await?;
        manager
            .create_table(
                Table::create()
                    .table(a("session_liaisons"))
                    .col(big("session_id"))
                    .col(big("user_id"))
                    .primary_key(Index::create().col(a("session_id")).col(a("user_id")))
                    .foreign_key(&mut fk(
                        "session_liaisons",
                        "session_id",
                        "consultation_sessions",
                        Cascade,
                    ))
                    .foreign_key(&mut fk("session_liaisons", "user_id", "users", Cascade))
                    .to_owned(),
            )
            .await?;
        index(manager, "session_liaisons", &["user_id"], false).await?;
        manager
            .create_table(
                Table::create()
                    .table(a("session_questions"))
                    .col(id())
                    .col(big("session_id"))
                    .col(int("position"))
                    .col(text("topic", 32))
                    .col(long_text("question"))
                    .col(long_text("answer"))
                    .col(
                        ColumnDef::new(a("needs_follow_up"))
                            .boolean()
                            .not_null()
                            .default(false),
                    )
                    .foreign_key(&mut fk(
                        "session_questions",
                        "session_id",
                        "consultation_sessions",
                        Cascade,
                    ))
                    .to_owned(),
            )
            .await?;
        index(manager, "session_questions", &["session_id"], false).await?;
        manager
            .create_table(
                Table::create()
                    .table(a("session_tasks"))
                    .col(id())
                    .col(big("session_id"))
                    .col(text("description", 500))
                    .col(ColumnDef::new(a("due_on")).date().not_null())
                    .col(
                        ColumnDef::new(a("done"))
                            .boolean()
                            .not_null()
                            .default(false),
                    )
                    .foreign_key(&mut fk(
                        "session_tasks",
                        "session_id",
                        "consultation_sessions",
                        Cascade,
                    ))
                    .to_owned(),
            )
            .await?;
        index(manager, "session_tasks", &["session_id"], false).await?;

        manager
            .create_table(
                Table::create()
                    .table(a("calendar_feeds"))
                    .col(id())
                    .col(big("user_id"))
                    .col(opt_big("campaign_id"))
                    .col(text("token_hash", 64).unique_key().to_owned())
                    .col(at("created_at"))
                    .col(opt_at("revoked_at"))
                    .col(opt_at("last_used_at"))
                    .foreign_key(&mut fk("calendar_feeds", "user_id", "users", Cascade))
                    .foreign_key(&mut fk(
                        "calendar_feeds",
                        "campaign_id",
                        "campaigns",
                        Cascade,
                    ))
                    .to_owned(),
            )
            .await?;
        index(manager, "calendar_feeds", &["user_id"], false).await?;

        manager
            .create_table(
                Table::create()
                    .table(a("media_outlets"))
                    .col(id())
                    .col(text("name", 200))
                    .col(text("kind", 16))
                    .col(opt_big("province_id"))
                    .col(big("estimated_reach"))
                    .col(at("created_at"))
                    .col(at("updated_at"))
                    .foreign_key(&mut fk(
                        "media_outlets",
                        "province_id",
                        "provinces",
                        Restrict,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(a("media_pieces"))
                    .col(id())
                    .col(text("title", 300))
                    .col(big("outlet_id"))
                    .col(ColumnDef::new(a("published_on")).date().not_null())
                    .col(opt_text("url", 500))
                    .col(text("kind", 16))
                    .col(text("topics", 400))
                    .col(opt_big("campaign_id"))
                    .col(big("estimated_audience"))
                    .col(long_text("notes"))
                    .col(at("created_at"))
                    .col(at("updated_at"))
                    .foreign_key(&mut fk(
                        "media_pieces",
                        "outlet_id",
                        "media_outlets",
                        Restrict,
                    ))
                    .foreign_key(&mut fk("media_pieces", "campaign_id", "campaigns", SetNull))
                    .to_owned(),
            )
            .await?;
        index(manager, "media_pieces", &["published_on"], false).await?;
        index(manager, "media_pieces", &["outlet_id"], false).await?;
        index(manager, "media_pieces", &["campaign_id"], false).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for t in [
            "media_pieces",
            "media_outlets",
            "calendar_feeds",
            "session_tasks",
            "session_questions",
            "session_liaisons",
            "consultation_sessions",
            "activities",
            "campaign_schools",
            "campaign_provinces",
            "campaigns",
            "topics",
        ] {
            manager
                .drop_table(Table::drop().table(a(t)).to_owned())
                .await?;
        }
        Ok(())
    }
}
