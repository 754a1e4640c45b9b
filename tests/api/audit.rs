use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{client, spawn_app};

async fn entries(app: &crate::helpers::TestApp, token: &str, query: &str) -> Vec<Value> {
    let page: Value = app
        .api_json(token, Method::GET, &format!("/api/v1/audit?{query}"))
        .await;
    page["items"].as_array().unwrap().clone()
}

#[tokio::test]
async fn changes_and_authentication_events_are_audited_without_secrets() {
    let app = spawn_app().await;
    let admin = app.create_user("admin", None, &[]).await;
    let t = app.token_for(&admin).await;
    let school = app
        .create_school("AU-1", "Trường THCS Nguyễn Du", "01")
        .await;

    // Authentication events.
    let _ = app.login(&client(), &admin.email, "wrong password").await;
    let c = app.signed_in(&admin).await;
    let _ = app.post_form(&c, "/", "/logout", &[]).await;

    // A change through the API.
    let r = app
        .api(&t, Method::PUT, &format!("/api/v1/schools/{school}"))
        .json(&json!({"code": "AU-1", "name": "Trường THCS Nguyễn Du", "level": "lower_secondary", "province_code": "01", "enrolled_students": 777}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);

    let all = entries(&app, &t, "per_page=200").await;
    let actions: Vec<&str> = all.iter().map(|e| e["action"].as_str().unwrap()).collect();
    for expected in [
        "user.created",
        "token.created",
        "school.created",
        "login.failure",
        "login.success",
        "logout",
        "school.updated",
    ] {
        assert!(
            actions.contains(&expected),
            "{expected} missing from {actions:?}"
        );
    }
    let update = entries(&app, &t, "action=school.updated").await;
    assert_eq!(update.len(), 1);
    assert_eq!(update[0]["actor"], admin.email.as_str());
    assert_eq!(update[0]["entity_id"], school.to_string());
    assert_eq!(
        update[0]["summary"]["enrolled_students"],
        json!({"from": 1000, "to": 777})
    );
    assert_eq!(update[0]["summary"]["level"]["to"], "lower_secondary");
    assert!(
        update[0]["summary"].get("name").is_none(),
        "unchanged fields are left out"
    );

    let failure = entries(&app, &t, "action=login.failure").await;
    assert_eq!(failure[0]["summary"]["reason"], "wrong_password");
    let text = serde_json::to_string(&all).unwrap();
    assert!(
        !text.contains("wrong password") && !text.contains("argon2") && !text.contains(&t),
        "no secrets"
    );

    // Filters: by actor and entity.
    let by_entity = entries(&app, &t, &format!("entity_type=school&entity_id={school}")).await;
    assert_eq!(by_entity.len(), 2);
    // Non-admins may not read it.
    let staff = app.create_user("staff", None, &[]).await;
    let ts = app.token_for(&staff).await;
    assert_eq!(app.api_status(&ts, Method::GET, "/api/v1/audit").await, 403);
    // The admin page shows and filters the same.
    let c = app.signed_in(&admin).await;
    let (status, page) = app.get_text(&c, "/admin/audit?action=school.updated").await;
    assert_eq!(status, 200);
    assert!(page.contains("school.updated") && !page.contains("<code>login.failure</code>"));
}
