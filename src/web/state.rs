//! What every handler can reach: the database, settings, templates and translations.
use std::sync::Arc;

use actix_web::http::header;
use actix_web::HttpResponse;
use handlebars::Handlebars;
use serde_json::Value;

use super::context::RequestCtx;
use super::i18n::I18n;
use super::render;
use crate::config::{SecretKey, Settings};
use crate::db::Db;
use crate::error::{AppResult, FieldErrors, Msg};

#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub settings: Arc<Settings>,
    pub hbs: Arc<Handlebars<'static>>,
    pub i18n: Arc<I18n>,
    pub metrics: Arc<crate::delivery::metrics::Metrics>,
    /// Coverage dashboards' and the home page's figures, kept a short while (see
    /// `web::figures`).
    pub coverage: Arc<crate::web::figures::FigureCache<crate::enrollment::coverage::CoverageView>>,
    pub overview: Arc<crate::web::figures::FigureCache<crate::org::service::Overview>>,
    secret: SecretKey,
    /// The base URL without a trailing slash, for links in messages.
    base: String,
}

impl AppState {
    pub fn new(db: Db, settings: Settings, secret: SecretKey) -> anyhow::Result<Self> {
        let i18n = Arc::new(I18n::load()?);
        let hbs = Arc::new(render::registry(i18n.clone(), settings.timezone)?);
        Ok(Self {
            db,
            base: settings.base(),
            settings: Arc::new(settings),
            hbs,
            i18n,
            metrics: Arc::new(Default::default()),
            coverage: Arc::default(),
            overview: Arc::default(),
            secret,
        })
    }

    /// Coverage for this actor's scope and query (see `enrollment::coverage`), kept a while.
    pub async fn coverage_of(
        &self,
        actor: &crate::auth::actor::Actor,
        q: &crate::enrollment::coverage::CoverageQuery,
    ) -> crate::error::AppResult<crate::enrollment::coverage::CoverageView> {
        let tz = self.tz();
        // Today is part of the key: the default day moves at midnight.
        let today = chrono::Utc::now().with_timezone(&tz).date_naive();
        let key = format!("{:?}|{q:?}|{tz}|{today}", actor.scope());
        // Computed in the background too: not on the connection this request holds.
        let (db, actor, q) = (self.db.pooled(), actor.clone(), q.clone());
        self.coverage
            .get_or(&self.db, key, move || {
                let (db, actor, q) = (db.clone(), actor.clone(), q.clone());
                async move { crate::enrollment::coverage::coverage(&db, &actor, &q, tz).await }
            })
            .await
    }

    pub fn secret(&self) -> &[u8] {
        self.secret.expose()
    }

    /// Renders parent messages with this instance's links and secret.
    pub fn composer(&self) -> crate::delivery::compose::Composer<'_> {
        crate::delivery::compose::Composer {
            i18n: &self.i18n,
            base_url: &self.base,
            secret: self.secret.expose(),
            track_opens: self.settings.track_opens,
        }
    }

    pub fn tz(&self) -> chrono_tz::Tz {
        self.settings.timezone
    }

    /// The session cookie's name: `__Host-` prefixed (Secure, whole site, no Domain) on HTTPS.
    pub fn session_cookie(&self) -> &'static str {
        if self.settings.is_https() {
            "__Host-hio_session"
        } else {
            "hio_session"
        }
    }

    /// The cookie that anchors CSRF tokens before login.
    pub fn csrf_cookie(&self) -> &'static str {
        if self.settings.is_https() {
            "__Host-hio_csrf"
        } else {
            "hio_csrf"
        }
    }

    /// Renders a page with the shared context.
    pub fn page(&self, ctx: &RequestCtx, template: &str, data: Value) -> AppResult<HttpResponse> {
        Ok(render::html(render::render(
            &self.hbs, ctx, template, data,
        )?))
    }

    /// Renders a form page again with the field errors beside their fields (status 422).
    pub fn form_errors(
        &self,
        ctx: &RequestCtx,
        template: &str,
        mut data: Value,
        errors: &FieldErrors,
    ) -> AppResult<HttpResponse> {
        if let Value::Object(m) = &mut data {
            m.insert(
                "errors".into(),
                render::field_errors(&self.i18n, ctx.lang, errors),
            );
        }
        let body = render::render(&self.hbs, ctx, template, data)?;
        Ok(HttpResponse::UnprocessableEntity()
            .insert_header((header::CONTENT_TYPE, "text/html; charset=utf-8"))
            .body(body))
    }

    pub fn t(&self, ctx: &RequestCtx, msg: &Msg) -> String {
        self.i18n.msg(ctx.lang, msg)
    }
}
