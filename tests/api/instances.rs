//! Two instances of the binary — web, worker and scheduler each — on one database. A wave and a
//! reminder rule go out through both; one instance is killed with SIGKILL mid-send. Counted at
//! the sinks afterwards: every message arrived, and the only repeats are the killed instance's
//! unrecorded sends, re-sent with the same key once their lease ran out.
use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hi_outreach::auth::actor::Actor;
use hi_outreach::auth::{tokens, users};
use hi_outreach::fields::NewPassword;
use hi_outreach::generate::{generate, Scale};
use reqwest::Method;
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{json, Value};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use crate::helpers::{spawn_app, TestApp, PASSWORD};
use crate::sinks::SmtpSink;

const BIN: &str = env!("CARGO_BIN_EXE_hi-outreach");
const SECRET: &str = "test-secret-key-that-is-long-enough-0123456789";
/// Claims of a dead instance come back after this many seconds.
const LEASE_SECS: u64 = 4;
const BATCH: usize = 100;

/// An SMS gateway that keeps every request's key and arrival, answers after a few
/// milliseconds, and — as gateways that take an idempotency key do — answers a repeated key
/// with the id it gave the first time.
#[derive(Clone, Default)]
struct Gateway {
    arrivals: Arc<Mutex<Vec<(String, Instant)>>>,
    ids: Arc<Mutex<HashMap<String, usize>>>,
}

impl Respond for Gateway {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let key = request
            .headers
            .get("Idempotency-Key")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        self.arrivals
            .lock()
            .unwrap()
            .push((key.clone(), Instant::now()));
        let mut ids = self.ids.lock().unwrap();
        let next = ids.len() + 1;
        let id = *ids.entry(key).or_insert(next);
        ResponseTemplate::new(200)
            .set_body_json(json!({"id": format!("sms-{id}")}))
            .set_delay(Duration::from_millis(5))
    }
}

impl Gateway {
    fn count(&self) -> usize {
        self.arrivals.lock().unwrap().len()
    }
}

/// One running `hi-outreach serve`, its log kept in a file for when the test fails.
struct Instance {
    child: Child,
    port: u16,
    log: std::path::PathBuf,
}

impl Instance {
    fn start(database: &str, dir: &std::path::Path, name: &str) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let log = dir.join(format!("{name}.log"));
        let out = std::fs::File::create(&log).unwrap();
        let child = Command::new(BIN)
            .arg("serve")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOSTNAME", name)
            .env("HIO_DATABASE_URL", database)
            .env("HIO_DATABASE_MAX_CONNECTIONS", "5")
            .env("HIO_SECRET_KEY", SECRET)
            .env("HIO_BIND", format!("127.0.0.1:{port}"))
            .env("HIO_BASE_URL", format!("http://127.0.0.1:{port}"))
            .env("HIO_HTTP_WORKERS", "1")
            .env("HIO_WORKER_ENABLED", "true")
            .env("HIO_WORKER_BATCH", BATCH.to_string())
            .env("HIO_WORKER_LEASE_SECS", LEASE_SECS.to_string())
            .env("HIO_WORKER_POLL_MS", "100")
            .env("HIO_SCHEDULER_ENABLED", "true")
            .env("HIO_SCHEDULER_TICK_SECS", "1")
            .env("HIO_QUIET_HOURS_EMAIL", "")
            .env("HIO_QUIET_HOURS_SMS", "")
            .env("HIO_CAP_PER_DAY", "0")
            .env("HIO_CAP_PER_WEEK", "0")
            .env("HIO_OUTBOX_DIR", dir.join(format!("{name}-outbox")))
            .env("HIO_LOG_FORMAT", "json")
            .env("HIO_LOG_LEVEL", "info,hi_outreach::delivery::worker=debug")
            .stdout(Stdio::null())
            .stderr(out)
            .spawn()
            .expect("start an instance");
        let instance = Self { child, port, log };
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "{name} did not start: {}",
                instance.log_text()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        instance
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    async fn call(&self, token: &str, m: Method, path: &str, body: Value) -> (u16, Value) {
        let mut r = reqwest::Client::new()
            .request(m, self.url(path))
            .bearer_auth(token);
        if !body.is_null() {
            r = r.json(&body);
        }
        let r = r.send().await.expect("request");
        let status = r.status().as_u16();
        let body = r.json().await.unwrap_or(Value::Null);
        assert!(status < 500, "{path}: {body}\n{}", self.log_text());
        (status, body)
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn scalar(app: &TestApp, sql: &str) -> i64 {
    app.db
        .conn
        .query_one(Statement::from_string(app.db.backend(), sql.to_string()))
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("no row: {sql}"))
        .try_get_by_index::<i64>(0)
        .unwrap()
}

/// Waits until `done` holds, checking every 100 ms; fails after `secs` seconds.
async fn wait_for<F, Fut>(secs: u64, what: &str, logs: &[&Instance], mut done: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !done().await {
        if Instant::now() > deadline {
            let logs: Vec<String> = logs.iter().map(|i| i.log_text()).collect();
            panic!(
                "timed out waiting for {what}; logs:\n{}",
                logs.join("\n---\n")
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Keys that arrived more than once: each must have arrived exactly twice, the first time
/// before the kill (from the killed instance) and again after it (the takeover).
fn repeats(arrivals: &[(String, Instant)], killed_at: Instant) -> usize {
    let mut by_key: HashMap<&str, Vec<Instant>> = HashMap::new();
    for (k, t) in arrivals {
        by_key.entry(k.as_str()).or_default().push(*t);
    }
    let mut n = 0;
    for (key, times) in by_key.iter().filter(|(_, t)| t.len() > 1) {
        assert_eq!(times.len(), 2, "{key} arrived {} times", times.len());
        // A request the killed instance had on the wire may land just after the signal.
        assert!(
            times[0] < killed_at + Duration::from_millis(500) && times[1] > killed_at,
            "{key} was sent twice while both instances were alive"
        );
        n += 1;
    }
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_lose_nothing_and_send_nothing_twice_when_one_is_killed() {
    // The database: migrated by the in-process app (which runs no worker nor scheduler), filled
    // with the small synthetic country: 20,000 pupils, 16,000 parents.
    let app = spawn_app().await;
    generate(&app.db, Scale::Small, &mut |_, _, _| {})
        .await
        .unwrap();
    let input = users::validate(
        &app.db.conn,
        &users::UserDraft {
            email: "quan-tri@example.vn".into(),
            display_name: "Quản trị".into(),
            role: "admin".into(),
            province_code: None,
            school_codes: vec![],
            language: Some("vi".into()),
            active: true,
        },
    )
    .await
    .unwrap();
    let admin = users::create(
        &app.db,
        &Actor::cli(),
        input,
        NewPassword::parse(PASSWORD).unwrap(),
    )
    .await
    .unwrap();
    let token = tokens::create(&app.db, &Actor::cli(), admin.id, "instances")
        .await
        .unwrap()
        .0;

    let gateway = Gateway::default();
    let http = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/sms"))
        .respond_with(gateway.clone())
        .mount(&http)
        .await;
    let smtp = SmtpSink::start();

    let dir = tempfile::tempdir().unwrap();
    let database = app.state.settings.database_url.as_str().to_string();
    let a = Instance::start(&database, dir.path(), "instance-a");
    let b = Instance::start(&database, dir.path(), "instance-b");
    let both = [&a, &b];

    // Set up through instance A's API: providers, a campaign, the audience.
    for provider in [
        json!({"name": "Cổng SMS", "channel": "sms", "kind": "sms_json",
               "base_url": format!("{}/sms", http.uri()), "credentials": {"token": "t"},
               "timeout_ms": 2000, "rate_per_sec": 100000, "concurrency": 4}),
        json!({"name": "Máy chủ thư", "channel": "email", "kind": "smtp",
               "settings": {"host": "127.0.0.1", "port": smtp.port, "security": "none",
                            "from_address": "bhyt@example.vn", "from_name": "BHXH Việt Nam"},
               "timeout_ms": 5000, "rate_per_sec": 100000, "concurrency": 4}),
    ] {
        let (status, p) = a
            .call(&token, Method::POST, "/api/v1/providers", provider)
            .await;
        assert_eq!(status, 201, "{p}");
    }
    let today = hi_outreach::school_year::today();
    let (status, c) = a
        .call(
            &token,
            Method::POST,
            "/api/v1/campaigns",
            json!({"name": "Nhắc phụ huynh hoàn thành BHYT", "school_year": "2026-2027",
                   "scope": "national", "starts_on": (today - chrono::Duration::days(1)).to_string(),
                   "ends_on": (today + chrono::Duration::days(60)).to_string()}),
        )
        .await;
    assert_eq!(status, 201, "{c}");
    let campaign = c["id"].as_i64().unwrap();
    let (status, c) = a
        .call(
            &token,
            Method::POST,
            &format!("/api/v1/campaigns/{campaign}/status"),
            json!({"status": "active"}),
        )
        .await;
    assert_eq!(status, 200, "{c}");
    let (status, au) = a
        .call(
            &token,
            Method::POST,
            "/api/v1/audiences",
            json!({"name": "Phụ huynh có con chưa có thẻ"}),
        )
        .await;
    assert_eq!(status, 201, "{au}");
    let audience = au["id"].as_i64().unwrap();
    let template = |code: &str| {
        let app = &app;
        let code = code.to_string();
        async move {
            scalar(
                app,
                &format!("SELECT id FROM message_templates WHERE code = '{code}'"),
            )
            .await
        }
    };
    let sms = template("default.deadline_reminder.sms.vi").await;
    let email = template("default.deadline_reminder.email.vi").await;

    // A reminder rule by e-mail every morning at 7, made due now: as if the scheduler had not
    // run since this morning's time.
    let (status, r) = a
        .call(
            &token,
            Method::POST,
            "/api/v1/rules",
            json!({"name": "Nhắc qua thư", "campaign_id": campaign, "audience_id": audience,
                   "steps": [{"template_id": email}], "schedule_kind": "cron",
                   "cron": "0 7 * * *", "max_per_guardian": 1, "active": true}),
        )
        .await;
    assert_eq!(status, 201, "{r}");
    let rule = r["id"].as_i64().unwrap();
    let (status, dry) = a
        .call(
            &token,
            Method::POST,
            &format!("/api/v1/rules/{rule}/dry-run"),
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "{dry}");
    let emails = dry["estimate"]["recipients"].as_i64().unwrap();
    // A wave by SMS to the same audience.
    let (status, w) = a
        .call(
            &token,
            Method::POST,
            "/api/v1/waves",
            json!({"name": "Nhắc hạn BHYT", "campaign_id": campaign, "audience_id": audience,
                   "steps": [{"template_id": sms}]}),
        )
        .await;
    assert_eq!(status, 201, "{w}");
    let wave = w["id"].as_i64().unwrap();
    let texts = w["recipients"].as_i64().unwrap();
    assert!(
        texts >= 1_000 && emails >= 500,
        "a wave of {texts}, a rule of {emails}"
    );

    let (status, w) = a
        .call(
            &token,
            Method::POST,
            &format!("/api/v1/waves/{wave}/confirm"),
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "{w}");
    // 07:00 in Vietnam is midnight UTC: the rule's latest fire time passed is today's midnight.
    let last_seven_oclock = chrono::Utc::now()
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .unwrap()
        .and_utc();
    app.db
        .conn
        .execute(Statement::from_sql_and_values(
            app.db.backend(),
            match app.db.backend() {
                sea_orm::DbBackend::Postgres => {
                    "UPDATE reminder_rules SET next_run_at = $1 WHERE id = $2"
                }
                _ => "UPDATE reminder_rules SET next_run_at = ? WHERE id = ?",
            },
            [last_seven_oclock.into(), rule.into()],
        ))
        .await
        .unwrap();

    // Both are materialised, sending has started: kill A once a quarter of the texts are out.
    wait_for(60, "the wave and the rule to be queued", &both, || async {
        scalar(
            &app,
            &format!(
                "SELECT COUNT(*) FROM messages WHERE (source_kind = 'wave' AND source_id = {wave}) \
                 OR (source_kind = 'rule' AND source_id = {rule})"
            ),
        )
        .await
            == texts + emails
    })
    .await;
    wait_for(60, "a quarter of the texts", &both, || async {
        gateway.count() as i64 >= texts / 4
    })
    .await;
    let mut a = a;
    a.child.kill().expect("SIGKILL");
    let killed_at = Instant::now();
    a.child.wait().unwrap();
    let sent_before = gateway.count();
    assert!(
        (sent_before as i64) < texts,
        "the wave was still going out when A was killed"
    );

    // B takes over what A held once A's leases run out.
    wait_for(
        60 + LEASE_SECS,
        "every message to be sent",
        &[&a, &b],
        || async {
            scalar(
                &app,
                "SELECT COUNT(*) FROM messages WHERE status IN ('queued', 'sending', 'retrying')",
            )
            .await
                == 0
        },
    )
    .await;
    // Nothing failed, nothing was held back: every message was sent.
    for (kind, id, expected) in [("wave", wave, texts), ("rule", rule, emails)] {
        let sent = scalar(
            &app,
            &format!(
                "SELECT COUNT(*) FROM messages WHERE status = 'sent' AND source_kind = '{kind}' \
                 AND source_id = {id}"
            ),
        )
        .await;
        assert_eq!(sent, expected, "{kind} messages sent");
    }
    assert_eq!(
        scalar(&app, "SELECT COUNT(*) FROM rule_occurrences").await,
        1
    );
    assert_eq!(
        scalar(
            &app,
            "SELECT COUNT(*) FROM (SELECT guardian_id FROM messages GROUP BY guardian_id, \
             source_kind HAVING COUNT(*) > 1) t"
        )
        .await,
        0,
        "one message per parent per wave or rule"
    );

    // At the SMS gateway: every text's key arrived; a key came twice only across the kill.
    let arrivals = gateway.arrivals.lock().unwrap().clone();
    let distinct: std::collections::HashSet<&str> =
        arrivals.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(distinct.len() as i64, texts, "every text arrived");
    let texts_again = repeats(&arrivals, killed_at);
    assert_eq!(arrivals.len(), distinct.len() + texts_again);
    assert!(texts_again <= BATCH, "{texts_again} re-sent");

    // At the SMTP server, by Message-ID (made of the same key).
    let mails: Vec<(String, Instant)> = smtp
        .received_timed()
        .into_iter()
        .map(|(raw, t)| {
            let mail = mailparse::parse_mail(&raw).unwrap();
            let id = mail
                .headers
                .iter()
                .find(|h| h.get_key_ref().eq_ignore_ascii_case("Message-ID"))
                .map(|h| h.get_value())
                .expect("a Message-ID");
            (id, t)
        })
        .collect();
    let distinct_mails: std::collections::HashSet<&str> =
        mails.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(distinct_mails.len() as i64, emails, "every e-mail arrived");
    let mails_again = repeats(&mails, killed_at);
    assert!(mails_again <= BATCH, "{mails_again} re-sent");

    // B still answers, and says the wave is done.
    wait_for(30, "the wave to close", &[&b], || async {
        let (_, d) = b
            .call(
                &token,
                Method::GET,
                &format!("/api/v1/waves/{wave}"),
                Value::Null,
            )
            .await;
        d["wave"]["status"] == "done"
    })
    .await;
    // No claim ever took more than a batch (each instance logs its claims).
    for log in [a.log_text(), b.log_text()] {
        for line in log.lines().filter(|l| l.contains("batch claimed")) {
            let entry: Value = serde_json::from_str(line).expect("a JSON log line");
            let n = entry["fields"]["messages"]
                .as_u64()
                .unwrap_or_else(|| panic!("a claim's size in: {line}"))
                as usize;
            assert!(n <= BATCH, "a claim of {n} messages: {line}");
        }
    }
    eprintln!(
        "{texts} texts ({sent_before} arrived before the kill, {texts_again} again after it), \
         {emails} e-mails ({mails_again} again)"
    );
}
