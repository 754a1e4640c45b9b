use crate::helpers::spawn_app;

#[tokio::test]
async fn health_is_200_with_the_database_up() {
    let app = spawn_app().await;
    let r = app.get(&app.client, "/health").await;
    assert_eq!(r.status().as_u16(), 200);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body, serde_json::json!({"status": "ok", "database": "ok"}));
}

#[tokio::test]
async fn health_is_503_when_the_database_is_unreachable() {
    let app = spawn_app().await;
    app.db.close_pool().await;
    let r = app.get(&app.client, "/health").await;
    assert_eq!(r.status().as_u16(), 503);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["database"], "unreachable");
}

#[tokio::test]
async fn responses_carry_security_headers_and_a_request_id() {
    let app = spawn_app().await;
    let r = app.get(&app.client, "/login").await;
    let h = r.headers();
    let csp = h["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert!(
        h.get("strict-transport-security").is_none(),
        "no HSTS over plain HTTP"
    );
    assert!(h.contains_key("x-request-id"));
}

#[tokio::test]
async fn hsts_when_the_base_url_is_https() {
    let app = crate::helpers::spawn_app_with(|s| {
        s.base_url = url::Url::parse("https://hio.example.vn").unwrap()
    })
    .await;
    let r = app.get(&app.client, "/health").await;
    assert!(r.headers()["strict-transport-security"]
        .to_str()
        .unwrap()
        .contains("max-age="));
}

#[tokio::test]
async fn assets_are_embedded_with_cache_headers() {
    let app = spawn_app().await;
    let (_, page) = app.get_text(&app.client, "/login").await;
    let start = page
        .find("/assets/css/app.css?v")
        .expect("versioned css link");
    let end = page[start..].find('"').unwrap() + start;
    let url = page[start..end].replace("&#x3D;", "=");
    let r = app.get(&app.client, &url).await;
    assert_eq!(r.status().as_u16(), 200);
    assert!(r.headers()["cache-control"]
        .to_str()
        .unwrap()
        .contains("immutable"));
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/css"));
    let unversioned = app.get(&app.client, "/assets/css/app.css").await;
    assert!(unversioned.headers()["cache-control"]
        .to_str()
        .unwrap()
        .contains("max-age=300"));
    assert_eq!(
        app.status(&app.client, "/assets/locales/vi/main.ftl").await,
        404
    );
    assert_eq!(app.status(&app.client, "/assets/nope.css").await, 404);
}
