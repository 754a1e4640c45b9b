//! Pages for students, guardians, consent, and the student import.
use actix_multipart::Multipart;
use actix_web::http::header;
use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::json;

use super::fields::{parse_date, Channel, ConsentSource, HiStatus};
use super::import::{self, CommitMode, Kind};
use super::service::{self, ConsentInput, StudentFilter};
use crate::error::{AppError, AppResult, FieldErrors, Msg};
use crate::imports;
use crate::web::context::RequestCtx;
use crate::web::extract::Query;
use crate::web::paging::{PageParams, PageQuery};
use crate::web::render::see_other;
use crate::web::state::AppState;
use crate::web::upload::open_file_field;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/students", web::get().to(list))
        .route("/students/import", web::get().to(import_form))
        .route("/students/import", web::post().to(import_upload))
        .route(
            "/students/import/{id}/commit",
            web::post().to(import_commit),
        )
        .route("/students/{id}", web::get().to(detail))
        .route("/students/{id}/hi-status", web::post().to(hi_status))
        .route("/guardians/{id}", web::get().to(guardian))
        .route("/guardians/{id}/consents", web::post().to(consent))
        .route("/guardians/{id}/export", web::get().to(export))
        .route("/guardians/{id}/erase", web::post().to(erase));
}

fn statuses() -> Vec<&'static str> {
    HiStatus::ALL.iter().map(|s| s.code()).collect()
}

async fn list(
    state: web::Data<AppState>,
    ctx: RequestCtx,
    filter: Query<StudentFilter>,
    paging: Query<PageQuery>,
) -> AppResult<HttpResponse> {
    let actor = ctx.actor()?;
    let page =
        service::list_students(&state.db, actor, &filter, PageParams::try_from(&*paging)?).await?;
    state.page(
        &ctx,
        "contacts/students",
        json!({"students": page, "filter": &*filter, "statuses": statuses(), "can_import": actor.require_map_editor().is_ok()}),
    )
}

async fn detail_page(
    state: &AppState,
    ctx: &RequestCtx,
    id: i64,
    errors: Option<&FieldErrors>,
) -> AppResult<HttpResponse> {
    let s = service::get_student(&state.db, ctx.actor()?, id).await?;
    let data = json!({"student": s, "statuses": statuses()});
    match errors {
        Some(e) => state.form_errors(ctx, "contacts/student", data, e),
        None => state.page(ctx, "contacts/student", data),
    }
}

async fn detail(
    state: web::Data<AppState>,
    ctx: RequestCtx,
    path: web::Path<i64>,
) -> AppResult<HttpResponse> {
    detail_page(&state, &ctx, path.into_inner(), None).await
}

#[derive(Debug, Deserialize)]
pub struct HiStatusForm {
    #[serde(default)]
    pub hi_status: String,
    #[serde(default)]
    pub card_valid_until: String,
}

/// Parses a status change as the form or the API sends it.
pub fn parse_status(
    status: &str,
    valid_until: &str,
) -> Result<(HiStatus, Option<chrono::NaiveDate>), AppError> {
    let mut errors = FieldErrors::new();
    let status = errors.take("hi_status", HiStatus::parse(status));
    let until = if valid_until.trim().is_empty() {
        Some(None)
    } else {
        errors.take("card_valid_until", parse_date(valid_until).map(Some))
    };
    errors.into_result()?;
    Ok((status.expect("checked"), until.expect("checked")))
}

async fn hi_status(
    state: web::Data<AppState>,
    ctx: RequestCtx,
    path: web::Path<i64>,
    form: web::Form<HiStatusForm>,
) -> AppResult<HttpResponse> {
    let id = path.into_inner();
    match parse_status(&form.hi_status, &form.card_valid_until) {
        Ok((status, until)) => {
            service::set_hi_status(&state.db, ctx.actor()?, id, status, until).await?;
            Ok(see_other(&format!("/students/{id}?notice=status-saved")))
        }
        Err(AppError::Invalid(e)) => detail_page(&state, &ctx, id, Some(&e)).await,
        Err(e) => Err(e),
    }
}

async fn guardian_page(
    state: &AppState,
    ctx: &RequestCtx,
    id: i64,
    errors: Option<&FieldErrors>,
) -> AppResult<HttpResponse> {
    let g = service::get_guardian(&state.db, ctx.actor()?, id).await?;
    let data = json!({
        "guardian": g,
        "channels": Channel::ALL.iter().map(|c| c.code()).collect::<Vec<_>>(),
        "sources": [ConsentSource::SchoolForm.code(), ConsentSource::Online.code(), ConsentSource::Staff.code()],
    });
    match errors {
        Some(e) => state.form_errors(ctx, "contacts/guardian", data, e),
        None => state.page(ctx, "contacts/guardian", data),
    }
}

async fn guardian(
    state: web::Data<AppState>,
    ctx: RequestCtx,
    path: web::Path<i64>,
) -> AppResult<HttpResponse> {
    guardian_page(&state, &ctx, path.into_inner(), None).await
}

#[derive(Debug, Deserialize)]
pub struct ConsentForm {
    #[serde(default)]
    pub channel: String,
    #[serde(default)]
    pub decision: String,
    #[serde(default)]
    pub source: String,
    #[serde(default)]
    pub evidence: String,
}

async fn consent(
    state: web::Data<AppState>,
    ctx: RequestCtx,
    path: web::Path<i64>,
    form: web::Form<ConsentForm>,
) -> AppResult<HttpResponse> {
    let id = path.into_inner();
    let granted = match form.decision.as_str() {
        "granted" => true,
        "withdrawn" => false,
        _ => {
            let e = FieldErrors::single(
                "decision",
                Msg::new("error-one-of").arg("allowed", "granted, withdrawn"),
            );
            return guardian_page(&state, &ctx, id, Some(&e)).await;
        }
    };
    let input = ConsentInput {
        channel: form.channel.clone(),
        granted,
        source: form.source.clone(),
        evidence: Some(form.evidence.clone()),
    };
    match service::record_consent(&state.db, ctx.actor()?, id, &input).await {
        Ok(_) => Ok(see_other(&format!("/guardians/{id}?notice=consent-saved"))),
        Err(AppError::Invalid(e)) => guardian_page(&state, &ctx, id, Some(&e)).await,
        Err(e) => Err(e),
    }
}

async fn export(
    state: web::Data<AppState>,
    ctx: RequestCtx,
    path: web::Path<i64>,
) -> AppResult<HttpResponse> {
    let id = path.into_inner();
    let data = service::export_guardian(&state.db, ctx.actor()?, id).await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "application/json; charset=utf-8"))
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"guardian-{id}.json\""),
        ))
        .body(serde_json::to_string_pretty(&data).map_err(anyhow::Error::from)?))
}

#[derive(Debug, Deserialize)]
pub struct EraseForm {
    pub confirm: Option<String>,
}

async fn erase(
    state: web::Data<AppState>,
    ctx: RequestCtx,
    path: web::Path<i64>,
    form: web::Form<EraseForm>,
) -> AppResult<HttpResponse> {
    let id = path.into_inner();
    ctx.actor()?.require_admin()?;
    if form.confirm.is_none() {
        let e = FieldErrors::single("confirm", Msg::new("error-confirm-erase"));
        return guardian_page(&state, &ctx, id, Some(&e)).await;
    }
    service::erase_guardian(&state.db, ctx.actor()?, id).await?;
    Ok(see_other(&format!(
        "/guardians/{id}?notice=guardian-erased"
    )))
}

async fn import_form(state: web::Data<AppState>, ctx: RequestCtx) -> AppResult<HttpResponse> {
    ctx.actor()?;
    state.page(&ctx, "contacts/import", json!({"kind": "students"}))
}

async fn import_upload(
    state: web::Data<AppState>,
    ctx: RequestCtx,
    mut payload: Multipart,
) -> AppResult<HttpResponse> {
    let actor = ctx.actor()?;
    let upload = open_file_field(&mut payload, "file").await?;
    let kind = upload
        .fields
        .get("kind")
        .and_then(|k| Kind::parse(k))
        .ok_or_else(|| {
            AppError::invalid(
                "kind",
                Msg::new("error-one-of").arg("allowed", "students, hi_status"),
            )
        })?;
    import::require_importer(actor, kind)?;
    let pending = imports::create_chunked(&state.db, actor, kind.code(), &upload.filename).await?;
    let db = state.db.clone();
    let limit = state.settings.max_upload_bytes;
    let file = upload.file;
    let result = import::check(&state.db, actor, kind, move |tx| {
        imports::pump(file, limit, Some((db, pending.id)), tx)
    })
    .await;
    let report = match result {
        Ok(r) => r,
        Err(e) => {
            imports::discard(&state.db, pending.id).await?;
            return Err(e);
        }
    };
    imports::finish_check(&state.db, actor, &pending, report.counts(0)).await?;
    let view = report.view(&state.i18n, ctx.lang, "pending", Some(pending.id));
    state.page(
        &ctx,
        "contacts/import",
        json!({"report": view, "filename": upload.filename, "kind": kind.code()}),
    )
}

#[derive(Debug, Deserialize)]
pub struct CommitForm {
    #[serde(default)]
    pub mode: String,
    #[serde(default)]
    pub kind: String,
}

async fn import_commit(
    state: web::Data<AppState>,
    ctx: RequestCtx,
    path: web::Path<i64>,
    form: web::Form<CommitForm>,
) -> AppResult<HttpResponse> {
    let actor = ctx.actor()?;
    let id = path.into_inner();
    let kind = Kind::parse(&form.kind).ok_or(AppError::NotFound)?;
    let mode = if form.mode == "valid_only" {
        CommitMode::ValidOnly
    } else {
        CommitMode::AllOrNothing
    };
    let (report, written) = import::commit(&state.db, actor, kind, id, mode).await?;
    if written {
        return Ok(see_other(&format!(
            "/students?notice=students-imported&created={}&updated={}",
            report.students_created, report.students_updated
        )));
    }
    // Nothing was written; the upload still waits, so "valid rows only" remains possible.
    let view = report.view(&state.i18n, ctx.lang, "pending", Some(id));
    state.page(
        &ctx,
        "contacts/import",
        json!({"report": view, "kind": kind.code()}),
    )
}
