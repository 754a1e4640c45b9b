//! Broadcast waves and reminder rules: one-off waves (a campaign activity) and recurring rules
//! (cron or days before each school's HI collection deadline), each rule's occurrences (claimed
//! once, by their unique (rule, due time)), per-school collection deadlines, and on messages the
//! occurrence they belong to plus the index the frequency cap reads.
use sea_orm_migration::prelude::*;

use crate::helpers::{a, at, big, fk, flag, id, int, long_text, text};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use ForeignKeyAction::{Cascade, Restrict, SetNull};
        manager
            .create_table(
                Table::create()
                    .table(a("waves"))
                    .col(id())
                    .col(text("name", 200, false))
                    .col(big("campaign_id", false))
                    .col(big("activity_id", true))
                    .col(big("audience_id", false))
                    // Set when a province's staff made it: its messages stay in that province.
                    .col(big("scope_province_id", true))
                    // The channels in fallback order, each with its pinned template versions (JSON).
                    .col(long_text("steps", false))
                    .col(at("send_at", false))
                    .col(text("status", 16, false))
                    .col(big("recipients", true))
                    .col(int("sms_segments", true))
                    .col(big("cost_vnd", true))
                    .col(big("queued", false).default(0).to_owned())
                    // Materialising: the last guardian id done (`done_through`), and who is doing it until when.
                    .col(big("done_through", true))
                    .col(text("leased_by", 200, true))
                    .col(at("lease_until", true))
                    .col(big("created_by", true))
                    .col(big("confirmed_by", true))
                    .col(at("confirmed_at", true))
                    .col(at("finished_at", true))
                    .col(at("created_at", false))
                    .col(at("updated_at", false))
                    .foreign_key(&mut fk("waves", "campaign_id", "campaigns", Restrict))
                    .foreign_key(&mut fk("waves", "activity_id", "activities", SetNull))
                    .foreign_key(&mut fk("waves", "audience_id", "audiences", Restrict))
                    .foreign_key(&mut fk("waves", "scope_province_id", "provinces", Restrict))
                    .foreign_key(&mut fk("waves", "created_by", "users", SetNull))
                    .foreign_key(&mut fk("waves", "confirmed_by", "users", SetNull))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_waves_status_send_at")
                    .table(a("waves"))
                    .col(a("status"))
                    .col(a("send_at"))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(a("reminder_rules"))
                    .col(id())
                    .col(text("name", 200, false))
                    .col(big("campaign_id", false))
                    .col(big("audience_id", false))
                    .col(big("scope_province_id", true))
                    .col(long_text("steps", false))
                    // `cron` or `deadline`.
                    .col(text("schedule_kind", 16, false))
                    // The 5-field expression as entered, evaluated in Vietnam time.
                    .col(text("cron", 120, true))
                    // Days relative to each school's deadline, e.g. `-7,-3,-1`, at `at_minute`.
                    .col(text("offsets", 120, true))
                    .col(int("at_minute", true))
                    .col(int("max_per_guardian", true))
                    .col(long_text("thank_you", true))
                    .col(flag("active", false))
                    .col(at("next_run_at", true))
                    .col(at("last_run_at", true))
                    .col(big("created_by", true))
                    .col(at("created_at", false))
                    .col(at("updated_at", false))
                    .foreign_key(&mut fk(
                        "reminder_rules",
                        "campaign_id",
                        "campaigns",
                        Restrict,
                    ))
                    .foreign_key(&mut fk(
                        "reminder_rules",
                        "audience_id",
                        "audiences",
                        Restrict,
                    ))
                    .foreign_key(&mut fk(
                        "reminder_rules",
                        "scope_province_id",
                        "provinces",
                        Restrict,
                    ))
                    .foreign_key(&mut fk("reminder_rules", "created_by", "users", SetNull))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_reminder_rules_due")
                    .table(a("reminder_rules"))
                    .col(a("active"))
                    .col(a("next_run_at"))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(a("rule_occurrences"))
                    .col(id())
                    .col(big("rule_id", false))
                    .col(at("due_at", false))
                    // running, done, skipped, failed.
                    .col(text("status", 16, false))
                    .col(big("queued", false).default(0).to_owned())
                    .col(big("done_through", true))
                    .col(text("leased_by", 200, true))
                    .col(at("lease_until", true))
                    .col(text("note", 500, true))
                    // For deadline rules: the deadlines this occurrence serves (`yyyy-mm-dd,…`).
                    .col(long_text("deadlines", true))
                    .col(at("started_at", false))
                    .col(at("finished_at", true))
                    .foreign_key(&mut fk(
                        "rule_occurrences",
                        "rule_id",
                        "reminder_rules",
                        Cascade,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_rule_occurrences_rule_due")
                    .table(a("rule_occurrences"))
                    .col(a("rule_id"))
                    .col(a("due_at"))
                    .unique()
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(a("school_deadlines"))
                    .col(big("school_id", false))
                    .col(big("school_year_id", false))
                    .col(ColumnDef::new(a("deadline")).date().not_null())
                    .col(at("updated_at", false))
                    .primary_key(Index::create().col(a("school_id")).col(a("school_year_id")))
                    .foreign_key(&mut fk("school_deadlines", "school_id", "schools", Cascade))
                    .foreign_key(&mut fk(
                        "school_deadlines",
                        "school_year_id",
                        "school_years",
                        Cascade,
                    ))
                    .to_owned(),
            )
            .await?;

        manager
            .alter_table(
                Table::alter()
                    .table(a("messages"))
                    .add_column(big("occurrence_id", true))
                    .to_owned(),
            )
            .await?;
        // The frequency cap and "at most K per rule" count a guardian's recent messages. The
        // index on guardian_id alone is a prefix of this one: one index less to keep up on
        // every message written.
        manager
            .create_index(
                Index::create()
                    .name("ix_messages_guardian_created")
                    .table(a("messages"))
                    .col(a("guardian_id"))
                    .col(a("created_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name("ix_messages_guardian")
                    .table(a("messages"))
                    .to_owned(),
            )
            .await?;

        // The 2026-2027 school year, with the premium facts of the year before: base salary
        // 2,340,000 VND a month (Decree 73/2024/NĐ-CP, from 1 July 2024), 4.5% of it for
        // 12 months, 70% paid by the family. Staff change them when a new decree does.
        let conn = manager.get_connection();
        let backend = conn.get_database_backend();
        let exists = conn
            .query_one(sea_orm_migration::sea_orm::Statement::from_string(
                backend,
                "SELECT id FROM school_years WHERE code = '2026-2027'",
            ))
            .await?
            .is_some();
        if !exists {
            let day = |y, m, d| {
                sea_orm_migration::sea_orm::prelude::Date::from_ymd_opt(y, m, d)
                    .expect("a calendar day")
            };
            let insert = Query::insert()
                .into_table(a("school_years"))
                .columns(
                    [
                        "code",
                        "starts_on",
                        "ends_on",
                        "base_salary_vnd",
                        "premium_rate_bp",
                        "student_share_bp",
                        "deadline",
                        "how_to_pay_vi",
                        "how_to_pay_en",
                    ]
                    .map(a),
                )
                .values_panic([
                    "2026-2027".into(),
                    day(2026, 9, 1).into(),
                    day(2027, 8, 31).into(),
                    2_340_000i64.into(),
                    450.into(),
                    7000.into(),
                    day(2026, 12, 31).into(),
                    "nộp tại trường, hoặc thanh toán trực tuyến trên ứng dụng VssID hay Cổng Dịch vụ công quốc gia".into(),
                    "at the school, or online in the VssID app or on the National Public Service Portal".into(),
                ])
                .to_owned();
            manager.exec_stmt(insert).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name("ix_messages_guardian")
                    .table(a("messages"))
                    .col(a("guardian_id"))
                    .to_owned(),
            )
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name("ix_messages_guardian_created")
                    .table(a("messages"))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(a("messages"))
                    .drop_column(a("occurrence_id"))
                    .to_owned(),
            )
            .await?;
        manager
            .get_connection()
            .execute_unprepared("DELETE FROM school_years WHERE code = '2026-2027'")
            .await?;
        for t in [
            "school_deadlines",
            "rule_occurrences",
            "reminder_rules",
            "waves",
        ] {
            manager
                .drop_table(Table::drop().table(a(t)).to_owned())
                .await?;
        }
        Ok(())
    }
}
