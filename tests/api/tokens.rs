use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::spawn_app;

#[tokio::test]
async fn api_needs_a_valid_token() {
    let app = spawn_app().await;
    let none = reqwest::get(app.url("/api/v1/me")).await.unwrap();
    assert_eq!(none.status().as_u16(), 401);
    assert_eq!(none.headers()["content-type"], "application/problem+json");
    assert_eq!(none.headers()["www-authenticate"], "Bearer");
    let problem: Value = none.json().await.unwrap();
    assert_eq!(problem["status"], 401);
    assert!(problem["title"].as_str().unwrap().len() > 3);
    let bad = app
        .api("hio_not-a-real-token", Method::GET, "/api/v1/me")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status().as_u16(), 401);
    // A page session cookie is no key to the API.
    let user = app.create_user("staff", None, &[]).await;
    let c = app.signed_in(&user).await;
    assert_eq!(app.status(&c, "/api/v1/me").await, 401);
}

#[tokio::test]
async fn tokens_work_record_last_use_and_stop_when_revoked() {
    let app = spawn_app().await;
    let user = app.create_user("staff", None, &[]).await;
    let c = app.signed_in(&user).await;
    let created = app
        .post_form(
            &c,
            "/account/tokens",
            "/account/tokens",
            &[("name", "Báo cáo tuần")],
        )
        .await;
    assert_eq!(created.status().as_u16(), 200);
    let page = created.text().await.unwrap();
    let start = page.find("data-token>").expect("secret shown once") + "data-token>".len();
    let secret = page[start..start + page[start..].find('<').unwrap()].to_string();
    assert!(secret.starts_with("hio_"));
    let (_, again) = app.get_text(&c, "/account/tokens").await;
    assert!(!again.contains(&secret), "the secret is not shown again");
    assert!(again.contains("Báo cáo tuần"));

    let me: Value = app.api_json(&secret, Method::GET, "/api/v1/me").await;
    assert_eq!(me["email"], user.email.as_str());
    let listed: Value = app.api_json(&secret, Method::GET, "/api/v1/tokens").await;
    assert!(listed[0]["last_used_at"].is_string(), "{listed}");
    assert!(listed[0].get("token_hash").is_none());
    let stored: String = {
        use hi_outreach::auth::entity::api_token;
        use sea_orm::EntityTrait;
        api_token::Entity::find()
            .one(&app.db.conn)
            .await
            .unwrap()
            .unwrap()
            .token_hash
    };
    assert_ne!(stored, secret, "only a hash is stored");

    let id = listed[0]["id"].as_i64().unwrap();
    let r = app
        .post_form(&c, "/account/tokens", &format!("/tokens/{id}/revoke"), &[])
        .await;
    assert_eq!(r.status().as_u16(), 303);
    assert_eq!(
        app.api_status(&secret, Method::GET, "/api/v1/me").await,
        401
    );
}

#[tokio::test]
async fn tokens_via_the_api_and_other_peoples_tokens() {
    let app = spawn_app().await;
    let a = app.create_user("staff", None, &[]).await;
    let b = app.create_user("staff", None, &[]).await;
    let ta = app.token_for(&a).await;
    let tb = app.token_for(&b).await;
    // A token cannot create tokens: they come from the Account page or the command line.
    let r = app
        .api(&ta, Method::POST, "/api/v1/tokens")
        .json(&json!({"name": "script"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 404);
    let new_secret = app.token_for(&a).await;
    let listed = app.api_json(&ta, Method::GET, "/api/v1/tokens").await;
    let new_id = listed[0]["id"].as_i64().unwrap();
    // B cannot revoke A's token: it does not exist for B.
    let r = app
        .api(&tb, Method::DELETE, &format!("/api/v1/tokens/{new_id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 404);
    assert_eq!(
        app.api_status(&new_secret, Method::GET, "/api/v1/me").await,
        200
    );
    let r = app
        .api(&ta, Method::DELETE, &format!("/api/v1/tokens/{new_id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(
        app.api_status(&new_secret, Method::GET, "/api/v1/me").await,
        401
    );
}

#[tokio::test]
async fn openapi_document_and_docs_ui_are_served_locally() {
    let app = spawn_app().await;
    let doc: Value = reqwest::get(app.url("/api/v1/openapi.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for path in [
        "/api/v1/schools",
        "/api/v1/schools/import",
        "/api/v1/users",
        "/api/v1/audit",
        "/api/v1/tokens",
    ] {
        assert!(doc["paths"].get(path).is_some(), "{path} documented");
    }
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
    let ui = reqwest::get(app.url("/api/v1/docs/")).await.unwrap();
    assert_eq!(ui.status().as_u16(), 200);
    let html = ui.text().await.unwrap();
    assert!(
        html.contains("swagger-ui-bundle.js") && !html.contains("https://"),
        "no CDN"
    );
    let js = reqwest::get(app.url("/api/v1/docs/swagger-initializer.js"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(js.contains("/api/v1/openapi.json"));
}

#[tokio::test]
async fn a_resolved_token_is_trusted_only_briefly_and_never_past_a_change_made_here() {
    use hi_outreach::auth::tokens::TRUSTED_FOR;
    let app = spawn_app().await;
    let admin = app.create_user("admin", None, &[]).await;
    let staff = app.create_user("staff", None, &[]).await;
    let admin_token = app.token_for(&admin).await;
    let staff_token = app.token_for(&staff).await;
    assert_eq!(
        app.api_status(&staff_token, Method::GET, "/api/v1/me")
            .await,
        200
    );

    // Deactivated through this instance: refused at once, though resolved a moment ago.
    let path = format!("/api/v1/users/{}", staff.id);
    let r = app
        .api(&admin_token, Method::PUT, &path)
        .json(
            &json!({"email": staff.email, "display_name": "Cán bộ", "role": "staff",
            "language": "vi", "active": false}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200, "{}", r.text().await.unwrap());
    assert_eq!(
        app.api_status(&staff_token, Method::GET, "/api/v1/me")
            .await,
        401
    );

    // Revoked by another instance (straight in the shared database): refused once the
    // resolved token is no longer trusted.
    assert_eq!(
        app.api_status(&admin_token, Method::GET, "/api/v1/me")
            .await,
        200
    );
    {
        use hi_outreach::auth::entity::api_token;
        use sea_orm::sea_query::Expr;
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
        let revoked = api_token::Entity::update_many()
            .col_expr(
                api_token::Column::RevokedAt,
                Expr::value(chrono::Utc::now()),
            )
            .filter(api_token::Column::UserId.eq(admin.id))
            .exec(&app.db.conn)
            .await
            .unwrap();
        assert_eq!(revoked.rows_affected, 1);
    }
    tokio::time::sleep(TRUSTED_FOR + std::time::Duration::from_millis(100)).await;
    assert_eq!(
        app.api_status(&admin_token, Method::GET, "/api/v1/me")
            .await,
        401
    );
}
