//! The student import at 100,000 rows: time, and peak memory against the file's own size.
//!
//! Each phase runs in a fresh child process so its peak resident memory (VmHWM) is its own:
//!   baseline  read the whole file into memory and count its lines (what "holding the file"
//!             costs);
//!   check     a dry run that streams the file through the importer;
//!   commit    store the upload in pieces, check it, write it in one transaction.
//! Run with `cargo bench --bench import`.
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use hi_outreach::auth::actor::Actor;
use hi_outreach::config::DatabaseUrl;
use hi_outreach::contacts::import::{self, CommitMode, Kind};
use hi_outreach::org::service::{create_school, SchoolDraft};
use hi_outreach::{db, imports};
use tokio::io::AsyncReadExt;

const ROWS: usize = 100_000;
const SCHOOLS: usize = 50;

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .map(str::to_string)
        })
        .and_then(|l| l.split_whitespace().nth(1).and_then(|n| n.parse().ok()))
        .unwrap_or(0)
}

fn write_file(path: &Path) {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    writeln!(f, "school_code,si_number,full_name,date_of_birth,class_name,hi_status,guardian_name,guardian_relationship,guardian_phone,guardian_zalo,consent_sms,consent_zalo").unwrap();
    let family = ["Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Vũ", "Đặng", "Bùi"];
    let given = [
        "An", "Bình", "Chi", "Dũng", "Hà", "Khang", "Lan", "Minh", "Ngọc", "Phúc",
    ];
    for i in 0..ROWS {
        // Every tenth row is a sibling of the one before: same guardian phone.
        let family_no = i - usize::from(i % 10 == 9);
        writeln!(
            f,
            "BENCH-{:02},{:010},{} Văn {} {},{:02}/{:02}/{},{}A,{},{} Thị {},mẹ,+849{:08},có,có,{}",
            i % SCHOOLS,
            1_000_000_000 + i,
            family[i % family.len()],
            given[i % given.len()],
            i,
            i % 28 + 1,
            i % 12 + 1,
            2008 + i % 10,
            i % 12 + 1,
            if i % 3 == 0 { "insured" } else { "uninsured" },
            family[(family_no / 7) % family.len()],
            given[(family_no / 3) % given.len()],
            10_000_000 + family_no,
            if i % 5 == 0 { "không" } else { "có" },
        )
        .unwrap();
    }
}

async fn setup(dir: &Path) -> hi_outreach::db::Db {
    let url = DatabaseUrl::parse(&format!("sqlite://{}/bench.db", dir.display())).unwrap();
    let db = db::connect(&url, 4).await.unwrap();
    db::migrate(&db).await.unwrap();
    for s in 0..SCHOOLS {
        let draft = SchoolDraft {
            code: format!("BENCH-{s:02}"),
            name: format!("Trường THCS Số {s}"),
            level: "lower_secondary".into(),
            province_code: "01".into(),
            commune_code: None,
            enrolled_students: Some(2000),
            address: None,
        };
        create_school(&db, &Actor::cli(), &draft).await.unwrap();
    }
    db
}

/// Feeds a file in 64 KiB pieces, as an upload arrives.
async fn feed_file(
    path: PathBuf,
    tx: tokio::sync::mpsc::Sender<actix_web::web::Bytes>,
) -> hi_outreach::error::AppResult<()> {
    let mut f = tokio::fs::File::open(path)
        .await
        .map_err(anyhow::Error::from)?;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = f.read(&mut buf).await.map_err(anyhow::Error::from)?;
        if n == 0 {
            return Ok(());
        }
        if tx
            .send(actix_web::web::Bytes::copy_from_slice(&buf[..n]))
            .await
            .is_err()
        {
            return Ok(());
        }
    }
}

fn phase(name: &str, dir: &Path, file: &Path) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let start = Instant::now();
    let summary = match name {
        "baseline" => {
            let data = std::fs::read(file).unwrap();
            let lines = data.iter().filter(|b| **b == b'\n').count();
            format!("{lines} lines")
        }
        "check" => rt.block_on(async {
            let db = setup(dir).await;
            let t0 = Instant::now();
            let file = file.to_path_buf();
            let report = import::check(&db, &Actor::cli(), Kind::Students, move |tx| {
                feed_file(file, tx)
            })
            .await
            .unwrap();
            assert!(
                !report.has_errors(),
                "{:?}",
                &report.errors[..report.errors.len().min(3)]
            );
            format!(
                "{} rows, {} students, {} guardians (import {:.2} s)",
                report.rows,
                report.students_created,
                report.guardians_created,
                t0.elapsed().as_secs_f64()
            )
        }),
        "commit" => rt.block_on(async {
            let db = setup(dir).await;
            let t0 = Instant::now();
            let mut actor = Actor::cli();
            actor.user_id = Some(create_bench_user(&db).await);
            let pending = imports::create_chunked(&db, &actor, Kind::Students.code(), "bench.csv")
                .await
                .unwrap();
            let feeder_db = db.clone();
            let file = file.to_path_buf();
            let report = import::check(&db, &actor, Kind::Students, move |tx| async move {
                let (inner_tx, mut inner_rx) =
                    tokio::sync::mpsc::channel::<actix_web::web::Bytes>(4);
                let reader = tokio::spawn(feed_file(file, inner_tx));
                let stream = async_stream(&mut inner_rx);
                let r = imports::pump(stream, usize::MAX, Some((feeder_db, pending.id)), tx).await;
                reader.await.ok();
                r
            })
            .await
            .unwrap();
            let (written, ok) = import::commit(
                &db,
                &actor,
                Kind::Students,
                pending.id,
                CommitMode::AllOrNothing,
            )
            .await
            .unwrap();
            assert!(ok && !report.has_errors());
            format!(
                "{} students, {} guardians, {} consents written (import {:.2} s)",
                written.students_created,
                written.guardians_created,
                written.consents_recorded,
                t0.elapsed().as_secs_f64()
            )
        }),
        _ => unreachable!(),
    };
    println!(
        "{name}\t{:.2}\t{}\t{summary}",
        start.elapsed().as_secs_f64(),
        peak_rss_kib()
    );
}

fn async_stream(
    rx: &mut tokio::sync::mpsc::Receiver<actix_web::web::Bytes>,
) -> impl futures_util::Stream<Item = Result<actix_web::web::Bytes, std::convert::Infallible>> + Unpin + '_
{
    Box::pin(futures_util::stream::poll_fn(move |cx| {
        rx.poll_recv(cx).map(|o| o.map(Ok))
    }))
}

async fn create_bench_user(db: &hi_outreach::db::Db) -> i64 {
    use hi_outreach::auth::users::{self, UserDraft};
    let draft = UserDraft {
        email: "bench@example.vn".into(),
        display_name: "Bench".into(),
        role: "admin".into(),
        province_code: None,
        school_codes: vec![],
        language: None,
        active: true,
    };
    let input = users::validate(&db.conn, &draft).await.unwrap();
    users::create(
        db,
        &Actor::cli(),
        input,
        hi_outreach::fields::NewPassword::parse("a long bench password").unwrap(),
    )
    .await
    .unwrap()
    .id
}

fn main() {
    hi_outreach::install_crypto_provider();
    let args: Vec<String> = std::env::args().collect();
    if let Some(pos) = args.iter().position(|a| a == "--phase") {
        let name = &args[pos + 1];
        let dir = PathBuf::from(&args[pos + 2]);
        let file = PathBuf::from(&args[pos + 3]);
        phase(name, &dir, &file);
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("students.csv");
    write_file(&file);
    let size = std::fs::metadata(&file).unwrap().len();
    println!(
        "file: {ROWS} rows, {:.1} MiB, {SCHOOLS} schools",
        size as f64 / 1048576.0
    );
    println!("phase\tseconds\tpeak_rss_kib\tresult");
    let exe = std::env::current_exe().unwrap();
    let mut rss = std::collections::HashMap::new();
    for name in ["baseline", "check", "commit"] {
        let phase_dir = dir.path().join(name);
        std::fs::create_dir_all(&phase_dir).unwrap();
        let out = Command::new(&exe)
            .args(["--phase", name])
            .arg(&phase_dir)
            .arg(&file)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        print!("{text}");
        if !out.status.success() {
            eprintln!("{}", String::from_utf8_lossy(&out.stderr));
            std::process::exit(1);
        }
        let kib: u64 = text
            .split('\t')
            .nth(2)
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        rss.insert(name, kib);
    }
    let file_kib = size / 1024;
    println!(
        "peak memory / file size: baseline {:.2}, check {:.2}, commit {:.2}",
        rss["baseline"] as f64 / file_kib as f64,
        rss["check"] as f64 / file_kib as f64,
        rss["commit"] as f64 / file_kib as f64
    );
}
