//! A real headless Chromium, driven through ChromeDriver: login, a page per role, logout, at
//! a 360 px phone width. Needs Debian's `chromium` and `chromium-driver` (`.ci/run` installs
//! them); without them the test says so and passes, unless REQUIRE_BROWSER_TEST=1.
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{ClientBuilder, Locator};
use serde_json::json;

use crate::helpers::{spawn_app, TestApp, User};

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";

struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn start_driver() -> Option<(Driver, String)> {
    if !std::path::Path::new(CHROMEDRIVER).exists() || !std::path::Path::new(CHROMIUM).exists() {
        if std::env::var("REQUIRE_BROWSER_TEST").as_deref() == Ok("1") {
            panic!("REQUIRE_BROWSER_TEST=1 but {CHROMEDRIVER} or {CHROMIUM} is missing");
        }
        eprintln!("browser test skipped: install chromium and chromium-driver to run it");
        return None;
    }
    let port = free_port();
    let child = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromedriver");
    let driver = Driver(child);
    let url = format!("http://127.0.0.1:{port}");
    for _ in 0..100 {
        if reqwest::get(format!("{url}/status")).await.is_ok() {
            return Some((driver, url));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("chromedriver did not start");
}

async fn session(driver_url: &str, profile: &std::path::Path) -> fantoccini::Client {
    let caps = json!({
        "browserName": "chrome",
        "goog:chromeOptions": {
            "binary": CHROMIUM,
            // Headless windows are at least 500 px wide; emulate the phone's viewport instead.
            "mobileEmulation": {"deviceMetrics": {"width": 360, "height": 740, "pixelRatio": 2.0}},
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-quic", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--window-size=360,800",
                format!("--user-data-dir={}", profile.display()),
            ]
        }
    });
    let caps = caps.as_object().unwrap().clone().into_iter().collect();
    ClientBuilder::rustls()
        .expect("tls")
        .capabilities(caps)
        .connect(driver_url)
        .await
        .expect("webdriver session")
}

async fn click(browser: &fantoccini::Client, css: &str) {
    browser
        .find(Locator::Css(css))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

async fn wait_for_path(browser: &fantoccini::Client, app: &TestApp, path: &str) {
    let url = url::Url::parse(&app.url(path)).unwrap();
    browser.wait().for_url(url).await.unwrap();
}

async fn login(browser: &fantoccini::Client, app: &TestApp, user: &User) {
    browser.goto(&app.url("/login")).await.unwrap();
    browser
        .find(Locator::Id("f-email"))
        .await
        .unwrap()
        .send_keys(&user.email)
        .await
        .unwrap();
    browser
        .find(Locator::Id("f-password"))
        .await
        .unwrap()
        .send_keys(&user.password)
        .await
        .unwrap();
    click(browser, "form[action='/login'] button[type=submit]").await;
    wait_for_path(browser, app, "/").await;
}

async fn text(browser: &fantoccini::Client) -> String {
    browser
        .find(Locator::Css("main"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

async fn logout(browser: &fantoccini::Client, app: &TestApp) {
    // On a phone the menu is folded: open it (JavaScript, allowed by the CSP), then log out.
    let nav = browser.find(Locator::Id("nav")).await.unwrap();
    assert!(!nav.is_displayed().await.unwrap(), "menu folded at 360 px");
    click(browser, "[data-nav-toggle]").await;
    assert!(nav.is_displayed().await.unwrap(), "menu opens");
    click(browser, "form[action='/logout'] button").await;
    wait_for_path(browser, app, "/login").await;
}

#[tokio::test]
async fn chromium_logs_in_and_sees_a_page_per_role() {
    let Some((_driver, driver_url)) = start_driver().await else {
        return;
    };
    let app = spawn_app().await;
    app.create_school("HN-T1", "Trường THPT Trần Phú", "01")
        .await;
    app.create_school("HCM-T2", "Trường THPT Gia Định", "79")
        .await;
    let admin = app.create_user("admin", None, &[]).await;
    let staff = app.create_user("staff", Some("79"), &[]).await;
    let liaison = app.create_user("liaison", None, &["HN-T1"]).await;
    let profile = tempfile::tempdir().unwrap();
    let browser = session(&driver_url, profile.path()).await;

    // The stylesheet and script load under the CSP, and the page fits a 360 px phone.
    browser.goto(&app.url("/login")).await.unwrap();
    let bg = browser
        .execute(
            "return getComputedStyle(document.querySelector('.top')).backgroundColor",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(bg, json!("rgb(11, 95, 165)"));

    login(&browser, &app, &admin).await;
    assert!(text(&browser).await.contains("Xin chào"));
    let width = browser
        .execute("return document.documentElement.scrollWidth", vec![])
        .await
        .unwrap();
    assert!(
        width.as_u64().unwrap() <= 360,
        "no sideways scrolling: {width}"
    );
    browser.goto(&app.url("/admin/users")).await.unwrap();
    let page = text(&browser).await;
    assert!(
        page.contains(&liaison.email) && page.contains(&staff.email),
        "{page}"
    );
    logout(&browser, &app).await;

    login(&browser, &app, &staff).await;
    browser.goto(&app.url("/schools")).await.unwrap();
    let page = text(&browser).await;
    assert!(
        page.contains("Gia Định") && !page.contains("Trần Phú"),
        "{page}"
    );
    logout(&browser, &app).await;

    login(&browser, &app, &liaison).await;
    browser.goto(&app.url("/schools")).await.unwrap();
    let page = text(&browser).await;
    assert!(
        page.contains("Trần Phú") && !page.contains("Gia Định"),
        "{page}"
    );
    // Switch to English from the page header.
    click(&browser, "form.lang-switch button").await;
    browser
        .wait()
        .for_element(Locator::Css("html[lang=en]"))
        .await
        .unwrap();
    assert!(text(&browser).await.contains("Schools"));
    logout(&browser, &app).await;

    // The API docs UI, served by the binary, runs under the same CSP.
    browser.goto(&app.url("/api/v1/docs/")).await.unwrap();
    let title = browser
        .wait()
        .for_element(Locator::Css(".info .title"))
        .await
        .unwrap();
    assert!(title.text().await.unwrap().contains("hi-outreach API"));

    browser.close().await.unwrap();
}

#[tokio::test]
async fn a_liaison_logs_a_session_from_a_phone() {
    use hi_outreach::auth::actor::Actor;
    use hi_outreach::campaigns::service::{self as campaigns, CampaignDraft};
    use hi_outreach::consultations::service::{self as sessions, SessionDraft};

    let Some((_driver, driver_url)) = start_driver().await else {
        return;
    };
    let app = spawn_app().await;
    let school = app
        .create_school("HN-T9", "Trường THCS Trưng Vương", "01")
        .await;
    let liaison = app.create_user("liaison", None, &["HN-T9"]).await;
    let tz = chrono_tz::Asia::Ho_Chi_Minh;
    let c = campaigns::create_campaign(
        &app.db,
        &Actor::cli(),
        &CampaignDraft {
            name: "BHYT HSSV 2025-2026".into(),
            school_year: "2025-2026".into(),
            starts_on: "2025-09-01".into(),
            ends_on: "2026-06-30".into(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let yesterday = (chrono::Utc::now() - chrono::Duration::days(1))
        .with_timezone(&tz)
        .date_naive()
        .to_string();
    let s = sessions::create_session(
        &app.db,
        &Actor::cli(),
        &SessionDraft {
            campaign_id: Some(c.id.to_string()),
            school_id: Some(school.to_string()),
            date: yesterday,
            start_time: "08:00".into(),
            end_time: "09:30".into(),
            liaison_ids: vec![liaison.id.to_string()],
            ..Default::default()
        },
        tz,
    )
    .await
    .unwrap();

    let profile = tempfile::tempdir().unwrap();
    let browser = session(&driver_url, profile.path()).await;
    login(&browser, &app, &liaison).await;
    browser
        .goto(&app.url(&format!("/sessions/{}/log", s.id)))
        .await
        .unwrap();
    let width = browser
        .execute("return document.documentElement.scrollWidth", vec![])
        .await
        .unwrap();
    assert!(width.as_u64().unwrap() <= 360, "log form fits: {width}");
    click(&browser, "input[name=status][value=held]").await;
    for (id, value) in [
        ("f-attendance_students", "215"),
        ("f-attendance_parents", "38"),
        ("f-registered_on_spot", "9"),
    ] {
        let field = browser.find(Locator::Id(id)).await.unwrap();
        field.clear().await.unwrap();
        field.send_keys(value).await.unwrap();
    }
    click(&browser, "select[name=q_topic] option[value=premium]").await;
    browser
        .find(Locator::Css("textarea[name=q_text]"))
        .await
        .unwrap()
        .send_keys("Học sinh lớp 10 đóng bao nhiêu?")
        .await
        .unwrap();
    browser
        .find(Locator::Css("textarea[name=q_answer]"))
        .await
        .unwrap()
        .send_keys("884.520 đồng một năm")
        .await
        .unwrap();
    click(&browser, "form.log-form button[type=submit]").await;
    browser
        .wait()
        .for_element(Locator::Css("p.notice"))
        .await
        .unwrap();
    let page = text(&browser).await;
    assert!(
        page.contains("Học sinh lớp 10 đóng bao nhiêu?") && page.contains("215 học sinh"),
        "{page}"
    );
    let logged = sessions::get_session(&app.db, &Actor::cli(), s.id, tz)
        .await
        .unwrap();
    assert_eq!(logged.attendance_students, 215);
    assert_eq!(logged.registered_on_spot, 9);
    assert_eq!(logged.questions.len(), 1);
    assert_eq!(logged.questions[0].topic, "premium");
    browser.close().await.unwrap();
}
