//! Pages: the delivery log with its funnel and "retry failures", one message's history, and
//! provider settings for admins.
use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Value};

use super::channels::Kind;
use super::model::Status;
use super::providers::{self, ProviderDraft};
use super::service::{self, MessageFilter};
use crate::contacts::fields::Channel;
use crate::error::{AppError, AppResult, FieldErrors, Msg};
use crate::web::context::RequestCtx;
use crate::web::extract::Query;
use crate::web::paging::{PageParams, PageQuery};
use crate::web::render::see_other;
use crate::web::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/deliveries", web::get().to(list))
        .route("/deliveries/retry", web::post().to(retry))
        .route("/deliveries/funnel.svg", web::get().to(funnel_svg))
        .route("/deliveries/{id}", web::get().to(detail))
        .route("/admin/providers", web::get().to(providers_list))
        .route("/admin/providers/new", web::get().to(provider_new))
        .route("/admin/providers/new", web::post().to(provider_create))
        .route("/admin/providers/{id}", web::get().to(provider_edit))
        .route("/admin/providers/{id}", web::post().to(provider_update));
}

/// The funnel of the filtered messages as an SVG chart.
async fn funnel_svg(
    state: web::Data<AppState>,
    ctx: RequestCtx,
    f: Query<MessageFilter>,
) -> AppResult<HttpResponse> {
    let funnel = service::funnel(&state.db, ctx.actor()?, &f).await?;
    let t = |k: &'static str| state.t(&ctx, &crate::error::Msg::new(k));
    let stages = vec![
        (t("funnel-total"), funnel.total),
        (t("status-sent"), funnel.sent),
        (t("status-delivered"), funnel.delivered),
        (t("funnel-opened"), funnel.opened),
        (t("funnel-clicked"), funnel.clicked),
        (t("status-dead"), funnel.dead),
    ];
    let svg = crate::enrollment::charts::funnel(&stages, &t("deliveries-title"))?;
    Ok(HttpResponse::Ok()
        .content_type("image/svg+xml; charset=utf-8")
        .body(svg))
}

async fn list(
    state: web::Data<AppState>,
    ctx: RequestCtx,
    f: Query<MessageFilter>,
    paging: Query<PageQuery>,
) -> AppResult<HttpResponse> {
    let actor = ctx.actor()?;
    let page = service::list(&state.db, actor, &f, PageParams::try_from(&*paging)?).await?;
    let funnel = service::funnel(&state.db, actor, &f).await?;
    state.page(
        &ctx,
        "delivery/list",
        json!({
            "messages": page, "funnel": funnel, "filter": &*f,
            "qs": serde_urlencoded::to_string(&*f).unwrap_or_default(),
            "statuses": Status::ALL.iter().map(|s| s.code()).collect::<Vec<_>>(),
            "channels": Channel::ALL.iter().map(|c| c.code()).collect::<Vec<_>>(),
            "can_retry": actor.require_map_editor().is_ok() && funnel.dead > 0,
        }),
    )
}

async fn retry(
    state: web::Data<AppState>,
    ctx: RequestCtx,
    form: web::Form<MessageFilter>,
) -> AppResult<HttpResponse> {
    let n = service::retry_failures(&state.db, ctx.actor()?, &form).await?;
    let q = serde_urlencoded::to_string(&*form).unwrap_or_default();
    Ok(see_other(&format!(
        "/deliveries?{q}&notice=messages-retried&n={n}"
    )))
}

async fn detail(
    state: web::Data<AppState>,
    ctx: RequestCtx,
    path: web::Path<i64>,
) -> AppResult<HttpResponse> {
    let m = service::get(&state.db, ctx.actor()?, path.into_inner()).await?;
    state.page(&ctx, "delivery/message", json!({"message": m}))
}

async fn providers_list(state: web::Data<AppState>, ctx: RequestCtx) -> AppResult<HttpResponse> {
    let list = providers::list(&state.db, ctx.actor()?, state.tz()).await?;
    state.page(
        &ctx,
        "delivery/providers",
        json!({"providers": list, "outbox_dir": state.settings.outbox_dir}),
    )
}

/// The provider form: settings and credentials as JSON objects in text areas.
#[derive(Debug, Default, Deserialize)]
pub struct ProviderForm {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub channel: String,
    #[serde(default)]
    pub kind: String,
    pub enabled: Option<String>,
    #[serde(default)]
    pub priority: String,
    #[serde(default)]
    pub base_url: String,
    #[serde(default)]
    pub settings: String,
    #[serde(default)]
    pub credentials: String,
    #[serde(default)]
    pub timeout_ms: String,
    #[serde(default)]
    pub rate_per_sec: String,
    #[serde(default)]
    pub daily_quota: String,
    #[serde(default)]
    pub concurrency: String,
}

impl ProviderForm {
    fn draft(&self) -> Result<ProviderDraft, AppError> {
        let mut errors = FieldErrors::new();
        let mut int = |field: &str, raw: &str, default: i64| -> i64 {
            if raw.trim().is_empty() {
                return default;
            }
            match crate::fields::int_in(raw, i64::MIN / 2, i64::MAX / 2) {
                Ok(v) => v,
                Err(m) => {
                    errors.add(field, m);
                    default
                }
            }
        };
        let priority = int("priority", &self.priority, 0);
        let timeout = int("timeout_ms", &self.timeout_ms, 10_000);
        let rate = int("rate_per_sec", &self.rate_per_sec, 50);
        let concurrency = int("concurrency", &self.concurrency, 16);
        let quota =
            (!self.daily_quota.trim().is_empty()).then(|| int("daily_quota", &self.daily_quota, 0));
        let mut json_field = |field: &str, raw: &str| -> Option<Value> {
            if raw.trim().is_empty() {
                return None;
            }
            match serde_json::from_str::<Value>(raw) {
                Ok(v) => Some(v),
                Err(e) => {
                    errors.add(field, Msg::new("error-json").arg("detail", e));
                    None
                }
            }
        };
        let settings = json_field("settings", &self.settings).unwrap_or(Value::Null);
        let credentials = json_field("credentials", &self.credentials);
        errors.into_result()?;
        Ok(ProviderDraft {
            name: self.name.clone(),
            channel: self.channel.clone(),
            kind: self.kind.clone(),
            enabled: self.enabled.is_some(),
            priority: priority as i32,
            base_url: Some(self.base_url.clone()),
            settings,
            credentials,
            timeout_ms: timeout as i32,
            rate_per_sec: rate as i32,
            daily_quota: quota,
            concurrency: concurrency as i32,
        })
    }
}

fn form_data(form: Value) -> Value {
    json!({
        "form": form,
        "channels": Channel::ALL.iter().map(|c| c.code()).collect::<Vec<_>>(),
        "kinds": Kind::ALL.iter().map(|k| k.code()).collect::<Vec<_>>(),
    })
}

async fn provider_new(state: web::Data<AppState>, ctx: RequestCtx) -> AppResult<HttpResponse> {
    ctx.actor()?.require_admin()?;
    let form = json!({"enabled": true, "channel": "sms", "kind": "esms", "timeout_ms": "10000", "rate_per_sec": "50", "concurrency": "16", "settings": "{}"});
    state.page(&ctx, "delivery/provider", form_data(form))
}

fn echo(f: &ProviderForm) -> Value {
    // Credentials are never echoed back, not even a rejected form's.
    json!({"name": f.name, "channel": f.channel, "kind": f.kind, "enabled": f.enabled.is_some(), "priority": f.priority,
        "base_url": f.base_url, "settings": f.settings, "timeout_ms": f.timeout_ms, "rate_per_sec": f.rate_per_sec,
        "daily_quota": f.daily_quota, "concurrency": f.concurrency})
}

async fn provider_create(
    state: web::Data<AppState>,
    ctx: RequestCtx,
    form: web::Form<ProviderForm>,
) -> AppResult<HttpResponse> {
    let actor = ctx.actor()?;
    actor.require_admin()?;
    let result = match form.draft() {
        Ok(d) => providers::create(&state.db, actor, &d, state.tz()).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(p) => Ok(see_other(&format!(
            "/admin/providers/{}?notice=provider-saved",
            p.id
        ))),
        Err(AppError::Invalid(e)) => {
            state.form_errors(&ctx, "delivery/provider", form_data(echo(&form)), &e)
        }
        Err(e) => Err(e),
    }
}

async fn provider_edit(
    state: web::Data<AppState>,
    ctx: RequestCtx,
    path: web::Path<i64>,
) -> AppResult<HttpResponse> {
    let p = providers::get(&state.db, ctx.actor()?, path.into_inner(), state.tz()).await?;
    let form = json!({"name": p.name, "channel": p.channel, "kind": p.kind, "enabled": p.enabled, "priority": p.priority.to_string(),
        "base_url": p.base_url, "settings": serde_json::to_string_pretty(&p.settings).unwrap_or_default(),
        "timeout_ms": p.timeout_ms.to_string(), "rate_per_sec": p.rate_per_sec.to_string(),
        "daily_quota": p.daily_quota.map(|q| q.to_string()).unwrap_or_default(), "concurrency": p.concurrency.to_string()});
    let mut data = form_data(form);
    data["provider"] = json!(p);
    state.page(&ctx, "delivery/provider", data)
}

async fn provider_update(
    state: web::Data<AppState>,
    ctx: RequestCtx,
    path: web::Path<i64>,
    form: web::Form<ProviderForm>,
) -> AppResult<HttpResponse> {
    let actor = ctx.actor()?;
    actor.require_admin()?;
    let id = path.into_inner();
    let result = match form.draft() {
        Ok(d) => providers::update(&state.db, actor, id, &d, state.tz()).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(_) => Ok(see_other(&format!(
            "/admin/providers/{id}?notice=provider-saved"
        ))),
        Err(AppError::Invalid(e)) => {
            let mut data = form_data(echo(&form));
            data["provider"] = json!(providers::get(&state.db, actor, id, state.tz()).await?);
            state.form_errors(&ctx, "delivery/provider", data, &e)
        }
        Err(e) => Err(e),
    }
}
