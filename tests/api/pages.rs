use crate::helpers::{spawn_app, PASSWORD};

#[tokio::test]
async fn admin_creates_and_edits_users_with_errors_beside_fields() {
    let app = spawn_app().await;
    let admin = app.create_user("admin", None, &[]).await;
    app.create_school("HN-1", "Trường Tiểu học Kim Đồng", "01")
        .await;
    let c = app.signed_in(&admin).await;
    let (status, page) = app.get_text(&c, "/admin/users/new").await;
    assert_eq!(status, 200);
    assert!(page.contains("Thêm người dùng"));

    let bad = app
        .post_form(
            &c,
            "/admin/users/new",
            "/admin/users/new",
            &[
                ("email", "not-an-email"),
                ("display_name", "Lê Thị Thu"),
                ("role", "liaison"),
                ("province_code", "01"),
                ("school_codes", "HN-1, NOPE-9"),
                ("language", "vi"),
                ("active", "on"),
                ("password", "short"),
            ],
        )
        .await;
    assert_eq!(bad.status().as_u16(), 422);
    let page = bad.text().await.unwrap();
    for field in ["email", "password"] {
        assert!(
            page.contains(&format!("id=\"e-{field}\"")),
            "{field} error shown"
        );
    }
    assert!(page.contains("NOPE-9"), "unknown school named");
    assert!(page.contains("Chỉ cán bộ truyền thông mới gắn với một tỉnh"));
    assert!(page.contains("value=\"Lê Thị Thu\""));
    let users_before = app.count("users").await;

    let ok = app
        .post_form(
            &c,
            "/admin/users/new",
            "/admin/users/new",
            &[
                ("email", "thu.le@example.vn"),
                ("display_name", "Lê Thị Thu"),
                ("role", "liaison"),
                ("school_codes", "HN-1"),
                ("language", "vi"),
                ("active", "on"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(ok.status().as_u16(), 303);
    assert_eq!(app.count("users").await, users_before + 1);
    let location = ok.headers()["location"].to_str().unwrap().to_string();
    let (_, edit) = app.get_text(&c, &location).await;
    assert!(edit.contains("Đã tạo người dùng") && edit.contains("HN-1"));

    // The new liaison sees their school.
    let liaison = crate::helpers::client();
    assert_eq!(
        app.login(&liaison, "thu.le@example.vn", PASSWORD)
            .await
            .status()
            .as_u16(),
        303
    );
    let (_, list) = app.get_text(&liaison, "/schools").await;
    assert!(list.contains("Kim Đồng"));

    // An admin cannot demote or deactivate themselves.
    let own = format!("/admin/users/{}", admin.id);
    let r = app
        .post_form(
            &c,
            &own,
            &own,
            &[
                ("email", admin.email.as_str()),
                ("display_name", "A"),
                ("role", "staff"),
                ("language", "vi"),
            ],
        )
        .await;
    assert_eq!(r.status().as_u16(), 422);
    let page = r.text().await.unwrap();
    assert!(page.contains("id=\"e-role\"") || page.contains("Bạn không thể đổi vai trò"));
}

#[tokio::test]
async fn every_main_page_renders_for_each_role() {
    let app = spawn_app().await;
    let school = app
        .create_school("HN-9", "Trường THCS Lý Tự Trọng", "01")
        .await;
    let admin = app.create_user("admin", None, &[]).await;
    let staff = app.create_user("staff", Some("01"), &[]).await;
    let liaison = app.create_user("liaison", None, &["HN-9"]).await;
    let school_page = format!("/schools/{school}");
    let common = [
        "/",
        "/provinces",
        "/provinces/01",
        "/schools",
        school_page.as_str(),
        "/account",
        "/account/password",
        "/account/tokens",
        "/students",
        "/students/import",
    ];
    for (user, extra) in [
        (
            &admin,
            vec![
                "/admin/users",
                "/admin/users/new",
                "/admin/audit",
                "/schools/new",
                "/schools/import",
            ],
        ),
        (&staff, vec!["/schools/new", "/schools/import"]),
        (&liaison, vec![]),
    ] {
        let c = app.signed_in(user).await;
        for path in common.iter().copied().chain(extra) {
            let (status, page) = app.get_text(&c, path).await;
            assert_eq!(status, 200, "{path} for {}", user.email);
            assert!(page.contains("</html>"));
        }
        let (_, home) = app.get_text(&c, "/").await;
        assert_eq!(
            home.contains("href=\"/admin/users\""),
            user.email == admin.email,
            "admin links for admins only"
        );
    }
}

#[tokio::test]
async fn an_admin_ends_all_sessions_of_a_user() {
    let app = spawn_app().await;
    let admin = app.create_user("admin", None, &[]).await;
    let liaison = app.create_user("liaison", None, &[]).await;
    let phone = app.signed_in(&liaison).await;
    let laptop = app.signed_in(&liaison).await;
    let c = app.signed_in(&admin).await;
    let page = format!("/admin/users/{}", liaison.id);
    let (_, html) = app.get_text(&c, &page).await;
    assert_eq!(
        html.matches("<tr><td>").count(),
        2,
        "two open sessions listed"
    );
    let r = app
        .post_form(&c, &page, &format!("{page}/sessions/end"), &[])
        .await;
    assert_eq!(r.status().as_u16(), 303);
    for client in [&phone, &laptop] {
        assert_eq!(app.status(client, "/account").await, 303);
    }
    assert_eq!(
        app.status(&c, "/account").await,
        200,
        "the admin's own session lives on"
    );
    let (_, html) = app.get_text(&c, &page).await;
    assert!(html.contains("Không có phiên nào đang mở"));
}
