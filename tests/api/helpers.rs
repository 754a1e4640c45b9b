use std::sync::atomic::{AtomicUsize, Ordering};

use hi_outreach::auth::actor::Actor;
use hi_outreach::auth::{tokens, users};
use hi_outreach::config::{DatabaseUrl, SecretKey, Settings};
use hi_outreach::db::{self, Db};
use hi_outreach::fields::NewPassword;
use hi_outreach::org::service::{self as org, SchoolDraft};
use hi_outreach::Application;
use reqwest::redirect::Policy;
use reqwest::{Client, Response};
use sea_orm::{ConnectionTrait, Database, Statement};

pub const PASSWORD: &str = "mật-khẩu-đủ-dài-2025";

pub struct TestApp {
    pub address: String,
    pub db: Db,
    /// A browser-like client: cookies kept, redirects not followed.
    pub client: Client,
    /// The application's shared state (for a delivery worker driven by the test).
    pub state: actix_web::web::Data<hi_outreach::web::state::AppState>,
    /// Where the file channel writes.
    pub outbox: tempfile::TempDir,
    _dir: Option<tempfile::TempDir>,
    /// The PostgreSQL database to drop when the test ends.
    pg_database: Option<String>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        let (Some(name), Ok(base)) = (self.pg_database.take(), std::env::var("TEST_DATABASE_URL"))
        else {
            return;
        };
        // The test's runtime is busy dropping us: use a thread with its own small runtime.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            rt.block_on(async move {
                let admin = Database::connect(base.as_str()).await.ok()?;
                let sql = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
                admin
                    .execute(Statement::from_string(admin.get_database_backend(), sql))
                    .await
                    .ok()?;
                admin.close().await.ok()
            })
        })
        .join();
    }
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

pub fn client() -> Client {
    Client::builder()
        .cookie_store(true)
        .redirect(Policy::none())
        .build()
        .expect("client")
}

/// A fresh database: a SQLite file in a temporary folder, or a new PostgreSQL database on the
/// server named by TEST_DATABASE_URL.
pub async fn fresh_database() -> (DatabaseUrl, Option<tempfile::TempDir>, Option<String>) {
    match std::env::var("TEST_DATABASE_URL") {
        Ok(base) if !base.trim().is_empty() => {
            let name = format!(
                "hio_test_{}_{}",
                uuid::Uuid::new_v4().simple(),
                COUNTER.fetch_add(1, Ordering::Relaxed)
            );
            let admin = Database::connect(base.as_str())
                .await
                .expect("connect to TEST_DATABASE_URL");
            admin
                .execute(Statement::from_string(
                    admin.get_database_backend(),
                    format!("CREATE DATABASE \"{name}\""),
                ))
                .await
                .expect("create test database");
            admin.close().await.ok();
            let mut url = url::Url::parse(&base).expect("TEST_DATABASE_URL is a URL");
            url.set_path(&format!("/{name}"));
            (
                DatabaseUrl::parse(url.as_str()).expect("valid"),
                None,
                Some(name),
            )
        }
        _ => {
            let dir = tempfile::tempdir().expect("temp dir");
            let path = dir.path().join("test.db");
            let url = format!("sqlite://{}", path.display());
            (DatabaseUrl::parse(&url).expect("valid"), Some(dir), None)
        }
    }
}

pub fn test_settings(url: DatabaseUrl) -> Settings {
    Settings {
        database_url: url,
        database_max_connections: 5,
        bind: "127.0.0.1:0".parse().expect("addr"),
        base_url: url::Url::parse("http://127.0.0.1:0").expect("url"),
        secret_key: Some(
            SecretKey::parse("test-secret-key-that-is-long-enough-0123456789").expect("key"),
        ),
        trust_forwarded_for: true,
        http_workers: 1,
        shutdown_timeout_secs: 1,
        // Tests drive the delivery worker and the scheduler themselves, one round at a time.
        worker_enabled: false,
        scheduler_enabled: false,
        ..Settings::default()
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

pub async fn spawn_app_with(customise: impl FnOnce(&mut Settings)) -> TestApp {
    hi_outreach::install_crypto_provider();
    let (url, dir, pg_database) = fresh_database().await;
    let mut settings = test_settings(url);
    let outbox = tempfile::tempdir().expect("temp dir");
    settings.outbox_dir = outbox.path().display().to_string();
    customise(&mut settings);
    let db = db::connect(&settings.database_url, settings.database_max_connections)
        .await
        .expect("connect");
    db::migrate(&db).await.expect("migrate");
    let app = Application::build(settings.clone(), db.clone())
        .await
        .expect("build");
    let port = app.port();
    let state = app.state();
    // The server runs until the test's runtime ends.
    drop(tokio::spawn(app.run_until_stopped()));
    TestApp {
        address: format!("http://127.0.0.1:{port}"),
        db,
        client: client(),
        state,
        outbox,
        _dir: dir,
        pg_database,
    }
}

/// The value of the first `name="csrf_token"` field in a page.
pub fn csrf_in(html: &str) -> String {
    let marker = "name=\"csrf_token\" value=\"";
    let start = html.find(marker).expect("page has a CSRF field") + marker.len();
    let end = html[start..].find('"').expect("closing quote") + start;
    html[start..end].to_string()
}

pub struct User {
    pub id: i64,
    pub email: String,
    pub password: String,
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    pub async fn get(&self, client: &Client, path: &str) -> Response {
        client.get(self.url(path)).send().await.expect("request")
    }

    pub async fn get_text(&self, client: &Client, path: &str) -> (u16, String) {
        let r = self.get(client, path).await;
        let status = r.status().as_u16();
        (status, r.text().await.expect("body"))
    }

    /// The CSRF token of a page the client can see (the login page when signed out).
    pub async fn csrf(&self, client: &Client, page: &str) -> String {
        let (_, body) = self.get_text(client, page).await;
        csrf_in(&body)
    }

    /// Posts a form with a fresh CSRF token taken from `page`.
    pub async fn post_form(
        &self,
        client: &Client,
        page: &str,
        path: &str,
        fields: &[(&str, &str)],
    ) -> Response {
        let token = self.csrf(client, page).await;
        let mut form: Vec<(&str, &str)> = fields.to_vec();
        form.push(("csrf_token", &token));
        client
            .post(self.url(path))
            .form(&form)
            .send()
            .await
            .expect("request")
    }

    /// A login posted as if from the client address `ip` (the test app trusts X-Forwarded-For).
    pub async fn login_from(
        &self,
        client: &Client,
        email: &str,
        password: &str,
        ip: &str,
    ) -> Response {
        let token = self.csrf(client, "/login").await;
        client
            .post(self.url("/login"))
            .header("x-forwarded-for", ip)
            .form(&[
                ("email", email),
                ("password", password),
                ("csrf_token", &token),
            ])
            .send()
            .await
            .expect("request")
    }

    pub async fn login(&self, client: &Client, email: &str, password: &str) -> Response {
        self.post_form(
            client,
            "/login",
            "/login",
            &[("email", email), ("password", password)],
        )
        .await
    }

    /// A new client already signed in as `user`.
    pub async fn signed_in(&self, user: &User) -> Client {
        let c = client();
        let r = self.login(&c, &user.email, &user.password).await;
        assert_eq!(r.status().as_u16(), 303, "login of {} failed", user.email);
        c
    }

    pub async fn create_user(&self, role: &str, province: Option<&str>, schools: &[&str]) -> User {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let email = format!("{role}{n}@example.vn");
        let draft = users::UserDraft {
            email: email.clone(),
            display_name: format!("Người dùng {role} {n}"),
            role: role.into(),
            province_code: province.map(str::to_string),
            school_codes: schools.iter().map(|s| s.to_string()).collect(),
            language: Some("vi".into()),
            active: true,
        };
        let input = users::validate(&self.db.conn, &draft)
            .await
            .expect("valid user");
        let created = users::create(
            &self.db,
            &Actor::cli(),
            input,
            NewPassword::parse(PASSWORD).expect("pw"),
        )
        .await
        .expect("create user");
        User {
            id: created.id,
            email,
            password: PASSWORD.into(),
        }
    }

    pub async fn token_for(&self, user: &User) -> String {
        tokens::create(&self.db, &Actor::cli(), user.id, "test")
            .await
            .expect("token")
            .0
    }

    pub async fn create_school(&self, code: &str, name: &str, province: &str) -> i64 {
        let draft = SchoolDraft {
            code: code.into(),
            name: name.into(),
            level: "upper_secondary".into(),
            province_code: province.into(),
            commune_code: None,
            enrolled_students: Some(1000),
            address: None,
        };
        org::create_school(&self.db, &Actor::cli(), &draft)
            .await
            .expect("create school")
            .id
    }

    pub fn api(&self, token: &str, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        reqwest::Client::new()
            .request(method, self.url(path))
            .bearer_auth(token)
    }

    /// The JSON answer of a body-less API call.
    pub async fn api_json(
        &self,
        token: &str,
        method: reqwest::Method,
        path: &str,
    ) -> serde_json::Value {
        self.api(token, method, path)
            .send()
            .await
            .expect("request")
            .json()
            .await
            .expect("JSON body")
    }

    /// The status of a body-less API call.
    pub async fn api_status(&self, token: &str, method: reqwest::Method, path: &str) -> u16 {
        self.api(token, method, path)
            .send()
            .await
            .expect("request")
            .status()
            .as_u16()
    }

    /// The status of a page for a client.
    pub async fn status(&self, client: &Client, path: &str) -> u16 {
        self.get(client, path).await.status().as_u16()
    }

    pub async fn count(&self, table: &str) -> i64 {
        let row = self
            .db
            .conn
            .query_one(Statement::from_string(
                self.db.backend(),
                format!("SELECT COUNT(*) AS n FROM {table}"),
            ))
            .await
            .expect("count")
            .expect("row");
        row.try_get::<i64>("", "n").expect("n")
    }
}

/// A JSON API call with a body: its status and its JSON answer (null when there is none).
pub async fn send(
    app: &TestApp,
    token: &str,
    method: reqwest::Method,
    path: &str,
    body: serde_json::Value,
) -> (u16, serde_json::Value) {
    let r = app
        .api(token, method, path)
        .json(&body)
        .send()
        .await
        .expect("request");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(serde_json::Value::Null))
}

/// Undoes the migration named `name` and every later one.
pub async fn undo_migrations_from(app: &TestApp, name: &str) {
    use migration::{Migrator, MigratorTrait};
    let all = Migrator::migrations();
    let at = all
        .iter()
        .position(|m| m.name() == name)
        .unwrap_or_else(|| panic!("no migration {name}"));
    let undo = u32::try_from(all.len() - at).unwrap();
    Migrator::down(app.db.conn.pool(), Some(undo))
        .await
        .unwrap();
}

/// Undoes the migration named `name` and every later one, then does them all again: what an
/// upgrade over existing data does.
pub async fn redo_migrations_from(app: &TestApp, name: &str) {
    use migration::{Migrator, MigratorTrait};
    undo_migrations_from(app, name).await;
    Migrator::up(app.db.conn.pool(), None).await.unwrap();
}
