//! Pages of media outlets and pieces.
use actix_web::{web, HttpResponse};
use serde_json::{json, Value};

use super::service::{
    self, OutletDraft, OutletKind, OutletView, PieceDraft, PieceFilter, PieceKind, PieceView,
};
use crate::campaigns::service as campaigns;
use crate::error::{AppError, AppResult};
use crate::web::context::RequestCtx;
use crate::web::extract::{HtmlForm, Query};
use crate::web::paging::{PageParams, PageQuery};
use crate::web::render::see_other;
use crate::web::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/media", web::get().to(list))
        .route("/media/new", web::get().to(new_form))
        .route("/media/new", web::post().to(create))
        .route("/media/outlets", web::get().to(outlets))
        .route("/media/outlets/new", web::get().to(outlet_new_form))
        .route("/media/outlets/new", web::post().to(outlet_create))
        .route("/media/outlets/{id}/edit", web::get().to(outlet_edit_form))
        .route("/media/outlets/{id}/edit", web::post().to(outlet_update))
        .route("/media/{id}/edit", web::get().to(edit_form))
        .route("/media/{id}/edit", web::post().to(update));
}

async fn list(
    state: web::Data<AppState>,
    ctx: RequestCtx,
    filter: Query<PieceFilter>,
    paging: Query<PageQuery>,
) -> AppResult<HttpResponse> {
    let actor = ctx.actor()?;
    let page =
        service::list_pieces(&state.db, actor, &filter, PageParams::try_from(&*paging)?).await?;
    let camps = campaigns::options(&state.db, actor).await?;
    state.page(
        &ctx,
        "media/list",
        json!({
            "pieces": page, "filter": &*filter, "outlets": service::list_outlets(&state.db, actor).await?,
            "campaigns": camps, "provinces": crate::org::service::provinces_in_scope(&state.db, actor).await?,
            "outlet_kinds": OutletKind::codes(), "kinds": PieceKind::codes(),
            "topics": *campaigns::topics(&state.db).await?,
            "can_plan": campaigns::require_planner(actor).is_ok(),
        }),
    )
}

async fn form_data(state: &AppState, ctx: &RequestCtx, draft: &PieceDraft) -> AppResult<Value> {
    let actor = ctx.actor()?;
    let outlets: Vec<Value> = service::list_outlets(&state.db, actor)
        .await?
        .into_iter()
        .filter(|o| o.editable)
        .map(|o| json!({"id": o.id.to_string(), "name": o.name}))
        .collect();
    let camps: Vec<Value> = campaigns::options(&state.db, actor)
        .await?
        .into_iter()
        .map(|c| json!({"id": c.id.to_string(), "name": c.name}))
        .collect();
    let topics = crate::campaigns::pages::topic_options(state, &draft.topics).await?;
    Ok(
        json!({"form": draft, "outlets": outlets, "campaigns": camps, "kinds": PieceKind::codes(), "topics": topics}),
    )
}

fn draft_of(p: &PieceView) -> PieceDraft {
    PieceDraft {
        title: p.title.clone(),
        outlet_id: Some(p.outlet.id.to_string()),
        published_on: p.published_on.to_string(),
        url: p.url.clone().unwrap_or_default(),
        kind: p.kind.code().into(),
        topics: p.topics.clone(),
        campaign_id: p.campaign.as_ref().map(|c| c.id.to_string()),
        estimated_audience: Some(p.estimated_audience.to_string()),
        notes: p.notes.clone(),
    }
}

async fn new_form(state: web::Data<AppState>, ctx: RequestCtx) -> AppResult<HttpResponse> {
    campaigns::require_planner(ctx.actor()?)?;
    let draft = PieceDraft {
        published_on: chrono::Utc::now()
            .with_timezone(&state.tz())
            .date_naive()
            .to_string(),
        kind: "article".into(),
        ..Default::default()
    };
    let data = form_data(&state, &ctx, &draft).await?;
    state.page(&ctx, "media/form", data)
}

async fn create(
    state: web::Data<AppState>,
    ctx: RequestCtx,
    form: HtmlForm<PieceDraft>,
) -> AppResult<HttpResponse> {
    match service::save_piece(&state.db, ctx.actor()?, None, &form, state.tz()).await {
        Ok(_) => Ok(see_other("/media?notice=piece-saved")),
        Err(AppError::Invalid(errors)) => {
            let data = form_data(&state, &ctx, &form).await?;
            state.form_errors(&ctx, "media/form", data, &errors)
        }
        Err(e) => Err(e),
    }
}

async fn edit_form(
    state: web::Data<AppState>,
    ctx: RequestCtx,
    path: web::Path<i64>,
) -> AppResult<HttpResponse> {
    let p = service::get_piece(&state.db, ctx.actor()?, path.into_inner()).await?;
    if !p.editable {
        return Err(AppError::Forbidden);
    }
    let mut data = form_data(&state, &ctx, &draft_of(&p)).await?;
    data["piece"] = json!(p);
    state.page(&ctx, "media/form", data)
}

async fn update(
    state: web::Data<AppState>,
    ctx: RequestCtx,
    path: web::Path<i64>,
    form: HtmlForm<PieceDraft>,
) -> AppResult<HttpResponse> {
    let actor = ctx.actor()?;
    let id = path.into_inner();
    let p = service::get_piece(&state.db, actor, id).await?;
    match service::save_piece(&state.db, actor, Some(id), &form, state.tz()).await {
        Ok(_) => Ok(see_other("/media?notice=piece-saved")),
        Err(AppError::Invalid(errors)) => {
            let mut data = form_data(&state, &ctx, &form).await?;
            data["piece"] = json!(p);
            state.form_errors(&ctx, "media/form", data, &errors)
        }
        Err(e) => Err(e),
    }
}

async fn outlets(state: web::Data<AppState>, ctx: RequestCtx) -> AppResult<HttpResponse> {
    let actor = ctx.actor()?;
    let list = service::list_outlets(&state.db, actor).await?;
    state.page(
        &ctx,
        "media/outlets",
        json!({"outlets": list, "can_plan": campaigns::require_planner(actor).is_ok()}),
    )
}

async fn outlet_form_data(
    state: &AppState,
    ctx: &RequestCtx,
    draft: &OutletDraft,
) -> AppResult<Value> {
    Ok(json!({
        "form": draft, "kinds": OutletKind::codes(),
        "provinces": crate::org::service::provinces_in_scope(&state.db, ctx.actor()?).await?,
    }))
}

fn outlet_draft_of(o: &OutletView) -> OutletDraft {
    OutletDraft {
        name: o.name.clone(),
        kind: o.kind.code().into(),
        province_code: o
            .province
            .as_ref()
            .map(|p| p.code.clone())
            .unwrap_or_default(),
        estimated_reach: Some(o.estimated_reach.to_string()),
    }
}

async fn outlet_new_form(state: web::Data<AppState>, ctx: RequestCtx) -> AppResult<HttpResponse> {
    let actor = ctx.actor()?;
    campaigns::require_planner(actor)?;
    let mut draft = OutletDraft {
        kind: "newspaper".into(),
        ..Default::default()
    };
    if let Some(code) = crate::org::service::own_province_code(&state.db, actor).await? {
        draft.province_code = code;
    }
    let data = outlet_form_data(&state, &ctx, &draft).await?;
    state.page(&ctx, "media/outlet_form", data)
}

async fn outlet_create(
    state: web::Data<AppState>,
    ctx: RequestCtx,
    form: HtmlForm<OutletDraft>,
) -> AppResult<HttpResponse> {
    match service::save_outlet(&state.db, ctx.actor()?, None, &form).await {
        Ok(_) => Ok(see_other("/media/outlets?notice=outlet-saved")),
        Err(AppError::Invalid(errors)) => {
            let data = outlet_form_data(&state, &ctx, &form).await?;
            state.form_errors(&ctx, "media/outlet_form", data, &errors)
        }
        Err(e) => Err(e),
    }
}

async fn outlet_edit_form(
    state: web::Data<AppState>,
    ctx: RequestCtx,
    path: web::Path<i64>,
) -> AppResult<HttpResponse> {
    let o = service::get_outlet(&state.db, ctx.actor()?, path.into_inner()).await?;
    if !o.editable {
        return Err(AppError::Forbidden);
    }
    let mut data = outlet_form_data(&state, &ctx, &outlet_draft_of(&o)).await?;
    data["outlet"] = json!(o);
    state.page(&ctx, "media/outlet_form", data)
}

async fn outlet_update(
    state: web::Data<AppState>,
    ctx: RequestCtx,
    path: web::Path<i64>,
    form: HtmlForm<OutletDraft>,
) -> AppResult<HttpResponse> {
    let actor = ctx.actor()?;
    let id = path.into_inner();
    let o = service::get_outlet(&state.db, actor, id).await?;
    match service::save_outlet(&state.db, actor, Some(id), &form).await {
        Ok(_) => Ok(see_other("/media/outlets?notice=outlet-saved")),
        Err(AppError::Invalid(errors)) => {
            let mut data = outlet_form_data(&state, &ctx, &form).await?;
            data["outlet"] = json!(o);
            state.form_errors(&ctx, "media/outlet_form", data, &errors)
        }
        Err(e) => Err(e),
    }
}
