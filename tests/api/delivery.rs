//! The delivery engine against real peers on loopback: an SMTP server, wiremock playing Zalo
//! ZNS, the eSMS gateway, a JSON SMS gateway and an app webhook.
use std::collections::HashMap;
use std::sync::Arc;

use chrono::{Duration, Utc};
use hi_outreach::config::Settings;
use hi_outreach::contacts::fields::Channel;
use hi_outreach::delivery::channels::{self, short_key, webhook::signature, Outbound};
use hi_outreach::delivery::entity::{event, message, provider};
use hi_outreach::delivery::outbox::{self, NewMessage, Outcome};
use hi_outreach::delivery::worker::Worker;
use hi_outreach::messaging::render::Rendered;
use hi_outreach::web::i18n::Lang;
use mailin_embedded::response;
use reqwest::Method;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Statement,
};
use serde_json::{json, Value};
use wiremock::matchers::{body_partial_json, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::{spawn_app_with, TestApp};
use crate::sinks::{smtp_that_hangs_up, smtp_that_refuses_service, SmtpSink};

const HEADER: &str = "school_code,si_number,full_name,date_of_birth,class_name,hi_status,guardian_name,guardian_relationship,guardian_phone,guardian_email,guardian_zalo,guardian_app_ref,consent_sms,consent_zalo,consent_email,consent_push\n";

/// Bình: every channel. Em: SMS, Zalo and e-mail. Lan (another province): e-mail only.
fn families() -> String {
    format!(
        "{HEADER}\
HN-1,0112345678,Nguyễn Văn An,05/09/2010,10A1,uninsured,Trần Thị Bình,mẹ,0912345678,binh.tran@example.vn,có,VSSID-0001,có,có,có,có\n\
HN-1,0112345679,Lê Thị Cúc,12/01/2011,9C,uninsured,Lê Văn Em,bố,0987654321,em.le@example.vn,có,,có,có,có,\n\
HCM-1,0212345670,Phạm Quốc Huy,03/03/2012,6A,uninsured,Phạm Thị Lan,mẹ,0903123456,khong.co@example.vn,,,không,,có,\n"
    )
}

struct Env {
    app: TestApp,
    token: String,
    binh: i64,
    em: i64,
    lan: i64,
}

async fn setup_with(customise: impl FnOnce(&mut Settings)) -> Env {
    let app = spawn_app_with(|s| {
        // Tests must not depend on the hour they run at.
        s.quiet_hours_sms = String::new();
        s.quiet_hours_zalo = String::new();
        s.quiet_hours_push = String::new();
        customise(s);
    })
    .await;
    app.create_school("HN-1", "Trường THCS Nguyễn Du", "01")
        .await;
    app.create_school("HCM-1", "Trường THCS Lê Lợi", "79").await;
    let admin = app.create_user("admin", None, &[]).await;
    let token = app.token_for(&admin).await;
    let r = app
        .api(
            &token,
            Method::POST,
            "/api/v1/students/import?dry_run=false",
        )
        .header("content-type", "text/csv")
        .body(families())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200, "{}", r.text().await.unwrap());
    let ids: Vec<i64> = {
        use hi_outreach::contacts::entity::guardian;
        guardian::Entity::find()
            .order_by_asc(guardian::Column::Id)
            .all(&app.db.conn)
            .await
            .unwrap()
            .into_iter()
            .map(|g| g.id)
            .collect()
    };
    assert_eq!(ids.len(), 3);
    Env {
        binh: ids[0],
        em: ids[1],
        lan: ids[2],
        app,
        token,
    }
}

async fn setup() -> Env {
    setup_with(|_| {}).await
}

impl Env {
    async fn template(&self, channel: &str, purpose: &str) -> i64 {
        let list = self
            .app
            .api_json(
                &self.token,
                Method::GET,
                &format!("/api/v1/templates?channel={channel}&language=vi&purpose={purpose}"),
            )
            .await;
        list[0]["id"].as_i64().expect("a default template")
    }

    async fn add_provider(&self, body: Value) -> Value {
        let r = self
            .app
            .api(&self.token, Method::POST, "/api/v1/providers")
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let v: Value = r.json().await.unwrap();
        assert_eq!(status, 201, "{v}");
        v
    }

    /// Queues one message through the API; returns its id.
    async fn queue(&self, guardian: i64, template: i64, fallback: &[i64], key: &str) -> i64 {
        let r = self
            .app
            .api(&self.token, Method::POST, "/api/v1/messages")
            .header("Idempotency-Key", key)
            .json(&json!({"guardian_id": guardian, "template_id": template, "fallback_template_ids": fallback}))
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let v: Value = r.json().await.unwrap();
        assert_eq!(status, 201, "{v}");
        v["message_id"].as_i64().unwrap()
    }

    fn worker(&self) -> Arc<Worker> {
        hi_outreach::worker_for(&self.app.state)
    }

    /// A worker with other settings (same database, secret and counters).
    fn worker_with(&self, change: impl FnOnce(&mut Settings)) -> Arc<Worker> {
        let mut settings = (*self.app.state.settings).clone();
        change(&mut settings);
        Worker::new(
            self.app.db.clone(),
            Arc::new(settings),
            self.app.state.i18n.clone(),
            self.app.state.secret().to_vec(),
            self.app.state.metrics.clone(),
        )
    }

    async fn message(&self, id: i64) -> message::Model {
        message::Entity::find_by_id(id)
            .one(&self.app.db.conn)
            .await
            .unwrap()
            .expect("message")
    }

    async fn events(&self, id: i64) -> Vec<String> {
        event::Entity::find()
            .filter(event::Column::MessageId.eq(id))
            .order_by_asc(event::Column::Id)
            .all(&self.app.db.conn)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.kind)
            .collect()
    }

    /// Makes every waiting retry due now (instead of sleeping through the backoff).
    async fn make_due(&self) {
        message::Entity::update_many()
            .col_expr(
                message::Column::NextAttemptAt,
                Expr::value(Utc::now() - Duration::seconds(1)),
            )
            .filter(message::Column::Status.is_in(["queued", "retrying"]))
            .exec(&self.app.db.conn)
            .await
            .unwrap();
    }

    async fn funnel(&self, query: &str) -> Value {
        self.app
            .api_json(
                &self.token,
                Method::GET,
                &format!("/api/v1/messages/funnel{query}"),
            )
            .await
    }
}

fn smtp_provider(port: u16) -> Value {
    json!({
        "name": "Máy chủ thư BHXH",
        "channel": "email",
        "kind": "smtp",
        "settings": {"host": "127.0.0.1", "port": port, "security": "none",
                     "from_address": "bhyt@example.vn", "from_name": "BHXH Việt Nam"},
        "timeout_ms": 5000,
        "rate_per_sec": 1000,
    })
}

fn sms_json_provider(base: &str) -> Value {
    json!({
        "name": "Cổng SMS",
        "channel": "sms",
        "kind": "sms_json",
        "base_url": format!("{base}/sms"),
        "credentials": {"token": "sms-token"},
        "timeout_ms": 300,
        "rate_per_sec": 100000,
        "concurrency": 32,
    })
}

fn webhook_provider(base: &str) -> Value {
    json!({
        "name": "Ứng dụng VssID",
        "channel": "push",
        "kind": "webhook",
        "base_url": format!("{base}/vssid/notify"),
        "credentials": {"signing_secret": "hook-secret", "receipt_secret": "receipt-secret"},
    })
}

fn header_of(mail: &mailparse::ParsedMail, name: &str) -> String {
    mail.headers
        .iter()
        .find(|h| h.get_key().eq_ignore_ascii_case(name))
        .map(|h| h.get_value())
        .unwrap_or_else(|| panic!("no {name} header"))
}

fn part(mail: &mailparse::ParsedMail, mime: &str) -> String {
    if mail.ctype.mimetype == mime {
        return mail.get_body().unwrap();
    }
    mail.subparts
        .iter()
        .find_map(|p| (p.ctype.mimetype == mime).then(|| p.get_body().unwrap()))
        .unwrap_or_else(|| panic!("no {mime} part"))
}

#[tokio::test]
async fn email_goes_through_a_real_smtp_server_with_vietnamese_intact() {
    let env = setup().await;
    let sink = SmtpSink::start();
    env.add_provider(smtp_provider(sink.port)).await;
    let tpl = env.template("email", "deadline_reminder").await;
    let id = env.queue(env.binh, tpl, &[], "mail-1").await;
    // The same request again returns the same message.
    let again = env
        .app
        .api(&env.token, Method::POST, "/api/v1/messages")
        .header("Idempotency-Key", "mail-1")
        .json(&json!({"guardian_id": env.binh, "template_id": tpl}))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status().as_u16(), 200);
    assert_eq!(
        again.json::<Value>().await.unwrap()["message_id"],
        json!(id)
    );

    assert_eq!(env.worker().run_once(Channel::Email).await.unwrap(), 1);
    let received = sink.received();
    assert_eq!(received.len(), 1);
    let mail = mailparse::parse_mail(&received[0]).unwrap();
    assert_eq!(
        header_of(&mail, "Subject"),
        "Nhắc hạn tham gia BHYT học sinh – Nguyễn Văn An"
    );
    assert!(header_of(&mail, "From").contains("BHXH Việt Nam"));
    assert!(header_of(&mail, "To").contains("binh.tran@example.vn"));
    let text = part(&mail, "text/plain");
    assert!(text.contains("Kính gửi Trần Thị Bình"), "{text}");
    let html = part(&mail, "text/html");
    assert!(html.contains("<strong>Nguyễn Văn An</strong>"), "{html}");
    let unsubscribe = header_of(&mail, "List-Unsubscribe");
    assert!(
        unsubscribe.starts_with(&format!("<{}/", env.app.address)),
        "{unsubscribe}"
    );
    assert_eq!(
        header_of(&mail, "List-Unsubscribe-Post"),
        "List-Unsubscribe=One-Click"
    );
    let m = env.message(id).await;
    assert_eq!(m.status, "sent");
    assert_eq!(m.attempts, 1);
    assert_eq!(
        Some(header_of(&mail, "Message-ID")),
        m.provider_message_id,
        "the Message-ID is kept to match bounces"
    );
    assert_eq!(env.events(id).await, ["queued", "sent"]);

    // The open pixel records an open once per fetch, and a forged one records nothing.
    let start = html.find("/o/").expect("an open pixel");
    let end = html[start..].find('"').unwrap() + start;
    let pixel = &html[start..end];
    let r = env.app.get(&env.app.client, pixel).await;
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.headers()["content-type"], "image/gif");
    let forged = pixel.replace(".gif", "x.gif");
    assert_eq!(env.app.status(&env.app.client, &forged).await, 200);
    let funnel = env.funnel("").await;
    assert_eq!(funnel["sent"], 1, "{funnel}");
    assert_eq!(funnel["opened"], 1, "{funnel}");

    // The delivery log shows it with its events.
    let detail = env
        .app
        .api_json(&env.token, Method::GET, &format!("/api/v1/messages/{id}"))
        .await;
    assert_eq!(detail["status"], "sent");
    assert_eq!(
        detail["content"]["subject"],
        "Nhắc hạn tham gia BHYT học sinh – Nguyễn Văn An"
    );
    let kinds: Vec<&str> = detail["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert!(kinds.contains(&"opened"), "{kinds:?}");

    // The mail client's one-click unsubscribe: recorded against this message, and the parent is
    // not reachable by e-mail any more.
    let url = unsubscribe
        .trim_start_matches('<')
        .trim_end_matches('>')
        .to_string();
    let r = reqwest::Client::new()
        .post(&url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("List-Unsubscribe=One-Click")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(env.funnel("").await["unsubscribed"], 1);
    assert!(env.events(id).await.contains(&"unsubscribed".to_string()));
    let r = env
        .app
        .api(&env.token, Method::POST, "/api/v1/messages")
        .json(&json!({"guardian_id": env.binh, "template_id": tpl}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 422);
}

#[tokio::test]
async fn open_tracking_can_be_switched_off() {
    let env = setup_with(|s| s.track_opens = false).await;
    let tpl = env.template("email", "deadline_reminder").await;
    let id = env.queue(env.binh, tpl, &[], "no-pixel").await;
    let m = env.message(id).await;
    let content: Value = serde_json::from_str(m.content.as_deref().unwrap()).unwrap();
    let html = content["html"].as_str().unwrap();
    assert!(!html.contains("/o/"), "{html}");
    // A pixel of a message sent while tracking was on counts nothing now.
    let pixel = hi_outreach::delivery::tracking::open_pixel_url(
        &env.app.address,
        env.app.state.secret(),
        &m.idempotency_key,
    );
    assert_eq!(
        env.app
            .client
            .get(&pixel)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        200
    );
    assert!(!env.events(id).await.contains(&"opened".to_string()));
}

#[tokio::test]
async fn smtp_refusals_end_retrying_sent_or_dead_with_attempts_counted() {
    let env = setup_with(|s| s.max_attempts = 3).await;
    let sink = SmtpSink::start();
    env.add_provider(smtp_provider(sink.port)).await;
    let tpl = env.template("email", "deadline_reminder").await;
    let w = env.worker();

    // 451 (try later), then accepted.
    sink.refuse_next(vec![response::INTERNAL_ERROR]);
    let id = env.queue(env.binh, tpl, &[], "m-451").await;
    assert_eq!(w.run_once(Channel::Email).await.unwrap(), 1);
    let m = env.message(id).await;
    assert_eq!(
        (m.status.as_str(), m.attempts, m.error_class.as_deref()),
        ("retrying", 1, Some("smtp_transient"))
    );
    assert!(m.next_attempt_at > Utc::now() - Duration::seconds(1));
    assert_eq!(w.run_once(Channel::Email).await.unwrap(), 0, "not due yet");
    env.make_due().await;
    assert_eq!(w.run_once(Channel::Email).await.unwrap(), 1);
    let m = env.message(id).await;
    assert_eq!((m.status.as_str(), m.attempts), ("sent", 2));
    assert_eq!(m.error_class, None);
    assert_eq!(sink.received().len(), 1);

    // 550: the mailbox does not exist — dead at once, with the reason.
    sink.unknown_mailbox("khong.co");
    let lan = env.queue(env.lan, tpl, &[], "m-550").await;
    // 554: refused for good, not for the address.
    sink.refuse_next(vec![response::TRANSACTION_FAILED]);
    let em = env.queue(env.em, tpl, &[], "m-554").await;
    // One at a time, so the scripted refusal meets Em's message.
    message::Entity::update_many()
        .col_expr(
            message::Column::NextAttemptAt,
            Expr::value(Utc::now() + Duration::hours(1)),
        )
        .filter(message::Column::Id.eq(lan))
        .exec(&env.app.db.conn)
        .await
        .unwrap();
    assert_eq!(w.run_once(Channel::Email).await.unwrap(), 1);
    env.make_due().await;
    assert_eq!(w.run_once(Channel::Email).await.unwrap(), 1);
    let m = env.message(lan).await;
    assert_eq!(
        (m.status.as_str(), m.attempts, m.error_class.as_deref()),
        ("dead", 1, Some("invalid_recipient"))
    );
    assert_eq!(m.last_error.as_deref(), Some("SMTP 550"));
    let m = env.message(em).await;
    assert_eq!(
        (m.status.as_str(), m.attempts, m.error_class.as_deref()),
        ("dead", 1, Some("smtp_permanent"))
    );
    // The dead-letter list, with reasons.
    let dead = env
        .app
        .api_json(&env.token, Method::GET, "/api/v1/messages?status=dead")
        .await;
    assert_eq!(dead["total"], 2, "{dead}");
    assert!(dead["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|m| m["last_error"].as_str().unwrap().starts_with("SMTP 55")));
    let funnel = env.funnel("").await;
    assert_eq!(
        (funnel["sent"].as_i64(), funnel["dead"].as_i64()),
        (Some(1), Some(2))
    );
}

#[tokio::test]
async fn a_connection_dropped_mid_send_is_retried_until_attempts_run_out() {
    let env = setup_with(|s| s.max_attempts = 2).await;
    let port = smtp_that_hangs_up().await;
    env.add_provider(smtp_provider(port)).await;
    let tpl = env.template("email", "deadline_reminder").await;
    let id = env.queue(env.binh, tpl, &[], "drop-1").await;
    let w = env.worker();
    assert_eq!(w.run_once(Channel::Email).await.unwrap(), 1);
    let m = env.message(id).await;
    assert_eq!((m.status.as_str(), m.attempts), ("retrying", 1));
    let first_class = m.error_class.clone().unwrap();
    assert!(
        ["network", "timeout", "smtp_transient"].contains(&first_class.as_str()),
        "{first_class}"
    );
    env.make_due().await;
    assert_eq!(w.run_once(Channel::Email).await.unwrap(), 1);
    let m = env.message(id).await;
    assert_eq!((m.status.as_str(), m.attempts), ("dead", 2));
    assert_eq!(env.events(id).await, ["queued", "retry", "dead"]);
}

#[tokio::test]
async fn zalo_esms_and_the_app_webhook_get_what_their_apis_expect() {
    let env = setup().await;
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/message/template"))
        .and(header("access_token", "zalo-token"))
        .and(body_partial_json(json!({
            "phone": "84912345678",
            "template_id": "300001",
            "template_data": {"parent_name": "Trần Thị Bình", "student_name": "Nguyễn Văn An"},
        })))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"error": 0, "message": "Success", "data": {"msg_id": "zns-1", "sent_time": "1700000000000"}}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(
            "/MainService.svc/json/SendMultipleMessage_V4_post_json/",
        ))
        .and(body_partial_json(json!({
            "ApiKey": "esms-key", "SecretKey": "esms-secret", "Brandname": "BHXHVN",
            "Phone": "0912345678", "SmsType": "2",
        })))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"CodeResult": "100", "SMSID": "sms-1"})),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/vssid/notify"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": "push-1"})))
        .expect(1)
        .mount(&server)
        .await;
    env.add_provider(json!({
        "name": "Zalo OA BHXH", "channel": "zalo", "kind": "zalo_zns", "base_url": server.uri(),
        "credentials": {"access_token": "zalo-token"},
    }))
    .await;
    env.add_provider(json!({
        "name": "eSMS", "channel": "sms", "kind": "esms", "base_url": server.uri(),
        "settings": {"brandname": "BHXHVN"},
        "credentials": {"api_key": "esms-key", "secret_key": "esms-secret"},
    }))
    .await;
    env.add_provider(webhook_provider(&server.uri())).await;
    let zalo = env
        .queue(
            env.binh,
            env.template("zalo", "deadline_reminder").await,
            &[],
            "z",
        )
        .await;
    let sms = env
        .queue(
            env.binh,
            env.template("sms", "deadline_reminder").await,
            &[],
            "s",
        )
        .await;
    let push = env
        .queue(
            env.binh,
            env.template("push", "deadline_reminder").await,
            &[],
            "p",
        )
        .await;
    let w = env.worker();
    for c in [Channel::Zalo, Channel::Sms, Channel::Push] {
        assert_eq!(w.run_once(c).await.unwrap(), 1, "{c:?}");
    }
    for (id, provider_id) in [(zalo, "zns-1"), (sms, "sms-1"), (push, "push-1")] {
        let m = env.message(id).await;
        assert_eq!(m.status, "sent", "{}", m.channel);
        assert_eq!(m.provider_message_id.as_deref(), Some(provider_id));
    }
    let requests = server.received_requests().await.unwrap();
    let esms: Value = requests
        .iter()
        .find(|r| r.url.path().starts_with("/MainService"))
        .unwrap()
        .body_json()
        .unwrap();
    assert!(
        esms["Content"].as_str().unwrap().starts_with("BHYT: "),
        "{esms}"
    );
    assert_eq!(
        esms["RequestId"].as_str().unwrap(),
        short_key(&env.message(sms).await.idempotency_key),
        "the gateway refuses a RequestId it has seen: a re-send cannot become a second SMS"
    );
    // The webhook: signed body, timestamp, idempotency key; Vietnamese intact.
    let hook = requests
        .iter()
        .find(|r| r.url.path() == "/vssid/notify")
        .unwrap();
    let ts: i64 = hook.headers["x-hio-timestamp"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((Utc::now().timestamp() - ts).abs() < 60);
    assert_eq!(
        hook.headers["x-hio-signature"].to_str().unwrap(),
        signature(b"hook-secret", ts, &hook.body)
    );
    assert_eq!(
        hook.headers["idempotency-key"].to_str().unwrap(),
        short_key(&env.message(push).await.idempotency_key)
    );
    let body: Value = hook.body_json().unwrap();
    assert_eq!(body["app_ref"], "VSSID-0001");
    assert_eq!(body["title"], "Nhắc hạn BHYT học sinh");
    assert!(body["body"].as_str().unwrap().contains("Nguyễn Văn An"));

    // The link is tracked: a click is recorded and redirects to the target written by the
    // platform; a tampered link goes nowhere.
    let link = body["link"].as_str().unwrap();
    assert!(
        link.starts_with(&format!("{}/r/", env.app.address)),
        "{link}"
    );
    let r = env.app.client.get(link).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 302);
    let target = r.headers()["location"].to_str().unwrap().to_string();
    assert!(target.starts_with("http"), "{target}");
    assert!(!target.contains("/r/"));
    let mut tampered = link.to_string();
    tampered.pop();
    tampered.push(if link.ends_with('A') { 'B' } else { 'A' });
    assert_eq!(
        env.app
            .client
            .get(&tampered)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        404
    );
    let evil = format!(
        "{}/r/{}.{}.{}",
        env.app.address,
        "cDplMQ",
        "aHR0cHM6Ly9ldmlsLmV4YW1wbGU",
        link.rsplit('.').next().unwrap()
    );
    assert_eq!(
        env.app
            .client
            .get(&evil)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        404
    );
    assert_eq!(env.funnel("?channel=push").await["clicked"], 1);
}

#[tokio::test]
async fn http_faults_retry_with_backoff_die_and_can_be_retried() {
    let env = setup_with(|s| s.max_attempts = 2).await;
    let server = MockServer::start().await;
    env.add_provider(sms_json_provider(&server.uri())).await;
    let id = env
        .queue(
            env.binh,
            env.template("sms", "deadline_reminder").await,
            &[],
            "f",
        )
        .await;
    let w = env.worker();
    let sms = Mock::given(method("POST"))
        .and(path("/sms"))
        .and(header("authorization", "Bearer sms-token"));

    // 500: retry later.
    Mock::given(method("POST"))
        .and(path("/sms"))
        .respond_with(ResponseTemplate::new(500))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    assert_eq!(w.run_once(Channel::Sms).await.unwrap(), 1);
    let m = env.message(id).await;
    assert_eq!(
        (m.status.as_str(), m.attempts, m.error_class.as_deref()),
        ("retrying", 1, Some("server"))
    );
    // 429 on the last attempt: dead.
    Mock::given(method("POST"))
        .and(path("/sms"))
        .respond_with(ResponseTemplate::new(429))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    env.make_due().await;
    assert_eq!(w.run_once(Channel::Sms).await.unwrap(), 1);
    let m = env.message(id).await;
    assert_eq!(
        (m.status.as_str(), m.attempts, m.error_class.as_deref()),
        ("dead", 2, Some("rate_limited"))
    );
    // "Retry failures" puts the dead ones back, from the first attempt.
    let r = env
        .app
        .api(&env.token, Method::POST, "/api/v1/messages/retry")
        .json(&json!({"channel": "sms"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["requeued"], 1);
    let m = env.message(id).await;
    assert_eq!((m.status.as_str(), m.attempts), ("queued", 0));
    // No answer within the provider's timeout (300 ms): retry later.
    Mock::given(method("POST"))
        .and(path("/sms"))
        .respond_with(ResponseTemplate::new(200).set_delay(std::time::Duration::from_secs(3)))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    assert_eq!(w.run_once(Channel::Sms).await.unwrap(), 1);
    let m = env.message(id).await;
    assert_eq!(
        (m.status.as_str(), m.attempts, m.error_class.as_deref()),
        ("retrying", 1, Some("timeout"))
    );
    sms.respond_with(ResponseTemplate::new(202).set_body_json(json!({"id": "gw-7"})))
        .mount(&server)
        .await;
    env.make_due().await;
    assert_eq!(w.run_once(Channel::Sms).await.unwrap(), 1);
    let m = env.message(id).await;
    assert_eq!((m.status.as_str(), m.attempts), ("sent", 2));
    assert_eq!(m.provider_message_id.as_deref(), Some("gw-7"));
    assert_eq!(
        env.events(id).await,
        ["queued", "retry", "dead", "retry", "sent"]
    );
    // Every attempt carried the same idempotency key and the Vietnamese text.
    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 4);
    let keys: std::collections::HashSet<String> = requests
        .iter()
        .map(|r| r.headers["idempotency-key"].to_str().unwrap().to_string())
        .collect();
    assert_eq!(keys.len(), 1);
    let body: Value = requests[3].body_json().unwrap();
    assert_eq!(body["to"], "+84912345678");
    assert!(body["text"].as_str().unwrap().contains("BHYT"));
}

#[tokio::test]
async fn a_worker_dying_between_acceptance_and_commit_causes_one_resend_with_the_same_key() {
    let env = setup().await;
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/vssid/notify"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": "push-9"})))
        .mount(&server)
        .await;
    let p = env.add_provider(webhook_provider(&server.uri())).await;
    let id = env
        .queue(
            env.binh,
            env.template("push", "deadline_reminder").await,
            &[],
            "crash",
        )
        .await;
    // Worker A claims with a short lease and hands the message to the provider…
    let claimed = outbox::claim(
        &env.app.db,
        Channel::Push,
        "worker-a",
        10,
        Duration::milliseconds(300),
    )
    .await
    .unwrap();
    assert_eq!(claimed.len(), 1);
    let m = claimed[0].clone();
    let row = provider::Entity::find_by_id(p["id"].as_i64().unwrap())
        .one(&env.app.db.conn)
        .await
        .unwrap()
        .unwrap();
    let sender = channels::build(&row, env.app.outbox.path().to_str().unwrap()).unwrap();
    let accepted = sender
        .send(&Outbound {
            message_id: m.id,
            idempotency_key: m.idempotency_key.clone(),
            recipient: m.recipient.clone().unwrap(),
            language: m.language.clone(),
            content: serde_json::from_str(m.content.as_deref().unwrap()).unwrap(),
            one_click_unsubscribe: None,
        })
        .await
        .expect("accepted");
    // …and dies before recording it. Its claim is not due until the lease runs out.
    let b = env.worker();
    assert_eq!(b.run_once(Channel::Push).await.unwrap(), 0);
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    assert_eq!(b.run_once(Channel::Push).await.unwrap(), 1);
    // A's late commit is refused: B holds the message now.
    let late = outbox::record(
        &env.app.db,
        "worker-a",
        vec![(
            m,
            Outcome::Sent {
                provider_id: Some(row.id),
                accepted,
                reserved: false,
                content: None,
            },
        )],
        chrono_tz::Asia::Ho_Chi_Minh,
    )
    .await
    .unwrap();
    assert!(late.is_empty());
    let m = env.message(id).await;
    assert_eq!((m.status.as_str(), m.attempts), ("sent", 2));
    assert_eq!(m.leased_by, None);
    assert_eq!(env.events(id).await, ["queued", "sent"]);
    assert_eq!(b.run_once(Channel::Push).await.unwrap(), 0);
    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 2, "sent once more, not more");
    assert_eq!(
        requests[0].headers["idempotency-key"], requests[1].headers["idempotency-key"],
        "the app deduplicates by this key"
    );
}

#[tokio::test]
async fn two_workers_send_ten_thousand_messages_exactly_once() {
    let env = setup().await;
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/sms"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": "x"})))
        .mount(&server)
        .await;
    env.add_provider(sms_json_provider(&server.uri())).await;
    let first = env
        .queue(
            env.binh,
            env.template("sms", "deadline_reminder").await,
            &[],
            "seed",
        )
        .await;
    let seed = env.message(first).await;
    let content: Rendered = serde_json::from_str(seed.content.as_deref().unwrap()).unwrap();
    const N: usize = 10_000;
    let msgs: Vec<NewMessage> = (0..N)
        .map(|i| NewMessage {
            idempotency_key: format!("load:{i}"),
            source_kind: outbox::source::MANUAL,
            source_id: None,
            occurrence_id: None,
            campaign_id: None,
            school_id: seed.school_id,
            guardian_id: env.binh,
            channel: Channel::Sms,
            template_id: seed.template_id,
            template_version: seed.template_version,
            language: Lang::Vi,
            recipient: seed.recipient.clone().unwrap(),
            content: Some(content.clone()),
            student_ids: vec![],
            fallback: vec![],
            fallback_of: None,
            not_before: Utc::now(),
            max_attempts: 3,
        })
        .collect();
    let tx = env.app.db.begin_write().await.unwrap();
    let ids = outbox::enqueue(&*tx, msgs).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(ids.len(), N);

    let run = |w: Arc<Worker>| {
        tokio::spawn(async move {
            let mut claimed = 0;
            loop {
                match w.run_once(Channel::Sms).await.unwrap() {
                    0 => return claimed,
                    n => claimed += n,
                }
            }
        })
    };
    let (a, b) = (run(env.worker()), run(env.worker()));
    let (a, b) = (a.await.unwrap(), b.await.unwrap());
    assert_eq!(a + b, N + 1, "no message claimed twice");
    assert!(a > 0 && b > 0, "both workers took part: {a} + {b}");
    let sent: Vec<(String, i64)> = message::Entity::find()
        .select_only()
        .column(message::Column::Status)
        .column_as(Expr::col(message::Column::Id).count(), "n")
        .group_by(message::Column::Status)
        .into_tuple()
        .all(&env.app.db.conn)
        .await
        .unwrap();
    assert_eq!(sent, vec![("sent".to_string(), (N + 1) as i64)]);
    let requests = server.received_requests().await.unwrap();
    let mut per_key: HashMap<String, usize> = HashMap::new();
    for r in &requests {
        *per_key
            .entry(r.headers["idempotency-key"].to_str().unwrap().into())
            .or_default() += 1;
    }
    assert_eq!(per_key.len(), N + 1);
    assert!(per_key.values().all(|n| *n == 1), "each sent exactly once");
}

/// What the providers page says a provider sent today.
async fn sent_today(env: &Env, provider: i64) -> i64 {
    let list = env
        .app
        .api_json(&env.token, Method::GET, "/api/v1/providers")
        .await;
    list.as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == provider)
        .expect("the provider")["sent_today"]
        .as_i64()
        .unwrap()
}

/// The next midnight in Vietnam.
fn next_vietnam_midnight() -> chrono::DateTime<Utc> {
    let tz = chrono_tz::Asia::Ho_Chi_Minh;
    Utc::now()
        .with_timezone(&tz)
        .date_naive()
        .succ_opt()
        .unwrap()
        .and_hms_opt(0, 0, 0)
        .unwrap()
        .and_local_timezone(tz)
        .unwrap()
        .with_timezone(&Utc)
}

#[tokio::test]
async fn two_workers_together_send_no_more_than_the_daily_quota() {
    let env = setup().await;
    let server = MockServer::start().await;
    // Slow answers, so that each worker plans its batches while the other's are being sent
    // (counting sends only once recorded would let each of them use the whole quota).
    Mock::given(method("POST"))
        .and(path("/sms"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"id": "q"}))
                .set_delay(std::time::Duration::from_millis(300)),
        )
        .mount(&server)
        .await;
    const QUOTA: usize = 30;
    const N: usize = 100;
    let mut p = sms_json_provider(&server.uri());
    p["daily_quota"] = json!(QUOTA);
    p["timeout_ms"] = json!(5000);
    let provider = env.add_provider(p).await["id"].as_i64().unwrap();
    let first = env
        .queue(
            env.binh,
            env.template("sms", "deadline_reminder").await,
            &[],
            "quota-seed",
        )
        .await;
    let seed = env.message(first).await;
    let content: Rendered = serde_json::from_str(seed.content.as_deref().unwrap()).unwrap();
    let msgs: Vec<NewMessage> = (1..N)
        .map(|i| NewMessage {
            idempotency_key: format!("quota:{i}"),
            source_kind: outbox::source::MANUAL,
            source_id: None,
            occurrence_id: None,
            campaign_id: None,
            school_id: seed.school_id,
            guardian_id: env.binh,
            channel: Channel::Sms,
            template_id: seed.template_id,
            template_version: seed.template_version,
            language: Lang::Vi,
            recipient: seed.recipient.clone().unwrap(),
            content: Some(content.clone()),
            student_ids: vec![],
            fallback: vec![],
            fallback_of: None,
            not_before: Utc::now(),
            max_attempts: 3,
        })
        .collect();
    let tx = env.app.db.begin_write().await.unwrap();
    assert_eq!(outbox::enqueue(&*tx, msgs).await.unwrap().len(), N - 1);
    tx.commit().await.unwrap();

    let run = |w: Arc<Worker>| {
        tokio::spawn(async move {
            let mut claimed = 0;
            loop {
                match w.run_once(Channel::Sms).await.unwrap() {
                    0 => return claimed,
                    n => claimed += n,
                }
            }
        })
    };
    let batches = |s: &mut Settings| s.worker_batch = 20;
    let (a, b) = (run(env.worker_with(batches)), run(env.worker_with(batches)));
    let (a, b) = (a.await.unwrap(), b.await.unwrap());
    assert!(a > 0 && b > 0, "both workers took part: {a} + {b}");
    assert_eq!(a + b, N, "every message claimed once");

    let requests = server.received_requests().await.unwrap();
    let keys: std::collections::HashSet<String> = requests
        .iter()
        .map(|r| r.headers["idempotency-key"].to_str().unwrap().to_string())
        .collect();
    assert_eq!(
        (requests.len(), keys.len()),
        (QUOTA, QUOTA),
        "exactly the quota was sent today"
    );
    let all = message::Entity::find()
        .filter(message::Column::Channel.eq("sms"))
        .all(&env.app.db.conn)
        .await
        .unwrap();
    let sent = all.iter().filter(|m| m.status == "sent").count();
    assert_eq!(sent, QUOTA);
    let midnight = next_vietnam_midnight();
    let waiting: Vec<_> = all.iter().filter(|m| m.status != "sent").collect();
    assert_eq!(waiting.len(), N - QUOTA);
    for m in waiting {
        assert_eq!(
            (m.status.as_str(), m.attempts, m.next_attempt_at),
            ("queued", 0, midnight),
            "the rest wait for the next Vietnam day, no attempt counted"
        );
    }
    assert_eq!(sent_today(&env, provider).await, QUOTA as i64);
    assert_eq!(env.worker().run_once(Channel::Sms).await.unwrap(), 0);
}

/// A quiet window around the current time in Vietnam.
fn window_around_now() -> String {
    let tz: chrono_tz::Tz = chrono_tz::Asia::Ho_Chi_Minh;
    let now = Utc::now().with_timezone(&tz);
    let start = (now - Duration::hours(1)).format("%H:%M");
    let end = (now + Duration::hours(1)).format("%H:%M");
    format!("{start}-{end}")
}

#[tokio::test]
async fn quiet_hours_hold_messages_back_without_dropping_them() {
    let env = setup_with(|s| s.quiet_hours_sms = window_around_now()).await;
    // No SMS or e-mail provider: the outbox folder takes the messages.
    let sms = env
        .queue(
            env.binh,
            env.template("sms", "deadline_reminder").await,
            &[],
            "q1",
        )
        .await;
    let email = env
        .queue(
            env.binh,
            env.template("email", "deadline_reminder").await,
            &[],
            "q2",
        )
        .await;
    let w = env.worker();
    assert_eq!(w.run_once(Channel::Sms).await.unwrap(), 0);
    assert_eq!(
        w.run_once(Channel::Email).await.unwrap(),
        1,
        "e-mail has no quiet hours"
    );
    assert_eq!(env.message(sms).await.status, "queued");
    assert_eq!(env.message(email).await.status, "sent");
    // When the window is over, the message goes.
    let later = env.worker_with(|s| s.quiet_hours_sms = String::new());
    assert_eq!(later.run_once(Channel::Sms).await.unwrap(), 1);
    let m = env.message(sms).await;
    assert_eq!((m.status.as_str(), m.attempts), ("sent", 1));
    let files: Vec<String> = ["sms", "email"]
        .iter()
        .flat_map(|c| std::fs::read_dir(env.app.outbox.path().join(c)).unwrap())
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect();
    assert_eq!(files.len(), 2);
    assert!(
        files.iter().any(|f| f.contains("Nguyễn Văn An")),
        "{files:?}"
    );
}

#[tokio::test]
async fn quotas_defer_and_withdrawn_consent_suppresses() {
    let env = setup().await;
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/sms"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    let mut p = sms_json_provider(&server.uri());
    p["daily_quota"] = json!(1);
    env.add_provider(p).await;
    let tpl = env.template("sms", "deadline_reminder").await;
    let a = env.queue(env.binh, tpl, &[], "quota-a").await;
    let b = env.queue(env.em, tpl, &[], "quota-b").await;
    assert_eq!(env.worker().run_once(Channel::Sms).await.unwrap(), 2);
    let (ma, mb) = (env.message(a).await, env.message(b).await);
    let mut statuses = [ma.status.as_str(), mb.status.as_str()];
    statuses.sort();
    assert_eq!(statuses, ["queued", "sent"]);
    let waiting = if ma.status == "queued" { &ma } else { &mb };
    assert_eq!(waiting.attempts, 0, "a deferral is not an attempt");
    assert!(waiting.next_attempt_at > Utc::now() + Duration::minutes(1));
    assert_eq!(server.received_requests().await.unwrap().len(), 1);

    // Em says no to SMS after the message was queued: it is not sent.
    let c = env.queue(env.em, tpl, &[], "consent").await;
    let r = env
        .app
        .api(
            &env.token,
            Method::POST,
            &format!("/api/v1/guardians/{}/consents", env.em),
        )
        .json(&json!({"channel": "sms", "granted": false, "source": "online"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200, "{}", r.text().await.unwrap());
    assert_eq!(env.worker().run_once(Channel::Sms).await.unwrap(), 1);
    assert_eq!(env.message(c).await.status, "suppressed");
    assert_eq!(env.events(c).await, ["queued", "suppressed"]);
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
}

#[tokio::test]
async fn zalo_non_users_get_the_sms_fallback_when_they_consented_to_sms() {
    let env = setup().await;
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/message/template"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"error": -118, "message": "Zalo account not existed"})),
        )
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/sms"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": "fb-1"})))
        .mount(&server)
        .await;
    env.add_provider(json!({
        "name": "Zalo OA", "channel": "zalo", "kind": "zalo_zns", "base_url": server.uri(),
        "credentials": {"access_token": "t"},
    }))
    .await;
    env.add_provider(sms_json_provider(&server.uri())).await;
    let zalo_tpl = env.template("zalo", "deadline_reminder").await;
    let sms_tpl = env.template("sms", "deadline_reminder").await;
    let em = env.queue(env.em, zalo_tpl, &[sms_tpl], "fb-em").await;
    // Bình takes SMS back before the round: no fallback for her.
    let binh = env.queue(env.binh, zalo_tpl, &[sms_tpl], "fb-binh").await;
    env.app
        .api(
            &env.token,
            Method::POST,
            &format!("/api/v1/guardians/{}/consents", env.binh),
        )
        .json(&json!({"channel": "sms", "granted": false, "source": "online"}))
        .send()
        .await
        .unwrap();
    let w = env.worker();
    assert_eq!(w.run_once(Channel::Zalo).await.unwrap(), 2);
    for id in [em, binh] {
        let m = env.message(id).await;
        assert_eq!(
            (m.status.as_str(), m.error_class.as_deref()),
            ("dead", Some("not_on_channel"))
        );
        assert_eq!(m.last_error.as_deref(), Some("ZNS error -118"));
    }
    let fallbacks = message::Entity::find()
        .filter(message::Column::FallbackOf.is_not_null())
        .all(&env.app.db.conn)
        .await
        .unwrap();
    assert_eq!(fallbacks.len(), 1);
    assert_eq!(fallbacks[0].fallback_of, Some(em));
    assert_eq!(fallbacks[0].channel, "sms");
    assert_eq!(env.events(em).await, ["queued", "dead", "fallback"]);
    assert_eq!(w.run_once(Channel::Sms).await.unwrap(), 1);
    assert_eq!(env.message(fallbacks[0].id).await.status, "sent");
    let sms: Vec<Value> = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path() == "/sms")
        .map(|r| r.body_json().unwrap())
        .collect();
    assert_eq!(sms.len(), 1);
    assert_eq!(sms[0]["to"], "+84987654321");
    // The fallback is not queued twice if the round is repeated.
    assert_eq!(w.run_once(Channel::Zalo).await.unwrap(), 0);
}

async fn post_receipt(env: &Env, provider: i64, body: &Value, ts: i64, secret: &[u8]) -> u16 {
    let raw = serde_json::to_vec(body).unwrap();
    reqwest::Client::new()
        .post(env.app.url(&format!("/hooks/receipts/{provider}")))
        .header("content-type", "application/json")
        .header("X-HIO-Timestamp", ts.to_string())
        .header("X-HIO-Signature", signature(secret, ts, &raw))
        .body(raw)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn receipts_count_only_when_signed_recent_and_about_a_known_message() {
    let env = setup().await;
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/vssid/notify"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": "push-1"})))
        .mount(&server)
        .await;
    let p = env.add_provider(webhook_provider(&server.uri())).await;
    let pid = p["id"].as_i64().unwrap();
    let id = env
        .queue(
            env.binh,
            env.template("push", "deadline_reminder").await,
            &[],
            "rc",
        )
        .await;
    env.worker().run_once(Channel::Push).await.unwrap();
    let now = Utc::now().timestamp();
    let good = json!({"provider_message_id": "push-1", "status": "delivered", "event_id": "e-1"});
    let secret = b"receipt-secret";

    // Unsigned.
    let r = reqwest::Client::new()
        .post(env.app.url(&format!("/hooks/receipts/{pid}")))
        .json(&good)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    // Signed with another key, too old, about an unknown message, to an unknown provider.
    assert_eq!(post_receipt(&env, pid, &good, now, b"guess").await, 400);
    assert_eq!(
        post_receipt(&env, pid, &good, now - 3600, secret).await,
        400
    );
    let unknown = json!({"provider_message_id": "nope", "status": "delivered"});
    assert_eq!(post_receipt(&env, pid, &unknown, now, secret).await, 404);
    assert_eq!(post_receipt(&env, pid + 100, &good, now, secret).await, 404);
    let odd = json!({"provider_message_id": "push-1", "status": "teleported"});
    assert_eq!(post_receipt(&env, pid, &odd, now, secret).await, 422);
    assert_eq!(env.message(id).await.status, "sent");

    // A good one counts once, even when the provider posts it again.
    assert_eq!(post_receipt(&env, pid, &good, now, secret).await, 200);
    assert_eq!(post_receipt(&env, pid, &good, now, secret).await, 200);
    assert_eq!(env.message(id).await.status, "delivered");
    let read = json!({"provider_message_id": "push-1", "status": "read", "event_id": "e-2"});
    assert_eq!(post_receipt(&env, pid, &read, now, secret).await, 200);
    let m = env.message(id).await;
    assert_eq!(m.status, "read");
    assert!(m.delivered_at.is_some() && m.read_at.is_some());
    assert_eq!(
        env.events(id).await,
        ["queued", "sent", "delivered", "read"]
    );
    let funnel = env.funnel("").await;
    assert_eq!(
        (
            funnel["sent"].as_i64(),
            funnel["delivered"].as_i64(),
            funnel["read"].as_i64()
        ),
        (Some(1), Some(1), Some(1))
    );
}

#[tokio::test]
async fn provider_credentials_are_write_only_and_admins_only() {
    let env = setup().await;
    let created = env
        .add_provider(json!({
            "name": "eSMS", "channel": "sms", "kind": "esms",
            "settings": {"brandname": "BHXHVN"},
            "credentials": {"api_key": "very-secret-key-1", "secret_key": "very-secret-key-2"},
        }))
        .await;
    let id = created["id"].as_i64().unwrap();
    assert_eq!(created["credentials_set"], json!(["api_key", "secret_key"]));
    let shown = env
        .app
        .api(&env.token, Method::GET, &format!("/api/v1/providers/{id}"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!shown.contains("very-secret"), "{shown}");
    // An update without credentials keeps them; the page never shows them either.
    let r = env
        .app
        .api(&env.token, Method::PUT, &format!("/api/v1/providers/{id}"))
        .json(
            &json!({"name": "eSMS (dự phòng)", "channel": "sms", "kind": "esms", "priority": 5,
                      "settings": {"brandname": "BHXHVN"}}),
        )
        .send()
        .await
        .unwrap();
    let updated: Value = r.json().await.unwrap();
    assert_eq!(
        updated["credentials_set"],
        json!(["api_key", "secret_key"]),
        "{updated}"
    );
    assert_eq!(updated["name"], "eSMS (dự phòng)");
    let admin_client = {
        let admin = env.app.create_user("admin", None, &[]).await;
        env.app.signed_in(&admin).await
    };
    let (status, page) = env
        .app
        .get_text(&admin_client, &format!("/admin/providers/{id}"))
        .await;
    assert_eq!(status, 200);
    assert!(page.contains("eSMS (dự phòng)"));
    assert!(!page.contains("very-secret"));
    let audit = env
        .app
        .db
        .conn
        .query_all(Statement::from_string(
            env.app.db.backend(),
            "SELECT summary FROM audit_log WHERE entity_type = 'provider'".to_string(),
        ))
        .await
        .unwrap();
    assert_eq!(audit.len(), 2);
    for row in audit {
        let s: String = row.try_get("", "summary").unwrap();
        assert!(!s.contains("very-secret"), "{s}");
    }
    // Bad drafts name their fields; a provider that cannot send is not saved.
    let r = env
        .app
        .api(&env.token, Method::POST, "/api/v1/providers")
        .json(&json!({"name": "", "channel": "sms", "kind": "smtp", "rate_per_sec": 0}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 422);
    let body: Value = r.json().await.unwrap();
    let mut fields: Vec<&str> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    fields.sort();
    assert_eq!(fields, ["kind", "name", "rate_per_sec"], "{body}");
    let r = env
        .app
        .api(&env.token, Method::POST, "/api/v1/providers")
        .json(&json!({"name": "Zalo", "channel": "zalo", "kind": "zalo_zns"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 422, "no access token");
    // Staff and liaisons do not see providers at all.
    let staff = env.app.create_user("staff", Some("01"), &[]).await;
    let st = env.app.token_for(&staff).await;
    assert_eq!(
        env.app
            .api_status(&st, Method::GET, "/api/v1/providers")
            .await,
        403
    );
    assert_eq!(
        env.app
            .api_status(&st, Method::GET, &format!("/api/v1/providers/{id}"))
            .await,
        403
    );
}

#[tokio::test]
async fn the_delivery_log_respects_scope_filters_and_metrics() {
    let env = setup_with(|s| s.metrics_token = Some("metrics-token-0123".into())).await;
    let email = env.template("email", "deadline_reminder").await;
    let sms = env.template("sms", "deadline_reminder").await;
    let hn = env.queue(env.binh, sms, &[], "log-1").await;
    let hcm = env.queue(env.lan, email, &[], "log-2").await;
    env.worker().run_once(Channel::Email).await.unwrap();

    let all = env
        .app
        .api_json(&env.token, Method::GET, "/api/v1/messages")
        .await;
    assert_eq!(all["total"], 2);
    let by_school = env
        .app
        .api_json(
            &env.token,
            Method::GET,
            "/api/v1/messages?school=HCM-1&status=sent",
        )
        .await;
    assert_eq!(by_school["total"], 1);
    assert_eq!(by_school["items"][0]["id"], hcm);
    let r = env
        .app
        .api(&env.token, Method::GET, "/api/v1/messages?status=lost")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 422);
    assert!(r.text().await.unwrap().contains("status"));

    // A liaison of HN-1 sees Bình's message and nothing of HCM-1; provincial staff of Hà Nội
    // see it with the number masked.
    let liaison = env.app.create_user("liaison", None, &["HN-1"]).await;
    let lt = env.app.token_for(&liaison).await;
    let mine = env.app.api_json(&lt, Method::GET, "/api/v1/messages").await;
    assert_eq!(mine["total"], 1, "{mine}");
    assert_eq!(mine["items"][0]["id"], hn);
    let staff = env.app.create_user("staff", Some("01"), &[]).await;
    let st = env.app.token_for(&staff).await;
    let theirs = env.app.api_json(&st, Method::GET, "/api/v1/messages").await;
    assert_eq!(theirs["total"], 1, "{theirs}");
    let masked = theirs["items"][0]["recipient"].as_str().unwrap();
    assert!(!masked.contains("912345678"), "{masked}");
    assert_eq!(
        env.app
            .api_status(&lt, Method::GET, &format!("/api/v1/messages/{hcm}"))
            .await,
        404
    );
    assert_eq!(
        env.app
            .api_json(&lt, Method::GET, "/api/v1/messages/funnel")
            .await["total"],
        1
    );
    let r = env
        .app
        .api(&lt, Method::POST, "/api/v1/messages/retry")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 403);

    // Pages.
    let admin = env.app.create_user("admin", None, &[]).await;
    let c = env.app.signed_in(&admin).await;
    let (status, page) = env.app.get_text(&c, "/deliveries?status=sent").await;
    assert_eq!(status, 200);
    assert!(page.contains(&format!("/deliveries/{hcm}")), "{page}");
    assert_eq!(env.app.status(&c, &format!("/deliveries/{hcm}")).await, 200);
    assert_eq!(env.app.status(&c, "/admin/providers").await, 200);
    let lc = env.app.signed_in(&liaison).await;
    assert_eq!(env.app.status(&lc, "/admin/providers").await, 403);
    assert_eq!(
        env.app.status(&lc, &format!("/deliveries/{hcm}")).await,
        404
    );

    // Operators' counters need their token.
    let r = reqwest::get(env.app.url("/metrics")).await.unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let text = reqwest::Client::new()
        .get(env.app.url("/metrics"))
        .bearer_auth("metrics-token-0123")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains("hio_delivery_outcomes_total{channel=\"email\",outcome=\"sent\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("hio_messages{channel=\"sms\",status=\"queued\"} 1"),
        "{text}"
    );
    // The backlog only, every channel and waiting state named (0 when empty); what was sent is
    // in the counters, not counted again from the outbox.
    assert!(
        text.contains("hio_messages{channel=\"zalo\",status=\"retrying\"} 0"),
        "{text}"
    );
    assert!(!text.contains("status=\"sent\""), "{text}");
}

#[tokio::test]
async fn message_content_is_erased_after_the_retention_period() {
    let env = setup().await;
    let email = env.template("email", "deadline_reminder").await;
    let sent = env.queue(env.binh, email, &[], "old-1").await;
    env.worker().run_once(Channel::Email).await.unwrap();
    let waiting = env.queue(env.em, email, &[], "old-2").await;
    let purged = outbox::purge_content(&env.app.db, 0).await.unwrap();
    assert_eq!(purged, 1, "only what is finished");
    let m = env.message(sent).await;
    assert_eq!((m.content, m.recipient), (None, None));
    assert!(m.content_purged_at.is_some());
    assert_eq!(m.status, "sent", "the status and events stay");
    assert_eq!(env.events(sent).await, ["queued", "sent"]);
    assert!(env.message(waiting).await.content.is_some());
    let detail = env
        .app
        .api_json(&env.token, Method::GET, &format!("/api/v1/messages/{sent}"))
        .await;
    assert_eq!(detail["content"], Value::Null);
    assert_eq!(detail["recipient"], Value::Null);
}

#[tokio::test]
async fn a_worker_stopping_gives_its_claims_back() {
    let env = setup().await;
    let sms = env.template("sms", "deadline_reminder").await;
    let id = env.queue(env.binh, sms, &[], "stop").await;
    let claimed = outbox::claim(
        &env.app.db,
        Channel::Sms,
        "w-stop",
        10,
        Duration::minutes(5),
    )
    .await
    .unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(env.message(id).await.status, "sending");
    assert_eq!(outbox::release(&env.app.db, "w-stop").await.unwrap(), 1);
    let m = env.message(id).await;
    assert_eq!(
        (m.status.as_str(), m.attempts, m.leased_by),
        ("queued", 0, None)
    );
    // A whole worker stops on the signal and leaves nothing claimed.
    let w = env.worker();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(w.run(stopped));
    for _ in 0..100 {
        if env.message(id).await.status == "sent" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    stop.send(true).unwrap();
    tokio::time::timeout(std::time::Duration::from_secs(10), task)
        .await
        .expect("stops in time")
        .unwrap();
    assert_eq!(env.message(id).await.status, "sent");
}

#[tokio::test]
async fn a_worker_sends_nothing_once_its_lease_has_run_out() {
    // A one-second lease and a provider that takes one message a second: the second message of
    // the batch could only be sent after the lease ended, when another worker may have it.
    let env = setup_with(|s| s.worker_lease_secs = 1).await;
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/sms"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": "x"})))
        .mount(&server)
        .await;
    let mut p = sms_json_provider(&server.uri());
    p["rate_per_sec"] = json!(1);
    p["concurrency"] = json!(1);
    env.add_provider(p).await;
    let tpl = env.template("sms", "deadline_reminder").await;
    let first = env.queue(env.binh, tpl, &[], "lease-1").await;
    let second = env.queue(env.em, tpl, &[], "lease-2").await;

    assert_eq!(env.worker().run_once(Channel::Sms).await.unwrap(), 2);
    assert_eq!(
        server.received_requests().await.unwrap().len(),
        1,
        "nothing is sent on a lease that has run out"
    );
    let m = env.message(first).await;
    assert_eq!((m.status.as_str(), m.attempts), ("sent", 1));
    // The other one is back in the queue, its attempt not counted, and no event recorded.
    let m = env.message(second).await;
    assert_eq!(
        (m.status.as_str(), m.attempts, m.leased_by),
        ("queued", 0, None)
    );
    assert_eq!(env.events(second).await, ["queued"]);
    // Another worker sends it, once.
    assert_eq!(env.worker().run_once(Channel::Sms).await.unwrap(), 1);
    let m = env.message(second).await;
    assert_eq!((m.status.as_str(), m.attempts), ("sent", 1));
    let keys: std::collections::HashSet<String> = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| r.headers["idempotency-key"].to_str().unwrap().to_string())
        .collect();
    assert_eq!(keys.len(), 2);
}

#[tokio::test]
async fn only_the_claim_holding_a_message_records_its_outcome() {
    let env = setup().await;
    let sms = env.template("sms", "deadline_reminder").await;
    let id = env.queue(env.binh, sms, &[], "token").await;
    // A claim whose lease has already run out, then a second claim of the same worker taking
    // the message over.
    let stale = outbox::claim(
        &env.app.db,
        Channel::Sms,
        "w-1#1",
        10,
        Duration::seconds(-1),
    )
    .await
    .unwrap();
    assert_eq!(stale.len(), 1);
    let fresh = outbox::claim(&env.app.db, Channel::Sms, "w-1#2", 10, Duration::minutes(5))
        .await
        .unwrap();
    assert_eq!(fresh.len(), 1);
    let tz = chrono_tz::Asia::Ho_Chi_Minh;
    let failure = hi_outreach::delivery::model::Failure::new(
        hi_outreach::delivery::model::ErrorClass::Server,
        "HTTP 500",
    );
    let late = outbox::record(
        &env.app.db,
        "w-1#1",
        vec![(
            stale[0].clone(),
            Outcome::Retry {
                failure,
                at: Utc::now(),
            },
        )],
        tz,
    )
    .await
    .unwrap();
    assert!(late.is_empty(), "the stale claim overwrites nothing");
    let m = env.message(id).await;
    assert_eq!(
        (m.status.as_str(), m.leased_by.as_deref()),
        ("sending", Some("w-1#2"))
    );
    let done = outbox::record(
        &env.app.db,
        "w-1#2",
        vec![(
            fresh[0].clone(),
            Outcome::Sent {
                provider_id: None,
                accepted: Default::default(),
                reserved: false,
                content: None,
            },
        )],
        tz,
    )
    .await
    .unwrap();
    assert_eq!(done.len(), 1);
    assert_eq!(env.message(id).await.status, "sent");
    assert_eq!(env.events(id).await, ["queued", "sent"]);
    // Stopping gives back every claim of the worker, whatever its number.
    let other = env.queue(env.em, sms, &[], "token-2").await;
    outbox::claim(&env.app.db, Channel::Sms, "w-1#3", 10, Duration::minutes(5))
        .await
        .unwrap();
    outbox::claim(
        &env.app.db,
        Channel::Sms,
        "w-10#1",
        10,
        Duration::minutes(5),
    )
    .await
    .unwrap();
    assert_eq!(outbox::release(&env.app.db, "w-1").await.unwrap(), 1);
    assert_eq!(env.message(other).await.status, "queued");
}

/// (status, attempts, lease holder) of each message, sorted.
async fn sorted_states(env: &Env, ids: &[i64]) -> Vec<(String, i32, Option<String>)> {
    let mut states = Vec::new();
    for id in ids {
        let m = env.message(*id).await;
        states.push((m.status, m.attempts, m.leased_by));
    }
    states.sort();
    states
}

#[tokio::test]
async fn stopping_mid_batch_starts_no_further_send() {
    let env = setup().await;
    let server = MockServer::start().await;
    // The first send is slow, so the stop arrives while it is in flight.
    Mock::given(method("POST"))
        .and(path("/sms"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"id": "slow"}))
                .set_delay(std::time::Duration::from_secs(2)),
        )
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/sms"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": "fast"})))
        .mount(&server)
        .await;
    let mut p = sms_json_provider(&server.uri());
    p["timeout_ms"] = json!(10_000);
    p["concurrency"] = json!(1);
    p["daily_quota"] = json!(10);
    let provider = env.add_provider(p).await["id"].as_i64().unwrap();
    let tpl = env.template("sms", "deadline_reminder").await;
    let ids = [
        env.queue(env.binh, tpl, &[], "halt-1").await,
        env.queue(env.em, tpl, &[], "halt-2").await,
    ];
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(env.worker().run(stopped));
    while server.received_requests().await.unwrap().is_empty() {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    stop.send(true).unwrap();
    tokio::time::timeout(std::time::Duration::from_secs(20), task)
        .await
        .expect("stops")
        .unwrap();
    assert_eq!(
        server.received_requests().await.unwrap().len(),
        1,
        "the send in flight finishes, no other starts"
    );
    assert_eq!(
        sorted_states(&env, &ids).await,
        [("queued".into(), 0, None), ("sent".into(), 1, None)],
        "the message not started waits, its attempt not counted"
    );
    assert_eq!(
        sent_today(&env, provider).await,
        1,
        "the quota taken for the message not started is given back"
    );
}

#[tokio::test]
async fn a_message_is_recorded_dead_only_together_with_its_fallback() {
    let env = setup().await;
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/message/template"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"error": -118, "message": "Zalo account not existed"})),
        )
        .mount(&server)
        .await;
    env.add_provider(json!({
        "name": "Zalo OA", "channel": "zalo", "kind": "zalo_zns", "base_url": server.uri(),
        "credentials": {"access_token": "t"},
    }))
    .await;
    let sms_tpl = env.template("sms", "deadline_reminder").await;
    let id = env
        .queue(
            env.em,
            env.template("zalo", "deadline_reminder").await,
            &[sms_tpl],
            "atomic-fb",
        )
        .await;
    // The database refuses the fallback's row: the outcome must not be recorded without it.
    let db = &env.app.db.conn;
    let exec = |sql: &str| {
        db.execute(Statement::from_string(
            env.app.db.backend(),
            sql.to_string(),
        ))
    };
    let pg = env.app.db.backend() == sea_orm::DbBackend::Postgres;
    if pg {
        exec(
            "CREATE FUNCTION refuse_fallbacks() RETURNS trigger LANGUAGE plpgsql AS $$ \
             BEGIN IF NEW.fallback_of IS NOT NULL THEN RAISE EXCEPTION 'refused'; END IF; \
             RETURN NEW; END $$",
        )
        .await
        .unwrap();
        exec(
            "CREATE TRIGGER refuse_fallbacks BEFORE INSERT ON messages \
             FOR EACH ROW EXECUTE FUNCTION refuse_fallbacks()",
        )
        .await
        .unwrap();
    } else {
        exec(
            "CREATE TRIGGER refuse_fallbacks BEFORE INSERT ON messages \
             WHEN NEW.fallback_of IS NOT NULL BEGIN SELECT RAISE(ABORT, 'refused'); END",
        )
        .await
        .unwrap();
    }
    let w = env.worker();
    assert!(w.run_once(Channel::Zalo).await.is_err());
    let m = env.message(id).await;
    assert_eq!(m.status, "sending", "nothing recorded: the claim stands");
    assert_eq!(env.events(id).await, ["queued"]);
    exec(if pg {
        "DROP TRIGGER refuse_fallbacks ON messages"
    } else {
        "DROP TRIGGER refuse_fallbacks"
    })
    .await
    .unwrap();
    // When the lease runs out the message is tried again, and now both are recorded.
    message::Entity::update_many()
        .col_expr(
            message::Column::LeaseUntil,
            Expr::value(Some(Utc::now() - Duration::seconds(1))),
        )
        .filter(message::Column::Id.eq(id))
        .exec(db)
        .await
        .unwrap();
    assert_eq!(w.run_once(Channel::Zalo).await.unwrap(), 1);
    let m = env.message(id).await;
    assert_eq!(
        (m.status.as_str(), m.error_class.as_deref()),
        ("dead", Some("not_on_channel"))
    );
    let fallbacks = message::Entity::find()
        .filter(message::Column::FallbackOf.eq(id))
        .all(db)
        .await
        .unwrap();
    assert_eq!(fallbacks.len(), 1);
    assert_eq!(fallbacks[0].channel, "sms");
    assert_eq!(env.events(id).await, ["queued", "dead", "fallback"]);
}

#[tokio::test]
async fn provider_set_up_errors_are_retried_not_blamed_on_the_message() {
    let env = setup().await;
    let tpl = env.template("email", "deadline_reminder").await;
    // The server refuses our sender at MAIL FROM (550): not the parent's address.
    let sink = SmtpSink::start();
    sink.refuse_senders();
    let p = env.add_provider(smtp_provider(sink.port)).await;
    let id = env.queue(env.binh, tpl, &[], "sender-refused").await;
    let w = env.worker();
    assert_eq!(w.run_once(Channel::Email).await.unwrap(), 1);
    let m = env.message(id).await;
    assert_eq!(
        (m.status.as_str(), m.attempts, m.error_class.as_deref()),
        ("retrying", 1, Some("provider_config"))
    );
    assert!(sink.received().is_empty());
    // A server that greets with 554 refuses the service, not this message.
    provider::Entity::delete_by_id(p["id"].as_i64().unwrap())
        .exec(&env.app.db.conn)
        .await
        .unwrap();
    env.add_provider(smtp_provider(smtp_that_refuses_service().await))
        .await;
    let other = env.queue(env.em, tpl, &[], "greeting-refused").await;
    env.make_due().await;
    let w = env.worker();
    assert_eq!(w.run_once(Channel::Email).await.unwrap(), 2);
    for id in [id, other] {
        let m = env.message(id).await;
        assert_eq!(
            (m.status.as_str(), m.error_class.as_deref()),
            ("retrying", Some("provider_config")),
            "{id}"
        );
    }

    // HTTP 404 from an SMS gateway is a wrong URL, not a person missing from SMS…
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(404))
        .mount(&server)
        .await;
    env.add_provider(sms_json_provider(&server.uri())).await;
    env.add_provider(webhook_provider(&server.uri())).await;
    let sms = env
        .queue(
            env.binh,
            env.template("sms", "deadline_reminder").await,
            &[],
            "sms-404",
        )
        .await;
    let push = env
        .queue(
            env.binh,
            env.template("push", "deadline_reminder").await,
            &[],
            "push-404",
        )
        .await;
    // A new worker: the other one read the providers before these were added.
    let w = env.worker();
    assert_eq!(w.run_once(Channel::Sms).await.unwrap(), 1);
    let m = env.message(sms).await;
    assert_eq!(
        (
            m.status.as_str(),
            m.error_class.as_deref(),
            m.last_error.as_deref()
        ),
        ("retrying", Some("provider_config"), Some("HTTP 404"))
    );
    // …while the app webhook answers 404 for a person without the app.
    assert_eq!(w.run_once(Channel::Push).await.unwrap(), 1);
    let m = env.message(push).await;
    assert_eq!(
        (m.status.as_str(), m.error_class.as_deref()),
        ("dead", Some("not_on_channel"))
    );
}

#[tokio::test]
async fn a_used_up_zalo_daily_quota_holds_messages_until_the_next_vietnam_day() {
    let env = setup().await;
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/message/template"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"error": -144, "message": "OA exceeded daily quota"})),
        )
        .mount(&server)
        .await;
    env.add_provider(json!({
        "name": "Zalo OA", "channel": "zalo", "kind": "zalo_zns", "base_url": server.uri(),
        "credentials": {"access_token": "t"}, "concurrency": 1,
    }))
    .await;
    let tpl = env.template("zalo", "deadline_reminder").await;
    let ids = [
        env.queue(env.binh, tpl, &[], "zq-1").await,
        env.queue(env.em, tpl, &[], "zq-2").await,
    ];
    let w = env.worker();
    assert_eq!(w.run_once(Channel::Zalo).await.unwrap(), 2);
    assert_eq!(
        server.received_requests().await.unwrap().len(),
        1,
        "once Zalo says the quota is used up, it is not asked again today"
    );
    let tz = chrono_tz::Asia::Ho_Chi_Minh;
    let tomorrow = Utc::now()
        .with_timezone(&tz)
        .date_naive()
        .succ_opt()
        .unwrap();
    let midnight = tomorrow
        .and_hms_opt(0, 0, 0)
        .unwrap()
        .and_local_timezone(tz)
        .unwrap()
        .with_timezone(&Utc);
    for id in ids {
        let m = env.message(id).await;
        assert_eq!((m.status.as_str(), m.attempts), ("queued", 0), "{id}");
        assert_eq!(m.next_attempt_at, midnight, "{id}");
    }
    assert_eq!(w.run_once(Channel::Zalo).await.unwrap(), 0);
}

#[tokio::test]
async fn early_receipts_are_asked_again_and_bounces_end_the_message() {
    let env = setup().await;
    let server = MockServer::start().await;
    let p = env.add_provider(webhook_provider(&server.uri())).await;
    let pid = p["id"].as_i64().unwrap();
    let id = env
        .queue(
            env.binh,
            env.template("push", "deadline_reminder").await,
            &[],
            "early",
        )
        .await;
    let secret = b"receipt-secret";
    let now = Utc::now().timestamp();
    let bounced = json!({"provider_message_id": "push-5", "status": "bounced", "event_id": "b-1"});
    // Claimed and handed to the provider, not yet recorded: the provider is told to come back.
    let claimed = outbox::claim(&env.app.db, Channel::Push, "w#1", 10, Duration::minutes(5))
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(post_receipt(&env, pid, &bounced, now, secret).await, 503);
    assert_eq!(env.events(id).await, ["queued"]);
    outbox::record(
        &env.app.db,
        "w#1",
        vec![(
            claimed[0].clone(),
            Outcome::Sent {
                provider_id: Some(pid),
                accepted: hi_outreach::delivery::model::Accepted {
                    provider_message_id: Some("push-5".into()),
                },
                reserved: false,
                content: None,
            },
        )],
        chrono_tz::Asia::Ho_Chi_Minh,
    )
    .await
    .unwrap();
    // Posted again, it counts: the message is dead, with the reason and an event.
    assert_eq!(post_receipt(&env, pid, &bounced, now, secret).await, 200);
    let m = env.message(id).await;
    assert_eq!(
        (
            m.status.as_str(),
            m.error_class.as_deref(),
            m.last_error.as_deref()
        ),
        ("dead", Some("bounced"), Some("delivery receipt: bounced"))
    );
    assert_eq!(env.events(id).await, ["queued", "sent", "bounced"]);
    assert_eq!(env.funnel("").await["dead"], 1);
    // With nothing being sent, an unknown message is unknown.
    let unknown = json!({"provider_message_id": "nope", "status": "failed"});
    assert_eq!(post_receipt(&env, pid, &unknown, now, secret).await, 404);
}
