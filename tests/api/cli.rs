use std::io::Write;
use std::process::{Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_hi-outreach");

fn run(args: &[&str], env: &[(&str, &str)], stdin: Option<&str>) -> (i32, String, String) {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .env_remove("HIO_DATABASE_URL")
        .env_remove("HIO_SECRET_KEY")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("run binary");
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    } else {
        drop(child.stdin.take());
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn bad_settings_stop_with_a_message_naming_the_setting() {
    let (code, _, err) = run(&["migrate"], &[("HIO_TIMEZONE", "Asia/Atlantis")], None);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("timezone") && err.contains("HIO_TIMEZONE"),
        "{err}"
    );

    let (code, _, err) = run(
        &["migrate"],
        &[("HIO_DATABASE_URL", "mysql://localhost/x")],
        None,
    );
    assert_eq!(code, 2);
    assert!(err.contains("database_url"), "{err}");

    let (code, _, err) = run(&["migrate"], &[("HIO_BIND", "not-an-address")], None);
    assert_eq!(code, 2);
    assert!(err.contains("bind"), "{err}");

    let (code, _, err) = run(&["migrate"], &[("HIO_SESSION_IDLE_MINUTES", "soon")], None);
    assert_eq!(code, 2);
    assert!(err.contains("session_idle_minutes"), "{err}");

    let (code, _, err) = run(&["migrate", "--database", "ftp://x"], &[], None);
    assert_eq!(code, 2);
    assert!(err.contains("--database"), "{err}");

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("hio.toml");
    std::fs::write(&file, "bnid = \"127.0.0.1:1\"\n").unwrap();
    let (code, _, err) = run(&["--config", file.to_str().unwrap(), "migrate"], &[], None);
    assert_eq!(code, 2);
    assert!(err.contains("bnid"), "unknown keys are named: {err}");
}

#[test]
fn serve_refuses_to_start_without_a_secret_key() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/x.db", dir.path().display());
    let (code, _, err) = run(
        &["serve"],
        &[("HIO_DATABASE_URL", &url), ("HIO_BIND", "127.0.0.1:0")],
        None,
    );
    assert_eq!(code, 2);
    assert!(
        err.contains("secret_key") && err.contains("HIO_SECRET_KEY"),
        "{err}"
    );
    let (code, _, err) = run(
        &["serve"],
        &[("HIO_DATABASE_URL", &url), ("HIO_SECRET_KEY", "too-short")],
        None,
    );
    assert_eq!(code, 2);
    assert!(err.contains("secret_key") && err.contains("32"), "{err}");
}

#[test]
fn user_and_token_commands_work_against_a_database() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/cli.db", dir.path().display());
    let env = [("HIO_DATABASE_URL", url.as_str())];
    let (code, out, err) = run(&["migrate"], &env, None);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("migrations applied"));

    let (code, out, err) = run(
        &[
            "user",
            "create",
            "--email",
            "Chi.Nguyen@Example.vn",
            "--role",
            "staff",
            "--province",
            "79",
            "--name",
            "Nguyễn Thị Chi",
        ],
        &env,
        Some("một mật khẩu đủ dài\n"),
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("chi.nguyen@example.vn"), "{out}");

    let (code, _, err) = run(
        &[
            "user",
            "create",
            "--email",
            "x@example.vn",
            "--role",
            "staff",
        ],
        &env,
        Some("short\n"),
    );
    assert_ne!(code, 0);
    assert!(err.contains("password"), "{err}");
    let (code, _, err) = run(
        &[
            "user",
            "create",
            "--email",
            "y@example.vn",
            "--role",
            "root",
        ],
        &env,
        Some("một mật khẩu đủ dài\n"),
    );
    assert_ne!(code, 0);
    assert!(err.contains("role"), "{err}");
    let (code, _, err) = run(
        &[
            "user",
            "create",
            "--email",
            "z@example.vn",
            "--role",
            "liaison",
            "--school",
            "424242",
        ],
        &env,
        Some("một mật khẩu đủ dài\n"),
    );
    assert_eq!(code, 2);
    assert!(err.contains("424242"), "{err}");

    let (code, out, err) = run(
        &[
            "token",
            "create",
            "--user",
            "chi.nguyen@example.vn",
            "--name",
            "báo cáo",
        ],
        &env,
        None,
    );
    assert_eq!(code, 0, "{err}");
    let token = out.trim();
    assert!(token.starts_with("hio_") && token.len() > 40, "{out}");
    assert!(err.contains("shown once"));
    let (code, _, err) = run(
        &[
            "token",
            "create",
            "--user",
            "nobody@example.vn",
            "--name",
            "x",
        ],
        &env,
        None,
    );
    assert_eq!(code, 2);
    assert!(err.contains("nobody@example.vn"), "{err}");
}

#[test]
fn sigterm_lets_in_flight_requests_finish_and_stops_accepting() {
    use std::io::Read;
    use std::net::TcpStream;
    use std::time::Duration;

    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let server = Command::new(BIN)
        .arg("serve")
        .env(
            "HIO_DATABASE_URL",
            format!("sqlite://{}/gs.db", dir.path().display()),
        )
        .env(
            "HIO_SECRET_KEY",
            "a-secret-key-long-enough-for-the-test-0123",
        )
        .env("HIO_BIND", format!("127.0.0.1:{port}"))
        .env("HIO_SHUTDOWN_TIMEOUT_SECS", "10")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut up = false;
    for _ in 0..100 {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            up = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(up, "server did not start");

    // A form post whose body is still arriving when the signal comes.
    let body = b"email=a%40b.vn&password=whatever-long&csrf_token=x";
    let mut conn = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        conn,
        "POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .unwrap();
    conn.write_all(&body[..10]).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let pid = server.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    std::thread::sleep(Duration::from_millis(500));
    conn.write_all(&body[10..]).unwrap();
    let mut response = String::new();
    conn.read_to_string(&mut response).unwrap();
    assert!(
        response.starts_with("HTTP/1.1 403"),
        "the in-flight request was answered: {response}"
    );

    let out = server.wait_with_output().unwrap();
    assert!(out.status.success(), "clean exit after SIGTERM: {out:?}");
    // Its log went into a pipe (as into a file or the journal): plain text, no colour codes.
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(log.contains("SIGTERM"), "{log}");
    assert!(!log.contains('\u{1b}'), "{log:?}");
    assert!(
        TcpStream::connect(("127.0.0.1", port)).is_err(),
        "no longer accepting"
    );
}

/// Prop 99 in long form: California first treated in 1989, the other 38 states never.
fn prop99_long(dir: &std::path::Path, with_region: bool) -> std::path::PathBuf {
    let data = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/california_prop99.csv"
    ))
    .unwrap();
    let mut lines = data.lines();
    let states: Vec<&str> = lines.next().unwrap().split(',').skip(1).collect();
    let mut out = String::from(if with_region {
        "unit,period,outcome,first_treated,region\n"
    } else {
        "unit,period,outcome,first_treated\n"
    });
    for line in lines {
        let mut cells = line.split(',');
        let year = cells.next().unwrap();
        for (state, value) in states.iter().zip(cells) {
            let g = if *state == "California" { "1989" } else { "0" };
            out.push_str(&format!("{state},{year},{value},{g}"));
            if with_region {
                out.push_str(&format!(",{}", state.len() % 7));
            }
            out.push('\n');
        }
    }
    let path = dir.join("prop99_long.csv");
    std::fs::write(&path, out).unwrap();
    path
}

#[test]
fn analyze_did_prints_the_documented_json() {
    let dir = tempfile::tempdir().unwrap();
    let panel = prop99_long(dir.path(), true);
    let (code, out, err) = run(
        &["analyze", "did", "--panel", panel.to_str().unwrap()],
        &[],
        None,
    );
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    for key in ["att_gt", "simple", "group", "dynamic", "pretest"] {
        assert!(v.get(key).is_some(), "{key} in {out}");
    }
    let first = &v["att_gt"][0];
    for key in ["group", "period", "att", "se"] {
        assert!(first.get(key).is_some(), "att_gt.{key}");
    }
    // The simple ATT is the mean of ATT(1989, t) over 1989..2000 against the 1988 base.
    let simple = v["simple"]["att"].as_f64().unwrap();
    assert!((simple - (-17.98443)).abs() < 1e-4, "{simple}");
    assert!(v["dynamic"]["event_times"].as_array().unwrap().len() >= 12);
    assert!(v["pretest"]["df"].as_u64().unwrap() > 0);
    assert!(
        err.contains("warning"),
        "one treated cohort is worth a warning: {err}"
    );

    let (code, out, _) = run(
        &[
            "analyze",
            "did",
            "--panel",
            panel.to_str().unwrap(),
            "--control",
            "notyet",
            "--cluster",
            "region",
        ],
        &[],
        None,
    );
    assert_eq!(code, 0);
    let clustered: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(
        (clustered["simple"]["att"].as_f64().unwrap() - simple).abs() < 1e-9,
        "same point estimate"
    );
    assert_ne!(clustered["simple"]["se"], v["simple"]["se"]);

    let (code, _, err) = run(
        &[
            "analyze",
            "did",
            "--panel",
            panel.to_str().unwrap(),
            "--cluster",
            "province",
        ],
        &[],
        None,
    );
    assert_eq!(code, 2);
    assert!(err.contains("province"), "{err}");
    let (code, _, err) = run(
        &["analyze", "did", "--panel", "/nonexistent.csv"],
        &[],
        None,
    );
    assert_eq!(code, 2);
    assert!(err.contains("--panel"), "{err}");
    let bad = dir.path().join("bad.csv");
    std::fs::write(&bad, "unit,period,outcome,first_treated\nA,1,x,0\n").unwrap();
    let (code, _, err) = run(
        &["analyze", "did", "--panel", bad.to_str().unwrap()],
        &[],
        None,
    );
    assert_eq!(code, 2);
    assert!(
        err.contains("outcome") && err.contains('2'),
        "row and column named: {err}"
    );
}

#[test]
fn demo_starts_with_data_and_prints_working_logins() {
    async fn body_of(c: &reqwest::Client, url: &str) -> String {
        c.get(url).send().await.unwrap().text().await.unwrap()
    }
    use std::io::{BufRead, BufReader};
    use std::time::Duration;

    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut demo = Command::new(BIN)
        .arg("demo")
        .current_dir(dir.path())
        .env_remove("HIO_DATABASE_URL")
        .env_remove("HIO_SECRET_KEY")
        .env("HIO_BIND", format!("127.0.0.1:{port}"))
        .env("HIO_BASE_URL", format!("http://127.0.0.1:{port}"))
        .env("HIO_LOG_LEVEL", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(demo.stdout.take().unwrap()).lines();
    let mut admin = None;
    let mut printed = String::new();
    for line in lines.by_ref().take(12) {
        let line = line.unwrap();
        printed.push_str(&line);
        printed.push('\n');
        if line.trim_start().starts_with("admin ") {
            let parts: Vec<&str> = line.split_whitespace().collect();
            admin = Some((parts[1].to_string(), parts[3].to_string()));
        }
        if line.contains("HIO_DATABASE_URL=") {
            break;
        }
    }
    assert!(printed.contains("sqlite://data/demo.db"), "{printed}");
    let (email, password) = admin.unwrap_or_else(|| panic!("no admin login printed: {printed}"));
    assert!(dir.path().join("data/demo.db").exists());

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let result = rt.block_on(async {
        let c = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        for _ in 0..100 {
            if c.get(format!("{base}/health")).send().await.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let page = body_of(&c, &format!("{base}/login")).await;
        let token = crate::helpers::csrf_in(&page);
        let r = c
            .post(format!("{base}/login"))
            .form(&[
                ("email", email.as_str()),
                ("password", password.as_str()),
                ("csrf_token", &token),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 303, "the printed admin login works");
        let schools = body_of(&c, &format!("{base}/schools")).await;
        let students = body_of(&c, &format!("{base}/students?hi_status=uninsured")).await;
        let campaign = body_of(&c, &format!("{base}/campaigns/1")).await;
        let sessions = body_of(&c, &format!("{base}/sessions?status=held")).await;
        let analysis = body_of(&c, &format!("{base}/analysis")).await;
        let coverage = body_of(&c, &format!("{base}/coverage")).await;
        let waves = body_of(&c, &format!("{base}/waves")).await;
        let rules = body_of(&c, &format!("{base}/rules")).await;
        (
            schools, students, campaign, sessions, analysis, coverage, waves, rules,
        )
    });
    let _ = Command::new("kill")
        .args(["-TERM", &demo.id().to_string()])
        .status();
    let _ = demo.wait();
    let (schools, students, campaign, sessions, analysis, coverage, waves, rules) = result;
    assert!(
        waves.contains("Thông báo hạn thu BHYT năm học mới") && waves.contains("Hoàn tất"),
        "a finished demo wave: {waves}"
    );
    assert!(
        rules.contains("trước hạn thu") && rules.contains("Đang bật"),
        "an active demo reminder rule: {rules}"
    );
    assert!(
        analysis.contains("trường được can thiệp"),
        "the demo year supports an estimate: {analysis}"
    );
    assert!(coverage.contains("Hà Nội"), "coverage by province");
    assert!(
        campaign.contains("năm học 2025-2026") && campaign.contains("Đang chạy"),
        "an active demo campaign"
    );
    assert!(
        sessions.contains("Đã tổ chức") && sessions.contains("Trường"),
        "held demo sessions"
    );
    assert!(
        schools.contains("Trường") && schools.contains("kết quả"),
        "schools listed"
    );
    let count: u64 = schools
        .split("<p class=\"muted\">")
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!((250..=400).contains(&count), "about 300 schools: {count}");
    assert!(
        students.contains("<span class=\"badge hi-uninsured\">"),
        "families with uninsured children"
    );
}
