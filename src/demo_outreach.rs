//! Demo families and outreach: students at every demo school with their parents (siblings
//! sharing one), consent records in a realistic mix, and for the current school year an active
//! campaign with a deadline-relative reminder rule and a broadcast wave that has gone out
//! through the real path (materialised, written and sent by the worker to the outbox folder).
use std::sync::Arc;

use chrono::{Datelike, Duration, Utc};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::Rng;
use sea_orm::{ConnectionTrait, EntityTrait, QueryOrder, Set, Statement};

use crate::auth::actor::Actor;
use crate::config::Settings;
use crate::contacts::entity::{consent, guardian, student, student_guardian};
use crate::contacts::fields::{Channel, HiStatus, PURPOSE_HI_REMINDERS};
use crate::db::Db;
use crate::fields::fold;
use crate::org::entity::school;
use crate::org::level::SchoolLevel;
use crate::reminders::rules::{self, RuleDraft};
use crate::reminders::steps::StepDraft;
use crate::reminders::waves::{self, WaveDraft};
use crate::web::i18n::I18n;

const FAMILY: &[&str] = &[
    "Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ", "Võ", "Đặng", "Bùi", "Đỗ",
    "Hồ", "Ngô", "Dương", "Lý",
];
const MIDDLE_M: &[&str] = &["Văn", "Hữu", "Minh", "Đức", "Quang", "Gia"];
const MIDDLE_F: &[&str] = &["Thị", "Ngọc", "Thu", "Thanh", "Mai", "Khánh"];
const GIVEN_M: &[&str] = &[
    "An", "Bảo", "Dũng", "Huy", "Khang", "Long", "Nam", "Phúc", "Quân", "Sơn", "Tuấn", "Việt",
];
const GIVEN_F: &[&str] = &[
    "Anh", "Chi", "Hà", "Hương", "Lan", "Linh", "Mai", "Ngân", "Oanh", "Thảo", "Trang", "Vy",
];

fn person(rng: &mut StdRng, family: &str, female: bool) -> String {
    let (middle, given) = if female {
        (MIDDLE_F, GIVEN_F)
    } else {
        (MIDDLE_M, GIVEN_M)
    };
    format!(
        "{family} {} {}",
        middle.choose(rng).expect("names"),
        given.choose(rng).expect("names")
    )
}

/// The grade range of a school level (None: no grades, e.g. preschool or university).
fn grades(level: &str) -> Option<(u32, u32)> {
    match SchoolLevel::parse(level).ok()? {
        SchoolLevel::Primary => Some((1, 5)),
        SchoolLevel::LowerSecondary => Some((6, 9)),
        SchoolLevel::UpperSecondary | SchoolLevel::ContinuingEducation => Some((10, 12)),
        _ => None,
    }
}

/// Families at every school: 12–20 students each, one parent per family, a sibling in one
/// family in six. Returns (students, guardians).
pub async fn seed_families(db: &Db, rng: &mut StdRng) -> anyhow::Result<(usize, usize)> {
    let schools = school::Entity::find()
        .order_by_asc(school::Column::Id)
        .all(&db.conn)
        .await?;
    let now = Utc::now();
    let year = now.year();
    let mut phone = 0u32;
    let (mut n_students, mut n_guardians) = (0, 0);
    for chunk in schools.chunks(25) {
        let tx = db.begin_write().await?;
        for s in chunk {
            let n = rng.gen_range(12..=20);
            let mut made = 0;
            while made < n {
                let family = *FAMILY.choose(rng).expect("names");
                let mother = rng.gen_bool(0.7);
                phone += 1;
                let lang = if rng.gen_bool(0.03) { "en" } else { "vi" };
                let zalo = rng.gen_bool(0.85);
                let email = rng
                    .gen_bool(0.3)
                    .then(|| format!("phuhuynh{phone}@example.vn"));
                let name = person(rng, if mother { "Trần" } else { family }, mother);
                let g = guardian::ActiveModel {
                    search_key: Set(fold(&name)),
                    full_name: Set(name),
                    relationship: Set(if mother { "mother" } else { "father" }.into()),
                    // A Vinaphone range, numbered so every demo parent has their own.
                    phone: Set(Some(format!("+8491{phone:07}"))),
                    email: Set(email.clone()),
                    zalo: Set(zalo),
                    app_ref: Set(None),
                    language: Set(lang.into()),
                    channel_order: Set("zalo,sms,email".into()),
                    opted_out_at: Set(rng.gen_bool(0.02).then_some(now)),
                    erased_at: Set(None),
                    created_at: Set(now),
                    updated_at: Set(now),
                    ..Default::default()
                };
                let gid = guardian::Entity::insert(g).exec(&*tx).await?.last_insert_id;
                n_guardians += 1;
                // Consent as collected on the school's form at the start of the year.
                let consents: Vec<Channel> = match rng.gen_range(0..100) {
                    0..=79 => vec![Channel::Zalo, Channel::Sms],
                    80..=91 => vec![Channel::Sms],
                    _ => vec![],
                };
                let mut rows: Vec<consent::ActiveModel> = consents
                    .iter()
                    .chain(email.as_ref().map(|_| &Channel::Email))
                    .map(|c| consent::ActiveModel {
                        guardian_id: Set(gid),
                        channel: Set(c.code().into()),
                        purpose: Set(PURPOSE_HI_REMINDERS.into()),
                        granted: Set(true),
                        source: Set("school_form".into()),
                        evidence: Set(Some(format!("Phiếu đồng ý số {phone}"))),
                        recorded_at: Set(now - Duration::days(60)),
                        recorded_by: Set(None),
                        recorded_by_label: Set("demo".into()),
                        ..Default::default()
                    })
                    .collect();
                if !rows.is_empty() {
                    consent::Entity::insert_many(std::mem::take(&mut rows))
                        .exec(&*tx)
                        .await?;
                }
                let children = if rng.gen_bool(1.0 / 6.0) { 2 } else { 1 };
                for _ in 0..children {
                    let female = rng.gen_bool(0.5);
                    let name = person(rng, family, female);
                    let (grade, class, age) = match grades(&s.level) {
                        Some((lo, hi)) => {
                            let g = rng.gen_range(lo..=hi);
                            let letter = ["A", "B", "C", "D"].choose(rng).expect("letters");
                            (
                                Some(g.to_string()),
                                Some(format!("{g}{letter}{}", rng.gen_range(1..=3))),
                                5 + g as i32,
                            )
                        }
                        None => (None, None, rng.gen_range(3..=20)),
                    };
                    let born = chrono::NaiveDate::from_ymd_opt(
                        year - age,
                        rng.gen_range(1..=12),
                        rng.gen_range(1..=28),
                    )
                    .expect("a calendar day");
                    let status = match rng.gen_range(0..100) {
                        0..=71 => HiStatus::Insured,
                        72..=81 => HiStatus::StateFunded,
                        _ => HiStatus::Uninsured,
                    };
                    let st = student::ActiveModel {
                        school_id: Set(s.id),
                        si_number: Set(None),
                        search_key: Set(fold(&name)),
                        full_name: Set(name),
                        date_of_birth: Set(born),
                        grade: Set(grade),
                        class_name: Set(class),
                        hi_status: Set(status.code().into()),
                        card_valid_until: Set(None),
                        // The one guardian linked just below.
                        guardian_count: Set(1),
                        created_at: Set(now),
                        updated_at: Set(now),
                        ..Default::default()
                    };
                    let sid = student::Entity::insert(st).exec(&*tx).await?.last_insert_id;
                    student_guardian::Entity::insert(student_guardian::ActiveModel {
                        student_id: Set(sid),
                        guardian_id: Set(gid),
                    })
                    .exec(&*tx)
                    .await?;
                    n_students += 1;
                    made += 1;
                }
            }
        }
        tx.commit().await?;
    }
    Ok((n_students, n_guardians))
}

/// For the current school year: an active campaign, an audience of parents of uninsured
/// children, a reminder rule 7, 3 and 1 days before each school's deadline at 19:00 (Zalo,
/// then SMS; a thank-you on Zalo), and a wave that went out ten days ago, with receipts.
pub async fn seed_outreach(db: &Db, settings: &Settings) -> anyhow::Result<()> {
    use crate::campaigns::activities::{self, ActivityDraft};
    use crate::campaigns::service::{self as campaigns, CampaignDraft};
    let err = |e: crate::error::AppError| anyhow::anyhow!("demo outreach: {e:?}");
    let cli = Actor::cli();
    let tz = settings.timezone;
    crate::messaging::service::ensure_defaults(db)
        .await
        .map_err(err)?;
    let today = Utc::now().with_timezone(&tz).date_naive();
    let Some(year) = crate::school_year::current(&db.conn, today).await? else {
        return Ok(());
    };
    let c = campaigns::create_campaign(
        db,
        &cli,
        &CampaignDraft {
            name: format!("Nhắc phụ huynh hoàn thành BHYT học sinh năm học {}", year.code),
            school_year: year.code.clone(),
            target_coverage: Some("100".into()),
            scope: "national".into(),
            starts_on: year.starts_on.to_string(),
            ends_on: year.ends_on.to_string(),
            description: "Nhắc phụ huynh của học sinh chưa có thẻ qua Zalo, SMS và email trước hạn thu; cảm ơn khi con đã có thẻ.".into(),
            topics: vec!["mandatory".into(), "premium".into(), "registration".into()],
            ..Default::default()
        },
    )
    .await
    .map_err(err)?;
    campaigns::change_status(db, &cli, c.id, "active")
        .await
        .map_err(err)?;
    let activity = activities::create_activity(
        db,
        &cli,
        &ActivityDraft {
            campaign_id: Some(c.id.to_string()),
            channel: "parent_wave".into(),
            title: "Thông báo hạn thu BHYT tới phụ huynh học sinh chưa có thẻ".into(),
            date: (today - Duration::days(10)).to_string(),
            start_time: "08:00".into(),
            status: "planned".into(),
            topics: vec!["premium".into()],
            ..Default::default()
        },
        tz,
    )
    .await
    .map_err(err)?;
    let audience = crate::reminders::audience::save(
        db,
        &cli,
        None,
        &crate::reminders::audience::AudienceDraft {
            name: "Phụ huynh có con chưa có thẻ BHYT (toàn quốc)".into(),
            hi_status: "uninsured".into(),
            ..Default::default()
        },
    )
    .await
    .map_err(err)?;
    let template = |code: &str| {
        let code = code.to_string();
        async move {
            let row = db
                .conn
                .query_one(Statement::from_sql_and_values(
                    db.backend(),
                    match db.backend() {
                        sea_orm::DbBackend::Postgres => {
                            "SELECT id FROM message_templates WHERE code = $1"
                        }
                        _ => "SELECT id FROM message_templates WHERE code = ?1",
                    },
                    [code.clone().into()],
                ))
                .await?
                .ok_or_else(|| anyhow::anyhow!("no template {code}"))?;
            anyhow::Ok(row.try_get_by_index::<i64>(0)?)
        }
    };
    let step = |id: i64, en: Option<i64>| StepDraft {
        template_id: Some(id),
        template_en_id: en,
    };
    let reminder = |ch: &str, lang: &str| format!("default.deadline_reminder.{ch}.{lang}");
    let steps = vec![
        step(
            template(&reminder("zalo", "vi")).await?,
            Some(template(&reminder("zalo", "en")).await?),
        ),
        step(
            template(&reminder("sms", "vi")).await?,
            Some(template(&reminder("sms", "en")).await?),
        ),
        step(
            template(&reminder("email", "vi")).await?,
            Some(template(&reminder("email", "en")).await?),
        ),
    ];
    rules::save(
        db,
        &cli,
        settings,
        None,
        &RuleDraft {
            name: "Nhắc 7, 3 và 1 ngày trước hạn thu của trường, lúc 19:00".into(),
            campaign_id: Some(c.id),
            audience_id: Some(audience.id),
            steps: steps[..2].to_vec(),
            schedule_kind: rules::DEADLINE.into(),
            offsets: "-7,-3,-1".into(),
            at_time: "19:00".into(),
            max_per_guardian: Some(3),
            thank_you_template_id: Some(template("default.thank_you.zalo.vi").await?),
            active: true,
            ..Default::default()
        },
    )
    .await
    .map_err(err)?;
    rules::save(
        db,
        &cli,
        settings,
        None,
        &RuleDraft {
            name: "Nhắc sáng thứ Hai (tạm tắt)".into(),
            campaign_id: Some(c.id),
            audience_id: Some(audience.id),
            steps: steps.clone(),
            schedule_kind: rules::CRON.into(),
            cron: "0 8 * * 1".into(),
            max_per_guardian: Some(2),
            active: false,
            ..Default::default()
        },
    )
    .await
    .map_err(err)?;

    // The wave goes the real way: estimated, confirmed, materialised, written and sent by the
    // worker (to the outbox folder; quiet hours do not hold the demo back), then dated back.
    let mut quiet_free = settings.clone();
    quiet_free.quiet_hours_sms = String::new();
    quiet_free.quiet_hours_zalo = String::new();
    quiet_free.quiet_hours_push = String::new();
    quiet_free.quiet_hours_email = String::new();
    let quiet_free = Arc::new(quiet_free);
    let i18n = Arc::new(I18n::load()?);
    let secret = settings
        .secret_key
        .as_ref()
        .map(|k| k.expose().to_vec())
        .unwrap_or_default();
    let base = settings.base();
    let composer = crate::delivery::compose::Composer {
        i18n: &i18n,
        base_url: &base,
        secret: &secret,
        track_opens: settings.track_opens,
    };
    let w = waves::save(
        db,
        &cli,
        &composer,
        &quiet_free,
        None,
        &WaveDraft {
            name: "Thông báo hạn thu BHYT năm học mới".into(),
            campaign_id: Some(c.id),
            activity_id: Some(activity.id),
            audience_id: Some(audience.id),
            steps,
            send_at: String::new(),
        },
    )
    .await
    .map_err(err)?;
    waves::confirm(db, &cli, &composer, &quiet_free, w.id)
        .await
        .map_err(err)?;
    let scheduler = crate::reminders::scheduler::Scheduler::new(db.clone(), quiet_free.clone());
    scheduler.tick(Utc::now()).await.map_err(err)?;
    let worker = crate::delivery::worker::Worker::new(
        db.clone(),
        quiet_free.clone(),
        i18n.clone(),
        secret.clone(),
        Arc::new(Default::default()),
    );
    for channel in Channel::ALL {
        while worker.run_once(*channel).await.map_err(err)? > 0 {}
    }
    // Ten days ago; most messages delivered, some read, a few e-mails opened.
    let back = |col: &str| format!("{col} = {col} - INTERVAL '10 days'");
    let pg = db.backend() == sea_orm::DbBackend::Postgres;
    let shift = |cols: &[&str]| {
        cols.iter()
            .map(|c| {
                if pg {
                    back(c)
                } else {
                    format!("{c} = strftime('%Y-%m-%dT%H:%M:%f+00:00', {c}, '-10 days')")
                }
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    let wave_messages = format!("source_kind = 'wave' AND source_id = {}", w.id);
    for sql in [
        format!(
            "UPDATE messages SET status = 'delivered', delivered_at = sent_at \
             WHERE {wave_messages} AND status = 'sent' AND channel <> 'email' AND id % 10 <> 0"
        ),
        format!(
            "UPDATE messages SET status = 'read', read_at = delivered_at \
             WHERE {wave_messages} AND status = 'delivered' AND id % 3 = 0"
        ),
        format!(
            "INSERT INTO message_events (message_id, kind, at) SELECT id, 'delivered', delivered_at \
             FROM messages WHERE {wave_messages} AND delivered_at IS NOT NULL"
        ),
        format!(
            "INSERT INTO message_events (message_id, kind, at) SELECT id, 'opened', sent_at \
             FROM messages WHERE {wave_messages} AND channel = 'email' AND id % 3 = 0"
        ),
        format!(
            "UPDATE messages SET {} WHERE {wave_messages}",
            shift(&["created_at", "updated_at", "next_attempt_at"])
        ),
        format!(
            "UPDATE messages SET {} WHERE {wave_messages} AND sent_at IS NOT NULL",
            shift(&["sent_at"])
        ),
        format!(
            "UPDATE messages SET {} WHERE {wave_messages} AND delivered_at IS NOT NULL",
            shift(&["delivered_at"])
        ),
        format!(
            "UPDATE messages SET {} WHERE {wave_messages} AND read_at IS NOT NULL",
            shift(&["read_at"])
        ),
        format!(
            "UPDATE message_events SET {} WHERE message_id IN (SELECT id FROM messages WHERE {wave_messages})",
            shift(&["at"])
        ),
        format!(
            "UPDATE waves SET {} WHERE id = {}",
            shift(&["send_at", "created_at", "updated_at", "confirmed_at"]),
            w.id
        ),
    ] {
        db.conn
            .execute(Statement::from_string(db.backend(), sql))
            .await?;
    }
    waves::close_finished(db, Utc::now() - Duration::days(10))
        .await
        .map_err(err)?;
    Ok(())
}
