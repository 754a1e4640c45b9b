//! Delivery throughput: N messages through the platform (outbox → worker → provider) to a local
//! SMTP sink and to a local HTTP sink, on SQLite and on PostgreSQL; and, in the same run, the
//! same sinks driven directly (lettre's pooled transport / reqwest in a loop, same number of
//! sends in flight, no platform) as the baseline.
//!
//! ```sh
//! cargo bench --bench dispatch                       # 100,000 messages, both sinks, both databases
//! cargo bench --bench dispatch -- --messages 20000 --db sqlite --sink http
//! cargo bench --bench dispatch -- --written-when-sent   # messages written by the worker, as waves' are
//! ```
//! PostgreSQL is reached at `BENCH_DATABASE_URL` (default postgres://postgres@127.0.0.1:5432/postgres);
//! a fresh database is created for each run and dropped after.
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::web::Data;
use chrono::Utc;
use futures_util::stream::{self, StreamExt};
use hi_outreach::auth::actor::Actor;
use hi_outreach::config::{SecretKey, Settings};
use hi_outreach::contacts::entity::{consent, guardian};
use hi_outreach::contacts::fields::{Channel, PURPOSE_HI_REMINDERS};
use hi_outreach::db::{self, Db};
use hi_outreach::delivery::compose::Composer;
use hi_outreach::delivery::entity::message;
use hi_outreach::delivery::outbox::{self, NewMessage};
use hi_outreach::delivery::providers::{self, ProviderDraft};
use hi_outreach::messaging::entity::template;
use hi_outreach::messaging::render::Rendered;
use hi_outreach::web::i18n::Lang;
use hi_outreach::web::state::AppState;
use lettre::message::MultiPart;
use lettre::transport::smtp::client::{AsyncSmtpConnection, Tls};
use lettre::transport::smtp::extension::ClientId;
use lettre::transport::smtp::PoolConfig;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use mailin_embedded::{response, Handler, Response, Server};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, Set};
use serde_json::json;

/// The allocator the `hi-outreach` program uses.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Sends in flight, for the platform (all workers together) and the baseline alike.
const IN_FLIGHT: usize = 32;
/// Worker instances sharing the queue (as that many `worker` processes would), and the batch
/// each claims; `--workers` and `--batch` change them.
struct Shape {
    workers: usize,
    batch: u32,
    /// `--written-when-sent`: messages queued as waves and reminders queue them, without
    /// content, each about a child; the worker writes each one when it sends it.
    written_when_sent: bool,
}
/// Distinct parents the messages go to.
const GUARDIANS: usize = 10_000;

// ---------------------------------------------------------------------------------------------
// Sinks

#[derive(Clone)]
struct SmtpCounter(Arc<AtomicU64>);

impl Handler for SmtpCounter {
    fn data_end(&mut self) -> Response {
        self.0.fetch_add(1, Ordering::Relaxed);
        response::OK
    }
}

/// An SMTP server (mailin-embedded) that counts the messages it accepts.
fn smtp_sink() -> (u16, Arc<AtomicU64>) {
    let count = Arc::new(AtomicU64::new(0));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut server = Server::new(SmtpCounter(count.clone()));
    server
        .with_name("sink.example.vn")
        .with_num_threads(IN_FLIGHT as u32 * 2)
        .with_tcp_listener(listener);
    std::thread::spawn(move || {
        let _ = server.serve();
    });
    (port, count)
}

/// An HTTP server (actix-web, one thread) that answers every POST with an id and counts them.
fn http_sink() -> (u16, Arc<AtomicU64>) {
    let count = Arc::new(AtomicU64::new(0));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let c = count.clone();
    std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            actix_web::HttpServer::new(move || {
                let c = c.clone();
                actix_web::App::new().default_service(actix_web::web::to(
                    move |_body: actix_web::web::Bytes| {
                        let n = c.fetch_add(1, Ordering::Relaxed);
                        async move {
                            actix_web::HttpResponse::Ok()
                                .content_type("application/json")
                                .body(format!("{{\"id\":\"m-{n}\"}}"))
                        }
                    },
                ))
            })
            .workers(1)
            .listen(listener)
            .unwrap()
            .run()
            .await
            .unwrap();
        });
    });
    (port, count)
}

async fn wait_for(count: &AtomicU64, n: u64) {
    while count.load(Ordering::Relaxed) < n {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

// ---------------------------------------------------------------------------------------------
// Baselines: the sinks driven directly.

fn sample_email(content: &Rendered, i: usize) -> lettre::Message {
    let Rendered::Email {
        subject,
        html,
        text,
    } = content
    else {
        unreachable!()
    };
    lettre::Message::builder()
        .from("BHXH Việt Nam <bhyt@example.vn>".parse().unwrap())
        .to(format!("phu.huynh{}@example.vn", i % GUARDIANS)
            .parse()
            .unwrap())
        .subject(subject.clone())
        .message_id(Some(format!("<b{i}@example.vn>")))
        .multipart(MultiPart::alternative_plain_html(
            text.clone(),
            html.clone(),
        ))
        .unwrap()
}

/// lettre's own connection, socket with Nagle off, one per task: what the wire allows.
async fn baseline_smtp(port: u16, n: usize, content: &Rendered, count: &AtomicU64) -> f64 {
    let before = count.load(Ordering::Relaxed);
    let start = Instant::now();
    let tasks: Vec<_> = (0..IN_FLIGHT)
        .map(|t| {
            let content = content.clone();
            tokio::spawn(async move {
                let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
                    .await
                    .unwrap();
                tcp.set_nodelay(true).unwrap();
                let mut conn = AsyncSmtpConnection::connect_with_transport(
                    Box::new(tcp),
                    &ClientId::Domain("example.vn".into()),
                )
                .await
                .unwrap();
                for i in (t..n).step_by(IN_FLIGHT) {
                    let email = sample_email(&content, i);
                    conn.send(email.envelope(), &email.formatted())
                        .await
                        .unwrap();
                }
                let _ = conn.quit().await;
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    wait_for(count, before + n as u64).await;
    n as f64 / start.elapsed().as_secs_f64()
}

/// lettre's pooled transport as it comes (Nagle on), for reference.
async fn stock_transport_smtp(port: u16, n: usize, content: &Rendered, count: &AtomicU64) -> f64 {
    let transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
        .port(port)
        .tls(Tls::None)
        .timeout(Some(Duration::from_secs(10)))
        .pool_config(PoolConfig::new().max_size(IN_FLIGHT as u32))
        .build();
    let before = count.load(Ordering::Relaxed);
    let start = Instant::now();
    stream::iter(0..n)
        .map(|i| {
            let email = sample_email(content, i);
            let t = &transport;
            async move { t.send(email).await.expect("sink accepts") }
        })
        .buffer_unordered(IN_FLIGHT)
        .for_each(|_| async {})
        .await;
    wait_for(count, before + n as u64).await;
    n as f64 / start.elapsed().as_secs_f64()
}

async fn baseline_http(port: u16, n: usize, content: &Rendered, count: &AtomicU64) -> f64 {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}/notify");
    let body = serde_json::to_vec(&json!({"app_ref": "VSSID-0", "content": content})).unwrap();
    let before = count.load(Ordering::Relaxed);
    let start = Instant::now();
    stream::iter(0..n)
        .map(|i| {
            let req = client
                .post(&url)
                .header("content-type", "application/json")
                .header("Idempotency-Key", format!("b{i}"))
                .body(body.clone());
            async move {
                let r = req.send().await.expect("sink answers");
                r.bytes().await.unwrap();
            }
        })
        .buffer_unordered(IN_FLIGHT)
        .for_each(|_| async {})
        .await;
    wait_for(count, before + n as u64).await;
    n as f64 / start.elapsed().as_secs_f64()
}

// ---------------------------------------------------------------------------------------------
// The platform

#[path = "common/mod.rs"]
mod common;
use common::{arg, cpu_seconds, drop_db, fresh_db};

/// Parents with an e-mail address and an app account, consenting to both.
async fn add_guardians(db: &Db) -> Vec<i64> {
    let now = Utc::now();
    let rows: Vec<guardian::ActiveModel> = (0..GUARDIANS)
        .map(|i| guardian::ActiveModel {
            full_name: Set(format!("Phụ huynh Số {i}")),
            search_key: Set(format!("phu huynh so {i}")),
            relationship: Set("mẹ".into()),
            phone: Set(Some(format!("+849{:08}", 10_000_000 + i))),
            email: Set(Some(format!("phu.huynh{i}@example.vn"))),
            zalo: Set(false),
            app_ref: Set(Some(format!("VSSID-{i}"))),
            language: Set("vi".into()),
            channel_order: Set("email,push".into()),
            opted_out_at: Set(None),
            erased_at: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        })
        .collect();
    for chunk in rows.chunks(1000) {
        guardian::Entity::insert_many(chunk.to_vec())
            .exec(&db.conn)
            .await
            .unwrap();
    }
    let ids: Vec<i64> = guardian::Entity::find()
        .all(&db.conn)
        .await
        .unwrap()
        .into_iter()
        .map(|g| g.id)
        .collect();
    let consents: Vec<consent::ActiveModel> = ids
        .iter()
        .flat_map(|id| {
            ["email", "push"].map(|c| consent::ActiveModel {
                guardian_id: Set(*id),
                channel: Set(c.into()),
                purpose: Set(PURPOSE_HI_REMINDERS.into()),
                granted: Set(true),
                source: Set("import".into()),
                evidence: Set(None),
                recorded_at: Set(now),
                recorded_by: Set(None),
                recorded_by_label: Set("bench".into()),
                ..Default::default()
            })
        })
        .collect();
    for chunk in consents.chunks(1000) {
        consent::Entity::insert_many(chunk.to_vec())
            .exec(&db.conn)
            .await
            .unwrap();
    }
    ids
}

/// A child for each parent, in one school, for messages written when sent.
async fn add_children(db: &Db, guardians: &[i64]) -> Vec<i64> {
    use hi_outreach::contacts::entity::{student, student_guardian};
    let now = Utc::now();
    let school = hi_outreach::org::service::create_school(
        db,
        &Actor::cli(),
        &hi_outreach::org::service::SchoolDraft {
            code: "BENCH-1".into(),
            name: "Trường THCS Nguyễn Trãi".into(),
            level: "lower_secondary".into(),
            province_code: "01".into(),
            commune_code: None,
            enrolled_students: Some(10_000),
            address: None,
        },
    )
    .await
    .unwrap()
    .id;
    let rows: Vec<student::ActiveModel> = (0..guardians.len())
        .map(|i| student::ActiveModel {
            school_id: Set(school),
            si_number: Set(None),
            full_name: Set(format!("Nguyễn Văn Học Sinh {i}")),
            search_key: Set(format!("nguyen van hoc sinh {i}")),
            date_of_birth: Set(chrono::NaiveDate::from_ymd_opt(2012, 5, 1).unwrap()),
            grade: Set(Some("8".into())),
            class_name: Set(Some("8A".into())),
            hi_status: Set("uninsured".into()),
            card_valid_until: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        })
        .collect();
    for chunk in rows.chunks(1000) {
        student::Entity::insert_many(chunk.to_vec())
            .exec(&db.conn)
            .await
            .unwrap();
    }
    let mut ids: Vec<i64> = student::Entity::find()
        .all(&db.conn)
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .collect();
    ids.sort_unstable();
    let links: Vec<student_guardian::ActiveModel> = ids
        .iter()
        .zip(guardians)
        .map(|(s, g)| student_guardian::ActiveModel {
            student_id: Set(*s),
            guardian_id: Set(*g),
        })
        .collect();
    for chunk in links.chunks(1000) {
        student_guardian::Entity::insert_many(chunk.to_vec())
            .exec(&db.conn)
            .await
            .unwrap();
    }
    ids
}

struct PlatformRun {
    enqueue_per_sec: f64,
    send_per_sec: f64,
    /// Processor time of the machine (platform, sink, database server) per message sent, in µs.
    cpu_us: f64,
}

/// Processor µs per message between two readings of [`cpu_seconds`].
fn cpu_per_message(before: Option<f64>, n: usize) -> f64 {
    match (before, cpu_seconds()) {
        (Some(a), Some(b)) => (b - a) * 1e6 / n as f64,
        _ => f64::NAN,
    }
}

async fn platform(
    postgres: bool,
    channel: Channel,
    port: u16,
    n: usize,
    count: &AtomicU64,
    shape: &Shape,
) -> PlatformRun {
    let (url, backend) = fresh_db(postgres).await;
    let outbox_dir = tempfile::tempdir().unwrap();
    let settings = Settings {
        database_url: url.clone(),
        database_max_connections: 8,
        secret_key: Some(
            SecretKey::parse("bench-secret-key-that-is-long-enough-0123456789").unwrap(),
        ),
        quiet_hours_sms: String::new(),
        quiet_hours_zalo: String::new(),
        quiet_hours_push: String::new(),
        outbox_dir: outbox_dir.path().display().to_string(),
        worker_poll_ms: 20,
        worker_batch: shape.batch,
        ..Settings::default()
    };
    let db = db::connect(&url, settings.database_max_connections)
        .await
        .unwrap();
    db::migrate(&db).await.unwrap();
    hi_outreach::messaging::service::ensure_defaults(&db)
        .await
        .unwrap();
    let guardians = add_guardians(&db).await;
    let draft: ProviderDraft = serde_json::from_value(match channel {
        Channel::Email => json!({
            "name": "sink", "channel": "email", "kind": "smtp",
            "settings": {"host": "127.0.0.1", "port": port, "security": "none",
                         "from_address": "bhyt@example.vn", "from_name": "BHXH Việt Nam"},
            "rate_per_sec": 100000, "concurrency": IN_FLIGHT / shape.workers,
        }),
        _ => json!({
            "name": "sink", "channel": "push", "kind": "webhook",
            "base_url": format!("http://127.0.0.1:{port}/notify"),
            "credentials": {"signing_secret": "bench"},
            "rate_per_sec": 100000, "concurrency": IN_FLIGHT / shape.workers,
        }),
    })
    .unwrap();
    providers::create(&db, &Actor::cli(), &draft, settings.timezone)
        .await
        .unwrap();

    let tpl = template::Entity::find()
        .filter(template::Column::Channel.eq(channel.code()))
        .filter(template::Column::Language.eq("vi"))
        .filter(template::Column::Purpose.eq("deadline_reminder"))
        .one(&db.conn)
        .await
        .unwrap()
        .expect("default template");
    let secret = settings.secret_key.clone().unwrap();
    let state = Data::new(AppState::new(db.clone(), settings.clone(), secret).unwrap());
    let base = settings.base();
    let composer = Composer {
        i18n: &state.i18n,
        base_url: &base,
        secret: state.secret(),
        track_opens: true,
    };
    let sample = composer
        .compose(
            &db.conn,
            guardians[0],
            tpl.id,
            tpl.current_version,
            "bench:0",
            false,
        )
        .await
        .unwrap()
        .unwrap();

    let children = if shape.written_when_sent {
        add_children(&db, &guardians).await
    } else {
        Vec::new()
    };
    let start = Instant::now();
    let msgs: Vec<NewMessage> = (0..n)
        .map(|i| {
            let g = guardians[i % guardians.len()];
            NewMessage {
                idempotency_key: format!("bench:{i}"),
                source_kind: if shape.written_when_sent {
                    outbox::source::WAVE
                } else {
                    outbox::source::MANUAL
                },
                source_id: None,
                occurrence_id: None,
                campaign_id: None,
                school_id: None,
                guardian_id: g,
                channel,
                template_id: Some(tpl.id),
                template_version: Some(tpl.current_version),
                language: Lang::Vi,
                recipient: match channel {
                    Channel::Email => format!("phu.huynh{}@example.vn", i % guardians.len()),
                    _ => format!("VSSID-{}", i % guardians.len()),
                },
                content: (!shape.written_when_sent).then(|| sample.content.clone()),
                student_ids: children
                    .get(i % guardians.len())
                    .map(|c| vec![*c])
                    .unwrap_or_default(),
                fallback: vec![],
                fallback_of: None,
                not_before: Utc::now(),
                max_attempts: 8,
            }
        })
        .collect();
    for chunk in msgs.chunks(5000) {
        let tx = db.begin_write().await.unwrap();
        outbox::enqueue(&*tx, chunk.to_vec()).await.unwrap();
        tx.commit().await.unwrap();
    }
    let enqueue_per_sec = n as f64 / start.elapsed().as_secs_f64();

    let before = count.load(Ordering::Relaxed);
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let cpu = cpu_seconds();
    let start = Instant::now();
    let workers: Vec<_> = (0..shape.workers)
        .map(|_| tokio::spawn(hi_outreach::worker_for(&state).run(stopped.clone())))
        .collect();
    // The sink's count first (cheap), then the database's word that every send is recorded.
    wait_for(count, before + n as u64).await;
    loop {
        let done = message::Entity::find()
            .filter(message::Column::Status.eq("sent"))
            .count(&db.conn)
            .await
            .unwrap();
        if done as usize >= n {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let send_per_sec = n as f64 / start.elapsed().as_secs_f64();
    let cpu_us = cpu_per_message(cpu, n);
    stop.send(true).unwrap();
    for w in workers {
        w.await.unwrap();
    }
    let received = count.load(Ordering::Relaxed) - before;
    assert_eq!(received as usize, n, "the sink got every message once");
    db.close_pool().await;
    drop_db(backend).await;
    PlatformRun {
        enqueue_per_sec,
        send_per_sec,
        cpu_us,
    }
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    hi_outreach::install_crypto_provider();
    let args: Vec<String> = std::env::args().collect();
    let n: usize = arg(&args, "--messages")
        .map(|v| v.parse().expect("--messages N"))
        .unwrap_or(100_000);
    let dbs: Vec<bool> = match arg(&args, "--db").as_deref() {
        Some("sqlite") => vec![false],
        Some("postgres") => vec![true],
        _ => vec![false, true],
    };
    let sinks: Vec<Channel> = match arg(&args, "--sink").as_deref() {
        Some("smtp") => vec![Channel::Email],
        Some("http") => vec![Channel::Push],
        _ => vec![Channel::Email, Channel::Push],
    };
    let shape = Shape {
        workers: arg(&args, "--workers").map_or(2, |v| v.parse().expect("--workers N")),
        batch: arg(&args, "--batch").map_or(500, |v| v.parse().expect("--batch N")),
        written_when_sent: args.iter().any(|a| a == "--written-when-sent"),
    };
    println!(
        "{n} messages, {IN_FLIGHT} sends in flight, {} worker instances claiming {} at a time, {GUARDIANS} parents{}",
        shape.workers,
        shape.batch,
        if shape.written_when_sent {
            ", each message written when sent"
        } else {
            ""
        }
    );
    println!(
        "{:<6} {:<10} {:>14} {:>14} {:>14} {:>8} {:>13} {:>13}",
        "sink",
        "database",
        "enqueue msg/s",
        "platform msg/s",
        "baseline msg/s",
        "ratio",
        "platform µs",
        "baseline µs"
    );
    for channel in sinks {
        let (port, count) = match channel {
            Channel::Email => smtp_sink(),
            _ => http_sink(),
        };
        // The content the platform sends, for the baseline to send the same.
        let sample = sample_content(channel).await;
        if channel == Channel::Email {
            // Capped: with Nagle on it runs at some 20 messages a second per connection.
            let m = n.min(20_000);
            let stock = stock_transport_smtp(port, m, &sample, &count).await;
            println!("(lettre's pooled transport as it comes, {m} messages: {stock:.0} msg/s)");
        }
        let cpu = cpu_seconds();
        let baseline = match channel {
            Channel::Email => baseline_smtp(port, n, &sample, &count).await,
            _ => baseline_http(port, n, &sample, &count).await,
        };
        let baseline_cpu = cpu_per_message(cpu, n);
        for &pg in &dbs {
            let run = platform(pg, channel, port, n, &count, &shape).await;
            println!(
                "{:<6} {:<10} {:>14.0} {:>14.0} {:>14.0} {:>8.2} {:>13.0} {:>13.0}",
                if channel == Channel::Email {
                    "smtp"
                } else {
                    "http"
                },
                if pg { "postgres" } else { "sqlite" },
                run.enqueue_per_sec,
                run.send_per_sec,
                baseline,
                run.send_per_sec / baseline,
                run.cpu_us,
                baseline_cpu
            );
            println!(
                "SUITE\tdispatch\t{} on {}\t{:.0} msg/s\tbaseline {baseline:.0} msg/s\t{:.2} of baseline",
                if channel == Channel::Email { "smtp" } else { "http" },
                if pg { "postgres" } else { "sqlite" },
                run.send_per_sec,
                run.send_per_sec / baseline
            );
        }
    }
}

/// A rendered default template of the channel (from a scratch SQLite database).
async fn sample_content(channel: Channel) -> Rendered {
    let (url, backend) = fresh_db(false).await;
    let db = db::connect(&url, 2).await.unwrap();
    db::migrate(&db).await.unwrap();
    hi_outreach::messaging::service::ensure_defaults(&db)
        .await
        .unwrap();
    let g = guardian::ActiveModel {
        full_name: Set("Trần Thị Bình".into()),
        search_key: Set("tran thi binh".into()),
        relationship: Set("mẹ".into()),
        phone: Set(None),
        email: Set(Some("binh@example.vn".into())),
        zalo: Set(false),
        app_ref: Set(Some("VSSID-0".into())),
        language: Set("vi".into()),
        channel_order: Set("email".into()),
        opted_out_at: Set(None),
        erased_at: Set(None),
        created_at: Set(Utc::now()),
        updated_at: Set(Utc::now()),
        ..Default::default()
    };
    let g = guardian::Entity::insert(g).exec(&db.conn).await.unwrap();
    let tpl = template::Entity::find()
        .filter(template::Column::Channel.eq(channel.code()))
        .filter(template::Column::Language.eq("vi"))
        .filter(template::Column::Purpose.eq("deadline_reminder"))
        .one(&db.conn)
        .await
        .unwrap()
        .unwrap();
    let secret = SecretKey::parse("bench-secret-key-that-is-long-enough-0123456789").unwrap();
    let state = AppState::new(db.clone(), Settings::default(), secret).unwrap();
    let composer = Composer {
        i18n: &state.i18n,
        base_url: "http://127.0.0.1:8080",
        secret: state.secret(),
        track_opens: true,
    };
    let c = composer
        .compose(
            &db.conn,
            g.last_insert_id,
            tpl.id,
            tpl.current_version,
            "bench:0",
            false,
        )
        .await
        .unwrap()
        .unwrap();
    drop(backend);
    c.content
}
