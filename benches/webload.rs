//! Web load: the release server (`hi-outreach serve`) on a synthetic country, driven by wrk at 64
//! connections — the dashboard, a campaign page, the school list and the JSON list endpoints,
//! next to two trivial endpoints of the same server (a static asset and `/health`) as the
//! ceiling. Prints requests/s and p99 per endpoint, and the server's resident memory while
//! idle, during the load and idle again after.
//!
//!   cargo bench --bench webload -- [--scale small|province|national] [--database URL]
//!       [--seconds 10] [--connections 64] [--keep]
//!
//! Without `--database` a fresh PostgreSQL database (at `BENCH_DATABASE_URL`, default the local
//! server) is made and filled by `generate` at `--scale` (default `province`); with it, the
//! database given is used as it is (fill it once with `hi-outreach generate --scale national`).
//! The run adds one admin account, an API token and a campaign with ten activities and ten
//! consultation sessions. Needs `wrk` on the PATH.
mod common;

use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hi_outreach::config::DatabaseUrl;
use hi_outreach::generate::{generate, Scale};

const BIN: &str = env!("CARGO_BIN_EXE_hi-outreach");
const PASSWORD: &str = "mật-khẩu-đo-tải-2026";

/// What a page costs at most at p99, and what share of the trivial endpoint's rate a JSON list
/// must reach.
const PAGE_P99_MS: f64 = 100.0;
const JSON_SHARE: f64 = 0.05;
const RSS_LOAD_MIB: f64 = 150.0;
const RSS_IDLE_MIB: f64 = 60.0;

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Trivial,
    Page,
    Json,
}

struct Outcome {
    path: String,
    kind: Kind,
    rps: f64,
    p99_ms: f64,
    errors: u64,
    /// The endpoint's first answer of the run, alone.
    first_ms: f64,
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let seconds: u64 = common::arg(&args, "--seconds")
        .map(|s| s.parse().expect("--seconds N"))
        .unwrap_or(10);
    let connections: u32 = common::arg(&args, "--connections")
        .map(|s| s.parse().expect("--connections N"))
        .unwrap_or(64);
    let scale = match common::arg(&args, "--scale").as_deref() {
        None | Some("province") => Scale::Province,
        Some("small") => Scale::Small,
        Some("national") => Scale::National,
        Some(other) => panic!("--scale small|province|national, not {other}"),
    };
    if Command::new("wrk").arg("--version").output().is_err() {
        eprintln!("wrk is not installed (Debian: apt-get install wrk)");
        std::process::exit(2);
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    let given = common::arg(&args, "--database");
    let (url, backend, filled) = match &given {
        Some(u) => (DatabaseUrl::parse(u).expect("--database URL"), None, None),
        None => {
            let (url, backend) = rt.block_on(common::fresh_db(true));
            let started = Instant::now();
            rt.block_on(async {
                let db = hi_outreach::db::connect(&url, 5).await.unwrap();
                hi_outreach::db::migrate(&db).await.unwrap();
                generate(&db, scale, &mut |_, _, _| {}).await.unwrap();
                db.close_pool().await;
            });
            let filled = started.elapsed();
            (url, Some(backend), Some(filled))
        }
    };
    let size = rt.block_on(async {
        let db = hi_outreach::db::connect(&url, 2).await.unwrap();
        let mut n = Vec::new();
        for table in ["schools", "students", "guardians"] {
            n.push(
                count(&db, &format!("SELECT COUNT(*) FROM {table}"))
                    .await
                    .expect("a migrated database"),
            );
        }
        db.close_pool().await;
        n
    });
    match filled {
        Some(t) => println!(
            "database: fresh, generated at {scale:?} scale in {:.1} s",
            t.as_secs_f64()
        ),
        None => println!("database: given ({})", url.redacted()),
    }
    println!(
        "{} schools, {} students, {} guardians; {connections} connections, {seconds} s per endpoint",
        size[0], size[1], size[2]
    );

    let stamp = uuid::Uuid::new_v4().simple().to_string();
    let email = format!("do-tai-{}@example.vn", &stamp[..8]);
    run_cli(
        &url,
        &["user", "create", "--email", &email, "--role", "admin"],
        Some(PASSWORD),
    );
    let token = run_cli(
        &url,
        &["token", "create", "--user", &email, "--name", "webload"],
        None,
    )
    .lines()
    .map(str::trim)
    .rfind(|l| !l.is_empty())
    .expect("a token")
    .to_string();

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut server = Server::start(&url, port);
    let base = format!("http://127.0.0.1:{port}");
    let idle_before = rss_mib(server.child.id());

    let (campaign, cookie) = rt.block_on(prepare(&base, &token, &email));
    let bearer = format!("Authorization: Bearer {token}");
    let cookie = format!("Cookie: {cookie}");
    let endpoints: Vec<(Kind, String, &str)> = vec![
        (Kind::Trivial, "/assets/css/app.css".into(), ""),
        (Kind::Trivial, "/health".into(), ""),
        (Kind::Page, "/".into(), &cookie),
        (Kind::Page, "/coverage".into(), &cookie),
        (Kind::Page, format!("/campaigns/{campaign}"), &cookie),
        (Kind::Page, "/schools".into(), &cookie),
        (Kind::Page, "/students?q=nguyen".into(), &cookie),
        (Kind::Json, "/api/v1/schools".into(), &bearer),
        (Kind::Json, "/api/v1/students".into(), &bearer),
        (Kind::Json, "/api/v1/students?q=nguyen".into(), &bearer),
        (Kind::Json, "/api/v1/campaigns".into(), &bearer),
        (Kind::Json, "/api/v1/messages".into(), &bearer),
    ];

    // Each endpoint answers 200 before it is timed; this first answer (nothing cached yet) is
    // reported apart, as "first ms".
    let client = reqwest::Client::new();
    let get = |path: &str, header: &str| {
        let mut r = client.get(format!("{base}{path}"));
        if let Some((name, value)) = header.split_once(": ") {
            r = r.header(name, value);
        }
        let path = path.to_string();
        async move {
            let t = Instant::now();
            let r = r.send().await.unwrap();
            assert_eq!(r.status().as_u16(), 200, "{path}");
            r.bytes().await.unwrap();
            t.elapsed().as_secs_f64() * 1000.0
        }
    };
    let first_ms: Vec<f64> = rt.block_on(async {
        let mut out = Vec::new();
        for (_, path, header) in &endpoints {
            out.push(get(path, header).await);
        }
        out
    });

    let peak = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (peak, stop, pid) = (peak.clone(), stop.clone(), server.child.id());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                if let Some(mib) = rss_mib(pid) {
                    peak.fetch_max((mib * 1024.0) as u64, Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        })
    };
    let mut outcomes = Vec::new();
    for ((kind, path, header), first_ms) in endpoints.iter().zip(first_ms) {
        settle(&base);
        // Steady state: one request just before the run, so figures kept for a while (the
        // dashboards') are measured as a visitor finds them while the dashboard is in use.
        rt.block_on(get(path, header));
        let (rps, p99_ms, errors) = wrk(&base, path, header, connections, seconds);
        outcomes.push(Outcome {
            path: path.clone(),
            kind: *kind,
            rps,
            p99_ms,
            errors,
            first_ms,
        });
    }
    stop.store(true, Ordering::Relaxed);
    sampler.join().unwrap();
    let during = peak.load(Ordering::Relaxed) as f64 / 1024.0;
    // Idle again: what the server keeps once the load is gone.
    std::thread::sleep(Duration::from_secs(5));
    let idle_after = rss_mib(server.child.id());
    server.stop();

    let ceiling = outcomes
        .iter()
        .filter(|o| o.kind == Kind::Trivial)
        .map(|o| o.rps)
        .fold(0.0, f64::max);
    println!();
    println!("endpoint\tkind\treq/s\tp99 ms\terrors\tshare of ceiling\tfirst ms\tgoal");
    let mut all_met = true;
    for o in &outcomes {
        let share = o.rps / ceiling;
        let (kind, goal, met) = match o.kind {
            Kind::Trivial => ("trivial", "ceiling".to_string(), true),
            Kind::Page => (
                "page",
                format!("p99 < {PAGE_P99_MS} ms"),
                o.p99_ms < PAGE_P99_MS,
            ),
            Kind::Json => (
                "json",
                format!("≥ {JSON_SHARE} of ceiling"),
                share >= JSON_SHARE,
            ),
        };
        // No answer within the run is no figure at all.
        let met = met && o.errors == 0 && o.rps > 0.0;
        all_met &= met;
        println!(
            "{}\t{kind}\t{:.0}\t{:.1}\t{}\t{share:.3}\t{:.1}\t{goal}: {}",
            o.path,
            o.rps,
            o.p99_ms,
            o.errors,
            o.first_ms,
            if met { "met" } else { "NOT met" }
        );
    }
    let show = |v: Option<f64>| v.map_or("n/a".into(), |m| format!("{m:.1}"));
    println!();
    println!(
        "server resident memory (MiB): idle {} before, {during:.1} peak during load (goal < {RSS_LOAD_MIB}), idle {} after (goal < {RSS_IDLE_MIB})",
        show(idle_before),
        show(idle_after)
    );
    let memory_met = during < RSS_LOAD_MIB && idle_after.is_some_and(|m| m < RSS_IDLE_MIB);
    for o in &outcomes {
        println!(
            "SUITE\tweb\t{}\t{:.0} req/s\tp99 {:.1} ms\t{:.3} of ceiling\tfirst {:.0} ms",
            o.path,
            o.rps,
            o.p99_ms,
            o.rps / ceiling,
            o.first_ms
        );
    }
    println!(
        "SUITE\tweb\tserver memory\tpeak {during:.1} MiB\tidle {} MiB\t{}",
        show(idle_after),
        if memory_met { "met" } else { "NOT met" }
    );
    println!(
        "goals: {}",
        if all_met && memory_met {
            "all met"
        } else {
            "NOT all met"
        }
    );
    if let Some(b) = backend {
        if args.iter().any(|a| a == "--keep") {
            println!("kept: {}", url.redacted());
        } else {
            rt.block_on(common::drop_db(b));
        }
    }
}

async fn count(db: &hi_outreach::db::Db, sql: &str) -> Option<i64> {
    use sea_orm::{ConnectionTrait, Statement};
    db.conn
        .query_one(Statement::from_string(db.backend(), sql.to_string()))
        .await
        .ok()??
        .try_get_by_index::<i64>(0)
        .ok()
}

/// Runs a `hi-outreach` subcommand on the database; answers its standard output.
fn run_cli(url: &DatabaseUrl, args: &[&str], stdin: Option<&str>) -> String {
    let mut child = Command::new(BIN)
        .args(args)
        .env("HIO_DATABASE_URL", url.as_str())
        .env("HIO_LOG_LEVEL", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run hi-outreach");
    let mut input = child.stdin.take().unwrap();
    if let Some(s) = stdin {
        writeln!(input, "{s}").unwrap();
    }
    drop(input);
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "hi-outreach {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

struct Server {
    child: Child,
}

impl Server {
    /// The server as deployed: web, worker and scheduler in one process, logging warnings only.
    fn start(url: &DatabaseUrl, port: u16) -> Self {
        let child = Command::new(BIN)
            .arg("serve")
            .env("HIO_DATABASE_URL", url.as_str())
            .env("HIO_BIND", format!("127.0.0.1:{port}"))
            .env("HIO_BASE_URL", format!("http://127.0.0.1:{port}"))
            .env(
                "HIO_SECRET_KEY",
                "a-secret-key-for-the-load-benchmark-0123456789",
            )
            .env("HIO_LOG_LEVEL", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the server");
        let deadline = Instant::now() + Duration::from_secs(60);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "the server did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        // Let start-up work (migrations check, first scheduler tick) settle.
        std::thread::sleep(Duration::from_secs(2));
        Self { child }
    }

    fn stop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

/// A campaign to show, and a signed-in browser session's cookie.
async fn prepare(base: &str, token: &str, email: &str) -> (i64, String) {
    let today = hi_outreach::school_year::today();
    let api = reqwest::Client::new();
    let r = api
        .post(format!("{base}/api/v1/campaigns"))
        .bearer_auth(token)
        .json(&serde_json::json!({
            "name": "Chiến dịch đo tải", "school_year": "2026-2027", "scope": "national",
            "starts_on": today.to_string(),
            "ends_on": (today + chrono::Duration::days(90)).to_string(),
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    let campaign = r.json::<serde_json::Value>().await.unwrap()["id"]
        .as_i64()
        .unwrap();
    // A campaign page as it looks in use: activities in the coming days and sessions at schools.
    let schools: serde_json::Value = api
        .get(format!("{base}/api/v1/schools?per_page=10"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for (n, school) in schools["items"].as_array().unwrap().iter().enumerate() {
        let day = (today + chrono::Duration::days(1 + n as i64)).to_string();
        for (path, body) in [
            (
                "/api/v1/activities",
                serde_json::json!({
                    "campaign_id": campaign, "channel": "radio", "date": day, "cost_vnd": 1_500_000,
                    "title": format!("Tọa đàm trên sóng phát thanh số {}", n + 1),
                }),
            ),
            (
                "/api/v1/sessions",
                serde_json::json!({
                    "campaign_id": campaign, "school_id": school["id"], "date": day,
                    "start_time": "08:00", "end_time": "09:30",
                }),
            ),
        ] {
            let r = api
                .post(format!("{base}{path}"))
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            assert_eq!(status, 201, "{path}: {}", r.text().await.unwrap());
        }
    }

    let browser = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let form = browser
        .get(format!("{base}/login"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let marker = "name=\"csrf_token\" value=\"";
    let start = form.find(marker).expect("a CSRF field") + marker.len();
    let csrf = &form[start..start + form[start..].find('"').unwrap()];
    let r = browser
        .post(format!("{base}/login"))
        .form(&[
            ("email", email),
            ("password", PASSWORD),
            ("csrf_token", csrf),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 303, "signed in");
    let cookies: Vec<String> = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next().map(str::to_string))
        .collect();
    (campaign, cookies.join("; "))
}

/// One wrk run: requests/s, p99 in milliseconds, and non-2xx answers plus socket errors.
fn wrk(base: &str, path: &str, header: &str, connections: u32, seconds: u64) -> (f64, f64, u64) {
    let mut cmd = Command::new("wrk");
    cmd.args([
        "-t2",
        &format!("-c{connections}"),
        &format!("-d{seconds}s"),
        "--latency",
    ]);
    if !header.is_empty() {
        cmd.args(["-H", header]);
    }
    let out = cmd.arg(format!("{base}{path}")).output().expect("run wrk");
    let text = String::from_utf8_lossy(&out.stdout);
    let rps = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("wrk's rate for {path}: {text}"));
    let p99 = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("99%"))
        .map(|v| duration_ms(v.trim()))
        .unwrap_or_else(|| panic!("wrk's p99 for {path}: {text}"));
    let mut errors = 0;
    for l in text.lines().map(str::trim) {
        if let Some(v) = l.strip_prefix("Non-2xx or 3xx responses:") {
            errors += v.trim().parse::<u64>().unwrap_or(0);
        }
        if let Some(v) = l.strip_prefix("Socket errors:") {
            // "connect 0, read 0, write 0, timeout 3"
            errors += v
                .split(',')
                .filter_map(|part| part.split_whitespace().nth(1)?.parse::<u64>().ok())
                .sum::<u64>();
        }
    }
    (rps, p99, errors)
}

/// wrk's "1.23ms", "850.00us", "1.02s" in milliseconds.
fn duration_ms(v: &str) -> f64 {
    let (number, factor) = if let Some(n) = v.strip_suffix("us") {
        (n, 0.001)
    } else if let Some(n) = v.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = v.strip_suffix('m') {
        (n, 60_000.0)
    } else if let Some(n) = v.strip_suffix('s') {
        (n, 1000.0)
    } else {
        (v, 1.0)
    };
    number.trim().parse::<f64>().unwrap_or(f64::NAN) * factor
}

/// Waits until the server answers `/health` within 20 ms (at most a minute): requests of the
/// previous endpoint that wrk gave up on may still be running, and must not be counted against
/// the next one.
fn settle(base: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        let t = Instant::now();
        let quick = std::net::TcpStream::connect(base.trim_start_matches("http://"))
            .and_then(|mut s| {
                use std::io::Read;
                s.set_read_timeout(Some(Duration::from_secs(5)))?;
                s.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")?;
                let mut answer = Vec::new();
                s.read_to_end(&mut answer)?;
                Ok(answer.starts_with(b"HTTP/1.1 200"))
            })
            .unwrap_or(false);
        if quick && t.elapsed() < Duration::from_millis(20) {
            return;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The resident memory of a process, in MiB (Linux).
fn rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    Some(kib / 1024.0)
}
