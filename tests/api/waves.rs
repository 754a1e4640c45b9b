//! Broadcast waves and reminder rules: estimates, confirmation and cancellation, set-based
//! materialisation (one message per parent, siblings together, the first channel they consented
//! to), cron and deadline-relative schedules in Vietnam time, occurrences fired once by any
//! number of schedulers, misfires after downtime, frequency caps, and reminders that stop (or
//! stop naming a child) once the child is insured.
use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use hi_outreach::config::Settings;
use hi_outreach::contacts::fields::Channel;
use reqwest::Method;
use sea_orm::{ConnectionTrait, EntityTrait, Statement};
use serde_json::{json, Value};

use crate::helpers::{send, spawn_app_with, TestApp};
use crate::reminders::import_families;

const VN: chrono_tz::Tz = chrono_tz::Asia::Ho_Chi_Minh;

struct Env {
    app: TestApp,
    admin: String,
    campaign: i64,
    audience: i64,
    /// Vietnam's today.
    today: NaiveDate,
}

impl Env {
    async fn template(&self, code: &str) -> i64 {
        self.scalar(&format!(
            "SELECT id FROM message_templates WHERE code = '{code}'"
        ))
        .await
    }

    async fn scalar(&self, sql: &str) -> i64 {
        let row = self
            .app
            .db
            .conn
            .query_one(Statement::from_string(
                self.app.db.backend(),
                sql.to_string(),
            ))
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("no row: {sql}"));
        row.try_get_by_index::<i64>(0).unwrap()
    }

    async fn exec(&self, sql: &str) {
        self.app
            .db
            .conn
            .execute(Statement::from_string(
                self.app.db.backend(),
                sql.to_string(),
            ))
            .await
            .unwrap();
    }

    /// (guardian name, channel, status, content is stored) of the messages of a source.
    async fn messages(&self, kind: &str, source: i64) -> Vec<(String, String, String, bool)> {
        let rows = self
            .app
            .db
            .conn
            .query_all(Statement::from_string(
                self.app.db.backend(),
                format!(
                    "SELECT g.full_name AS name, m.channel AS channel, m.status AS status, \
                     CASE WHEN m.content IS NULL THEN 0 ELSE 1 END AS has_content \
                     FROM messages m JOIN guardians g ON g.id = m.guardian_id \
                     WHERE m.source_kind = '{kind}' AND m.source_id = {source} ORDER BY g.full_name, m.id"
                ),
            ))
            .await
            .unwrap();
        rows.iter()
            .map(|r| {
                (
                    r.try_get("", "name").unwrap(),
                    r.try_get("", "channel").unwrap(),
                    r.try_get("", "status").unwrap(),
                    r.try_get::<i32>("", "has_content").unwrap() == 1,
                )
            })
            .collect()
    }

    async fn steps(&self, codes: &[&str]) -> Value {
        let mut out = Vec::new();
        for c in codes {
            out.push(json!({"template_id": self.template(c).await}));
        }
        json!(out)
    }

    async fn tick(&self, now: DateTime<Utc>) -> hi_outreach::reminders::scheduler::Tick {
        hi_outreach::scheduler_for(&self.app.state)
            .tick(now)
            .await
            .unwrap()
    }

    /// A wave to the default audience on these templates' channels, confirmed and
    /// materialised now; answers its id.
    async fn wave_now(&self, name: &str, codes: &[&str]) -> i64 {
        let (status, w) = send(
            &self.app,
            &self.admin,
            Method::POST,
            "/api/v1/waves",
            json!({"name": name, "campaign_id": self.campaign, "audience_id": self.audience,
                   "steps": self.steps(codes).await}),
        )
        .await;
        assert_eq!(status, 201, "{w}");
        let id = w["id"].as_i64().unwrap();
        let (status, w) = send(
            &self.app,
            &self.admin,
            Method::POST,
            &format!("/api/v1/waves/{id}/confirm"),
            json!({}),
        )
        .await;
        assert_eq!(status, 200, "{w}");
        self.tick(Utc::now()).await;
        let (_, d) = send(
            &self.app,
            &self.admin,
            Method::GET,
            &format!("/api/v1/waves/{id}"),
            Value::Null,
        )
        .await;
        assert!(
            ["sending", "done"].contains(&d["wave"]["status"].as_str().unwrap()),
            "materialised: {d}"
        );
        id
    }

    /// Sets a school's own HI deadline in the test school year, `days` from today.
    async fn set_deadline(&self, school_code: &str, days: i64) {
        let school = self
            .scalar(&format!(
                "SELECT id FROM schools WHERE code = '{school_code}'"
            ))
            .await;
        let day = (self.today + Duration::days(days)).to_string();
        let (status, b) = send(
            &self.app,
            &self.admin,
            Method::PUT,
            &format!("/api/v1/schools/{school}/deadline"),
            json!({"school_year": "TEST", "deadline": day}),
        )
        .await;
        assert_eq!(status, 204, "{b}");
    }

    /// A rule "3 days before each school's deadline, at 19:00", Zalo then e-mail; answers it.
    async fn three_days_before(&self) -> Value {
        let (status, r) = send(
            &self.app,
            &self.admin,
            Method::POST,
            "/api/v1/rules",
            json!({"name": "3 ngày trước hạn", "campaign_id": self.campaign, "audience_id": self.audience,
                   "steps": self.steps(&[ZALO, EMAIL]).await, "schedule_kind": "deadline",
                   "offsets": "-3", "at_time": "19:00", "active": true}),
        )
        .await;
        assert_eq!(status, 201, "{r}");
        r
    }

    async fn student(&self, name: &str) -> i64 {
        self.scalar(&format!(
            "SELECT id FROM students WHERE full_name = '{name}'"
        ))
        .await
    }

    async fn insure(&self, name: &str) {
        let id = self.student(name).await;
        let (status, body) = send(
            &self.app,
            &self.admin,
            Method::PUT,
            &format!("/api/v1/students/{id}/hi_status"),
            json!({"hi_status": "insured"}),
        )
        .await;
        assert_eq!(status, 200, "{body}");
    }
}

/// The families of the audience tests, quiet hours off, a school year around today (deadline in
/// 20 days) and an active campaign in it, and the default audience (parents of uninsured
/// children who consented to some channel).
async fn env_with(customise: impl FnOnce(&mut Settings)) -> Env {
    let app = spawn_app_with(|s| {
        s.quiet_hours_sms = String::new();
        s.quiet_hours_zalo = String::new();
        s.quiet_hours_push = String::new();
        customise(s);
    })
    .await;
    let admin = import_families(&app).await;
    let today = Utc::now().with_timezone(&VN).date_naive();
    let d = |days: i64| (today + Duration::days(days)).to_string();
    app.db
        .conn
        .execute(Statement::from_string(
            app.db.backend(),
            format!(
                "INSERT INTO school_years (code, starts_on, ends_on, base_salary_vnd, premium_rate_bp, \
                 student_share_bp, deadline, how_to_pay_vi, how_to_pay_en) VALUES ('TEST', '{}', '{}', \
                 2340000, 450, 7000, '{}', 'nộp tại trường', 'at school')",
                d(-100),
                d(250),
                d(20)
            ),
        ))
        .await
        .unwrap();
    let (status, c) = send(
        &app,
        &admin,
        Method::POST,
        "/api/v1/campaigns",
        json!({"name": "Nhắc phụ huynh hoàn thành BHYT", "school_year": "TEST",
               "scope": "national", "starts_on": d(-10), "ends_on": d(100)}),
    )
    .await;
    assert_eq!(status, 201, "{c}");
    let campaign = c["id"].as_i64().unwrap();
    let (status, c) = send(
        &app,
        &admin,
        Method::POST,
        &format!("/api/v1/campaigns/{campaign}/status"),
        json!({"status": "active"}),
    )
    .await;
    assert_eq!(status, 200, "{c}");
    let (status, a) = send(
        &app,
        &admin,
        Method::POST,
        "/api/v1/audiences",
        json!({"name": "Phụ huynh có con chưa có thẻ"}),
    )
    .await;
    assert_eq!(status, 201, "{a}");
    Env {
        audience: a["id"].as_i64().unwrap(),
        app,
        admin,
        campaign,
        today,
    }
}

async fn env() -> Env {
    env_with(|_| {}).await
}

const ZALO: &str = "default.deadline_reminder.zalo.vi";
const SMS: &str = "default.deadline_reminder.sms.vi";
const EMAIL: &str = "default.deadline_reminder.email.vi";

fn file(app: &TestApp, channel: &str, id: i64) -> Value {
    let path = app.outbox.path().join(channel).join(format!("{id}.json"));
    serde_json::from_slice(&std::fs::read(&path).unwrap_or_else(|e| panic!("{path:?}: {e}")))
        .unwrap()
}

#[tokio::test]
async fn a_wave_is_estimated_confirmed_and_sent_once_per_parent_on_the_first_channel_they_chose() {
    let env = env().await;
    let app = &env.app;
    let wave = json!({
        "name": "Nhắc hạn BHYT tháng 12",
        "campaign_id": env.campaign,
        "audience_id": env.audience,
        "steps": env.steps(&[ZALO, SMS, EMAIL]).await,
    });
    // The estimate: the mother of two and the HCM mother by Zalo, the father by e-mail.
    let (status, e) = send(
        app,
        &env.admin,
        Method::POST,
        "/api/v1/waves/preview",
        wave.clone(),
    )
    .await;
    assert_eq!(status, 200, "{e}");
    assert_eq!(e["recipients"], 3, "{e}");
    let per_channel: Vec<(String, i64)> = e["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["channel"].as_str().unwrap().to_string(),
                s["guardians"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        per_channel,
        vec![("zalo".into(), 2), ("sms".into(), 0), ("email".into(), 1)]
    );
    assert_eq!(e["sms_messages"], 0);
    assert_eq!(e["cost_vnd"], 0);
    let zalo_sample = e["samples"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["channel"] == "zalo")
        .unwrap()
        .clone();
    assert!(
        zalo_sample["content"]["params"]["student_name"]
            .as_str()
            .unwrap()
            .contains('ễ'),
        "samples are rendered with real names: {zalo_sample}"
    );

    // SMS first: both mothers by SMS; segments and cost from rendered samples.
    let sms_first = json!({"name": "SMS", "campaign_id": env.campaign, "audience_id": env.audience,
        "steps": env.steps(&[SMS]).await});
    let (_, e) = send(
        app,
        &env.admin,
        Method::POST,
        "/api/v1/waves/preview",
        sms_first,
    )
    .await;
    assert_eq!(e["sms_messages"], 2, "{e}");
    let segments = e["sms_segments"].as_i64().unwrap();
    assert!(segments >= 2, "{e}");
    assert_eq!(e["cost_vnd"].as_i64().unwrap(), segments * 800);

    // Bad drafts are refused with the field named, and nothing is written.
    let (status, p) = send(
        app,
        &env.admin,
        Method::POST,
        "/api/v1/waves",
        json!({"name": "", "campaign_id": 999, "steps": [{"template_id": 12345}], "send_at": "hôm qua"}),
    )
    .await;
    assert_eq!(status, 422, "{p}");
    let fields: Vec<&str> = p["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    for f in [
        "name",
        "campaign_id",
        "audience_id",
        "steps[0].template_id",
        "send_at",
    ] {
        assert!(fields.contains(&f), "{f} in {p}");
    }
    assert_eq!(app.count("waves").await, 0);

    // Draft, confirm; nothing is queued before the scheduler sees it.
    let (status, w) = send(app, &env.admin, Method::POST, "/api/v1/waves", wave).await;
    assert_eq!(status, 201, "{w}");
    assert_eq!(
        (w["status"].as_str(), w["recipients"].as_i64()),
        (Some("draft"), Some(3))
    );
    let id = w["id"].as_i64().unwrap();
    let (status, w) = send(
        app,
        &env.admin,
        Method::POST,
        &format!("/api/v1/waves/{id}/confirm"),
        json!({}),
    )
    .await;
    assert_eq!(status, 200, "{w}");
    assert_eq!(w["status"], "scheduled");
    let (status, _) = send(
        app,
        &env.admin,
        Method::POST,
        &format!("/api/v1/waves/{id}/confirm"),
        json!({}),
    )
    .await;
    assert_eq!(status, 409, "confirmed once");
    assert_eq!(app.count("messages").await, 0);

    let t = env.tick(Utc::now()).await;
    assert_eq!(t.waves, 1);
    let msgs = env.messages("wave", id).await;
    assert_eq!(
        msgs,
        vec![
            ("Lê Văn Em".into(), "email".into(), "queued".into(), false),
            (
                "Trần Thị Bình".into(),
                "zalo".into(),
                "queued".into(),
                false
            ),
            ("Võ Thị Mai".into(), "zalo".into(), "queued".into(), false),
        ]
    );
    // Siblings in one message; a queued event each; the fallback plan goes on to SMS, e-mail.
    let bình = env
        .scalar("SELECT m.id FROM messages m JOIN guardians g ON g.id = m.guardian_id WHERE g.full_name = 'Trần Thị Bình'")
        .await;
    assert_eq!(
        env.scalar(&format!(
            "SELECT COUNT(*) FROM message_students WHERE message_id = {bình}"
        ))
        .await,
        2
    );
    // No event row per queued message: the message's history starts with its creation.
    assert_eq!(app.count("message_events").await, 0);
    let (_, detail) = send(
        app,
        &env.admin,
        Method::GET,
        &format!("/api/v1/messages/{bình}"),
        Value::Null,
    )
    .await;
    assert_eq!(detail["events"][0]["kind"], "queued", "{detail}");
    assert_eq!(detail["events"][0]["at"], detail["created_at"]);
    let plan: Value = {
        let row = app
            .db
            .conn
            .query_one(Statement::from_string(
                app.db.backend(),
                format!("SELECT fallback_plan FROM messages WHERE id = {bình}"),
            ))
            .await
            .unwrap()
            .unwrap();
        serde_json::from_str(&row.try_get::<String>("", "fallback_plan").unwrap()).unwrap()
    };
    assert_eq!(plan[0]["channel"], "sms");
    assert_eq!(plan[1]["channel"], "email");
    // Ticking again queues nothing twice.
    assert_eq!(env.tick(Utc::now()).await.waves, 0);
    assert_eq!(app.count("messages").await, 3);

    // The worker writes each message when it sends it: real names, the year's facts.
    let worker = hi_outreach::worker_for(&app.state);
    assert_eq!(worker.run_once(Channel::Zalo).await.unwrap(), 2);
    assert_eq!(worker.run_once(Channel::Email).await.unwrap(), 1);
    let z = file(app, "zalo", bình);
    let params = &z["content"]["params"];
    assert_eq!(params["parent_name"], "Trần Thị Bình");
    let names = params["student_name"].as_str().unwrap();
    assert!(
        names.contains("Nguyễn Văn An") && names.contains("Nguyễn Thị Chi"),
        "{z}"
    );
    assert_eq!(params["amount"], "884.520 đồng");
    let deadline = (env.today + Duration::days(20))
        .format("%d/%m/%Y")
        .to_string();
    assert_eq!(params["deadline"], deadline.as_str());
    let em = env
        .scalar("SELECT m.id FROM messages m JOIN guardians g ON g.id = m.guardian_id WHERE g.full_name = 'Lê Văn Em'")
        .await;
    let mail = file(app, "email", em);
    assert!(
        mail["content"]["subject"]
            .as_str()
            .unwrap()
            .contains("Lê Minh Đức"),
        "{mail}"
    );
    assert!(env
        .messages("wave", id)
        .await
        .iter()
        .all(|(_, _, status, stored)| status == "sent" && *stored));

    // Progress, then done once every message has an outcome.
    env.tick(Utc::now()).await;
    let (status, d) = send(
        app,
        &env.admin,
        Method::GET,
        &format!("/api/v1/waves/{id}"),
        Value::Null,
    )
    .await;
    assert_eq!(status, 200, "{d}");
    assert_eq!(d["wave"]["status"], "done");
    assert_eq!(d["progress"]["sent"], 3);
    assert_eq!(d["progress"]["guardians_reached"], 3);
    assert!(
        env.scalar(
            "SELECT COUNT(*) FROM audit_log WHERE action IN ('wave.created', 'wave.confirmed')"
        )
        .await
            == 2
    );
}

#[tokio::test]
async fn a_wave_can_be_cancelled_before_and_while_it_goes_out() {
    let env = env().await;
    let app = &env.app;
    let later = (Utc::now() + Duration::hours(2)).to_rfc3339();
    let (_, w) = send(
        app,
        &env.admin,
        Method::POST,
        "/api/v1/waves",
        json!({"name": "Sau", "campaign_id": env.campaign, "audience_id": env.audience,
               "steps": env.steps(&[ZALO]).await, "send_at": later}),
    )
    .await;
    let id = w["id"].as_i64().unwrap();
    send(
        app,
        &env.admin,
        Method::POST,
        &format!("/api/v1/waves/{id}/confirm"),
        json!({}),
    )
    .await;
    // Not due yet.
    assert_eq!(env.tick(Utc::now()).await.waves, 0);
    let (status, w) = send(
        app,
        &env.admin,
        Method::POST,
        &format!("/api/v1/waves/{id}/cancel"),
        json!({}),
    )
    .await;
    assert_eq!(status, 200, "{w}");
    assert_eq!(w["status"], "cancelled");
    assert_eq!(env.tick(Utc::now() + Duration::hours(3)).await.waves, 0);
    assert_eq!(app.count("messages").await, 0);
    let (status, _) = send(
        app,
        &env.admin,
        Method::POST,
        &format!("/api/v1/waves/{id}/cancel"),
        json!({}),
    )
    .await;
    assert_eq!(status, 409);

    // Materialised, then cancelled: what is not sent yet is cancelled.
    let (_, w) = send(
        app,
        &env.admin,
        Method::POST,
        "/api/v1/waves",
        json!({"name": "Ngay", "campaign_id": env.campaign, "audience_id": env.audience,
               "steps": env.steps(&[ZALO, EMAIL]).await}),
    )
    .await;
    let id = w["id"].as_i64().unwrap();
    send(
        app,
        &env.admin,
        Method::POST,
        &format!("/api/v1/waves/{id}/confirm"),
        json!({}),
    )
    .await;
    env.tick(Utc::now()).await;
    let worker = hi_outreach::worker_for(&app.state);
    assert_eq!(worker.run_once(Channel::Email).await.unwrap(), 1);
    let (status, w) = send(
        app,
        &env.admin,
        Method::POST,
        &format!("/api/v1/waves/{id}/cancel"),
        json!({}),
    )
    .await;
    assert_eq!(status, 200, "{w}");
    let statuses: Vec<String> = env
        .messages("wave", id)
        .await
        .into_iter()
        .map(|m| m.2)
        .collect();
    assert_eq!(statuses, vec!["sent", "cancelled", "cancelled"]);
    assert_eq!(worker.run_once(Channel::Zalo).await.unwrap(), 0);
}

#[tokio::test]
async fn consent_decides_the_channel_and_opted_out_parents_get_nothing() {
    let env = env().await;
    let app = &env.app;
    // The mother of two withdraws Zalo: she gets SMS. The HCM mother opts out of everything.
    let bình = env
        .scalar("SELECT id FROM guardians WHERE full_name = 'Trần Thị Bình'")
        .await;
    let (status, b) = send(
        app,
        &env.admin,
        Method::POST,
        &format!("/api/v1/guardians/{bình}/consents"),
        json!({"channel": "zalo", "granted": false, "source": "staff"}),
    )
    .await;
    assert!(status < 300, "{b}");
    env.exec("UPDATE guardians SET opted_out_at = created_at WHERE full_name = 'Võ Thị Mai'")
        .await;
    let (_, w) = send(
        app,
        &env.admin,
        Method::POST,
        "/api/v1/waves",
        json!({"name": "Đợt 2", "campaign_id": env.campaign, "audience_id": env.audience,
               "steps": env.steps(&[ZALO, SMS]).await}),
    )
    .await;
    let id = w["id"].as_i64().unwrap();
    assert_eq!(
        w["recipients"], 1,
        "the father consented to e-mail only: {w}"
    );
    send(
        app,
        &env.admin,
        Method::POST,
        &format!("/api/v1/waves/{id}/confirm"),
        json!({}),
    )
    .await;
    env.tick(Utc::now()).await;
    assert_eq!(
        env.messages("wave", id).await,
        vec![("Trần Thị Bình".into(), "sms".into(), "queued".into(), false)]
    );
}

#[tokio::test]
async fn an_insured_child_drops_out_of_waiting_messages_and_the_rule_says_thank_you() {
    let env = env().await;
    let app = &env.app;
    let thanks = env.template("default.thank_you.zalo.vi").await;
    let (status, r) = send(
        app,
        &env.admin,
        Method::POST,
        "/api/v1/rules",
        json!({"name": "Nhắc hằng ngày", "campaign_id": env.campaign, "audience_id": env.audience,
               "steps": env.steps(&[ZALO, SMS]).await, "schedule_kind": "cron", "cron": "0 19 * * *",
               "thank_you_template_id": thanks, "active": true}),
    )
    .await;
    assert_eq!(status, 201, "{r}");
    let rule = r["id"].as_i64().unwrap();
    let due: DateTime<Utc> = r["next_run_at"].as_str().unwrap().parse().unwrap();
    env.tick(due).await;
    assert_eq!(env.messages("rule", rule).await.len(), 2);
    // One of the two siblings is insured: the message waits (her sister still needs cover) and
    // a thank-you about him is queued.
    env.insure("Nguyễn Văn An").await;
    let ms = env.messages("rule", rule).await;
    assert!(ms.iter().all(|m| m.2 == "queued"), "{ms:?}");
    assert_eq!(
        env.messages("thanks", rule).await,
        vec![(
            "Trần Thị Bình".into(),
            "zalo".into(),
            "queued".into(),
            false
        )]
    );
    // The HCM mother's only child is insured: her waiting reminder is cancelled, and she is
    // thanked instead.
    env.insure("Võ Minh Khang").await;
    assert_eq!(
        env.messages("rule", rule).await,
        vec![
            (
                "Trần Thị Bình".into(),
                "zalo".into(),
                "queued".into(),
                false
            ),
            (
                "Võ Thị Mai".into(),
                "zalo".into(),
                "cancelled".into(),
                false
            ),
        ]
    );
    assert_eq!(env.messages("thanks", rule).await.len(), 2);
    // Insuring him again thanks nobody twice.
    env.insure("Nguyễn Văn An").await;
    assert_eq!(env.messages("thanks", rule).await.len(), 2);
    // The reminder, written when sent, names only the child still uninsured. (It was due at
    // 19:00; the clock is moved on.)
    env.exec(&format!(
        "UPDATE messages SET next_attempt_at = {} WHERE source_kind = 'rule'",
        sql_time(app, Utc::now() - Duration::minutes(1))
    ))
    .await;
    let worker = hi_outreach::worker_for(&app.state);
    let claimed = worker.run_once(Channel::Zalo).await.unwrap();
    let all = env.messages("rule", rule).await;
    let thanks = env.messages("thanks", rule).await;
    assert_eq!(claimed, 3, "{all:?} {thanks:?}");
    let bình_rule = env
        .scalar(&format!(
            "SELECT m.id FROM messages m JOIN guardians g ON g.id = m.guardian_id \
             WHERE g.full_name = 'Trần Thị Bình' AND m.source_kind = 'rule' AND m.source_id = {rule}"
        ))
        .await;
    let names = file(app, "zalo", bình_rule)["content"]["params"]["student_name"].clone();
    assert_eq!(names, "Nguyễn Thị Chi");
    let bình_thanks = env
        .scalar(&format!(
            "SELECT m.id FROM messages m JOIN guardians g ON g.id = m.guardian_id \
             WHERE g.full_name = 'Trần Thị Bình' AND m.source_kind = 'thanks' AND m.source_id = {rule}"
        ))
        .await;
    assert_eq!(
        file(app, "zalo", bình_thanks)["content"]["params"]["student_name"],
        "Nguyễn Văn An"
    );
    // A message whose children were all insured behind the platform's back (a raw update, as
    // a racing import might) is cancelled by the worker rather than sent empty.
    let (_, w) = send(
        app,
        &env.admin,
        Method::POST,
        "/api/v1/waves",
        json!({"name": "Đợt cuối", "campaign_id": env.campaign, "audience_id": env.audience,
               "steps": env.steps(&[EMAIL]).await}),
    )
    .await;
    let wid = w["id"].as_i64().unwrap();
    send(
        app,
        &env.admin,
        Method::POST,
        &format!("/api/v1/waves/{wid}/confirm"),
        json!({}),
    )
    .await;
    env.tick(Utc::now()).await;
    env.exec("UPDATE students SET hi_status = 'insured' WHERE full_name = 'Lê Minh Đức'")
        .await;
    assert_eq!(worker.run_once(Channel::Email).await.unwrap(), 1);
    assert_eq!(
        env.messages("wave", wid).await,
        vec![(
            "Lê Văn Em".into(),
            "email".into(),
            "cancelled".into(),
            false
        )]
    );
}

#[tokio::test]
async fn a_cron_rule_fires_once_across_schedulers_and_only_its_latest_missed_occurrence() {
    let env = env_with(|s| {
        s.cap_per_day = 0;
        s.cap_per_week = 0;
    })
    .await;
    let app = &env.app;
    let (status, r) = send(
        app,
        &env.admin,
        Method::POST,
        "/api/v1/rules",
        json!({"name": "Sáng thứ Hai", "campaign_id": env.campaign, "audience_id": env.audience,
               "steps": env.steps(&[ZALO, SMS, EMAIL]).await, "schedule_kind": "cron",
               "cron": "0 7 * * *", "max_per_guardian": 2, "active": true}),
    )
    .await;
    assert_eq!(status, 201, "{r}");
    let rule = r["id"].as_i64().unwrap();
    // 07:00 in Vietnam is midnight UTC: five days in a row.
    let upcoming: Vec<DateTime<Utc>> = r["upcoming"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap().parse().unwrap())
        .collect();
    assert_eq!(upcoming.len(), 5);
    for (i, t) in upcoming.iter().enumerate() {
        assert_eq!(t.with_timezone(&VN).format("%H:%M").to_string(), "07:00");
        assert_eq!(t.format("%H:%M").to_string(), "00:00");
        if i > 0 {
            assert_eq!(*t - upcoming[i - 1], Duration::days(1));
        }
    }
    let first: DateTime<Utc> = r["next_run_at"].as_str().unwrap().parse().unwrap();
    assert_eq!(first, upcoming[0]);

    // Nobody ran for three days: two schedulers wake up together; the latest occurrence runs,
    // once, and notes the two it missed.
    let now = first + Duration::days(2) + Duration::hours(1);
    let a = hi_outreach::scheduler_for(&app.state);
    let b = hi_outreach::scheduler_for(&app.state);
    let (ta, tb) = tokio::join!(a.tick(now), b.tick(now));
    let (ta, tb) = (ta.unwrap(), tb.unwrap());
    assert_eq!(ta.occurrences + tb.occurrences, 1, "{ta:?} {tb:?}");
    assert_eq!(app.count("rule_occurrences").await, 1);
    let (_, d) = send(
        app,
        &env.admin,
        Method::GET,
        &format!("/api/v1/rules/{rule}"),
        Value::Null,
    )
    .await;
    let occ = &d["occurrences"][0];
    let due: DateTime<Utc> = occ["due_at"].as_str().unwrap().parse().unwrap();
    assert_eq!(due, first + Duration::days(2));
    assert_eq!(occ["status"], "done");
    assert_eq!(occ["queued"], 3);
    assert_eq!(occ["missed"], 2, "{occ}");
    let next: DateTime<Utc> = d["rule"]["next_run_at"].as_str().unwrap().parse().unwrap();
    assert_eq!(next, first + Duration::days(3));
    assert_eq!(env.messages("rule", rule).await.len(), 3);
    // The same moment again: nothing new.
    assert_eq!(a.tick(now).await.unwrap().occurrences, 0);

    // At most two reminders per parent from this rule, however many times it fires.
    for day in 3..6 {
        let (ta, tb) = tokio::join!(
            a.tick(first + Duration::days(day)),
            b.tick(first + Duration::days(day))
        );
        assert_eq!(ta.unwrap().occurrences + tb.unwrap().occurrences, 1);
    }
    let per_parent = env
        .scalar(&format!(
            "SELECT MAX(n) FROM (SELECT COUNT(*) AS n FROM messages WHERE source_kind = 'rule' \
             AND source_id = {rule} GROUP BY guardian_id) x"
        ))
        .await;
    assert_eq!(per_parent, 2);
    assert_eq!(app.count("rule_occurrences").await, 4);
    // Keys are unique per occurrence, parent and channel.
    assert_eq!(
        env.scalar("SELECT COUNT(DISTINCT idempotency_key) FROM messages")
            .await,
        app.count("messages").await
    );

    // The campaign ends: the rule stops by itself.
    env.exec(&format!(
        "UPDATE campaigns SET status = 'completed' WHERE id = {}",
        env.campaign
    ))
    .await;
    let t = a.tick(first + Duration::days(7)).await.unwrap();
    assert_eq!((t.rules_stopped, t.occurrences), (1, 0));
    let (_, d) = send(
        app,
        &env.admin,
        Method::GET,
        &format!("/api/v1/rules/{rule}"),
        Value::Null,
    )
    .await;
    assert_eq!(d["rule"]["active"], false);
    assert!(d["rule"]["next_run_at"].is_null());
    // Its reminders still waiting go with it, and the audit log says why.
    assert!(env
        .messages("rule", rule)
        .await
        .iter()
        .all(|m| m.2 == "cancelled"));
    assert_eq!(
        env.scalar("SELECT COUNT(*) FROM audit_log WHERE action = 'rule.stopped'")
            .await,
        1
    );
}

#[tokio::test]
async fn the_frequency_cap_holds_across_campaigns_and_days() {
    let env = env_with(|s| {
        s.cap_per_day = 1;
        s.cap_per_week = 2;
    })
    .await;
    let app = &env.app;
    let one = env.wave_now("Một", &[ZALO, EMAIL]).await;
    assert_eq!(env.messages("wave", one).await.len(), 3);
    // A second wave the same day: the cap holds everyone back, and the estimate says so.
    let second = json!({"name": "Hai", "campaign_id": env.campaign, "audience_id": env.audience,
        "steps": env.steps(&[ZALO, EMAIL]).await});
    let (_, e) = send(
        app,
        &env.admin,
        Method::POST,
        "/api/v1/waves/preview",
        second,
    )
    .await;
    assert_eq!(
        (e["recipients"].as_i64(), e["held_by_cap"].as_i64()),
        (Some(0), Some(3)),
        "{e}"
    );
    let two = env.wave_now("Hai", &[ZALO, EMAIL]).await;
    assert!(env.messages("wave", two).await.is_empty());
    // Yesterday's messages count for the week, not for today: move the first wave back a day.
    env.exec(&format!(
        "UPDATE messages SET created_at = {} WHERE source_kind = 'wave' AND source_id = {one}",
        sql_time(app, Utc::now() - Duration::days(1))
    ))
    .await;
    let three = env.wave_now("Ba", &[ZALO, EMAIL]).await;
    assert_eq!(env.messages("wave", three).await.len(), 3);
    // Two this week: the weekly cap holds a fourth, even on another day.
    env.exec(&format!(
        "UPDATE messages SET created_at = {} WHERE source_kind = 'wave' AND source_id = {three}",
        sql_time(app, Utc::now() - Duration::days(2))
    ))
    .await;
    let fourth = json!({"name": "Bốn", "campaign_id": env.campaign, "audience_id": env.audience,
        "steps": env.steps(&[ZALO, EMAIL]).await});
    let (_, e) = send(
        app,
        &env.admin,
        Method::POST,
        "/api/v1/waves/preview",
        fourth,
    )
    .await;
    assert_eq!(e["recipients"], 0, "{e}");
    assert_eq!(e["held_by_cap"], 3);
}

/// A timestamp literal as each database stores it.
fn sql_time(app: &TestApp, at: DateTime<Utc>) -> String {
    match app.db.backend() {
        sea_orm::DbBackend::Postgres => format!("'{}'::timestamptz", at.to_rfc3339()),
        _ => format!(
            "'{}'",
            at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, false)
        ),
    }
}

#[tokio::test]
async fn a_deadline_rule_reminds_each_school_before_its_own_deadline() {
    let env = env().await;
    let app = &env.app;
    let d1 = env.today + Duration::days(10);
    let d2 = env.today + Duration::days(30);
    env.set_deadline("HN-1", 10).await;
    env.set_deadline("HCM-1", 30).await;
    let hn1 = env
        .scalar("SELECT id FROM schools WHERE code = 'HN-1'")
        .await;
    let (status, b) = send(
        app,
        &env.admin,
        Method::PUT,
        &format!("/api/v1/schools/{hn1}/deadline"),
        json!({"school_year": "TEST", "deadline": "2001-01-01"}),
    )
    .await;
    assert_eq!(status, 422, "outside the school year: {b}");
    let r = env.three_days_before().await;
    let rule = r["id"].as_i64().unwrap();
    let at = |day: NaiveDate| {
        VN.from_local_datetime(&day.and_hms_opt(19, 0, 0).unwrap())
            .unwrap()
            .with_timezone(&Utc)
    };
    // 19:00 three days before each deadline (the year's own, in 20 days, too).
    let upcoming: Vec<DateTime<Utc>> = r["upcoming"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap().parse().unwrap())
        .collect();
    assert_eq!(
        upcoming,
        vec![
            at(d1 - Duration::days(3)),
            at(env.today + Duration::days(17)),
            at(d2 - Duration::days(3))
        ]
    );
    // A schedule can be previewed before saving.
    let (status, p) = send(
        app,
        &env.admin,
        Method::POST,
        "/api/v1/rules/schedule-preview",
        json!({"schedule_kind": "cron", "cron": "0 8 * * 1"}),
    )
    .await;
    assert_eq!(status, 200, "{p}");
    assert_eq!(p["upcoming"].as_array().unwrap().len(), 5);
    let (status, p) = send(
        app,
        &env.admin,
        Method::POST,
        "/api/v1/rules/schedule-preview",
        json!({"schedule_kind": "cron", "cron": "0 8 * *"}),
    )
    .await;
    assert_eq!(status, 422, "{p}");

    // The dry run answers for the next fire time: Hà Nội's school only.
    let (status, dry) = send(
        app,
        &env.admin,
        Method::POST,
        &format!("/api/v1/rules/{rule}/dry-run"),
        json!({}),
    )
    .await;
    assert_eq!(status, 200, "{dry}");
    assert_eq!(dry["estimate"]["recipients"], 2, "{dry}");
    assert_eq!(app.count("messages").await, 0, "a dry run sends nothing");

    env.tick(at(d1 - Duration::days(3))).await;
    let names: Vec<String> = env
        .messages("rule", rule)
        .await
        .into_iter()
        .map(|m| m.0)
        .collect();
    assert_eq!(names, vec!["Lê Văn Em", "Trần Thị Bình"]);
    // The HCM school's turn comes three days before its own deadline (the year's deadline in
    // between serves no school of this audience).
    env.tick(at(env.today + Duration::days(17))).await;
    assert_eq!(env.messages("rule", rule).await.len(), 2);
    env.tick(at(d2 - Duration::days(3))).await;
    let names: Vec<String> = env
        .messages("rule", rule)
        .await
        .into_iter()
        .map(|m| m.0)
        .collect();
    assert_eq!(names, vec!["Lê Văn Em", "Trần Thị Bình", "Võ Thị Mai"]);
    assert_eq!(app.count("rule_occurrences").await, 3);
}

#[tokio::test]
async fn waves_and_rules_stay_inside_their_makers_scope() {
    let env = env().await;
    let app = &env.app;
    let (_, w) = send(
        app,
        &env.admin,
        Method::POST,
        "/api/v1/waves",
        json!({"name": "Toàn quốc", "campaign_id": env.campaign, "audience_id": env.audience,
               "steps": env.steps(&[ZALO]).await}),
    )
    .await;
    let national = w["id"].as_i64().unwrap();
    let staff_hn = app.create_user("staff", Some("01"), &[]).await;
    let staff_hn = app.token_for(&staff_hn).await;
    let liaison = app.create_user("liaison", None, &["HN-1"]).await;
    let liaison = app.token_for(&liaison).await;
    assert_eq!(
        app.api_status(&liaison, Method::GET, "/api/v1/waves").await,
        403
    );
    assert_eq!(
        app.api_status(&staff_hn, Method::GET, &format!("/api/v1/waves/{national}"))
            .await,
        404
    );
    // Hà Nội's staff: their own audience, a wave of the national campaign, messages in Hà Nội.
    let (status, a) = send(
        app,
        &staff_hn,
        Method::POST,
        "/api/v1/audiences",
        json!({"name": "Hà Nội", "province_code": "01"}),
    )
    .await;
    assert_eq!(status, 201, "{a}");
    let (status, w) = send(
        app,
        &staff_hn,
        Method::POST,
        "/api/v1/waves",
        json!({"name": "Hà Nội", "campaign_id": env.campaign, "audience_id": a["id"],
               "steps": env.steps(&[ZALO, EMAIL]).await}),
    )
    .await;
    assert_eq!(status, 201, "{w}");
    assert_eq!(w["recipients"], 2, "{w}");
    let list = app.api_json(&staff_hn, Method::GET, "/api/v1/waves").await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    // Someone else's audience cannot be borrowed.
    let (status, p) = send(
        app,
        &staff_hn,
        Method::POST,
        "/api/v1/waves/preview",
        json!({"name": "x", "campaign_id": env.campaign, "audience_id": env.audience,
               "steps": env.steps(&[ZALO]).await}),
    )
    .await;
    assert_eq!(status, 422, "{p}");
    // Nor can the national wave be confirmed, cancelled or retried, or a national rule seen,
    // changed or dry-run.
    for action in ["confirm", "cancel", "retry"] {
        assert_eq!(
            app.api_status(
                &staff_hn,
                Method::POST,
                &format!("/api/v1/waves/{national}/{action}")
            )
            .await,
            404,
            "{action}"
        );
    }
    let (status, r) = send(
        app,
        &env.admin,
        Method::POST,
        "/api/v1/rules",
        json!({"name": "Toàn quốc", "campaign_id": env.campaign, "audience_id": env.audience,
               "steps": env.steps(&[ZALO]).await, "schedule_kind": "cron", "cron": "0 19 * * *",
               "active": true}),
    )
    .await;
    assert_eq!(status, 201, "{r}");
    let rule = r["id"].as_i64().unwrap();
    for (method, path) in [
        (Method::GET, format!("/api/v1/rules/{rule}")),
        (Method::POST, format!("/api/v1/rules/{rule}/pause")),
        (Method::POST, format!("/api/v1/rules/{rule}/dry-run")),
    ] {
        assert_eq!(
            app.api_status(&staff_hn, method, &path).await,
            404,
            "{path}"
        );
    }
    assert_eq!(
        app.api_status(&liaison, Method::GET, "/api/v1/rules").await,
        403
    );
    // The Hà Nội wave goes to Hà Nội's parents only; its samples are a made-up family, since
    // staff do not read real parents' messages.
    let (_, e) = send(
        app,
        &staff_hn,
        Method::POST,
        "/api/v1/waves/preview",
        json!({"name": "Hà Nội", "campaign_id": env.campaign, "audience_id": a["id"],
               "steps": env.steps(&[ZALO]).await}),
    )
    .await;
    assert_eq!(
        e["samples"][0]["content"]["params"]["parent_name"], "Trần Thị Bình",
        "the made-up family of template previews: {e}"
    );
    assert_eq!(e["samples"][0]["guardian_id"], 0);
    let hn = w["id"].as_i64().unwrap();
    let (status, c) = send(
        app,
        &staff_hn,
        Method::POST,
        &format!("/api/v1/waves/{hn}/confirm"),
        json!({}),
    )
    .await;
    assert_eq!(status, 200, "{c}");
    env.tick(Utc::now()).await;
    let names: Vec<String> = env
        .messages("wave", hn)
        .await
        .into_iter()
        .map(|m| m.0)
        .collect();
    assert_eq!(names, vec!["Lê Văn Em", "Trần Thị Bình"]);
}

#[tokio::test]
async fn a_scheduler_that_died_half_way_is_taken_over_from_its_last_slice() {
    let env = env_with(|s| s.materialise_batch = 1).await;
    let app = &env.app;
    let (_, w) = send(
        app,
        &env.admin,
        Method::POST,
        "/api/v1/waves",
        json!({"name": "Bị gián đoạn", "campaign_id": env.campaign, "audience_id": env.audience,
               "steps": env.steps(&[ZALO, EMAIL]).await}),
    )
    .await;
    let id = w["id"].as_i64().unwrap();
    send(
        app,
        &env.admin,
        Method::POST,
        &format!("/api/v1/waves/{id}/confirm"),
        json!({}),
    )
    .await;
    // A scheduler claimed it, wrote the slices up to the second parent's id, and died: its
    // lease ran out a minute ago.
    let second = env
        .scalar("SELECT id FROM guardians WHERE full_name = 'Lê Văn Em'")
        .await;
    env.exec(&format!(
        "UPDATE waves SET status = 'materialising', leased_by = 'dead-scheduler',          lease_until = {}, done_through = {second} WHERE id = {id}",
        sql_time(app, Utc::now() - Duration::minutes(1))
    ))
    .await;
    let t = env.tick(Utc::now()).await;
    assert_eq!(t.waves, 1);
    // Parents after the mark got theirs; those before it (the dead scheduler's part, which it
    // committed) were not written twice — here they were never written, which shows the mark
    // is honoured.
    let names: Vec<String> = env
        .messages("wave", id)
        .await
        .into_iter()
        .map(|m| m.0)
        .collect();
    assert_eq!(names, vec!["Võ Thị Mai"], "only parents after the mark");
    let (_, d) = send(
        app,
        &env.admin,
        Method::GET,
        &format!("/api/v1/waves/{id}"),
        Value::Null,
    )
    .await;
    assert_eq!(d["wave"]["status"], "sending");
    // A slice whose claim was taken over stops the run: it writes nothing.
    let (_, w) = send(
        app,
        &env.admin,
        Method::POST,
        "/api/v1/waves",
        json!({"name": "Bị lấy mất", "campaign_id": env.campaign, "audience_id": env.audience,
               "steps": env.steps(&[ZALO]).await}),
    )
    .await;
    let other = w["id"].as_i64().unwrap();
    env.exec(&format!(
        "UPDATE waves SET status = 'materialising', leased_by = 'someone-else',          lease_until = {} WHERE id = {other}",
        sql_time(app, Utc::now() + Duration::minutes(5))
    ))
    .await;
    let wave = hi_outreach::reminders::entity::wave::Entity::find_by_id(other)
        .one(&app.db.conn)
        .await
        .unwrap()
        .unwrap();
    let job = hi_outreach::reminders::waves::job_of(
        &wave,
        hi_outreach::campaigns::entity::campaign::Entity::find_by_id(env.campaign)
            .one(&app.db.conn)
            .await
            .unwrap()
            .unwrap(),
        hi_outreach::reminders::audience::Spec::of(
            &hi_outreach::reminders::audience::entity::Entity::find_by_id(env.audience)
                .one(&app.db.conn)
                .await
                .unwrap()
                .unwrap(),
        ),
        &app.state.settings,
    );
    let run = hi_outreach::reminders::materialise::run(
        &app.db,
        &job,
        hi_outreach::reminders::materialise::Progress::Wave(other),
        "me",
        None,
        1,
        Duration::minutes(5),
    )
    .await
    .unwrap();
    assert_eq!(run, hi_outreach::reminders::materialise::Run::Lost(0));
    assert!(env.messages("wave", other).await.is_empty());
}

#[tokio::test]
async fn messages_of_a_cancelled_wave_in_flight_are_not_sent_later() {
    let env = env().await;
    let app = &env.app;
    let id = env.wave_now("Dừng giữa chừng", &[ZALO]).await;
    // One message was claimed by a worker that then died (or was held back by quiet hours):
    // cancelling cannot touch it while it is claimed...
    let bình = env
        .scalar(&format!(
            "SELECT m.id FROM messages m JOIN guardians g ON g.id = m.guardian_id              WHERE g.full_name = 'Trần Thị Bình' AND m.source_id = {id}"
        ))
        .await;
    env.exec(&format!(
        "UPDATE messages SET status = 'sending', leased_by = 'gone#1', lease_until = {} WHERE id = {bình}",
        sql_time(app, Utc::now() - Duration::seconds(1))
    ))
    .await;
    let (status, _) = send(
        app,
        &env.admin,
        Method::POST,
        &format!("/api/v1/waves/{id}/cancel"),
        json!({}),
    )
    .await;
    assert_eq!(status, 200);
    // ...but when its lease runs out and a worker takes it, it is cancelled, not sent.
    let worker = hi_outreach::worker_for(&app.state);
    assert_eq!(worker.run_once(Channel::Zalo).await.unwrap(), 1);
    let statuses: Vec<String> = env
        .messages("wave", id)
        .await
        .into_iter()
        .map(|m| m.2)
        .collect();
    assert_eq!(statuses, vec!["cancelled", "cancelled"]);
    assert!(
        !app.outbox.path().join("zalo").exists(),
        "nothing was written"
    );
    // Retrying the failures of a cancelled wave is refused.
    let (status, _) = send(
        app,
        &env.admin,
        Method::POST,
        &format!("/api/v1/waves/{id}/retry"),
        json!({}),
    )
    .await;
    assert_eq!(status, 409);
}

#[tokio::test]
async fn a_wave_to_insured_families_is_not_withdrawn_by_status_changes() {
    let env = env().await;
    let app = &env.app;
    let (_, a) = send(
        app,
        &env.admin,
        Method::POST,
        "/api/v1/audiences",
        json!({"name": "Đã có thẻ", "hi_status": "insured"}),
    )
    .await;
    let (_, w) = send(
        app,
        &env.admin,
        Method::POST,
        "/api/v1/waves",
        json!({"name": "Gia hạn thẻ", "campaign_id": env.campaign, "audience_id": a["id"],
               "steps": env.steps(&[ZALO]).await, "send_at": (Utc::now() + Duration::hours(1)).to_rfc3339()}),
    )
    .await;
    let id = w["id"].as_i64().unwrap();
    send(
        app,
        &env.admin,
        Method::POST,
        &format!("/api/v1/waves/{id}/confirm"),
        json!({}),
    )
    .await;
    env.tick(Utc::now() + Duration::hours(2)).await;
    assert_eq!(env.messages("wave", id).await.len(), 1);
    // Saving the insured child's status again (a card date corrected, say) keeps the message.
    env.insure("Phạm Gia Huy").await;
    assert_eq!(env.messages("wave", id).await[0].2, "queued");
}

#[tokio::test]
async fn pages_draft_estimate_confirm_a_wave_and_set_up_a_rule() {
    let env = env().await;
    let app = &env.app;
    let admin = app.create_user("admin", None, &[]).await;
    let c = app.signed_in(&admin).await;
    let zalo = env.template(ZALO).await.to_string();
    let email = env.template(EMAIL).await.to_string();
    let campaign = env.campaign.to_string();
    let audience = env.audience.to_string();
    let (status, page) = app.get_text(&c, "/waves/new").await;
    assert_eq!(status, 200);
    assert!(
        page.contains("Nhắc phụ huynh hoàn thành BHYT"),
        "campaign offered"
    );
    // A bad step is named beside its row, and nothing is saved.
    let r = app
        .post_form(
            &c,
            "/waves/new",
            "/waves/new",
            &[
                ("name", "Đợt thử"),
                ("campaign_id", &campaign),
                ("audience_id", &audience),
                ("step1", "abc"),
                ("action", "save"),
            ],
        )
        .await;
    assert_eq!(r.status(), 422);
    let body = r.text().await.unwrap();
    assert!(body.contains("Không phải số nguyên"), "{body}");
    assert_eq!(app.count("waves").await, 0);
    // The estimate, then the draft.
    let fields = [
        ("name", "Đợt nhắc qua Zalo"),
        ("campaign_id", campaign.as_str()),
        ("audience_id", audience.as_str()),
        ("step1", zalo.as_str()),
        ("step2", email.as_str()),
        ("send_at", ""),
    ];
    let mut preview = fields.to_vec();
    preview.push(("action", "preview"));
    let r = app
        .post_form(&c, "/waves/new", "/waves/new", &preview)
        .await;
    assert_eq!(r.status(), 200);
    let body = r.text().await.unwrap();
    assert!(body.contains("Ước tính: 3 phụ huynh"), "{body}");
    assert_eq!(app.count("waves").await, 0, "an estimate saves nothing");
    let mut save = fields.to_vec();
    save.push(("action", "save"));
    let r = app.post_form(&c, "/waves/new", "/waves/new", &save).await;
    assert_eq!(r.status(), 303);
    let location = r.headers()["location"].to_str().unwrap().to_string();
    let id: i64 = location
        .trim_start_matches("/waves/")
        .split('?')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let (_, page) = app.get_text(&c, &format!("/waves/{id}")).await;
    assert!(
        page.contains("Gửi tới 3 phụ huynh"),
        "the confirmation step shows the count"
    );
    let r = app
        .post_form(
            &c,
            &format!("/waves/{id}"),
            &format!("/waves/{id}/confirm"),
            &[],
        )
        .await;
    assert_eq!(r.status(), 303);
    env.tick(Utc::now()).await;
    let (_, page) = app.get_text(&c, &format!("/waves/{id}")).await;
    assert!(
        page.contains("Đang gửi") && page.contains("data-refresh"),
        "live progress"
    );
    let (_, list) = app.get_text(&c, "/waves").await;
    assert!(list.contains("Đợt nhắc qua Zalo"));

    // A rule: the next fire times before saving, then its page and a dry run.
    let (status, _) = app.get_text(&c, "/rules/new").await;
    assert_eq!(status, 200);
    let rule = [
        ("name", "Nhắc sáng thứ Hai"),
        ("campaign_id", campaign.as_str()),
        ("audience_id", audience.as_str()),
        ("step1", zalo.as_str()),
        ("schedule_kind", "cron"),
        ("cron", "0 8 * * 1"),
        ("active", "on"),
    ];
    let mut preview = rule.to_vec();
    preview.push(("action", "preview"));
    let r = app
        .post_form(&c, "/rules/new", "/rules/new", &preview)
        .await;
    assert_eq!(r.status(), 200);
    let body = r.text().await.unwrap();
    assert_eq!(body.matches(" 08:00</li>").count(), 5, "{body}");
    let mut bad = rule.to_vec();
    bad[5] = ("cron", "8 giờ sáng");
    bad.push(("action", "save"));
    let r = app.post_form(&c, "/rules/new", "/rules/new", &bad).await;
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("Cần đúng 5 trường"));
    let mut save = rule.to_vec();
    save.push(("action", "save"));
    let r = app.post_form(&c, "/rules/new", "/rules/new", &save).await;
    assert_eq!(r.status(), 303);
    let location = r.headers()["location"].to_str().unwrap().to_string();
    let path = location.split('?').next().unwrap().to_string();
    let (status, page) = app.get_text(&c, &path).await;
    assert_eq!(status, 200);
    assert!(page.contains("0 8 * * 1") && page.contains("Đang bật"));
    let r = app
        .post_form(&c, &path, &format!("{path}/dry-run"), &[])
        .await;
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("Ước tính"));
    // A school's own deadline from its page.
    let hn1 = env
        .scalar("SELECT id FROM schools WHERE code = 'HN-1'")
        .await;
    let day = (env.today + Duration::days(15)).to_string();
    let r = app
        .post_form(
            &c,
            &format!("/schools/{hn1}"),
            &format!("/schools/{hn1}/deadline"),
            &[("school_year", "TEST"), ("deadline", &day)],
        )
        .await;
    assert_eq!(r.status(), 303);
    let (_, page) = app.get_text(&c, &format!("/schools/{hn1}")).await;
    assert!(
        page.contains(&format!("value=\"{day}\"")),
        "the deadline is shown"
    );
}

#[tokio::test]
async fn after_downtime_a_deadline_rule_still_reminds_every_school_it_missed() {
    let env = env().await;
    let app = &env.app;
    // Hà Nội's deadline a day before Hồ Chí Minh City's: their "3 days before" fall on two
    // days in a row.
    env.set_deadline("HN-1", 10).await;
    env.set_deadline("HCM-1", 11).await;
    let r = env.three_days_before().await;
    let rule = r["id"].as_i64().unwrap();
    // Nothing ran on Hà Nội's day; the scheduler is back an hour after Hồ Chí Minh City's.
    let hcm_day = env.today + Duration::days(8);
    let back = VN
        .from_local_datetime(&hcm_day.and_hms_opt(20, 0, 0).unwrap())
        .unwrap()
        .with_timezone(&Utc);
    let t = env.tick(back).await;
    assert_eq!(t.occurrences, 1, "one run");
    let names: Vec<String> = env
        .messages("rule", rule)
        .await
        .into_iter()
        .map(|m| m.0)
        .collect();
    assert_eq!(
        names,
        vec!["Lê Văn Em", "Trần Thị Bình", "Võ Thị Mai"],
        "both schools' parents, once each"
    );
    let (_, d) = send(
        app,
        &env.admin,
        Method::GET,
        &format!("/api/v1/rules/{rule}"),
        Value::Null,
    )
    .await;
    assert_eq!(d["occurrences"][0]["missed"], 1, "{d}");
}
