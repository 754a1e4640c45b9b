//! Pages of audiences: list with live counts, a form with "preview" (count and sample before
//! saving).
use actix_web::{web, HttpResponse};
use serde_json::{json, Value};

use super::audience::{self, AudienceDraft, AudienceView};
use crate::campaigns::service::require_planner;
use crate::contacts::fields::{Channel, HiStatus};
use crate::error::{AppError, AppResult};
use crate::web::context::RequestCtx;
use crate::web::extract::HtmlForm;
use crate::web::render::see_other;
use crate::web::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/audiences", web::get().to(list))
        .route("/audiences/new", web::get().to(new_form))
        .route("/audiences/new", web::post().to(create))
        .route("/audiences/preview", web::post().to(preview_new))
        .route("/audiences/{id}/preview", web::post().to(preview_existing))
        .route("/audiences/{id}", web::get().to(edit_form))
        .route("/audiences/{id}", web::post().to(update));
}

async fn list(state: web::Data<AppState>, ctx: RequestCtx) -> AppResult<HttpResponse> {
    let actor = ctx.actor()?;
    let items: Vec<Value> = audience::list(&state.db, actor)
        .await?
        .into_iter()
        .map(|(a, n)| json!({"a": a, "guardians": n}))
        .collect();
    state.page(
        &ctx,
        "reminders/audiences",
        json!({"audiences": items, "can_plan": require_planner(actor).is_ok()}),
    )
}

async fn form_data(state: &AppState, ctx: &RequestCtx, d: &AudienceDraft) -> AppResult<Value> {
    let channels: Vec<Value> = Channel::ALL
        .iter()
        .map(|c| json!({"code": c.code(), "checked": d.channels.iter().any(|x| x == c.code())}))
        .collect();
    let mut statuses: Vec<&str> = HiStatus::ALL.iter().map(|h| h.code()).collect();
    statuses.push("any");
    Ok(json!({
        "form": d, "channels": channels, "statuses": statuses,
        "provinces": crate::org::service::provinces_in_scope(&state.db, ctx.actor()?).await?,
    }))
}

fn draft_of(a: &AudienceView) -> AudienceDraft {
    AudienceDraft {
        name: a.name.clone(),
        province_code: a
            .province
            .as_ref()
            .map(|p| p.code.clone())
            .unwrap_or_default(),
        commune_code: a
            .commune
            .as_ref()
            .map(|c| c.code.clone())
            .unwrap_or_default(),
        school_code: a
            .school
            .as_ref()
            .map(|s| s.code.clone())
            .unwrap_or_default(),
        grade: a.grade.clone().unwrap_or_default(),
        hi_status: a.hi_status.clone(),
        channels: a.channels.clone(),
        language: a.language.clone().unwrap_or_default(),
    }
}

async fn new_form(state: web::Data<AppState>, ctx: RequestCtx) -> AppResult<HttpResponse> {
    let actor = ctx.actor()?;
    require_planner(actor)?;
    let mut d = AudienceDraft {
        hi_status: "uninsured".into(),
        ..Default::default()
    };
    if let Some(code) = crate::org::service::own_province_code(&state.db, actor).await? {
        d.province_code = code;
    }
    let data = form_data(&state, &ctx, &d).await?;
    state.page(&ctx, "reminders/audience", data)
}

/// Previews, or saves and goes to the list; bad input comes back beside the fields.
async fn submit(
    state: &AppState,
    ctx: &RequestCtx,
    id: Option<i64>,
    d: &AudienceDraft,
    action: &str,
) -> AppResult<HttpResponse> {
    let actor = ctx.actor()?;
    require_planner(actor)?;
    let result = if action == "preview" {
        match audience::validate(&state.db.conn, actor, d, false).await {
            Ok((_, spec)) => {
                let p = audience::preview(&state.db.conn, actor, &spec, 10).await?;
                let mut data = form_data(state, ctx, d).await?;
                data["preview"] = json!(p);
                data["id"] = json!(id);
                return state.page(ctx, "reminders/audience", data);
            }
            Err(e) => Err(e),
        }
    } else {
        audience::save(&state.db, actor, id, d).await.map(|_| ())
    };
    match result {
        Ok(()) => Ok(see_other("/audiences?notice=audience-saved")),
        Err(AppError::Invalid(errors)) => {
            let mut data = form_data(state, ctx, d).await?;
            data["id"] = json!(id);
            state.form_errors(ctx, "reminders/audience", data, &errors)
        }
        Err(e) => Err(e),
    }
}

async fn create(
    state: web::Data<AppState>,
    ctx: RequestCtx,
    form: HtmlForm<AudienceDraft>,
) -> AppResult<HttpResponse> {
    submit(&state, &ctx, None, &form, "save").await
}

async fn preview_new(
    state: web::Data<AppState>,
    ctx: RequestCtx,
    form: HtmlForm<AudienceDraft>,
) -> AppResult<HttpResponse> {
    submit(&state, &ctx, None, &form, "preview").await
}

async fn preview_existing(
    state: web::Data<AppState>,
    ctx: RequestCtx,
    path: web::Path<i64>,
    form: HtmlForm<AudienceDraft>,
) -> AppResult<HttpResponse> {
    submit(&state, &ctx, Some(path.into_inner()), &form, "preview").await
}

async fn edit_form(
    state: web::Data<AppState>,
    ctx: RequestCtx,
    path: web::Path<i64>,
) -> AppResult<HttpResponse> {
    let actor = ctx.actor()?;
    let (a, p) = audience::get(&state.db, actor, path.into_inner()).await?;
    let mut data = form_data(&state, &ctx, &draft_of(&a)).await?;
    data["id"] = json!(a.id);
    data["preview"] = json!(p);
    state.page(&ctx, "reminders/audience", data)
}

async fn update(
    state: web::Data<AppState>,
    ctx: RequestCtx,
    path: web::Path<i64>,
    form: HtmlForm<AudienceDraft>,
) -> AppResult<HttpResponse> {
    submit(&state, &ctx, Some(path.into_inner()), &form, "save").await
}
