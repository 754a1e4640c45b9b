//! Enrollment snapshots (entry, corrections with history, CSV import) and the coverage
//! dashboard (weighted by enrollment, latest snapshot on or before the day, scope, uplift, CSV).
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{spawn_app, TestApp};

async fn send(app: &TestApp, token: &str, method: Method, path: &str, body: Value) -> (u16, Value) {
    let r = app
        .api(token, method, path)
        .json(&body)
        .send()
        .await
        .expect("request");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

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
