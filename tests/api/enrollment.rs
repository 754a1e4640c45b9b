//! Enrollment snapshots (entry, corrections with history, CSV import) and the coverage
//! dashboard (weighted by enrollment, latest snapshot on or before the day, scope, uplift, CSV).
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{send, spawn_app, TestApp};

async fn csv(app: &TestApp, token: &str, path: &str, body: &str) -> (u16, Value) {
    let r = app
        .api(token, Method::POST, path)
        .header("content-type", "text/csv")
        .body(body.to_string())
        .send()
        .await
        .expect("request");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

fn snap(school: &str, day: &str, enrolled: i64, insured: i64) -> Value {
    json!({"school_code": school, "taken_on": day, "enrolled": enrolled, "insured": insured, "state_funded": 0})
}

#[tokio::test]
async fn snapshots_are_validated_and_corrections_keep_history() {
    let app = spawn_app().await;
    app.create_school("HN-A", "Trường THPT Phan Đình Phùng", "01")
        .await;
    app.create_school("HCM-A", "Trường THPT Nguyễn Thị Minh Khai", "79")
        .await;
    let staff = app.create_user("staff", Some("01"), &[]).await;
    let liaison = app.create_user("liaison", None, &["HN-A"]).await;
    let t = app.token_for(&staff).await;
    let l = app.token_for(&liaison).await;
    let path = "/api/v1/enrollment/snapshots";
    let (status, v) = send(
        &app,
        &t,
        Method::POST,
        path,
        snap("hn-a", "2025-10-31", 1200, 900),
    )
    .await;
    assert_eq!(status, 201, "{v}");
    assert_eq!(v["coverage"], 75.0);
    let id = v["id"].as_i64().unwrap();
    // The same figures again change nothing.
    let (status, v) = send(
        &app,
        &t,
        Method::POST,
        path,
        snap("HN-A", "31/10/2025", 1200, 900),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(v["history"].as_array().unwrap().len(), 0);
    // A correction keeps the earlier values.
    let (status, v) = send(
        &app,
        &t,
        Method::POST,
        path,
        snap("HN-A", "2025-10-31", 1200, 960),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["id"], id);
    assert_eq!(v["insured"], 960);
    assert_eq!(v["history"][0]["insured"], 900);
    assert_eq!(app.count("enrollment_snapshots").await, 1);
    assert_eq!(
        app.count("audit_log WHERE action = 'enrollment.corrected'")
            .await,
        1
    );
    // Bad figures are named; nothing is written.
    let (status, p) = send(&app, &t, Method::POST, path, json!({"school_code": "HN-A", "taken_on": "2025-11-30", "enrolled": 100, "insured": 120, "state_funded": -1})).await;
    assert_eq!(status, 422);
    let fields: Vec<&str> = p["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert!(fields.contains(&"state_funded"), "{p}");
    let (status, p) = send(
        &app,
        &t,
        Method::POST,
        path,
        json!({"school_code": "HN-A", "taken_on": "2025-11-30", "enrolled": 100, "insured": 120}),
    )
    .await;
    assert_eq!(status, 422);
    assert_eq!(p["errors"][0]["field"], "insured");
    let (status, _) = send(
        &app,
        &t,
        Method::POST,
        path,
        json!({"school_code": "HN-A", "taken_on": "2025-11-30", "enrolled": 100.5, "insured": 10}),
    )
    .await;
    assert_eq!(status, 422, "no fractional students");
    // Another province's school is unknown to this staff member; liaisons only read.
    let (status, _) = send(
        &app,
        &t,
        Method::POST,
        path,
        snap("HCM-A", "2025-10-31", 100, 50),
    )
    .await;
    assert_eq!(status, 422);
    let (status, _) = send(
        &app,
        &l,
        Method::POST,
        path,
        snap("HN-A", "2025-11-30", 100, 50),
    )
    .await;
    assert_eq!(status, 403);
    assert_eq!(app.count("enrollment_snapshots").await, 1);
    assert_eq!(
        app.api_status(&l, Method::GET, &format!("{path}/{id}"))
            .await,
        200
    );
}

#[tokio::test]
async fn csv_import_reports_rows_and_columns_and_writes_all_or_nothing() {
    let app = spawn_app().await;
    app.create_school("HN-B", "Trường THCS Ngô Sĩ Liên", "01")
        .await;
    app.create_school("HN-C", "Trường Tiểu học Kim Đồng", "01")
        .await;
    let admin = app.create_user("admin", None, &[]).await;
    let t = app.token_for(&admin).await;
    // Vietnamese headers, a semicolon separator, a bad row, a duplicate and an unknown school.
    let bad = "ma_truong;ngay;si_so;co_bhyt;ngan_sach\nHN-B;30/09/2025;800;500;40\nHN-C;30/09/2025;600;700;0\nHN-B;30/09/2025;800;510;40\nXX-9;30/09/2025;10;5;0\n";
    let (status, r) = csv(&app, &t, "/api/v1/enrollment/import?dry_run=false", bad).await;
    assert_eq!(status, 422, "{r}");
    let errs: Vec<(i64, String)> = r["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["row"].as_i64().unwrap(),
                e["column"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert!(errs.contains(&(3, "insured".into())), "{errs:?}");
    assert!(errs.contains(&(4, "taken_on".into())), "{errs:?}");
    assert!(errs.contains(&(5, "school_code".into())), "{errs:?}");
    assert_eq!(app.count("enrollment_snapshots").await, 0);
    let good = "school_code,taken_on,enrolled,insured,state_funded,source\nHN-B,2025-09-30,800,500,40,Báo cáo BHXH quận\nHN-C,2025-09-30,600,300,0,\nHN-B,2025-10-31,800,560,40,\n";
    let (status, r) = csv(&app, &t, "/api/v1/enrollment/import", good).await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["status"], "dry_run");
    assert_eq!(r["to_create"], 3);
    assert_eq!(
        app.count("enrollment_snapshots").await,
        0,
        "a dry run writes nothing"
    );
    let (status, r) = csv(&app, &t, "/api/v1/enrollment/import?dry_run=false", good).await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(app.count("enrollment_snapshots").await, 3);
    // Importing a corrected file counts corrections and keeps history.
    let corrected = good.replace("HN-C,2025-09-30,600,300", "HN-C,2025-09-30,600,330");
    let (_, r) = csv(&app, &t, "/api/v1/enrollment/import", &corrected).await;
    assert_eq!(
        (
            r["to_create"].as_i64(),
            r["to_correct"].as_i64(),
            r["unchanged"].as_i64()
        ),
        (Some(0), Some(1), Some(2)),
        "{r}"
    );
    csv(
        &app,
        &t,
        "/api/v1/enrollment/import?dry_run=false",
        &corrected,
    )
    .await;
    assert_eq!(app.count("enrollment_snapshot_history").await, 1);
    let list = app
        .api_json(&t, Method::GET, "/api/v1/enrollment/snapshots?school=HN-B")
        .await;
    assert_eq!(list["total"], 2);
    assert_eq!(list["items"][0]["taken_on"], "2025-10-31", "newest first");
    assert!(list["items"][1]["source"]
        .as_str()
        .unwrap()
        .contains("BHXH"));
}

#[tokio::test]
async fn coverage_is_weighted_by_enrollment_and_scoped() {
    let app = spawn_app().await;
    app.create_school("HN-D", "Trường THPT Kim Liên", "01")
        .await;
    app.create_school("HN-E", "Trường THCS Láng Thượng", "01")
        .await;
    app.create_school("HCM-E", "Trường THPT Marie Curie", "79")
        .await;
    let admin = app.create_user("admin", None, &[]).await;
    let staff79 = app.create_user("staff", Some("79"), &[]).await;
    let liaison = app.create_user("liaison", None, &["HN-E"]).await;
    let t = app.token_for(&admin).await;
    for (school, day, e, i) in [
        ("HN-D", "2025-09-30", 1000, 600),
        ("HN-D", "2025-12-31", 1000, 900),
        ("HN-E", "2025-09-30", 100, 90),
        ("HCM-E", "2025-09-30", 400, 200),
        ("HCM-E", "2026-01-31", 400, 300),
    ] {
        let (s, v) = send(
            &app,
            &t,
            Method::POST,
            "/api/v1/enrollment/snapshots",
            snap(school, day, e, i),
        )
        .await;
        assert!(s == 201, "{v}");
    }
    let (_, c) = send(
        &app,
        &t,
        Method::POST,
        "/api/v1/campaigns",
        json!({"name": "BHYT 100%", "school_year": "2025-2026", "starts_on": "2025-10-01", "ends_on": "2026-05-31", "target_coverage": 95}),
    )
    .await;
    // As of 15 January 2026: HN-D 900/1000 (December), HN-E 90/100, HCM-E 200/400 (September).
    let v = app
        .api_json(
            &t,
            Method::GET,
            &format!("/api/v1/coverage?date=2026-01-15&campaign={}", c["id"]),
        )
        .await;
    assert_eq!(v["total"]["enrolled"], 1500);
    assert_eq!(v["total"]["insured"], 1190);
    let cov = v["total"]["coverage"].as_f64().unwrap();
    assert!(
        (cov - 100.0 * 1190.0 / 1500.0).abs() < 1e-9,
        "weighted, not the mean of school rates: {cov}"
    );
    assert_eq!(v["target"], 95.0);
    let hn = v["children"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["code"] == "01")
        .unwrap()
        .clone();
    assert_eq!(hn["enrolled"], 1100);
    assert!((hn["coverage"].as_f64().unwrap() - 90.0).abs() < 1e-9);
    // Baseline at the campaign start (1 October): HN-D 60%, HN-E 90%, HCM-E 50%.
    assert!(
        (hn["baseline"].as_f64().unwrap() - 100.0 * 690.0 / 1100.0).abs() < 1e-9,
        "{hn}"
    );
    assert!(v["uplift"]["mean"].as_f64().unwrap() > 0.0, "{v}");
    assert_eq!(v["furthest"][0]["code"], "HCM-E");
    // The trend has a point per month end up to the day.
    let trend = v["trend"].as_array().unwrap();
    assert_eq!(trend.last().unwrap()["date"], "2026-01-15");
    assert!(trend.iter().any(|p| p["date"] == "2025-09-30"));
    // Each point sums every school's latest figures on or before it: HN-D's December figures
    // replace its September ones, HCM-E's January figures come after the day.
    for (date, enrolled, insured) in [
        ("2025-09-30", 1500, 890),
        ("2025-11-30", 1500, 890),
        ("2025-12-31", 1500, 1190),
        ("2026-01-15", 1500, 1190),
    ] {
        let point = trend
            .iter()
            .find(|p| p["date"] == date)
            .unwrap_or_else(|| panic!("a point at {date}: {trend:?}"));
        assert_eq!(point["enrolled"], enrolled, "{point}");
        assert_eq!(point["insured"], insured, "{point}");
    }
    assert!(
        trend
            .iter()
            .all(|p| p["date"].as_str().unwrap() >= "2025-09-30"),
        "no point before the first figures: {trend:?}"
    );
    // A province: its communes (the test schools have none); a day before any figures.
    let p = app
        .api_json(
            &t,
            Method::GET,
            "/api/v1/coverage?province=01&date=2025-12-31",
        )
        .await;
    assert_eq!(p["level"], "province");
    assert_eq!(p["total"]["insured"], 990);
    let early = app
        .api_json(&t, Method::GET, "/api/v1/coverage?date=2025-01-01")
        .await;
    assert_eq!(early["total"]["reporting"], 0);
    // Scope: staff of province 79 see only theirs, and another province is 404.
    let s79 = app.token_for(&staff79).await;
    let v = app
        .api_json(&s79, Method::GET, "/api/v1/coverage?date=2026-02-01")
        .await;
    assert_eq!(v["total"]["enrolled"], 400);
    assert_eq!(
        app.api_status(&s79, Method::GET, "/api/v1/coverage?province=01")
            .await,
        404
    );
    let lt = app.token_for(&liaison).await;
    let v = app
        .api_json(&lt, Method::GET, "/api/v1/coverage?date=2026-02-01")
        .await;
    assert_eq!(v["total"]["enrolled"], 100);
    // The CSV export starts with a byte-order mark and keeps the Vietnamese names.
    let r = app
        .api(
            &t,
            Method::GET,
            "/api/v1/coverage.csv?date=2026-01-15&province=01",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let bytes = r.bytes().await.unwrap();
    assert_eq!(&bytes[..3], b"\xEF\xBB\xBF");
    let text = String::from_utf8(bytes[3..].to_vec()).unwrap();
    let mut rows = csv::Reader::from_reader(text.as_bytes());
    let header = rows.headers().unwrap().clone();
    assert_eq!(&header[0], "kind");
    let first = rows.records().next().unwrap().unwrap();
    assert_eq!(&first[2], "Hà Nội", "{text}");
    // The dashboard and the figures pages render.
    let admin_client = app.signed_in(&admin).await;
    for path in [
        "/coverage",
        "/coverage?province=01",
        "/enrollment",
        "/coverage/export.csv",
    ] {
        assert_eq!(app.status(&admin_client, path).await, 200, "{path}");
    }
}

/// 24 schools in four provinces, six months of coverage: two schools per province get their
/// first session in November 2025, two in January 2026, two never. Treated schools gain 10
/// points from the month of their first session, on top of a common trend and small noise.
async fn staggered_world() -> (TestApp, String) {
    let app = spawn_app().await;
    let admin = app.create_user("admin", None, &[]).await;
    let t = app.token_for(&admin).await;
    let (_, c) = send(
        &app,
        &t,
        Method::POST,
        "/api/v1/campaigns",
        json!({"name": "Tư vấn tại trường", "school_year": "2025-2026", "starts_on": "2025-09-01", "ends_on": "2026-06-30"}),
    )
    .await;
    let months = [
        "2025-09-28",
        "2025-10-28",
        "2025-11-28",
        "2025-12-28",
        "2026-01-28",
        "2026-02-28",
    ];
    let mut csv_body = String::from("school_code,taken_on,enrolled,insured\n");
    for (pi, province) in ["01", "79", "31", "48"].iter().enumerate() {
        for k in 0..6usize {
            let code = format!("S{province}-{k}");
            let id = app
                .create_school(&code, &format!("Trường {code}"), province)
                .await;
            let first = match k {
                0 | 1 => Some(2usize),
                2 | 3 => Some(4usize),
                _ => None,
            };
            if let Some(m) = first {
                let (s, v) = send(
                    &app,
                    &t,
                    Method::POST,
                    "/api/v1/sessions",
                    json!({"campaign_id": c["id"], "school_id": id, "date": months[m].replace("-28", "-05"),
                           "start_time": "08:00", "end_time": "09:30"}),
                )
                .await;
                assert_eq!(s, 201, "{v}");
                let (s, v) = send(
                    &app,
                    &t,
                    Method::PUT,
                    &format!("/api/v1/sessions/{}/log", v["id"]),
                    json!({"status": "held", "attendance_students": 100 + 20 * k, "attendance_parents": 30}),
                )
                .await;
                assert_eq!(s, 200, "{v}");
            }
            for (mi, day) in months.iter().enumerate() {
                let school = pi * 6 + k;
                let noise = (((school * 7 + mi * 3) % 5) as f64 - 2.0) * 0.2;
                let mut cov = 50.0 + school as f64 * 0.5 + mi as f64 + noise;
                if first.is_some_and(|m| mi >= m) {
                    cov += 10.0;
                }
                let insured = (cov * 10.0).round() as i64;
                csv_body.push_str(&format!("{code},{day},1000,{insured}\n"));
            }
        }
    }
    let (status, r) = csv(
        &app,
        &t,
        "/api/v1/enrollment/import?dry_run=false",
        &csv_body,
    )
    .await;
    assert_eq!(status, 200, "{r}");
    (app, t)
}

#[tokio::test]
async fn the_app_panel_recovers_a_known_effect_and_matches_the_cli() {
    let (app, t) = staggered_world().await;
    let q = "treatment=session&from=2025-09-01&to=2026-02-28";
    let d = app
        .api_json(&t, Method::GET, &format!("/api/v1/analytics/did?{q}"))
        .await;
    assert_eq!(d["schools"], 24, "{d}");
    assert_eq!(d["treated_schools"], 16);
    let att = d["att"].as_f64().unwrap();
    assert!(
        (att - 10.0).abs() < 0.5,
        "the 10-point effect is recovered: {att}"
    );
    let pre: Vec<f64> = d["event_study"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["e"].as_i64().unwrap() < 0)
        .map(|e| e["att"].as_f64().unwrap())
        .collect();
    assert!(
        !pre.is_empty() && pre.iter().all(|a| a.abs() < 1.0),
        "no effect before treatment: {pre:?}"
    );
    assert_eq!(d["clusters"], 4);
    assert!(
        d["warnings"].to_string().contains("cluster"),
        "few clusters are named: {}",
        d["warnings"]
    );

    // The exported panel, run through `analyze did`, gives the same estimate.
    let r = app
        .api(&t, Method::GET, &format!("/api/v1/analytics/panel.csv?{q}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body = r.text().await.unwrap();
    assert!(
        body.starts_with("unit,period,outcome,first_treated,province\n"),
        "{body}"
    );
    assert_eq!(body.lines().count(), 1 + 24 * 6);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("panel.csv");
    std::fs::write(&file, &body).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_hi-outreach"))
        .args([
            "analyze",
            "did",
            "--panel",
            file.to_str().unwrap(),
            "--cluster",
            "province",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cli: Value = serde_json::from_slice(&out.stdout).unwrap();
    let cli_att = cli["simple"]["att"].as_f64().unwrap();
    assert!((cli_att - att).abs() < 1e-9, "CLI {cli_att} vs app {att}");
    assert!((cli["simple"]["se"].as_f64().unwrap() - d["se"].as_f64().unwrap()).abs() < 1e-9);

    // Engagement and the dose-response association.
    let e = app
        .api_json(
            &t,
            Method::GET,
            &format!("/api/v1/analytics/engagement?{q}"),
        )
        .await;
    let s0 = e
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["code"] == "S01-0")
        .unwrap()
        .clone();
    assert_eq!(s0["sessions_held"], 1);
    assert_eq!(s0["attendance_students"], 100);
    let dr = app
        .api_json(
            &t,
            Method::GET,
            // The baseline is the month before the window: September's figures.
            "/api/v1/analytics/dose-response?from=2025-10-01&to=2026-02-28",
        )
        .await;
    assert_eq!(dr["kind"], "association");
    assert_eq!(dr["schools"], 24);
    let slope = dr["coefficients"][1]["estimate"].as_f64().unwrap();
    assert!(
        slope > 0.0,
        "more attendance goes with more uplift here: {dr}"
    );

    // The pages and charts render; charts are SVG.
    let admin = app.create_user("admin", None, &[]).await;
    let c = app.signed_in(&admin).await;
    let (status, page) = app.get_text(&c, &format!("/analysis?{q}")).await;
    assert_eq!(status, 200);
    assert!(page.contains("Callaway"), "{page}");
    for path in [
        format!("/analysis/event-study.svg?{q}"),
        "/analysis/dose-response.svg?from=2025-10-01&to=2026-02-28".to_string(),
        "/coverage/trend.svg?date=2026-02-28".to_string(),
        "/deliveries/funnel.svg".to_string(),
    ] {
        let r = app.get(&c, &path).await;
        assert_eq!(r.status(), 200, "{path}");
        assert!(r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("image/svg+xml"));
        assert!(r.text().await.unwrap().starts_with("<svg"), "{path}");
    }
    // Thin data gives a reason, not a failure.
    let (status, page) = app
        .get_text(&c, "/analysis?from=2020-01-01&to=2020-06-30")
        .await;
    assert_eq!(status, 200);
    assert!(page.contains("Chưa có số liệu độ bao phủ"), "{page}");
}

#[tokio::test]
async fn thin_or_flat_data_give_reasons_not_errors() {
    let (app, t) = staggered_world().await;
    let admin = app.create_user("admin", None, &[]).await;
    let c = app.signed_in(&admin).await;
    // A one-month window: nothing changes, no standard error can be had.
    let (status, page) = app
        .get_text(&c, "/analysis?from=2025-10-01&to=2025-10-31")
        .await;
    assert_eq!(status, 200, "{page}");
    // One province's staff: intervals without province clustering, with a warning.
    let staff = app.create_user("staff", Some("01"), &[]).await;
    let s = app.token_for(&staff).await;
    let d = app
        .api_json(
            &s,
            Method::GET,
            "/api/v1/analytics/did?from=2025-09-01&to=2026-02-28&control=notyet",
        )
        .await;
    assert_eq!(d["schools"], 6, "{d}");
    assert!(d["warnings"].to_string().contains("one province"), "{d}");
    let dr = app
        .api_json(
            &s,
            Method::GET,
            "/api/v1/analytics/dose-response?from=2025-10-01&to=2026-02-28",
        )
        .await;
    assert_eq!(dr["schools"], 6, "{dr}");
    // A school whose figures stop in September is not carried forward for five months.
    app.create_school("GAP-1", "Trường có số liệu thiếu", "79")
        .await;
    let (status, r) = csv(
        &app,
        &t,
        "/api/v1/enrollment/import?dry_run=false",
        "school_code,taken_on,enrolled,insured\nGAP-1,2025-09-28,500,250\n",
    )
    .await;
    assert_eq!(status, 200, "{r}");
    let d = app
        .api_json(
            &t,
            Method::GET,
            "/api/v1/analytics/did?from=2025-09-01&to=2026-02-28",
        )
        .await;
    assert_eq!(d["schools"], 24, "{d}");
    assert!(d["warnings"].to_string().contains("left out"), "{d}");
    // Figures dated in the future are refused.
    let (status, _) = csv(
        &app,
        &t,
        "/api/v1/enrollment/import",
        "school_code,taken_on,enrolled,insured\nGAP-1,2099-01-01,500,250\n",
    )
    .await;
    assert_eq!(status, 422);
    // A file without the insured column is reported, not a crash.
    let (status, r) = csv(
        &app,
        &t,
        "/api/v1/enrollment/import",
        "school_code,taken_on,enrolled\nS01-0,2025-09-28,10\n",
    )
    .await;
    assert_eq!(status, 422, "{r}");
    // Names that look like formulas are neutralised in exports.
    let v = app
        .api(&t, Method::GET, "/api/v1/coverage.csv?date=2026-02-28")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!v
        .lines()
        .any(|l| l.split(',').nth(2).is_some_and(|c| c.starts_with('='))));
}

#[tokio::test]
async fn coverage_figures_are_kept_a_while_and_a_snapshot_saved_shows_at_once() {
    let app = spawn_app().await;
    app.create_school("HN-A", "Trường THPT Phan Đình Phùng", "01")
        .await;
    let staff = app.create_user("staff", None, &[]).await;
    let t = app.token_for(&staff).await;
    let path = "/api/v1/enrollment/snapshots";
    let (status, v) = send(
        &app,
        &t,
        Method::POST,
        path,
        snap("HN-A", "2025-10-31", 1000, 600),
    )
    .await;
    assert_eq!(status, 201, "{v}");
    let insured = |v: &Value| v["total"]["insured"].as_i64().unwrap();
    let q = "/api/v1/coverage?date=2025-12-31";
    assert_eq!(insured(&app.api_json(&t, Method::GET, q).await), 600);
    // A figure changed behind the application's back (by another instance, say) is not seen
    // while the cached figures are fresh...
    use sea_orm::{ConnectionTrait, Statement};
    app.db
        .conn
        .execute(Statement::from_string(
            app.db.backend(),
            "UPDATE enrollment_snapshots SET insured = 650".to_string(),
        ))
        .await
        .unwrap();
    assert_eq!(insured(&app.api_json(&t, Method::GET, q).await), 600);
    // ...but a snapshot saved through this instance is, at once, on the page too.
    let (status, v) = send(
        &app,
        &t,
        Method::POST,
        path,
        snap("HN-A", "2025-11-30", 1000, 800),
    )
    .await;
    assert_eq!(status, 201, "{v}");
    assert_eq!(insured(&app.api_json(&t, Method::GET, q).await), 800);
}
