use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::spawn_app;

#[tokio::test]
async fn malformed_and_oversized_bodies_get_clear_errors() {
    let app = spawn_app().await;
    let admin = app.create_user("admin", None, &[]).await;
    let t = app.token_for(&admin).await;
    let before = app.count("schools").await;

    let r = app
        .api(&t, Method::POST, "/api/v1/schools")
        .header("content-type", "application/json")
        .body("{\"code\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    let p: Value = r.json().await.unwrap();
    assert!(p["detail"].as_str().unwrap().len() > 10, "{p}");

    let mut invalid_utf8 = b"{\"code\": \"A\", \"name\": \"".to_vec();
    invalid_utf8.extend_from_slice(&[0xC3, 0x28]);
    invalid_utf8.extend_from_slice(b"\"}");
    let r = app
        .api(&t, Method::POST, "/api/v1/schools")
        .header("content-type", "application/json")
        .body(invalid_utf8)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);

    let huge = json!({"code": "X", "name": "a".repeat(400_000)});
    let r = app
        .api(&t, Method::POST, "/api/v1/schools")
        .json(&huge)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 413);

    let r = app
        .api(&t, Method::POST, "/api/v1/schools")
        .json(&json!({"code": "B 1", "name": "x".repeat(300), "level": "kindergarten", "province_code": "01", "enrolled_students": -5}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 422);
    let p: Value = r.json().await.unwrap();
    let fields: Vec<&str> = p["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        ["code", "name", "level", "enrolled_students"],
        "{p}"
    );
    assert!(p["detail"].as_str().unwrap().contains("level"));

    let r = app
        .api(&t, Method::POST, "/api/v1/schools")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status().as_u16(),
        422,
        "missing fields are named, not a parse error"
    );

    let r = app
        .api(&t, Method::GET, "/api/v1/schools?per_page=5000")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 422);
    let p: Value = r.json().await.unwrap();
    assert_eq!(p["errors"][0]["field"], "per_page");
    let r = app
        .api(&t, Method::GET, "/api/v1/schools?page=abc")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 422);
    let p: Value = r.json().await.unwrap();
    assert_eq!(p["errors"][0]["field"], "page", "{p}");
    let r = app
        .api(&t, Method::POST, "/api/v1/schools/import?dry_run=maybe")
        .body("code\n")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 422);
    let p: Value = r.json().await.unwrap();
    assert_eq!(p["errors"][0]["field"], "dry_run", "{p}");
    // A value of the wrong type names its field.
    let r = app
        .api(&t, Method::POST, "/api/v1/schools")
        .json(&json!({"code": "T1", "name": "Trường", "level": "primary", "province_code": "01", "enrolled_students": "12a"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 422);
    let p: Value = r.json().await.unwrap();
    assert_eq!(p["errors"][0]["field"], "enrolled_students", "{p}");
    // A body that is not JSON at all.
    let r = app
        .api(&t, Method::POST, "/api/v1/schools")
        .header("content-type", "text/plain")
        .body("code=1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let r = app
        .api(&t, Method::GET, "/api/v1/schools?level=nursery")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 422);
    assert_eq!(
        app.api_status(&t, Method::GET, "/api/v1/schools/abc").await,
        404
    );
    assert_eq!(
        app.api_status(&t, Method::GET, "/api/v1/nothing-here")
            .await,
        404
    );

    assert_eq!(app.count("schools").await, before, "nothing half-written");
}

#[tokio::test]
async fn api_errors_follow_the_users_language() {
    let app = spawn_app().await;
    let admin = app.create_user("admin", None, &[]).await;
    let t = app.token_for(&admin).await;
    let body = json!({"code": "", "name": "", "level": "primary", "province_code": "01"});
    let p: Value = app
        .api(&t, Method::POST, "/api/v1/schools")
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(p["errors"][0]["message"], "Bắt buộc");
    let c = app.signed_in(&admin).await;
    let _ = app
        .post_form(&c, "/account", "/language", &[("lang", "en")])
        .await;
    let p: Value = app
        .api(&t, Method::POST, "/api/v1/schools")
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(p["errors"][0]["message"], "Required");
}

#[tokio::test]
async fn forms_show_errors_beside_fields_and_keep_vietnamese_input() {
    let app = spawn_app().await;
    let staff = app.create_user("staff", None, &[]).await;
    let c = app.signed_in(&staff).await;
    let r = app
        .post_form(
            &c,
            "/schools/new",
            "/schools/new",
            &[
                ("code", "ĐB-01"),
                ("name", "Trường Phổ thông Dân tộc Nội trú Điện Biên"),
                ("level", "upper_secondary"),
                ("province_code", "11"),
                ("enrolled_students", "nhiều"),
            ],
        )
        .await;
    assert_eq!(r.status().as_u16(), 422);
    let page = r.text().await.unwrap();
    assert!(
        page.contains("value=\"Trường Phổ thông Dân tộc Nội trú Điện Biên\""),
        "input kept with diacritics"
    );
    assert!(page.contains("id=\"e-code\"") && page.contains("id=\"e-enrolled_students\""));
    assert!(!page.contains("id=\"e-name\""));
    assert_eq!(app.count("schools").await, 0);

    let r = app
        .post_form(
            &c,
            "/schools/new",
            "/schools/new",
            &[
                ("code", "DB-01"),
                ("name", "Trường Phổ thông Dân tộc Nội trú Điện Biên"),
                ("level", "upper_secondary"),
                ("province_code", "11"),
                ("enrolled_students", "1.200"),
            ],
        )
        .await;
    assert_eq!(r.status().as_u16(), 303);
    let location = r.headers()["location"].to_str().unwrap().to_string();
    let (_, page) = app.get_text(&c, &location).await;
    assert!(page.contains("Trường Phổ thông Dân tộc Nội trú Điện Biên") && page.contains("1.200"));
    assert!(page.contains("Đã thêm trường"));
    // An over-long form body is refused whole.
    let token = app.csrf(&c, "/schools/new").await;
    let long = "a".repeat(300 * 1024);
    let r = c
        .post(app.url("/schools/new"))
        .form(&[("csrf_token", token.as_str()), ("name", long.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 413);
}

#[tokio::test]
async fn pages_errors_render_in_the_users_language() {
    let app = spawn_app().await;
    let staff = app.create_user("staff", Some("01"), &[]).await;
    let c = app.signed_in(&staff).await;
    let (status, page) = app.get_text(&c, "/schools/999999").await;
    assert_eq!(status, 404);
    assert!(page.contains("Không tìm thấy"));
    let _ = app
        .post_form(&c, "/account", "/language", &[("lang", "en")])
        .await;
    let (status, page) = app.get_text(&c, "/admin/users").await;
    assert_eq!(status, 403);
    assert!(page.contains("You may not do this"));
    let anon = crate::helpers::client();
    let r = app.get(&anon, "/schools?page=2").await;
    assert_eq!(r.status().as_u16(), 303);
    assert_eq!(r.headers()["location"], "/login?next=%2Fschools%3Fpage%3D2");
}
