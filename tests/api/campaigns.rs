//! Campaign planning: lifecycle, activities, consultation sessions and their logs, scope,
//! validation, the calendar around midnight in Vietnam, iCalendar read back by a parser, media.
use chrono::{Duration, NaiveDateTime, Utc};
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{redo_migrations_from, send, spawn_app, TestApp};

fn fields(problem: &Value) -> Vec<String> {
    problem["errors"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|e| e["field"].as_str().unwrap_or("").to_string())
                .collect()
        })
        .unwrap_or_default()
}

struct World {
    app: TestApp,
    admin: String,
    staff_hn: String,
    liaison_hn: String,
    liaison_hn_id: i64,
    liaison_hcm: String,
    school_hn: i64,
    school_hcm: i64,
    campaign: i64,
}

async fn world() -> World {
    let app = spawn_app().await;
    let school_hn = app
        .create_school("HN-01", "Trường THPT Chu Văn An", "01")
        .await;
    let school_hcm = app
        .create_school("HCM-01", "Trường THPT Lê Quý Đôn", "79")
        .await;
    let admin = app.create_user("admin", None, &[]).await;
    let staff_hn = app.create_user("staff", Some("01"), &[]).await;
    let liaison_hn = app.create_user("liaison", None, &["HN-01"]).await;
    let liaison_hcm = app.create_user("liaison", None, &["HCM-01"]).await;
    let admin_token = app.token_for(&admin).await;
    let (status, c) = send(
        &app,
        &admin_token,
        Method::POST,
        "/api/v1/campaigns",
        json!({"name": "Chiến dịch BHYT HSSV 2025-2026", "school_year": "2025-2026",
               "scope": "national", "starts_on": "2025-09-01", "ends_on": "2026-06-30",
               "topics": ["benefits", "mandatory"]}),
    )
    .await;
    assert_eq!(status, 201, "{c}");
    World {
        staff_hn: app.token_for(&staff_hn).await,
        liaison_hn: app.token_for(&liaison_hn).await,
        liaison_hn_id: liaison_hn.id,
        liaison_hcm: app.token_for(&liaison_hcm).await,
        admin: admin_token,
        school_hn,
        school_hcm,
        campaign: c["id"].as_i64().unwrap(),
        app,
    }
}

impl World {
    /// Plans an activity of the campaign through the API as `token`'s user; it must be created.
    async fn plan(&self, token: &str, mut fields: Value) -> Value {
        fields["campaign_id"] = json!(self.campaign);
        let (status, v) = send(&self.app, token, Method::POST, "/api/v1/activities", fields).await;
        assert_eq!(status, 201, "{v}");
        v
    }

    /// The campaign's overview as the admin sees it.
    async fn overview(&self) -> Value {
        let path = format!("/api/v1/campaigns/{}/overview", self.campaign);
        self.app.api_json(&self.admin, Method::GET, &path).await
    }
}

#[tokio::test]
async fn campaign_lifecycle_allows_only_the_documented_transitions() {
    let w = world().await;
    let path = format!("/api/v1/campaigns/{}/status", w.campaign);
    // draft → completed is not a transition: 409 with the reason and the allowed ones.
    let (status, p) = send(
        &w.app,
        &w.admin,
        Method::POST,
        &path,
        json!({"status": "completed"}),
    )
    .await;
    assert_eq!(status, 409, "{p}");
    assert!(
        p["detail"].as_str().unwrap().contains("active, archived"),
        "{p}"
    );
    for (to, code) in [
        ("active", 200),
        ("paused", 200),
        ("active", 200),
        ("draft", 409),
        ("completed", 200),
        ("active", 409),
        ("archived", 200),
    ] {
        let (status, v) = send(&w.app, &w.admin, Method::POST, &path, json!({"status": to})).await;
        assert_eq!(status, code, "to {to}: {v}");
        if code == 200 {
            assert_eq!(v["status"], to);
        }
    }
    let (status, _) = send(
        &w.app,
        &w.admin,
        Method::POST,
        &path,
        json!({"status": "frozen"}),
    )
    .await;
    assert_eq!(status, 422);
    // Archived: no more edits, and no new activities.
    let (status, _) = send(
        &w.app,
        &w.admin,
        Method::PUT,
        &format!("/api/v1/campaigns/{}", w.campaign),
        json!({"name": "x", "school_year": "2025-2026", "starts_on": "2025-09-01", "ends_on": "2026-06-30"}),
    )
    .await;
    assert_eq!(status, 409);
    let (status, _) = send(
        &w.app,
        &w.admin,
        Method::POST,
        "/api/v1/activities",
        json!({"campaign_id": w.campaign, "channel": "radio", "title": "Tọa đàm", "date": "2025-10-01"}),
    )
    .await;
    assert_eq!(status, 409);
    // Each change is in the audit log.
    let n: i64 = w
        .app
        .count("audit_log WHERE action = 'campaign.status'")
        .await;
    assert_eq!(n, 5);
}

#[tokio::test]
async fn validation_names_each_bad_field_and_writes_nothing() {
    let w = world().await;
    let before = w.app.count("campaigns").await;
    let (status, p) = send(
        &w.app,
        &w.admin,
        Method::POST,
        "/api/v1/campaigns",
        json!({"name": "", "school_year": "1999-2000", "starts_on": "2026-01-10", "ends_on": "2026-01-01",
               "target_coverage": 140, "topics": ["benefits", "astrology"], "scope": "provinces", "province_codes": ["99"]}),
    )
    .await;
    assert_eq!(status, 422, "{p}");
    let f = fields(&p);
    for name in [
        "name",
        "school_year",
        "ends_on",
        "target_coverage",
        "topics",
        "province_codes",
    ] {
        assert!(f.contains(&name.to_string()), "{name} in {f:?}");
    }
    assert!(
        p.to_string().contains("astrology"),
        "the unknown topic is named: {p}"
    );
    assert_eq!(w.app.count("campaigns").await, before);

    // A session that ends before it starts.
    let (status, p) = send(
        &w.app,
        &w.liaison_hn,
        Method::POST,
        "/api/v1/sessions",
        json!({"campaign_id": w.campaign, "school_id": w.school_hn, "date": "2025-10-15",
               "start_time": "10:00", "end_time": "09:00"}),
    )
    .await;
    assert_eq!(status, 422);
    assert_eq!(fields(&p), vec!["end_time"]);
    assert_eq!(w.app.count("consultation_sessions").await, 0);

    // An activity with an unknown channel, a bad time and a negative cost.
    let (status, p) = send(
        &w.app,
        &w.admin,
        Method::POST,
        "/api/v1/activities",
        json!({"campaign_id": w.campaign, "channel": "pigeon", "title": "Bài báo", "date": "2025-10-01",
               "start_time": "25:61", "cost_vnd": -5}),
    )
    .await;
    assert_eq!(status, 422);
    let f = fields(&p);
    assert!(
        f.contains(&"channel".into())
            && f.contains(&"start_time".into())
            && f.contains(&"cost_vnd".into()),
        "{f:?}"
    );

    // A log with negative attendance and a question on an unknown topic: nothing is kept.
    let (_, s) = send(
        &w.app,
        &w.liaison_hn,
        Method::POST,
        "/api/v1/sessions",
        json!({"campaign_id": w.campaign, "school_id": w.school_hn, "date": "2025-10-15",
               "start_time": "08:00", "end_time": "09:30"}),
    )
    .await;
    let log_path = format!("/api/v1/sessions/{}/log", s["id"]);
    let (status, p) = send(
        &w.app,
        &w.liaison_hn,
        Method::PUT,
        &log_path,
        json!({"status": "held", "attendance_students": -3, "attendance_parents": 20,
               "questions": [{"topic": "benefits", "question": "Thẻ dùng ở đâu?", "answer": "Ở mọi cơ sở KCB ban đầu"},
                             {"topic": "lottery", "question": "Có trúng thưởng không?"}]}),
    )
    .await;
    assert_eq!(status, 422, "{p}");
    let f = fields(&p);
    assert!(
        f.contains(&"attendance_students".into()) && f.contains(&"questions[1].topic".into()),
        "{f:?}"
    );
    assert_eq!(w.app.count("session_questions").await, 0);
    // Postponed needs a reason.
    let (status, p) = send(
        &w.app,
        &w.liaison_hn,
        Method::PUT,
        &log_path,
        json!({"status": "postponed"}),
    )
    .await;
    assert_eq!(status, 422);
    assert_eq!(fields(&p), vec!["reason"]);
}

#[tokio::test]
async fn liaisons_and_province_staff_stay_inside_their_scope() {
    let w = world().await;
    // A liaison schedules at their school (and is its liaison by default).
    let (status, s) = send(
        &w.app,
        &w.liaison_hn,
        Method::POST,
        "/api/v1/sessions",
        json!({"campaign_id": w.campaign, "school_code": "hn-01", "date": "2025-10-20",
               "start_time": "14:00", "end_time": "15:30", "format": "parent_meeting", "expected_audience": "120"}),
    )
    .await;
    assert_eq!(status, 201, "{s}");
    assert_eq!(s["liaisons"][0]["id"], w.liaison_hn_id);
    let id = s["id"].as_i64().unwrap();
    // Another school's liaison cannot see or change it: 404, as if it did not exist.
    assert_eq!(
        w.app
            .api_status(
                &w.liaison_hcm,
                Method::GET,
                &format!("/api/v1/sessions/{id}")
            )
            .await,
        404
    );
    let (status, _) = send(
        &w.app,
        &w.liaison_hcm,
        Method::PUT,
        &format!("/api/v1/sessions/{id}/log"),
        json!({"status": "cancelled", "reason": "x"}),
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(
        w.app
            .api_status(
                &w.liaison_hcm,
                Method::GET,
                &format!("/api/v1/sessions/{id}/ics")
            )
            .await,
        404
    );
    let list = w
        .app
        .api_json(&w.liaison_hcm, Method::GET, "/api/v1/sessions")
        .await;
    assert_eq!(list["total"], 0);
    // Province staff of Hà Nội see it, but cannot schedule at a school in Hồ Chí Minh City.
    assert_eq!(
        w.app
            .api_status(&w.staff_hn, Method::GET, &format!("/api/v1/sessions/{id}"))
            .await,
        200
    );
    let (status, p) = send(
        &w.app,
        &w.staff_hn,
        Method::POST,
        "/api/v1/sessions",
        json!({"campaign_id": w.campaign, "school_id": w.school_hcm, "date": "2025-10-21",
               "start_time": "08:00", "end_time": "09:00", "liaison_ids": [w.liaison_hn_id]}),
    )
    .await;
    assert_eq!(status, 422, "{p}");
    assert_eq!(fields(&p), vec!["school_id"], "{p}");
    assert_eq!(w.app.count("consultation_sessions").await, 1);
    // Nor plan a national activity or one for another province; their own province is fine.
    let act = |province: &str| {
        json!({"campaign_id": w.campaign, "channel": "loudspeaker", "title": "Phát loa xã",
               "date": "2025-10-05", "province_code": province})
    };
    let (status, _) = send(
        &w.app,
        &w.staff_hn,
        Method::POST,
        "/api/v1/activities",
        act("79"),
    )
    .await;
    assert_eq!(status, 422);
    let (status, _) = send(
        &w.app,
        &w.staff_hn,
        Method::POST,
        "/api/v1/activities",
        act(""),
    )
    .await;
    assert_eq!(status, 422);
    w.plan(&w.staff_hn, act("01")).await;
    // Liaisons do not plan campaigns or activities.
    let (status, _) = send(
        &w.app,
        &w.liaison_hn,
        Method::POST,
        "/api/v1/activities",
        act("01"),
    )
    .await;
    assert_eq!(status, 403);
    let (status, _) = send(
        &w.app,
        &w.liaison_hn,
        Method::POST,
        "/api/v1/campaigns",
        json!({"name": "x", "school_year": "2025-2026", "starts_on": "2025-09-01", "ends_on": "2026-06-30"}),
    )
    .await;
    assert_eq!(status, 403);
    // Province staff cannot create a national campaign, but can create one for their province.
    let body = |scope: &str, codes: Value| {
        json!({"name": "Hà Nội 100%", "school_year": "2025-2026", "starts_on": "2025-09-01",
               "ends_on": "2026-06-30", "scope": scope, "province_codes": codes})
    };
    let (status, _) = send(
        &w.app,
        &w.staff_hn,
        Method::POST,
        "/api/v1/campaigns",
        body("national", json!([])),
    )
    .await;
    assert_eq!(status, 422);
    let (status, c) = send(
        &w.app,
        &w.staff_hn,
        Method::POST,
        "/api/v1/campaigns",
        body("provinces", json!(["01"])),
    )
    .await;
    assert_eq!(status, 201, "{c}");
    // A liaison in Hồ Chí Minh City does not see Hà Nội's campaign.
    assert_eq!(
        w.app
            .api_status(
                &w.liaison_hcm,
                Method::GET,
                &format!("/api/v1/campaigns/{}", c["id"])
            )
            .await,
        404
    );
    assert_eq!(
        w.app
            .api_status(
                &w.liaison_hn,
                Method::GET,
                &format!("/api/v1/campaigns/{}", c["id"])
            )
            .await,
        200
    );
}

#[tokio::test]
async fn a_session_is_logged_with_questions_and_tasks() {
    let w = world().await;
    let day = (Utc::now() - Duration::days(2))
        .format("%Y-%m-%d")
        .to_string();
    let (_, s) = send(
        &w.app,
        &w.liaison_hn,
        Method::POST,
        "/api/v1/sessions",
        json!({"campaign_id": w.campaign, "school_id": w.school_hn, "date": day, "start_time": "08:00", "end_time": "09:30"}),
    )
    .await;
    let id = s["id"].as_i64().unwrap();
    let (status, v) = send(
        &w.app,
        &w.liaison_hn,
        Method::PUT,
        &format!("/api/v1/sessions/{id}/log"),
        json!({"status": "held", "attendance_students": 310, "attendance_parents": "45", "attendance_teachers": 12,
               "registered_on_spot": 17, "materials": "200 tờ rơi, 2 áp phích",
               "questions": [{"topic": "premium", "question": "Mức đóng năm nay bao nhiêu?", "answer": "884.520 đồng, Nhà nước hỗ trợ 30%"},
                             {"topic": "hardship", "question": "Hộ cận nghèo được hỗ trợ thế nào?", "answer": "", "needs_follow_up": true}],
               "tasks": [{"description": "Gửi danh sách học sinh chưa có thẻ", "due_on": "2025-10-30"}],
               "notes": "Phụ huynh quan tâm đến thủ tục trên VssID"}),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["status"], "held");
    assert_eq!(v["attendance_parents"], 45);
    assert_eq!(v["questions"][1]["needs_follow_up"], true);
    assert_eq!(
        v["questions"][0]["answer"],
        "884.520 đồng, Nhà nước hỗ trợ 30%"
    );
    assert_eq!(v["tasks"][0]["due_on"], "2025-10-30");
    // A correction replaces the questions instead of adding to them.
    let (status, v) = send(
        &w.app,
        &w.liaison_hn,
        Method::PUT,
        &format!("/api/v1/sessions/{id}/log"),
        json!({"status": "held", "attendance_students": 300, "questions": [{"topic": "benefits", "question": "Quyền lợi?"}]}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(v["questions"].as_array().unwrap().len(), 1);
    assert_eq!(w.app.count("session_questions").await, 1);
    assert_eq!(
        w.app
            .count("audit_log WHERE action = 'session.logged'")
            .await,
        2
    );
    // A session in the future cannot be logged as held.
    let future = (Utc::now() + Duration::days(5))
        .format("%Y-%m-%d")
        .to_string();
    let (_, f) = send(
        &w.app,
        &w.liaison_hn,
        Method::POST,
        "/api/v1/sessions",
        json!({"campaign_id": w.campaign, "school_id": w.school_hn, "date": future, "start_time": "08:00", "end_time": "09:30"}),
    )
    .await;
    let (status, _) = send(
        &w.app,
        &w.liaison_hn,
        Method::PUT,
        &format!("/api/v1/sessions/{}/log", f["id"]),
        json!({"status": "held"}),
    )
    .await;
    assert_eq!(status, 422);
}

#[tokio::test]
async fn the_calendar_counts_days_in_vietnam_time() {
    let w = world().await;
    // 23:30 on 15 October and 00:30 on 16 October in Hà Nội are 16:30 and 17:30 UTC on the 15th.
    for (date, start, end) in [
        ("2025-10-15", "23:00", "23:30"),
        ("2025-10-16", "00:30", "01:30"),
    ] {
        let (status, v) = send(
            &w.app,
            &w.admin,
            Method::POST,
            "/api/v1/sessions",
            json!({"campaign_id": w.campaign, "school_id": w.school_hn, "date": date, "start_time": start, "end_time": end}),
        )
        .await;
        assert_eq!(status, 201, "{v}");
    }
    let a = w
        .plan(
            &w.admin,
            json!({"channel": "app_notification", "title": "Nhắc trên VssID", "date": "16/10/2025", "start_time": "00:00"}),
        )
        .await;
    assert_eq!(a["starts_at"], "2025-10-15T17:00:00Z");
    let day16 = w
        .app
        .api_json(
            &w.admin,
            Method::GET,
            "/api/v1/calendar?from=2025-10-16&to=2025-10-16",
        )
        .await;
    let items = day16.as_array().unwrap();
    assert_eq!(items.len(), 2, "{day16}");
    assert_eq!(items[0]["kind"], "activity");
    assert_eq!(items[0]["time"], "00:00");
    assert_eq!(items[1]["kind"], "session");
    assert_eq!(items[1]["time"], "00:30");
    let day15 = w
        .app
        .api_json(
            &w.admin,
            Method::GET,
            "/api/v1/calendar?from=2025-10-15&to=2025-10-15",
        )
        .await;
    assert_eq!(day15.as_array().unwrap().len(), 1);
    assert_eq!(day15[0]["time"], "23:00");
    // The activity list uses the same days.
    let acts = w
        .app
        .api_json(
            &w.admin,
            Method::GET,
            "/api/v1/activities?from=2025-10-15&to=2025-10-15",
        )
        .await;
    assert_eq!(acts["total"], 0);
    // A liaison elsewhere sees the national activity but not the other school's sessions.
    let theirs = w
        .app
        .api_json(
            &w.liaison_hcm,
            Method::GET,
            "/api/v1/calendar?from=2025-10-15&to=2025-10-16",
        )
        .await;
    assert_eq!(theirs.as_array().unwrap().len(), 1, "{theirs}");
    // Bad ranges are named.
    assert_eq!(
        w.app
            .api_status(
                &w.admin,
                Method::GET,
                "/api/v1/calendar?from=2025-10-16&to=2025-10-15"
            )
            .await,
        422
    );
    assert_eq!(
        w.app
            .api_status(
                &w.admin,
                Method::GET,
                "/api/v1/calendar?from=2025-01-01&to=2025-12-31"
            )
            .await,
        422
    );
    assert_eq!(
        w.app
            .api_status(&w.admin, Method::GET, "/api/v1/calendar?to=2025-12-31")
            .await,
        422
    );
}

/// The VEVENTs of an iCalendar text, read by a parser, as (summary, start, end) in UTC.
fn events(ics: &str) -> Vec<(String, NaiveDateTime, NaiveDateTime)> {
    let mut out = Vec::new();
    for cal in ical::IcalParser::new(std::io::BufReader::new(ics.as_bytes())) {
        let cal = cal.expect("valid iCalendar");
        for e in cal.events {
            let prop = |name: &str| {
                e.properties
                    .iter()
                    .find(|p| p.name == name)
                    .and_then(|p| p.value.clone())
                    .unwrap_or_else(|| panic!("{name} missing"))
            };
            let at = |name: &str| {
                let v = prop(name);
                assert!(v.ends_with('Z'), "{name} in UTC: {v}");
                NaiveDateTime::parse_from_str(&v, "%Y%m%dT%H%M%SZ").expect("date-time")
            };
            prop("UID");
            prop("DTSTAMP");
            out.push((prop("SUMMARY"), at("DTSTART"), at("DTEND")));
        }
    }
    out
}

#[tokio::test]
async fn icalendar_downloads_and_feeds_parse_with_vietnam_times() {
    let w = world().await;
    let (_, s) = send(
        &w.app,
        &w.liaison_hn,
        Method::POST,
        "/api/v1/sessions",
        json!({"campaign_id": w.campaign, "school_id": w.school_hn, "date": "2025-11-03",
               "start_time": "07:30", "end_time": "09:00", "location": "Hội trường A"}),
    )
    .await;
    let id = s["id"].as_i64().unwrap();
    let r = w
        .app
        .api(
            &w.liaison_hn,
            Method::GET,
            &format!("/api/v1/sessions/{id}/ics"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/calendar"));
    let body = r.text().await.unwrap();
    let ev = events(&body);
    assert_eq!(ev.len(), 1);
    assert!(
        ev[0].0.contains("Chu Văn An"),
        "diacritics survive: {}",
        ev[0].0
    );
    // 07:30 in Vietnam (UTC+7) is 00:30 UTC.
    assert_eq!(ev[0].1.to_string(), "2025-11-03 00:30:00");
    assert_eq!(ev[0].2.to_string(), "2025-11-03 02:00:00");

    // The liaison's own feed, by secret URL, without signing in.
    let (status, f) = send(
        &w.app,
        &w.liaison_hn,
        Method::POST,
        "/api/v1/calendar-feeds",
        json!({}),
    )
    .await;
    assert_eq!(status, 201, "{f}");
    let url = f["url"].as_str().unwrap().to_string();
    let feed = reqwest::get(&url).await.unwrap();
    assert_eq!(feed.status(), 200);
    assert_eq!(events(&feed.text().await.unwrap()).len(), 1);
    // A wrong token is 404; a revoked feed is 404 from then on.
    assert_eq!(reqwest::get(format!("{url}x")).await.unwrap().status(), 404);
    let (status, _) = send(
        &w.app,
        &w.liaison_hn,
        Method::DELETE,
        &format!("/api/v1/calendar-feeds/{}", f["feed"]["id"]),
        json!({}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(reqwest::get(&url).await.unwrap().status(), 404);
    // Another user cannot revoke someone else's feed.
    let (_, f2) = send(
        &w.app,
        &w.liaison_hn,
        Method::POST,
        "/api/v1/calendar-feeds",
        json!({}),
    )
    .await;
    let (status, _) = send(
        &w.app,
        &w.liaison_hcm,
        Method::DELETE,
        &format!("/api/v1/calendar-feeds/{}", f2["feed"]["id"]),
        json!({}),
    )
    .await;
    assert_eq!(status, 404);

    // A campaign feed for staff holds the sessions and activities they can see.
    send(
        &w.app,
        &w.admin,
        Method::POST,
        "/api/v1/activities",
        json!({"campaign_id": w.campaign, "channel": "radio", "title": "Tọa đàm trên sóng VOV", "date": "2025-11-04",
               "start_time": "19:00", "end_time": "19:45"}),
    )
    .await;
    let (_, cf) = send(
        &w.app,
        &w.admin,
        Method::POST,
        "/api/v1/calendar-feeds",
        json!({"campaign_id": w.campaign}),
    )
    .await;
    let body = reqwest::get(cf["url"].as_str().unwrap())
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let ev = events(&body);
    assert_eq!(ev.len(), 2, "{body}");
    let radio = ev.iter().find(|e| e.0.contains("VOV")).unwrap();
    assert_eq!(radio.1.to_string(), "2025-11-04 12:00:00");
    // Liaisons get no campaign feeds.
    let (status, _) = send(
        &w.app,
        &w.liaison_hn,
        Method::POST,
        "/api/v1/calendar-feeds",
        json!({"campaign_id": w.campaign}),
    )
    .await;
    assert_eq!(status, 403);
}

/// Activities found by title, as the list's search box sends it.
async fn titles_found(w: &World, text: &str) -> Vec<String> {
    let list = w
        .app
        .api_json(
            &w.admin,
            Method::GET,
            &format!(
                "/api/v1/activities?q={}",
                url::form_urlencoded::byte_serialize(text.as_bytes()).collect::<String>()
            ),
        )
        .await;
    let mut titles: Vec<String> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["title"].as_str().unwrap().to_string())
        .collect();
    titles.sort();
    titles
}

#[tokio::test]
async fn a_title_search_ignores_case_and_accents_also_for_activities_older_than_the_key() {
    let w = world().await;
    for title in [
        "Tọa đàm BHYT tại Trường Chu Văn An",
        "Phát thanh: Đóng BHYT",
    ] {
        w.plan(
            &w.admin,
            json!({"channel": "radio", "title": title, "date": "2025-10-01",
                   "status": "planned", "cost_vnd": 0}),
        )
        .await;
    }
    let both = vec![
        "Phát thanh: Đóng BHYT".to_string(),
        "Tọa đàm BHYT tại Trường Chu Văn An".to_string(),
    ];
    let one = vec!["Tọa đàm BHYT tại Trường Chu Văn An".to_string()];
    let searches = [
        ("bhyt", both.clone()),
        ("toa dam", one.clone()),
        ("TỌA  ĐÀM", one.clone()),
        ("chu van an", one.clone()),
        ("đóng", vec!["Phát thanh: Đóng BHYT".to_string()]),
        ("tivi", vec![]),
    ];
    for (text, want) in &searches {
        assert_eq!(&titles_found(&w, text).await, want, "{text}");
    }
    // Keys of activities written before the key existed are filled by its migration: undo it
    // (and every later one), do them again, search again.
    redo_migrations_from(&w.app, "m20261207_000012_activity_search_key").await;
    for (text, want) in &searches {
        assert_eq!(
            &titles_found(&w, text).await,
            want,
            "after the migration: {text}"
        );
    }
}

/// The overview (and the campaign's page) names the campaign and the planners of what is due
/// from what it has read already where it can: the campaign itself and its owner.
#[tokio::test]
async fn what_is_due_names_its_campaign_and_each_planner() {
    let w = world().await;
    let soon = (Utc::now() + Duration::days(2))
        .format("%Y-%m-%d")
        .to_string();
    for (token, channel, title) in [
        (&w.admin, "radio", "Tọa đàm trên sóng phát thanh"),
        (&w.staff_hn, "tv", "Phóng sự truyền hình"),
    ] {
        w.plan(
            token,
            json!({"channel": channel, "title": title, "date": soon, "province_code": "01"}),
        )
        .await;
    }
    let o = w.overview().await;
    let admin = w.app.api_json(&w.admin, Method::GET, "/api/v1/me").await;
    let staff = w.app.api_json(&w.staff_hn, Method::GET, "/api/v1/me").await;
    assert_eq!(o["campaign"]["owner"]["id"], admin["id"], "{o}");
    let due = o["due_soon"].as_array().unwrap();
    assert_eq!(due.len(), 2, "{o}");
    for (a, planner) in due.iter().zip([&admin, &staff]) {
        assert_eq!(a["campaign_name"], "Chiến dịch BHYT HSSV 2025-2026", "{a}");
        assert_eq!(a["owner"]["id"], planner["id"], "{a}");
        assert_eq!(a["owner"]["name"], planner["display_name"], "{a}");
        assert_ne!(a["owner"]["name"], "", "{a}");
    }
}

#[tokio::test]
async fn overview_counts_channels_and_what_is_due() {
    let w = world().await;
    let soon = (Utc::now() + Duration::days(3))
        .format("%Y-%m-%d")
        .to_string();
    let later = (Utc::now() + Duration::days(40))
        .format("%Y-%m-%d")
        .to_string();
    for (channel, date, status, cost) in [
        ("newspaper", soon.as_str(), "planned", 2_000_000),
        ("radio", later.as_str(), "planned", 5_000_000),
        ("poster", "2025-09-15", "done", 1_500_000),
        ("social", "2025-09-16", "cancelled", 700_000),
    ] {
        w.plan(
            &w.admin,
            json!({"channel": channel, "title": format!("Hoạt động {channel}"), "date": date,
                   "status": status, "cost_vnd": cost, "topics": "benefits, premium"}),
        )
        .await;
    }
    let o = w.overview().await;
    assert_eq!(o["activities_total"], 4);
    assert_eq!(o["activities_done"], 1);
    assert_eq!(o["cost_vnd"], 8_500_000);
    assert_eq!(o["due_soon"].as_array().unwrap().len(), 1);
    let media = o["channels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["group"] == "media")
        .unwrap()
        .clone();
    assert_eq!(media["planned"], 2);
    let list = w
        .app
        .api_json(
            &w.admin,
            Method::GET,
            &format!("/api/v1/activities?campaign={}&channel=media", w.campaign),
        )
        .await;
    assert_eq!(list["total"], 2);
    let list = w
        .app
        .api_json(&w.admin, Method::GET, "/api/v1/activities?status=done")
        .await;
    assert_eq!(list["total"], 1);
    assert_eq!(list["items"][0]["topics"], json!(["benefits", "premium"]));

    // Pages of a list: a page that is not full ends the list; past the end, the list is
    // counted (no items, the right total).
    for (page, items) in [(1, 3), (2, 1), (3, 0)] {
        let list = w
            .app
            .api_json(
                &w.admin,
                Method::GET,
                &format!(
                    "/api/v1/activities?campaign={}&per_page=3&page={page}",
                    w.campaign
                ),
            )
            .await;
        assert_eq!(list["total"], 4, "page {page}: {list}");
        assert_eq!(list["pages"], 2, "page {page}");
        assert_eq!(
            list["items"].as_array().unwrap().len(),
            items,
            "page {page}"
        );
    }

    // The campaign page lists every activity in start order, the due one among them.
    let viewer = w.app.create_user("admin", None, &[]).await;
    let client = w.app.signed_in(&viewer).await;
    let (status, page) = w
        .app
        .get_text(&client, &format!("/campaigns/{}", w.campaign))
        .await;
    assert_eq!(status, 200);
    let at = |title: &str| {
        page.find(title)
            .unwrap_or_else(|| panic!("{title} on the campaign page"))
    };
    assert!(at("Hoạt động poster") < at("Hoạt động social"));
    assert!(at("Hoạt động social") < at("Hoạt động radio"));
}

#[tokio::test]
async fn media_outlets_and_pieces_are_filtered_and_scoped() {
    let w = world().await;
    let (status, national) = send(
        &w.app,
        &w.admin,
        Method::POST,
        "/api/v1/media/outlets",
        json!({"name": "Báo Nhân Dân", "kind": "newspaper", "estimated_reach": 500000}),
    )
    .await;
    assert_eq!(status, 201, "{national}");
    let (status, local) = send(&w.app, &w.staff_hn, Method::POST, "/api/v1/media/outlets",
        json!({"name": "Loa phường Cửa Nam", "kind": "loudspeaker", "province_code": "01", "estimated_reach": 8000})).await;
    assert_eq!(status, 201, "{local}");
    // Province staff cannot add a national outlet or one elsewhere.
    let (status, _) = send(
        &w.app,
        &w.staff_hn,
        Method::POST,
        "/api/v1/media/outlets",
        json!({"name": "Đài TP.HCM", "kind": "radio", "province_code": "79"}),
    )
    .await;
    assert_eq!(status, 422);
    let (status, p) = send(&w.app, &w.staff_hn, Method::POST, "/api/v1/media/pieces",
        json!({"title": "Phát thanh về BHYT học sinh", "outlet_id": local["id"], "published_on": "2025-10-02",
               "kind": "broadcast", "topics": ["mandatory"], "campaign_id": w.campaign})).await;
    assert_eq!(status, 201, "{p}");
    assert_eq!(
        p["estimated_audience"], 8000,
        "defaults to the outlet's reach"
    );
    let (status, p) = send(&w.app, &w.admin, Method::POST, "/api/v1/media/pieces",
        json!({"title": "Học sinh được hưởng gì khi có thẻ BHYT", "outlet_id": national["id"], "published_on": "2025-10-05",
               "url": "https://nhandan.vn/bhyt-hssv", "topics": ["benefits"]})).await;
    assert_eq!(status, 201, "{p}");
    let (status, bad) = send(&w.app, &w.admin, Method::POST, "/api/v1/media/pieces",
        json!({"title": "x", "outlet_id": national["id"], "published_on": "2025-13-05", "url": "javascript:alert(1)", "topics": ["nope"]})).await;
    assert_eq!(status, 422);
    let f = fields(&bad);
    assert!(
        f.contains(&"published_on".into())
            && f.contains(&"url".into())
            && f.contains(&"topics".into()),
        "{f:?}"
    );
    let l = w
        .app
        .api_json(&w.admin, Method::GET, "/api/v1/media/pieces?topic=benefits")
        .await;
    assert_eq!(l["total"], 1);
    let l = w
        .app
        .api_json(&w.admin, Method::GET, "/api/v1/media/pieces?province=01")
        .await;
    assert_eq!(l["total"], 1);
    let l = w
        .app
        .api_json(
            &w.admin,
            Method::GET,
            &format!(
                "/api/v1/media/pieces?campaign={}&from=2025-10-01&to=2025-10-31",
                w.campaign
            ),
        )
        .await;
    assert_eq!(l["total"], 1);
    // A liaison in Hồ Chí Minh City sees national pieces only.
    let l = w
        .app
        .api_json(&w.liaison_hcm, Method::GET, "/api/v1/media/pieces")
        .await;
    assert_eq!(l["total"], 1);
    assert_eq!(l["items"][0]["outlet"]["name"], "Báo Nhân Dân");
}

#[tokio::test]
async fn pages_plan_a_campaign_and_log_a_session_through_forms() {
    let app = spawn_app().await;
    app.create_school("HN-02", "Trường THCS Nguyễn Du", "01")
        .await;
    let staff = app.create_user("staff", None, &[]).await;
    let liaison = app.create_user("liaison", None, &["HN-02"]).await;
    let c = app.signed_in(&staff).await;
    // Check boxes repeat the `topics` name; every one is kept.
    let r = app
        .post_form(
            &c,
            "/campaigns/new",
            "/campaigns/new",
            &[
                ("name", "Tháng cao điểm BHYT & VssID"),
                ("school_year", "2025-2026"),
                ("target_coverage", "98,5"),
                ("scope", "provinces"),
                ("province_codes", "01"),
                ("starts_on", "01/09/2025"),
                ("ends_on", "2026-05-31"),
                ("description", "Vận động 100% học sinh tham gia"),
                ("topics", "benefits"),
                ("topics", "registration"),
            ],
        )
        .await;
    assert_eq!(r.status(), 303);
    let location = r.headers()["location"].to_str().unwrap().to_string();
    let id: i64 = location
        .trim_start_matches("/campaigns/")
        .split('?')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let (status, page) = app.get_text(&c, &format!("/campaigns/{id}")).await;
    assert_eq!(status, 200);
    assert!(
        page.contains("Tháng cao điểm BHYT &amp; VssID") && page.contains("98.5%"),
        "{page}"
    );
    // The page in the site's frame: its title (escaped once) in the head, its body in <main>.
    assert!(
        page.contains("<title>Tháng cao điểm BHYT &amp; VssID · BHYT Học sinh</title>"),
        "{page}"
    );
    let main = &page[page.find("<main id=\"main\">").expect("main")
        ..page.find("</main>").expect("end of main")];
    assert!(
        main.contains("<h1>Tháng cao điểm BHYT &amp; VssID"),
        "{main}"
    );
    assert!(
        page.contains("Cách đăng ký và nộp tiền"),
        "topic names shown"
    );
    let r = app
        .post_form(
            &c,
            &format!("/campaigns/{id}"),
            &format!("/campaigns/{id}/status"),
            &[("status", "active")],
        )
        .await;
    assert_eq!(r.status(), 303);
    // A bad form comes back with the errors beside the fields.
    let r = app
        .post_form(
            &c,
            "/campaigns/new",
            "/campaigns/new",
            &[
                ("name", ""),
                ("starts_on", "2025-09-01"),
                ("ends_on", "2025-08-01"),
            ],
        )
        .await;
    assert_eq!(r.status(), 422);
    let body = r.text().await.unwrap();
    assert!(
        body.contains("Thời điểm kết thúc phải sau thời điểm bắt đầu"),
        "{body}"
    );
    for path in [
        "/campaigns",
        "/activities",
        "/calendar",
        "/calendar?view=week&date=2025-10-15",
        "/sessions",
        "/media",
        "/media/outlets",
        "/topics",
        "/calendar/feeds",
        "/activities/new",
        "/sessions/new",
        "/media/new",
    ] {
        assert_eq!(app.status(&c, path).await, 200, "{path}");
    }
    // The liaison schedules and logs a session from the pages.
    let l = app.signed_in(&liaison).await;
    let day = (Utc::now() - Duration::days(1))
        .format("%Y-%m-%d")
        .to_string();
    let r = app
        .post_form(
            &l,
            "/sessions/new",
            "/sessions/new",
            &[
                ("campaign_id", &id.to_string()),
                ("school_code", "HN-02"),
                ("date", &day),
                ("start_time", "08:00"),
                ("end_time", "09:00"),
                ("format", "at_school"),
                ("location", "Sân trường"),
            ],
        )
        .await;
    assert_eq!(r.status(), 303);
    let sid = r.headers()["location"]
        .to_str()
        .unwrap()
        .trim_start_matches("/sessions/")
        .split('?')
        .next()
        .unwrap()
        .to_string();
    let r = app
        .post_form(
            &l,
            &format!("/sessions/{sid}/log"),
            &format!("/sessions/{sid}/log"),
            &[
                ("status", "held"),
                ("attendance_students", "250"),
                ("attendance_parents", "30"),
                ("attendance_teachers", "8"),
                ("registered_on_spot", "11"),
                ("q_topic", "premium"),
                ("q_text", "Con tôi học lớp 10 đóng bao nhiêu?"),
                ("q_answer", "884.520 đồng"),
                ("q_follow", "no"),
                ("q_topic", ""),
                ("q_text", ""),
                ("q_answer", ""),
                ("q_follow", "no"),
                ("q_topic", "hardship"),
                ("q_text", "Gia đình khó khăn có được giảm?"),
                ("q_answer", ""),
                ("q_follow", "yes"),
                ("t_desc", "Liên hệ UBND xã về hộ cận nghèo"),
                ("t_due", "2025-12-01"),
                ("t_desc", ""),
                ("t_due", ""),
            ],
        )
        .await;
    assert_eq!(r.status(), 303);
    let (_, page) = app.get_text(&l, &format!("/sessions/{sid}")).await;
    assert!(
        page.contains("Gia đình khó khăn có được giảm?") && page.contains("Liên hệ UBND xã"),
        "{page}"
    );
    let token = app.token_for(&liaison).await;
    let v = app
        .api_json(&token, Method::GET, &format!("/api/v1/sessions/{sid}"))
        .await;
    assert_eq!(v["questions"].as_array().unwrap().len(), 2);
    assert_eq!(v["questions"][1]["needs_follow_up"], true);
    assert_eq!(v["attendance_students"], 250);
    // Liaisons cannot reach the planning forms.
    assert_eq!(app.status(&l, "/campaigns/new").await, 403);
}

#[tokio::test]
async fn edits_keep_owners_line_breaks_and_old_topics_and_reject_far_dates() {
    let w = world().await;
    let staff = w.app.create_user("staff", None, &[]).await;
    let path = format!("/api/v1/campaigns/{}", w.campaign);
    let body = |owner: Option<i64>| {
        let mut b = json!({"name": "Chiến dịch BHYT HSSV 2025-2026", "school_year": "2025-2026",
            "starts_on": "2025-09-01", "ends_on": "2026-06-30", "topics": ["benefits", "mandatory"],
            "description": "Dòng một.\r\nDòng hai."});
        if let Some(o) = owner {
            b["owner_user_id"] = json!(o);
        }
        b
    };
    let (status, v) = send(&w.app, &w.admin, Method::PUT, &path, body(Some(staff.id))).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["owner"]["id"], staff.id);
    assert_eq!(v["description"], "Dòng một.\nDòng hai.");
    // An edit that does not name the owner keeps it.
    let (_, v) = send(&w.app, &w.admin, Method::PUT, &path, body(None)).await;
    assert_eq!(v["owner"]["id"], staff.id);
    // A liaison cannot own a campaign.
    let (status, _) = send(
        &w.app,
        &w.admin,
        Method::PUT,
        &path,
        body(Some(w.liaison_hn_id)),
    )
    .await;
    assert_eq!(status, 422);
    // A deactivated topic stays on the campaign but cannot be chosen anew.
    let (status, _) = send(
        &w.app,
        &w.admin,
        Method::PUT,
        "/api/v1/topics/mandatory",
        json!({"name_vi": "Bắt buộc", "name_en": "Mandatory", "active": false}),
    )
    .await;
    assert_eq!(status, 200);
    let (status, v) = send(&w.app, &w.admin, Method::PUT, &path, body(None)).await;
    assert_eq!(status, 200, "{v}");
    let (status, _) = send(
        &w.app,
        &w.admin,
        Method::POST,
        "/api/v1/activities",
        json!({"campaign_id": w.campaign, "channel": "radio", "title": "x", "date": "2025-10-01", "topics": ["mandatory"]}),
    )
    .await;
    assert_eq!(status, 422);
    // Years far outside the plan are refused, not overflowed.
    for to in ["+262143-12-31", "1999-12-31"] {
        assert_eq!(
            w.app
                .api_status(
                    &w.admin,
                    Method::GET,
                    &format!("/api/v1/calendar?from=2025-10-01&to={to}")
                )
                .await,
            422,
            "{to}"
        );
    }
    // A filter form's empty "all" values are ignored.
    assert_eq!(
        w.app
            .api_status(
                &w.admin,
                Method::GET,
                "/api/v1/activities?campaign=&province=&status="
            )
            .await,
        200
    );
}

#[tokio::test]
async fn sessions_stay_inside_their_campaign_and_can_be_rescheduled() {
    let w = world().await;
    // A campaign for Hồ Chí Minh City only: no session at a Hà Nội school.
    let (_, hcm) = send(
        &w.app,
        &w.admin,
        Method::POST,
        "/api/v1/campaigns",
        json!({"name": "TP.HCM", "school_year": "2025-2026", "starts_on": "2025-09-01", "ends_on": "2026-06-30",
               "scope": "provinces", "province_codes": ["79"]}),
    )
    .await;
    let (status, p) = send(
        &w.app,
        &w.admin,
        Method::POST,
        "/api/v1/sessions",
        json!({"campaign_id": hcm["id"], "school_id": w.school_hn, "date": "2025-10-15", "start_time": "08:00", "end_time": "09:00"}),
    )
    .await;
    assert_eq!(status, 422, "{p}");
    // Postponed, then given a new time: scheduled again.
    let (_, s) = send(
        &w.app,
        &w.liaison_hn,
        Method::POST,
        "/api/v1/sessions",
        json!({"campaign_id": w.campaign, "school_id": w.school_hn, "date": "2025-10-15", "start_time": "08:00", "end_time": "09:00"}),
    )
    .await;
    let id = s["id"].as_i64().unwrap();
    let (status, v) = send(
        &w.app,
        &w.liaison_hn,
        Method::PUT,
        &format!("/api/v1/sessions/{id}/log"),
        json!({"status": "postponed", "reason": "Trùng lịch thi"}),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    let (status, v) = send(
        &w.app,
        &w.liaison_hn,
        Method::PUT,
        &format!("/api/v1/sessions/{id}"),
        json!({"campaign_id": w.campaign, "school_id": w.school_hn, "date": "2025-10-22", "start_time": "08:00", "end_time": "09:00"}),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["status"], "scheduled");
    assert_eq!(v["status_reason"], Value::Null);
}

/// Pages name topics from a list each instance keeps a moment: a topic renamed through this
/// instance shows at once, one renamed through another instance within `TOPICS_FRESH_FOR`.
#[tokio::test]
async fn a_renamed_topic_shows_at_once_or_within_moments_when_renamed_elsewhere() {
    use hi_outreach::campaigns::entity::topic;
    use hi_outreach::campaigns::service::TOPICS_FRESH_FOR;
    use sea_orm::sea_query::Expr;
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    let w = world().await;
    let admin = w.app.create_user("admin", None, &[]).await;
    let browser = w.app.signed_in(&admin).await;
    let page = format!("/campaigns/{}", w.campaign);
    let shown = |name: &'static str| {
        let (app, browser, page) = (&w.app, &browser, &page);
        async move {
            let (status, body) = app.get_text(browser, page).await;
            assert_eq!(status, 200);
            body.contains(name)
        }
    };
    assert!(shown("Quyền lợi khi tham gia BHYT").await);

    let (status, v) = send(
        &w.app,
        &w.admin,
        Method::PUT,
        "/api/v1/topics/benefits",
        json!({"name_vi": "Quyền lợi của học sinh có thẻ BHYT", "name_en": "Benefits"}),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert!(shown("Quyền lợi của học sinh có thẻ BHYT").await);

    // Renamed through another instance (straight in the shared database): shown once the list
    // read before is no longer used.
    let renamed = topic::Entity::update_many()
        .col_expr(topic::Column::NameVi, Expr::value("Quyền lợi được hưởng"))
        .filter(topic::Column::Code.eq("benefits"))
        .exec(&w.app.db.conn)
        .await
        .unwrap();
    assert_eq!(renamed.rows_affected, 1);
    tokio::time::sleep(TOPICS_FRESH_FOR + std::time::Duration::from_millis(100)).await;
    assert!(shown("Quyền lợi được hưởng").await);
}
