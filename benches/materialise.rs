//! Wave materialisation: a wave to N parents (N = 1,000,000 by default) turned into messages in
//! the outbox by the platform (per slice of guardian ids: one `INSERT … SELECT` per channel with
//! the audience, consent, the frequency cap and sibling folding, then the students of each
//! message and its `queued` event), against, in the same run and on the same tables, a plain
//! `INSERT … SELECT` of the same number of message rows from the parents as the baseline.
//!
//! ```sh
//! cargo bench --bench materialise                          # 1,000,000 parents on PostgreSQL
//! cargo bench --bench materialise -- --guardians 100000 --db sqlite
//! cargo bench --bench materialise -- --guardians 100000 --keep   # keep the database to look into
//! ```
//! PostgreSQL is reached at `BENCH_DATABASE_URL` (default postgres://postgres@127.0.0.1:5432/postgres);
//! a fresh database is created for the run and dropped after.
use std::time::Instant;

use chrono::{Duration, Utc};
use hi_outreach::config::{SecretKey, Settings};
use hi_outreach::db::{self, Db};
use hi_outreach::reminders::audience::{entity as audience, Spec};
use hi_outreach::reminders::entity::wave;
use hi_outreach::reminders::materialise::{self, Progress, Run};
use hi_outreach::reminders::steps::{self, Step};
use hi_outreach::reminders::waves;
use hi_outreach::web::i18n::Lang;
use sea_orm::{ActiveModelTrait, ConnectionTrait, DbBackend, Set, Statement};

#[path = "common/mod.rs"]
mod common;
use common::{arg, drop_db, fresh_db};

/// Schools the parents' children go to.
const SCHOOLS: i64 = 1_000;

async fn exec(db: &Db, sql: &str) {
    db.conn
        .execute(Statement::from_string(db.backend(), sql.to_string()))
        .await
        .unwrap_or_else(|e| panic!("{e}: {sql}"));
}

async fn scalar(db: &Db, sql: &str) -> i64 {
    db.conn
        .query_one(Statement::from_string(db.backend(), sql.to_string()))
        .await
        .unwrap()
        .unwrap()
        .try_get_by_index::<i64>(0)
        .unwrap()
}

/// `n` parents, one uninsured child each (every tenth parent a second child), consent to Zalo
/// and SMS; generated inside the database.
async fn families(db: &Db, n: i64) {
    let pg = db.backend() == DbBackend::Postgres;
    let now = if pg {
        "now()"
    } else {
        "strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')"
    };
    // A series 1..=n: generate_series on PostgreSQL, a recursive CTE on SQLite.
    let series = |n: i64| {
        if pg {
            format!("(SELECT generate_series(1, {n}) AS i) s")
        } else {
            format!("(WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < {n}) SELECT i FROM c) s")
        }
    };
    let province = scalar(db, "SELECT MIN(id) FROM provinces").await;
    exec(
        db,
        &format!(
            "INSERT INTO schools (code, name, level, province_id, commune_id, enrolled_students, address, search_key, created_at, updated_at) \
             SELECT 'B' || s.i, 'Trường THCS số ' || s.i, 'lower_secondary', {province}, NULL, 1000, NULL, 'truong thcs so ' || s.i, {now}, {now} FROM {}",
            series(SCHOOLS)
        ),
    )
    .await;
    let first_school = scalar(db, "SELECT MIN(id) FROM schools").await;
    exec(
        db,
        &format!(
            "INSERT INTO guardians (full_name, search_key, relationship, phone, email, zalo, app_ref, language, channel_order, created_at, updated_at) \
             SELECT 'Phụ huynh Số ' || s.i, 'phu huynh so ' || s.i, 'mother', '+849' || (10000000 + s.i), NULL, {t}, NULL, 'vi', 'zalo,sms', {now}, {now} FROM {}",
            series(n),
            t = if pg { "true" } else { "1" },
        ),
    )
    .await;
    let first_guardian = scalar(db, "SELECT MIN(id) FROM guardians").await;
    // Children: one per parent, a second for every tenth.
    exec(
        db,
        &format!(
            "INSERT INTO students (school_id, full_name, search_key, date_of_birth, grade, class_name, hi_status, created_at, updated_at) \
             SELECT {first_school} + (s.i % {SCHOOLS}), 'Học sinh Số ' || s.i, 'hoc sinh so ' || s.i, '2012-05-01', '8', '8A', 'uninsured', {now}, {now} FROM {}",
            series(n + n / 10)
        ),
    )
    .await;
    let first_student = scalar(db, "SELECT MIN(id) FROM students").await;
    exec(
        db,
        &format!(
            "INSERT INTO student_guardians (student_id, guardian_id) \
             SELECT {first_student} + s.i - 1, {first_guardian} + s.i - 1 FROM {}",
            series(n)
        ),
    )
    .await;
    exec(
        db,
        &format!(
            "INSERT INTO student_guardians (student_id, guardian_id) \
             SELECT {first_student} + {n} + s.i - 1, {first_guardian} + (s.i - 1) * 10 FROM {}",
            series(n / 10)
        ),
    )
    .await;
    for channel in ["zalo", "sms"] {
        exec(
            db,
            &format!(
                "INSERT INTO consents (guardian_id, channel, purpose, granted, source, evidence, recorded_at, recorded_by, recorded_by_label) \
                 SELECT id, '{channel}', 'hi_reminders', {t}, 'import', NULL, {now}, NULL, 'bench' FROM guardians",
                t = if pg { "true" } else { "1" },
            ),
        )
        .await;
    }
    exec(db, "ANALYZE").await;
}

/// A confirmed wave being materialised by "bench".
async fn new_wave(
    db: &Db,
    campaign: i64,
    audience: i64,
    wave_steps: &[Step],
    name: &str,
) -> wave::Model {
    let now = Utc::now();
    wave::ActiveModel {
        name: Set(name.into()),
        campaign_id: Set(campaign),
        audience_id: Set(audience),
        steps: Set(steps::to_json(wave_steps)),
        send_at: Set(now),
        status: Set(waves::status::MATERIALISING.into()),
        queued: Set(0),
        leased_by: Set(Some("bench".into())),
        lease_until: Set(Some(now + Duration::hours(1))),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(&db.conn)
    .await
    .unwrap()
}

/// Materialises a wave; answers the messages queued and the seconds it took.
async fn materialise_wave(
    db: &Db,
    settings: &Settings,
    w: &wave::Model,
    campaign: &hi_outreach::campaigns::entity::campaign::Model,
    audience: &audience::Model,
) -> (u64, f64) {
    let job = waves::job_of(w, campaign.clone(), Spec::of(audience), settings);
    let t = Instant::now();
    let run = materialise::run(
        db,
        &job,
        Progress::Wave(w.id),
        "bench",
        None,
        i64::from(settings.materialise_batch),
        Duration::hours(1),
    )
    .await
    .unwrap();
    let secs = t.elapsed().as_secs_f64();
    let Run::Finished(queued) = run else {
        panic!("the run lost its lease")
    };
    (queued, secs)
}

/// Empties the outbox (messages, their students and events) between the two runs.
async fn empty_outbox(db: &Db) {
    for t in ["message_events", "message_students", "messages"] {
        exec(db, &format!("DELETE FROM {t}")).await;
    }
    if db.backend() == DbBackend::Postgres {
        exec(db, "VACUUM ANALYZE messages").await;
    }
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    hi_outreach::install_crypto_provider();
    let args: Vec<String> = std::env::args().collect();
    let n: i64 = arg(&args, "--guardians").map_or(1_000_000, |v| v.parse().expect("--guardians N"));
    let pg = arg(&args, "--db").as_deref() != Some("sqlite");
    let (url, backend) = fresh_db(pg).await;
    let settings = Settings {
        database_url: url.clone(),
        secret_key: Some(SecretKey::generate()),
        ..Settings::default()
    };
    let db = db::connect(&url, 4).await.unwrap();
    db::migrate(&db).await.unwrap();
    hi_outreach::messaging::service::ensure_defaults(&db)
        .await
        .unwrap();
    let t = Instant::now();
    families(&db, n).await;
    println!(
        "{n} parents, {} students, {} consent records generated in {:.1} s ({})",
        scalar(&db, "SELECT COUNT(*) FROM students").await,
        scalar(&db, "SELECT COUNT(*) FROM consents").await,
        t.elapsed().as_secs_f64(),
        if pg { "PostgreSQL" } else { "SQLite" }
    );

    // The wave: the national campaign, the default audience (parents of uninsured children
    // who consented to some channel), Zalo then SMS.
    let year = scalar(&db, "SELECT id FROM school_years WHERE code = '2026-2027'").await;
    let now = Utc::now();
    let campaign = hi_outreach::campaigns::entity::campaign::ActiveModel {
        name: Set("Đo tốc độ".into()),
        school_year_id: Set(year),
        target_coverage_bp: Set(10_000),
        scope_kind: Set("national".into()),
        starts_on: Set(now.date_naive() - Duration::days(1)),
        ends_on: Set(now.date_naive() + Duration::days(100)),
        owner_user_id: Set(None),
        description: Set(String::new()),
        topics: Set(String::new()),
        status: Set("active".into()),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(&db.conn)
    .await
    .unwrap();
    let audience = audience::ActiveModel {
        name: Set("Tất cả phụ huynh có con chưa có thẻ".into()),
        hi_status: Set("uninsured".into()),
        channels: Set(String::new()),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(&db.conn)
    .await
    .unwrap();
    let template = |code: &'static str| {
        let db = db.clone();
        async move {
            scalar(
                &db,
                &format!("SELECT id FROM message_templates WHERE code = '{code}'"),
            )
            .await
        }
    };
    let step = |channel, id| Step {
        channel,
        template_id: id,
        template_version: 1,
        language: Lang::Vi,
        template_en_id: None,
        template_en_version: None,
    };
    use hi_outreach::contacts::fields::Channel;
    let wave_steps = vec![
        step(
            Channel::Zalo,
            template("default.deadline_reminder.zalo.vi").await,
        ),
        step(
            Channel::Sms,
            template("default.deadline_reminder.sms.vi").await,
        ),
    ];
    let w = new_wave(&db, campaign.id, audience.id, &wave_steps, "Đợt đo tốc độ").await;

    // Baseline: the same number of message rows, one plain INSERT … SELECT.
    let t = Instant::now();
    exec(
        &db,
        &format!(
            "INSERT INTO messages (idempotency_key, source_kind, source_id, campaign_id, guardian_id, channel, \
               template_id, template_version, language, recipient, status, attempts, max_attempts, \
               next_attempt_at, created_at, updated_at) \
             SELECT 'base:g' || CAST(g.id AS TEXT) || ':zalo', 'wave', 0, {c}, g.id, 'zalo', {tpl}, 1, 'vi', g.phone, \
               'queued', 0, 8, g.created_at, g.created_at, g.created_at FROM guardians g",
            c = campaign.id,
            tpl = wave_steps[0].template_id,
        ),
    )
    .await;
    let baseline_secs = t.elapsed().as_secs_f64();
    let baseline_rows = scalar(&db, "SELECT COUNT(*) FROM messages").await;
    empty_outbox(&db).await;

    // The platform: a first wave (no parent has had a message this week), then a second one
    // two days later, when the frequency cap must look at every parent's recent messages.
    let first = materialise_wave(&db, &settings, &w, &campaign, &audience).await;
    let links = scalar(&db, "SELECT COUNT(*) FROM message_students").await;
    assert_eq!(first.0 as i64, n, "one message per parent");
    assert_eq!(links, n + n / 10, "every child linked");
    exec(
        &db,
        if pg {
            "UPDATE messages SET created_at = created_at - INTERVAL '2 days'"
        } else {
            "UPDATE messages SET created_at = strftime('%Y-%m-%dT%H:%M:%f+00:00', created_at, '-2 days')"
        },
    )
    .await;
    if pg {
        exec(&db, "VACUUM ANALYZE messages").await;
    }
    let w2 = new_wave(&db, campaign.id, audience.id, &wave_steps, "Đợt thứ hai").await;
    let second = materialise_wave(&db, &settings, &w2, &campaign, &audience).await;
    assert_eq!(
        second.0 as i64, n,
        "the weekly cap (3) lets a second message through"
    );

    let base_rate = baseline_rows as f64 / baseline_secs;
    println!(
        "{:<52} {:>10} {:>9} {:>10} {:>7}",
        "", "messages", "seconds", "msg/s", "ratio"
    );
    let row = |label: &str, rows: u64, secs: f64| {
        let rate = rows as f64 / secs;
        println!(
            "{label:<52} {rows:>10} {secs:>9.1} {rate:>10.0} {:>7.2}",
            rate / base_rate
        );
        if !label.starts_with("baseline") {
            println!(
                "SUITE\tmaterialise\t{} on {}\t{rate:.0} msg/s in {secs:.1} s\tbaseline {base_rate:.0} rows/s\t{:.2} of baseline",
                label.trim_start_matches("platform: "),
                if pg { "postgres" } else { "sqlite" },
                rate / base_rate
            );
        }
    };
    row(
        "baseline: plain INSERT … SELECT",
        baseline_rows as u64,
        baseline_secs,
    );
    row("platform: first wave", first.0, first.1);
    row(
        "platform: second wave, frequency cap checked",
        second.0,
        second.1,
    );
    println!("goals: ratio ≥ 0.33, under 60 s; each wave also wrote {links} message–student links");
    db.close_pool().await;
    if args.iter().any(|a| a == "--keep") {
        println!("kept: {}", url.redacted());
        std::mem::forget(backend);
    } else {
        drop_db(backend).await;
    }
}
