use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{spawn_app, TestApp};

struct World {
    app: TestApp,
    hanoi_a: i64,
    hanoi_b: i64,
    hcm: i64,
}

async fn world() -> World {
    let app = spawn_app().await;
    let hanoi_a = app
        .create_school("HN-A", "Trường THPT Chu Văn An", "01")
        .await;
    let hanoi_b = app
        .create_school("HN-B", "Trường THPT Việt Đức", "01")
        .await;
    let hcm = app
        .create_school("HCM-A", "Trường THPT Lê Quý Đôn", "79")
        .await;
    World {
        app,
        hanoi_a,
        hanoi_b,
        hcm,
    }
}

async fn status(
    app: &TestApp,
    token: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> u16 {
    let mut req = app.api(token, method, path);
    if let Some(b) = body {
        req = req.json(&b);
    }
    req.send().await.unwrap().status().as_u16()
}

async fn codes(app: &TestApp, token: &str) -> Vec<String> {
    let page: Value = app.api_json(token, Method::GET, "/api/v1/schools").await;
    let mut codes: Vec<String> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["code"].as_str().unwrap().to_string())
        .collect();
    codes.sort();
    codes
}

fn school_json(code: &str, province: &str) -> Value {
    json!({"code": code, "name": "Trường Tiểu học Kim Đồng", "level": "primary", "province_code": province, "enrolled_students": 500})
}

#[tokio::test]
async fn admin_and_national_staff_see_every_school() {
    let w = world().await;
    for role in ["admin", "staff"] {
        let u = w.app.create_user(role, None, &[]).await;
        let t = w.app.token_for(&u).await;
        assert_eq!(codes(&w.app, &t).await, ["HCM-A", "HN-A", "HN-B"], "{role}");
        assert_eq!(
            status(
                &w.app,
                &t,
                Method::GET,
                &format!("/api/v1/schools/{}", w.hcm),
                None
            )
            .await,
            200
        );
    }
}

#[tokio::test]
async fn province_staff_see_and_edit_only_their_province() {
    let w = world().await;
    let staff = w.app.create_user("staff", Some("01"), &[]).await;
    let t = w.app.token_for(&staff).await;
    assert_eq!(codes(&w.app, &t).await, ["HN-A", "HN-B"]);
    assert_eq!(
        status(
            &w.app,
            &t,
            Method::GET,
            &format!("/api/v1/schools/{}", w.hanoi_a),
            None
        )
        .await,
        200
    );
    assert_eq!(
        status(
            &w.app,
            &t,
            Method::GET,
            &format!("/api/v1/schools/{}", w.hcm),
            None
        )
        .await,
        404
    );
    assert_eq!(
        status(&w.app, &t, Method::GET, "/api/v1/provinces/79", None).await,
        404
    );
    assert_eq!(
        status(&w.app, &t, Method::GET, "/api/v1/provinces/01", None).await,
        200
    );
    assert_eq!(
        status(
            &w.app,
            &t,
            Method::POST,
            "/api/v1/schools",
            Some(school_json("HN-NEW", "01"))
        )
        .await,
        201
    );
    // Creating in another province is refused, naming the field.
    let r = w
        .app
        .api(&t, Method::POST, "/api/v1/schools")
        .json(&school_json("HCM-NEW", "79"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 422);
    let problem: Value = r.json().await.unwrap();
    assert_eq!(problem["errors"][0]["field"], "province_code");
    assert_eq!(
        status(
            &w.app,
            &t,
            Method::PUT,
            &format!("/api/v1/schools/{}", w.hcm),
            Some(school_json("HCM-A", "79"))
        )
        .await,
        404
    );
    // Pages agree with the API.
    let c = w.app.signed_in(&staff).await;
    assert_eq!(
        w.app.status(&c, &format!("/schools/{}", w.hanoi_b)).await,
        200
    );
    assert_eq!(w.app.status(&c, &format!("/schools/{}", w.hcm)).await, 404);
    assert_eq!(
        w.app.status(&c, &format!("/schools/{}/edit", w.hcm)).await,
        404
    );
}

#[tokio::test]
async fn liaisons_see_only_assigned_schools_and_cannot_change_them() {
    let w = world().await;
    let liaison = w.app.create_user("liaison", None, &["HN-A"]).await;
    let t = w.app.token_for(&liaison).await;
    assert_eq!(codes(&w.app, &t).await, ["HN-A"]);
    assert_eq!(
        status(
            &w.app,
            &t,
            Method::GET,
            &format!("/api/v1/schools/{}", w.hanoi_a),
            None
        )
        .await,
        200
    );
    // Other schools do not exist for them, even in the same province.
    for other in [w.hanoi_b, w.hcm, 999_999] {
        assert_eq!(
            status(
                &w.app,
                &t,
                Method::GET,
                &format!("/api/v1/schools/{other}"),
                None
            )
            .await,
            404,
            "school {other}"
        );
        assert_eq!(
            status(
                &w.app,
                &t,
                Method::PUT,
                &format!("/api/v1/schools/{other}"),
                Some(school_json("X", "01"))
            )
            .await,
            404
        );
    }
    // Their own school: visible, but not theirs to change.
    assert_eq!(
        status(
            &w.app,
            &t,
            Method::PUT,
            &format!("/api/v1/schools/{}", w.hanoi_a),
            Some(school_json("HN-A", "01"))
        )
        .await,
        403
    );
    assert_eq!(
        status(
            &w.app,
            &t,
            Method::POST,
            "/api/v1/schools",
            Some(school_json("L-1", "01"))
        )
        .await,
        403
    );
    let provinces: Value = w.app.api_json(&t, Method::GET, "/api/v1/provinces").await;
    assert_eq!(provinces.as_array().unwrap().len(), 1);
    assert_eq!(provinces[0]["schools"], 1);

    let c = w.app.signed_in(&liaison).await;
    assert_eq!(
        w.app.status(&c, &format!("/schools/{}", w.hanoi_a)).await,
        200
    );
    assert_eq!(
        w.app.status(&c, &format!("/schools/{}", w.hanoi_b)).await,
        404
    );
    assert_eq!(
        w.app
            .status(&c, &format!("/schools/{}/edit", w.hanoi_a))
            .await,
        403
    );
    assert_eq!(w.app.status(&c, "/schools/new").await, 403);
    assert_eq!(w.app.status(&c, "/schools/import").await, 403);
    let (_, list) = w.app.get_text(&c, "/schools").await;
    assert!(
        list.contains("Chu Văn An") && !list.contains("Việt Đức") && !list.contains("Lê Quý Đôn")
    );
    let (_, list) = w.app.get_text(&c, "/schools?q=viet+duc").await;
    assert!(!list.contains("Việt Đức"), "search stays inside scope");
}

#[tokio::test]
async fn user_visibility_follows_scope() {
    let w = world().await;
    let admin = w.app.create_user("admin", None, &[]).await;
    let national = w.app.create_user("staff", None, &[]).await;
    let hanoi_staff = w.app.create_user("staff", Some("01"), &[]).await;
    let hcm_staff = w.app.create_user("staff", Some("79"), &[]).await;
    let hanoi_liaison = w.app.create_user("liaison", None, &["HN-A"]).await;
    let hcm_liaison = w.app.create_user("liaison", None, &["HCM-A"]).await;
    let ids = |v: Value| -> Vec<i64> {
        let mut ids: Vec<i64> = v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["id"].as_i64().unwrap())
            .collect();
        ids.sort();
        ids
    };
    let list = |token: String| {
        let app = &w.app;
        async move {
            app.api(&token, Method::GET, "/api/v1/users")
                .send()
                .await
                .unwrap()
        }
    };

    let all = ids(list(w.app.token_for(&admin).await)
        .await
        .json()
        .await
        .unwrap());
    assert_eq!(all.len(), 6);
    assert_eq!(
        ids(list(w.app.token_for(&national).await)
            .await
            .json()
            .await
            .unwrap()),
        all
    );
    let mut expected = vec![hanoi_staff.id, hanoi_liaison.id];
    expected.sort();
    let t_hn = w.app.token_for(&hanoi_staff).await;
    assert_eq!(
        ids(list(t_hn.clone()).await.json().await.unwrap()),
        expected
    );
    assert_eq!(
        status(
            &w.app,
            &t_hn,
            Method::GET,
            &format!("/api/v1/users/{}", hcm_staff.id),
            None
        )
        .await,
        404
    );
    assert_eq!(
        status(
            &w.app,
            &t_hn,
            Method::GET,
            &format!("/api/v1/users/{}", hcm_liaison.id),
            None
        )
        .await,
        404
    );
    assert_eq!(
        status(
            &w.app,
            &t_hn,
            Method::GET,
            &format!("/api/v1/users/{}", hanoi_liaison.id),
            None
        )
        .await,
        200
    );

    let t_li = w.app.token_for(&hanoi_liaison).await;
    assert_eq!(list(t_li.clone()).await.status().as_u16(), 403);
    assert_eq!(
        status(
            &w.app,
            &t_li,
            Method::GET,
            &format!("/api/v1/users/{}", hanoi_liaison.id),
            None
        )
        .await,
        200
    );
    assert_eq!(
        status(
            &w.app,
            &t_li,
            Method::GET,
            &format!("/api/v1/users/{}", hanoi_staff.id),
            None
        )
        .await,
        404
    );
    assert_eq!(
        status(
            &w.app,
            &t_li,
            Method::GET,
            &format!("/api/v1/users/{}", admin.id),
            None
        )
        .await,
        404
    );

    // Only admins create or change users.
    let new_user = json!({"email": "x@example.vn", "display_name": "X", "role": "liaison", "password": "mot-mat-khau-dai"});
    assert_eq!(
        status(
            &w.app,
            &t_hn,
            Method::POST,
            "/api/v1/users",
            Some(new_user.clone())
        )
        .await,
        403
    );
    assert_eq!(
        status(
            &w.app,
            &w.app.token_for(&admin).await,
            Method::POST,
            "/api/v1/users",
            Some(new_user)
        )
        .await,
        201
    );
    let c = w.app.signed_in(&national).await;
    assert_eq!(w.app.status(&c, "/admin/users").await, 403);
    assert_eq!(
        w.app
            .status(&c, &format!("/admin/users/{}", admin.id))
            .await,
        403
    );
    let c = w.app.signed_in(&hanoi_liaison).await;
    assert_eq!(w.app.status(&c, "/admin/audit").await, 403);
}

#[tokio::test]
async fn user_search_ignores_case_and_accents_on_every_database() {
    let app = spawn_app().await;
    let admin = app.create_user("admin", None, &[]).await;
    let t = app.token_for(&admin).await;
    let body = json!({"email": "minh.tran@example.vn", "display_name": "Trần Văn Minh", "role": "staff", "password": "mot-mat-khau-dai"});
    let r = app
        .api(&t, Method::POST, "/api/v1/users")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    for q in ["Trần", "trần", "TRAN", "van minh", "MINH.TRAN"] {
        let found = app
            .api_json(
                &t,
                Method::GET,
                &format!("/api/v1/users?q={}", urlencode(q)),
            )
            .await;
        assert_eq!(found["total"], 1, "search {q:?}");
    }
    // Wildcards in the search text are matched literally.
    let found = app.api_json(&t, Method::GET, "/api/v1/users?q=%25").await;
    assert_eq!(found["total"], 0);
    let found = app.api_json(&t, Method::GET, "/api/v1/users?q=_").await;
    assert_eq!(found["total"], 0);
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}
