use chrono::{Duration, Utc};
use hi_outreach::auth::entity::session;
use sea_orm::sea_query::Expr;
use sea_orm::EntityTrait;

use crate::helpers::{client, csrf_in, spawn_app, spawn_app_with, PASSWORD};

fn set_cookie(r: &reqwest::Response, name: &str) -> String {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|v| v.starts_with(&format!("{name}=")))
        .unwrap_or_else(|| panic!("no {name} cookie"))
}

#[tokio::test]
async fn login_succeeds_sets_a_safe_cookie_and_shows_the_user() {
    let app = spawn_app().await;
    let admin = app.create_user("admin", None, &[]).await;
    let c = client();
    let r = app.login(&c, &admin.email, &admin.password).await;
    assert_eq!(r.status().as_u16(), 303);
    assert_eq!(r.headers()["location"], "/");
    let cookie = set_cookie(&r, "hio_session");
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Lax"), "{cookie}");
    assert!(cookie.contains("Path=/"), "{cookie}");
    assert!(
        !cookie.contains("Secure"),
        "plain HTTP: no Secure flag: {cookie}"
    );
    let (status, home) = app.get_text(&c, "/").await;
    assert_eq!(status, 200);
    assert!(home.contains("Xin chào"), "Vietnamese by default");
}

#[tokio::test]
async fn https_base_url_gives_host_prefixed_secure_cookies() {
    let app =
        spawn_app_with(|s| s.base_url = url::Url::parse("https://hio.example.vn").unwrap()).await;
    let admin = app.create_user("admin", None, &[]).await;
    // Over plain HTTP in the test the Secure cookies are not sent back, so take the token by hand.
    let c = client();
    let login = c.get(app.url("/login")).send().await.unwrap();
    let anon = set_cookie(&login, "__Host-hio_csrf");
    assert!(
        anon.contains("Secure") && anon.contains("HttpOnly"),
        "{anon}"
    );
    let seed = anon.split(';').next().unwrap().to_string();
    let token = csrf_in(&login.text().await.unwrap());
    let r = c
        .post(app.url("/login"))
        .header("cookie", seed)
        .header("origin", "https://hio.example.vn")
        .form(&[
            ("email", admin.email.as_str()),
            ("password", PASSWORD),
            ("csrf_token", &token),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 303);
    let cookie = set_cookie(&r, "__Host-hio_session");
    assert!(
        cookie.contains("Secure") && cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    assert!(
        cookie.contains("Path=/") && !cookie.contains("Domain"),
        "{cookie}"
    );
}

#[tokio::test]
async fn wrong_password_and_unknown_account_fail_alike() {
    let app = spawn_app().await;
    let user = app.create_user("staff", None, &[]).await;
    let c = client();
    let wrong = app.login(&c, &user.email, "not the password").await;
    assert_eq!(wrong.status().as_u16(), 401);
    let body = wrong.text().await.unwrap();
    assert!(body.contains("Email hoặc mật khẩu không đúng"));
    let unknown = app.login(&c, "nobody@example.vn", "not the password").await;
    assert_eq!(unknown.status().as_u16(), 401);
    assert!(unknown
        .text()
        .await
        .unwrap()
        .contains("Email hoặc mật khẩu không đúng"));
    assert_eq!(app.status(&c, "/").await, 303, "still signed out");
}

#[tokio::test]
async fn repeated_failures_are_throttled_without_locking_out_the_owner() {
    let app = spawn_app().await;
    let user = app.create_user("staff", None, &[]).await;
    let attacker = client();
    let attempt = |pw: &'static str, ip: &'static str, c: reqwest::Client| {
        let app = &app;
        let email = user.email.clone();
        async move { app.login_from(&c, &email, pw, ip).await }
    };
    for _ in 0..5 {
        assert_eq!(
            attempt("guess", "203.0.113.9", attacker.clone())
                .await
                .status()
                .as_u16(),
            401
        );
    }
    let blocked = attempt("guess", "203.0.113.9", attacker.clone()).await;
    assert_eq!(blocked.status().as_u16(), 429);
    let retry: u64 = blocked.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=30).contains(&retry), "{retry}");
    assert!(blocked.text().await.unwrap().contains("thử lại sau"));
    // Even the right password waits on that address…
    assert_eq!(
        attempt(PASSWORD, "203.0.113.9", attacker.clone())
            .await
            .status()
            .as_u16(),
        429
    );
    // …but the owner, elsewhere, logs in.
    assert_eq!(
        attempt(PASSWORD, "198.51.100.7", client())
            .await
            .status()
            .as_u16(),
        303
    );
}

#[tokio::test]
async fn password_spraying_from_one_address_is_throttled() {
    let app = spawn_app_with(|s| s.login_failures_per_ip = 8).await;
    let c = client();
    let token = app.csrf(&c, "/login").await;
    let mut statuses = Vec::new();
    for i in 0..9 {
        let email = format!("victim{i}@example.vn");
        let r = c
            .post(app.url("/login"))
            .header("x-forwarded-for", "192.0.2.50")
            .form(&[
                ("email", email.as_str()),
                ("password", "Password1!"),
                ("csrf_token", &token),
            ])
            .send()
            .await
            .unwrap();
        statuses.push(r.status().as_u16());
    }
    assert_eq!(&statuses[..8], &[401; 8]);
    assert_eq!(statuses[8], 429);
}

#[tokio::test]
async fn distributed_guessing_slows_new_addresses_but_not_known_ones() {
    let app = spawn_app_with(|s| s.login_failures_per_account = 6).await;
    let user = app.create_user("liaison", None, &[]).await;
    let post = |ip: String, pw: &'static str| {
        let app = &app;
        let email = user.email.clone();
        async move {
            app.login_from(&client(), &email, pw, &ip)
                .await
                .status()
                .as_u16()
        }
    };
    // The owner logs in once from home.
    assert_eq!(post("198.51.100.1".into(), PASSWORD).await, 303);
    for i in 0..6 {
        assert_eq!(post(format!("203.0.113.{i}"), "guess").await, 401);
    }
    assert_eq!(
        post("203.0.113.200".into(), "guess").await,
        429,
        "a new address is slowed"
    );
    assert_eq!(
        post("198.51.100.1".into(), PASSWORD).await,
        303,
        "the owner's address is not"
    );
}

#[tokio::test]
async fn forms_without_a_valid_csrf_token_are_rejected() {
    let app = spawn_app().await;
    let admin = app.create_user("admin", None, &[]).await;
    let c = client();
    let _ = app.get(&c, "/login").await;
    let no_token = c
        .post(app.url("/login"))
        .form(&[("email", admin.email.as_str()), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(no_token.status().as_u16(), 403);
    let wrong = c
        .post(app.url("/login"))
        .form(&[
            ("email", admin.email.as_str()),
            ("password", PASSWORD),
            ("csrf_token", "forged"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status().as_u16(), 403);
    assert!(wrong
        .text()
        .await
        .unwrap()
        .contains("Phiên biểu mẫu đã hết hạn"));

    let signed = app.signed_in(&admin).await;
    let token = app.csrf(&signed, "/account/tokens").await;
    let cross_site = signed
        .post(app.url("/account/tokens"))
        .header("origin", "https://evil.example")
        .form(&[("name", "x"), ("csrf_token", &token)])
        .send()
        .await
        .unwrap();
    assert_eq!(cross_site.status().as_u16(), 403);
    let missing = signed
        .post(app.url("/account/tokens"))
        .form(&[("name", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status().as_u16(), 403);
    // A token from the anonymous login page is not valid for the signed-in session.
    let anon_token = app.csrf(&client(), "/login").await;
    let other = signed
        .post(app.url("/account/tokens"))
        .form(&[("name", "x"), ("csrf_token", anon_token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(other.status().as_u16(), 403);
    assert_eq!(app.count("api_tokens").await, 0, "nothing was created");
    let ok = app
        .post_form(
            &signed,
            "/account/tokens",
            "/account/tokens",
            &[("name", "x")],
        )
        .await;
    assert_eq!(ok.status().as_u16(), 200);
    assert_eq!(app.count("api_tokens").await, 1);
}

#[tokio::test]
async fn logout_ends_the_session_on_the_server() {
    let app = spawn_app().await;
    let user = app.create_user("staff", None, &[]).await;
    let other_device = app.signed_in(&user).await;
    let c = client();
    let login = app.login(&c, &user.email, &user.password).await;
    let cookie = set_cookie(&login, "hio_session")
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let replay = || async {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
            .get(app.url("/account"))
            .header("cookie", cookie.clone())
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!(replay().await, 200);
    let out = app.post_form(&c, "/account", "/logout", &[]).await;
    assert_eq!(out.status().as_u16(), 303);
    assert_eq!(
        replay().await,
        303,
        "a copied cookie of a logged-out session is dead"
    );
    assert_eq!(
        app.status(&other_device, "/account").await,
        200,
        "other sessions live on"
    );
}

#[tokio::test]
async fn idle_and_absolute_expiry_end_sessions() {
    let app = spawn_app().await;
    let user = app.create_user("staff", None, &[]).await;
    let c = app.signed_in(&user).await;
    assert_eq!(app.status(&c, "/account").await, 200);
    session::Entity::update_many()
        .col_expr(
            session::Column::LastSeenAt,
            Expr::value(Utc::now() - Duration::minutes(121)),
        )
        .exec(&app.db.conn)
        .await
        .unwrap();
    let r = app.get(&c, "/account").await;
    assert_eq!(r.status().as_u16(), 303);
    assert_eq!(r.headers()["location"], "/login?next=%2Faccount");

    let c = app.signed_in(&user).await;
    session::Entity::update_many()
        .col_expr(
            session::Column::ExpiresAt,
            Expr::value(Utc::now() - Duration::seconds(1)),
        )
        .exec(&app.db.conn)
        .await
        .unwrap();
    assert_eq!(app.status(&c, "/account").await, 303);
}

#[tokio::test]
async fn changing_the_password_ends_other_sessions() {
    let app = spawn_app().await;
    let user = app.create_user("liaison", None, &[]).await;
    let first = app.signed_in(&user).await;
    let second = app.signed_in(&user).await;
    let bad = app
        .post_form(
            &first,
            "/account/password",
            "/account/password",
            &[
                ("current_password", "wrong"),
                ("new_password", "short"),
                ("confirm_password", "short"),
            ],
        )
        .await;
    assert_eq!(bad.status().as_u16(), 422);
    let body = bad.text().await.unwrap();
    assert!(
        body.contains("Mật khẩu hiện tại không đúng") && body.contains("ít nhất 10"),
        "errors beside fields"
    );
    let new = "một mật khẩu mới rất dài";
    let ok = app
        .post_form(
            &first,
            "/account/password",
            "/account/password",
            &[
                ("current_password", PASSWORD),
                ("new_password", new),
                ("confirm_password", new),
            ],
        )
        .await;
    assert_eq!(ok.status().as_u16(), 303);
    assert_eq!(app.status(&first, "/account").await, 200);
    assert_eq!(app.status(&second, "/account").await, 303);
    assert_eq!(
        app.login(&client(), &user.email, PASSWORD)
            .await
            .status()
            .as_u16(),
        401
    );
    assert_eq!(
        app.login(&client(), &user.email, new)
            .await
            .status()
            .as_u16(),
        303
    );
}

#[tokio::test]
async fn language_switch_is_remembered_per_user() {
    let app = spawn_app().await;
    let user = app.create_user("staff", None, &[]).await;
    let c = app.signed_in(&user).await;
    let r = app
        .post_form(
            &c,
            "/account",
            "/language",
            &[("lang", "en"), ("next", "/account")],
        )
        .await;
    assert_eq!(r.status().as_u16(), 303);
    let (_, page) = app.get_text(&c, "/account").await;
    assert!(page.contains("My account") && page.contains("<html lang=\"en\">"));
    // A new session (another device, no language cookie) is in English too.
    let other = app.signed_in(&user).await;
    let (_, page) = app.get_text(&other, "/account").await;
    assert!(page.contains("My account"));
    // Signed-out visitors switch with a cookie.
    let anon = client();
    let r = app
        .post_form(
            &anon,
            "/login",
            "/language",
            &[("lang", "en"), ("next", "/login")],
        )
        .await;
    assert_eq!(r.status().as_u16(), 303);
    let (_, page) = app.get_text(&anon, "/login").await;
    assert!(page.contains("Log in"));
}

#[tokio::test]
async fn a_deactivated_user_is_signed_out_and_cannot_log_in() {
    let app = spawn_app().await;
    let admin = app.create_user("admin", None, &[]).await;
    let staff = app.create_user("staff", None, &[]).await;
    let staff_client = app.signed_in(&staff).await;
    let admin_client = app.signed_in(&admin).await;
    let path = format!("/admin/users/{}", staff.id);
    let r = app
        .post_form(
            &admin_client,
            &path,
            &path,
            &[
                ("email", staff.email.as_str()),
                ("display_name", "Cán bộ"),
                ("role", "staff"),
                ("language", "vi"),
            ],
        )
        .await;
    assert_eq!(r.status().as_u16(), 303, "saved without the active box");
    assert_eq!(app.status(&staff_client, "/account").await, 303);
    assert_eq!(
        app.login(&client(), &staff.email, PASSWORD)
            .await
            .status()
            .as_u16(),
        401
    );
}

#[tokio::test]
async fn a_known_address_is_not_locked_by_others_failures() {
    // A school's shared address: the owner logged in from it before; then someone there
    // sprays wrong passwords at other accounts.
    let app = spawn_app_with(|s| s.login_failures_per_ip = 5).await;
    let user = app.create_user("liaison", None, &[]).await;
    let nat = "100.64.0.1";
    assert_eq!(
        app.login_from(&client(), &user.email, PASSWORD, nat)
            .await
            .status()
            .as_u16(),
        303
    );
    for i in 0..6 {
        let r = app
            .login_from(&client(), &format!("other{i}@example.vn"), "guess", nat)
            .await;
        assert!(matches!(r.status().as_u16(), 401 | 429));
    }
    let stranger = app.create_user("staff", None, &[]).await;
    assert_eq!(
        app.login_from(&client(), &stranger.email, PASSWORD, nat)
            .await
            .status()
            .as_u16(),
        429,
        "an account never used from there waits"
    );
    assert_eq!(
        app.login_from(&client(), &user.email, PASSWORD, nat)
            .await
            .status()
            .as_u16(),
        303,
        "the owner does not"
    );
}

#[tokio::test]
async fn a_burst_of_parallel_guesses_is_counted_in_full() {
    let app = spawn_app().await;
    let user = app.create_user("staff", None, &[]).await;
    let tries = (0..12).map(|_| {
        let app = &app;
        let email = user.email.clone();
        async move {
            app.login_from(&client(), &email, "guess", "203.0.113.77")
                .await
                .status()
                .as_u16()
        }
    });
    let statuses = futures_util::future::join_all(tries).await;
    let evaluated = statuses.iter().filter(|s| **s == 401).count();
    let refused = statuses.iter().filter(|s| **s == 429).count();
    assert!(evaluated <= 5, "{statuses:?}");
    assert_eq!(evaluated + refused, 12, "{statuses:?}");
}

#[tokio::test]
async fn only_the_last_forwarded_address_counts() {
    // The client writes what it likes at the front of X-Forwarded-For; the proxy appends the
    // real address last.
    let app = spawn_app().await;
    let user = app.create_user("staff", None, &[]).await;
    for i in 0..5 {
        let c = client();
        let token = app.csrf(&c, "/login").await;
        let r = c
            .post(app.url("/login"))
            .header("x-forwarded-for", format!("10.9.9.{i}, 203.0.113.5"))
            .form(&[
                ("email", user.email.as_str()),
                ("password", "guess"),
                ("csrf_token", &token),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 401);
    }
    let r = app
        .login_from(&client(), &user.email, "guess", "198.18.0.1, 203.0.113.5")
        .await;
    assert_eq!(r.status().as_u16(), 429);
}

#[tokio::test]
async fn guessing_the_current_password_is_throttled() {
    let app = spawn_app().await;
    let user = app.create_user("staff", None, &[]).await;
    let c = app.signed_in(&user).await;
    let fields = [
        ("current_password", "guess"),
        ("new_password", "một mật khẩu mới dài"),
        ("confirm_password", "một mật khẩu mới dài"),
    ];
    for _ in 0..5 {
        let r = app
            .post_form(&c, "/account/password", "/account/password", &fields)
            .await;
        assert_eq!(r.status().as_u16(), 422);
    }
    let r = app
        .post_form(&c, "/account/password", "/account/password", &fields)
        .await;
    assert_eq!(r.status().as_u16(), 429);
    assert!(r.headers().contains_key("retry-after"));
}

#[tokio::test]
async fn redirects_after_login_stay_on_the_site() {
    let app = spawn_app().await;
    let user = app.create_user("staff", None, &[]).await;
    let c = app.signed_in(&user).await;
    for next in [
        "/%09/evil.example/",
        "//evil.example",
        "/%5Cevil.example",
        "https://evil.example",
    ] {
        let r = app.get(&c, &format!("/login?next={next}")).await;
        assert_eq!(r.status().as_u16(), 303);
        assert_eq!(r.headers()["location"], "/", "next={next}");
    }
    let r = app.get(&c, "/login?next=%2Fschools%3Fpage%3D2").await;
    assert_eq!(r.headers()["location"], "/schools?page=2");
}

#[tokio::test]
async fn concurrent_writes_and_logins_do_not_fail() {
    // SQLite: transactions that read then write, mixed with plain writes (login attempts,
    // session touches) from other requests, must wait for the lock, not fail.
    let app = spawn_app().await;
    let admin = app.create_user("admin", None, &[]).await;
    let t = app.token_for(&admin).await;
    let id = app
        .create_school("LOCK-1", "Trường THCS Nguyễn Du", "01")
        .await;
    let writers = (0..4).map(|w| {
        let app = &app;
        let t = t.clone();
        async move {
            let mut failures = Vec::new();
            for n in 0..15 {
                let body = serde_json::json!({"code": "LOCK-1", "name": "Trường THCS Nguyễn Du", "level": "lower_secondary", "province_code": "01", "enrolled_students": w * 100 + n});
                let r = app.api(&t, reqwest::Method::PUT, &format!("/api/v1/schools/{id}")).json(&body).send().await.unwrap();
                if r.status().as_u16() != 200 {
                    failures.push(r.status().as_u16());
                }
            }
            failures
        }
    });
    let logins = (0..10).map(|i| {
        let app = &app;
        async move {
            app.login_from(
                &client(),
                &format!("x{i}@example.vn"),
                "guess",
                &format!("192.0.2.{i}"),
            )
            .await
            .status()
            .as_u16()
        }
    });
    let (failures, login_statuses) = tokio::join!(
        futures_util::future::join_all(writers),
        futures_util::future::join_all(logins)
    );
    assert!(failures.iter().all(Vec::is_empty), "{failures:?}");
    assert!(
        login_statuses.iter().all(|s| *s == 401),
        "{login_statuses:?}"
    );
    assert!(app.count("audit_log").await >= 60, "every update audited");
}
