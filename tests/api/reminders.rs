//! Audiences: saved filters over students and guardians with a live count and a sample.
use reqwest::Method;
use sea_orm::ConnectionTrait;
use serde_json::json;

use crate::helpers::{send, spawn_app, TestApp};

const HEADER: &str = "school_code,full_name,date_of_birth,class_name,hi_status,guardian_name,guardian_relationship,guardian_phone,guardian_email,guardian_zalo,consent_sms,consent_zalo,consent_email\n";

/// Two uninsured siblings sharing their mother (SMS and Zalo); an uninsured child whose father
/// consented to e-mail only; an insured child; an uninsured child whose mother gave no consent;
/// a family in Hồ Chí Minh City.
async fn families() -> (TestApp, String) {
    let app = spawn_app().await;
    let t = import_families(&app).await;
    (app, t)
}

/// The families above in `app`; answers an admin's API token.
pub async fn import_families(app: &TestApp) -> String {
    app.create_school("HN-1", "Trường THCS Nguyễn Du", "01")
        .await;
    app.create_school("HN-2", "Trường THPT Việt Đức", "01")
        .await;
    app.create_school("HCM-1", "Trường THCS Lê Lợi", "79").await;
    let admin = app.create_user("admin", None, &[]).await;
    let t = app.token_for(&admin).await;
    let file = format!(
        "{HEADER}\
HN-1,Nguyễn Văn An,05/09/2010,10A1,uninsured,Trần Thị Bình,mẹ,0912345678,,có,có,có,\n\
HN-1,Nguyễn Thị Chi,12/01/2013,7B,uninsured,Trần Thị Bình,mẹ,0912345678,,có,có,có,\n\
HN-1,Lê Minh Đức,2011-03-30,9C,uninsured,Lê Văn Em,bố,,em.le@example.vn,,,,có\n\
HN-2,Phạm Gia Huy,2009-04-01,11A,insured,Phạm Văn Hòa,bố,0912000111,,có,có,có,\n\
HN-2,Đỗ Thu Hà,2009-06-01,11B,uninsured,Đỗ Thị Lan,mẹ,0912000222,,,,,\n\
HCM-1,Võ Minh Khang,2010-02-02,10C,uninsured,Võ Thị Mai,mẹ,0903000333,,có,có,có,\n"
    );
    let r = app
        .api(&t, Method::POST, "/api/v1/students/import?dry_run=false")
        .header("content-type", "text/csv")
        .body(file)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    t
}

#[tokio::test]
async fn audiences_count_consenting_parents_of_uninsured_children() {
    let (app, t) = families().await;
    // Default: uninsured children, consent on any channel, the whole country.
    let (status, p) = send(
        &app,
        &t,
        Method::POST,
        "/api/v1/audiences/preview",
        json!({}),
    )
    .await;
    assert_eq!(status, 200, "{p}");
    assert_eq!(
        p["guardians"], 3,
        "mother of two, father by e-mail, the HCM mother: {p}"
    );
    assert_eq!(p["students"], 4);
    let mother = p["sample"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["name"] == "Trần Thị Bình")
        .unwrap()
        .clone();
    assert_eq!(
        mother["children"].as_array().unwrap().len(),
        2,
        "siblings fold under one parent"
    );
    assert!(
        mother["phone"].as_str().unwrap().contains('*'),
        "contacts are masked"
    );
    // Consent on Zalo only, in Hà Nội.
    let (_, p) = send(
        &app,
        &t,
        Method::POST,
        "/api/v1/audiences/preview",
        json!({"province_code": "01", "channels": ["zalo"]}),
    )
    .await;
    assert_eq!(p["guardians"], 1, "{p}");
    // Insured children, any channel; any status.
    let (_, p) = send(
        &app,
        &t,
        Method::POST,
        "/api/v1/audiences/preview",
        json!({"hi_status": "insured"}),
    )
    .await;
    assert_eq!(p["guardians"], 1);
    let (_, p) = send(
        &app,
        &t,
        Method::POST,
        "/api/v1/audiences/preview",
        json!({"hi_status": "any", "school_code": "HN-2"}),
    )
    .await;
    assert_eq!(
        p["guardians"], 1,
        "the parent without consent is never picked: {p}"
    );
    // A parent who opts out disappears at once.
    let gid = mother["guardian_id"].as_i64().unwrap();
    app.db
        .conn
        .execute(sea_orm::Statement::from_string(
            app.db.backend(),
            format!("UPDATE guardians SET opted_out_at = created_at WHERE id = {gid}"),
        ))
        .await
        .unwrap();
    let (_, p) = send(
        &app,
        &t,
        Method::POST,
        "/api/v1/audiences/preview",
        json!({}),
    )
    .await;
    assert_eq!(p["guardians"], 2);
    // Bad filters are named.
    let (status, p) = send(
        &app,
        &t,
        Method::POST,
        "/api/v1/audiences/preview",
        json!({"channels": ["pigeon"], "hi_status": "maybe", "province_code": "99"}),
    )
    .await;
    assert_eq!(status, 422);
    let fields: Vec<&str> = p["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert!(
        fields.contains(&"channels")
            && fields.contains(&"hi_status")
            && fields.contains(&"province_code"),
        "{p}"
    );
    // Saving, listing with the live count, audit.
    let (status, a) = send(
        &app,
        &t,
        Method::POST,
        "/api/v1/audiences",
        json!({"name": "Phụ huynh Hà Nội chưa có thẻ", "province_code": "01"}),
    )
    .await;
    assert_eq!(status, 201, "{a}");
    let list = app.api_json(&t, Method::GET, "/api/v1/audiences").await;
    assert_eq!(list[0]["guardians"], 1, "{list}");
    assert_eq!(list[0]["name"], "Phụ huynh Hà Nội chưa có thẻ");
    assert_eq!(
        app.count("audit_log WHERE action = 'audience.created'")
            .await,
        1
    );
}

#[tokio::test]
async fn audiences_stay_inside_the_callers_scope() {
    let (app, t) = families().await;
    let staff79 = app.create_user("staff", Some("79"), &[]).await;
    let s79 = app.token_for(&staff79).await;
    let liaison = app.create_user("liaison", None, &["HN-1"]).await;
    let l = app.token_for(&liaison).await;
    let (_, p) = send(
        &app,
        &s79,
        Method::POST,
        "/api/v1/audiences/preview",
        json!({}),
    )
    .await;
    assert_eq!(p["guardians"], 1, "only Hồ Chí Minh City: {p}");
    let (status, _) = send(
        &app,
        &s79,
        Method::POST,
        "/api/v1/audiences/preview",
        json!({"province_code": "01"}),
    )
    .await;
    assert_eq!(status, 422);
    let (status, _) = send(
        &app,
        &s79,
        Method::POST,
        "/api/v1/audiences",
        json!({"name": "Toàn quốc"}),
    )
    .await;
    assert_eq!(
        status, 422,
        "province staff save audiences of their province"
    );
    let (status, hn) = send(
        &app,
        &t,
        Method::POST,
        "/api/v1/audiences",
        json!({"name": "Hà Nội", "province_code": "01"}),
    )
    .await;
    assert_eq!(status, 201);
    assert_eq!(
        app.api_status(
            &s79,
            Method::GET,
            &format!("/api/v1/audiences/{}", hn["id"])
        )
        .await,
        404
    );
    let (status, _) = send(
        &app,
        &l,
        Method::POST,
        "/api/v1/audiences/preview",
        json!({}),
    )
    .await;
    assert_eq!(status, 403, "liaisons do not send to parents");
    // The pages: list, form, preview without saving.
    let admin = app.create_user("admin", None, &[]).await;
    let c = app.signed_in(&admin).await;
    assert_eq!(app.status(&c, "/audiences").await, 200);
    let r = app
        .post_form(
            &c,
            "/audiences/new",
            "/audiences/preview",
            &[
                ("name", ""),
                ("province_code", "01"),
                ("channels", "sms"),
                ("channels", "zalo"),
                ("hi_status", "uninsured"),
            ],
        )
        .await;
    assert_eq!(r.status(), 200);
    let page = r.text().await.unwrap();
    assert!(page.contains("1 phụ huynh, 2 học sinh"), "{page}");
    assert_eq!(app.count("audiences").await, 1, "a preview saves nothing");
}

#[tokio::test]
async fn a_queued_message_is_cancelled_once_every_child_in_it_is_insured() {
    let (app, t) = families().await;
    let templates = app
        .api_json(
            &t,
            Method::GET,
            "/api/v1/templates?channel=sms&language=vi&purpose=deadline_reminder",
        )
        .await;
    let template = templates[0]["id"].as_i64().expect("a default SMS reminder");
    let (_, p) = send(
        &app,
        &t,
        Method::POST,
        "/api/v1/audiences/preview",
        json!({"school_code": "HN-1", "channels": ["sms"]}),
    )
    .await;
    let mother = p["sample"][0]["guardian_id"].as_i64().unwrap();
    let r = app
        .api(&t, Method::POST, "/api/v1/messages")
        .header("Idempotency-Key", "nhac-hn1-1")
        .json(&json!({"guardian_id": mother, "template_id": template}))
        .send()
        .await
        .unwrap();
    let status = r.status();
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(status, 201, "{v}");
    let message = v["message_id"].as_i64().unwrap();
    let status_of = |app: &TestApp, id: i64| {
        let app_db = app.db.conn.clone();
        async move {
            app_db
                .query_one(sea_orm::Statement::from_string(
                    app_db.get_database_backend(),
                    format!("SELECT status FROM messages WHERE id = {id}"),
                ))
                .await
                .unwrap()
                .unwrap()
                .try_get::<String>("", "status")
                .unwrap()
        }
    };
    let students = app
        .api_json(&t, Method::GET, "/api/v1/students?q=nguyen")
        .await;
    let ids: Vec<i64> = students["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids.len(), 2, "{students}");
    // One sibling insured (not Chi, insured below through a file): the message still concerns
    // the other and waits.
    let first = students["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["full_name"] != "Nguyễn Thị Chi")
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    let (s, v) = send(
        &app,
        &t,
        Method::PUT,
        &format!("/api/v1/students/{first}/hi_status"),
        json!({"hi_status": "insured"}),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(status_of(&app, message).await, "queued");
    // Both insured (the second through a file): the message is cancelled, not sent.
    let file =
        "school_code,full_name,date_of_birth,hi_status\nHN-1,Nguyễn Thị Chi,12/01/2013,insured\n";
    let r = app
        .api(&t, Method::POST, "/api/v1/students/import?dry_run=false")
        .header("content-type", "text/csv")
        .body(file)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    assert_eq!(status_of(&app, message).await, "cancelled");
    assert_eq!(
        app.count("message_events WHERE kind = 'cancelled'").await,
        1
    );
}
