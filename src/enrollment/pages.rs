//! Pages: the coverage dashboard and the enrollment snapshots (entry and CSV import).
use actix_multipart::Multipart;
use actix_web::{web, HttpResponse};
use serde_json::json;

use super::analysis::{self, AnalysisQuery};
use super::api::csv_response;
use super::charts;
use super::coverage::{self, CoverageQuery};
use super::import;
use super::service::{self, SnapshotDraft, SnapshotFilter};
use crate::campaigns::service as campaigns;
use crate::error::{AppError, AppResult};
use crate::imports;
use crate::org::level::SchoolLevel;
use crate::web::context::RequestCtx;
use crate::web::extract::{HtmlForm, Query};
use crate::web::paging::{PageParams, PageQuery};
use crate::web::render::see_other;
use crate::web::state::AppState;
use crate::web::upload::read_file_field;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/coverage", web::get().to(dashboard))
        .route("/coverage/export.csv", web::get().to(export))
        .route("/coverage/trend.svg", web::get().to(trend_svg))
        .route("/analysis", web::get().to(analysis_page))
        .route("/analysis/event-study.svg", web::get().to(event_study_svg))
        .route("/analysis/dose-response.svg", web::get().to(dose_svg))
        .route("/enrollment", web::get().to(snapshots))
        .route("/enrollment", web::post().to(save))
        .route("/enrollment/import", web::post().to(import_upload))
        .route(
            "/enrollment/import/{id}/commit",
            web::post().to(import_commit),
        );
}

async fn dashboard(
    state: web::Data<AppState>,
    ctx: RequestCtx,
    q: Query<CoverageQuery>,
) -> AppResult<HttpResponse> {
    let actor = ctx.actor()?;
    let v = state.coverage_of(actor, &q).await?;
    let camps = campaigns::options(&state.db, actor).await?;
    let bars: Vec<_> = v
        .trend
        .iter()
        .map(|p| json!({"date": p.date, "coverage": format!("{:.1}", p.coverage)}))
        .collect();
    let levels: Vec<&str> = SchoolLevel::ALL.iter().map(|l| l.code()).collect();
    state.page(
        &ctx,
        "enrollment/coverage",
        json!({
            "v": v, "q": &*q, "campaigns": camps, "bars": bars, "levels": levels,
            "total_coverage": format!("{:.1}", v.total.coverage),
            "gap": format!("{:.1}", v.total.gap),
            "uplift": v.uplift.as_ref().map(|u| json!({
                "mean": format!("{:+.1}", u.mean), "lo": format!("{:+.1}", u.ci_lower), "hi": format!("{:+.1}", u.ci_upper),
                "schools": u.schools, "clusters": u.clusters, "warnings": u.warnings,
            })),
        }),
    )
}

async fn export(
    state: web::Data<AppState>,
    ctx: RequestCtx,
    q: Query<CoverageQuery>,
) -> AppResult<HttpResponse> {
    let v = state.coverage_of(ctx.actor()?, &q).await?;
    Ok(csv_response(coverage::to_csv(&v)?, &v))
}

async fn snapshots_page(
    state: &AppState,
    ctx: &RequestCtx,
    f: &SnapshotFilter,
    page: PageParams,
    form: serde_json::Value,
    extra: serde_json::Value,
) -> AppResult<serde_json::Value> {
    let actor = ctx.actor()?;
    let list = service::list(&state.db, actor, f, page).await?;
    let mut data = json!({"snapshots": list, "filter": f, "form": form, "can_edit": campaigns::require_planner(actor).is_ok()});
    if let (Some(d), Some(e)) = (data.as_object_mut(), extra.as_object()) {
        d.extend(e.clone());
    }
    Ok(data)
}

async fn snapshots(
    state: web::Data<AppState>,
    ctx: RequestCtx,
    f: Query<SnapshotFilter>,
    paging: Query<PageQuery>,
) -> AppResult<HttpResponse> {
    let today = chrono::Utc::now()
        .with_timezone(&state.tz())
        .date_naive()
        .to_string();
    let data = snapshots_page(
        &state,
        &ctx,
        &f,
        PageParams::try_from(&*paging)?,
        json!({"taken_on": today}),
        json!({}),
    )
    .await?;
    state.page(&ctx, "enrollment/snapshots", data)
}

async fn save(
    state: web::Data<AppState>,
    ctx: RequestCtx,
    form: HtmlForm<SnapshotDraft>,
) -> AppResult<HttpResponse> {
    match service::save(&state.db, ctx.actor()?, &form).await {
        Ok(_) => Ok(see_other("/enrollment?notice=snapshot-saved")),
        Err(AppError::Invalid(errors)) => {
            let data = snapshots_page(
                &state,
                &ctx,
                &SnapshotFilter::default(),
                PageParams::first(50),
                json!(&*form),
                json!({}),
            )
            .await?;
            state.form_errors(&ctx, "enrollment/snapshots", data, &errors)
        }
        Err(e) => Err(e),
    }
}

async fn import_upload(
    state: web::Data<AppState>,
    ctx: RequestCtx,
    payload: Multipart,
) -> AppResult<HttpResponse> {
    let actor = ctx.actor()?;
    campaigns::require_planner(actor)?;
    let upload = read_file_field(payload, "file", state.settings.max_upload_bytes).await?;
    let report = import::dry_run(&state.db, actor, &upload.content).await?;
    let pending = if report.errors.is_empty() {
        Some(
            imports::store_pending(
                &state.db,
                actor,
                import::KIND,
                &upload.filename,
                upload.content,
                report.counts(0),
            )
            .await?
            .id,
        )
    } else {
        None
    };
    let view = report.view(
        &state.i18n,
        ctx.lang,
        if pending.is_some() {
            "pending"
        } else {
            "rejected"
        },
        pending,
    );
    let today = chrono::Utc::now()
        .with_timezone(&state.tz())
        .date_naive()
        .to_string();
    let data = snapshots_page(
        &state,
        &ctx,
        &SnapshotFilter::default(),
        PageParams::first(50),
        json!({"taken_on": today}),
        json!({"report": view, "filename": upload.filename}),
    )
    .await?;
    state.page(&ctx, "enrollment/snapshots", data)
}

async fn import_commit(
    state: web::Data<AppState>,
    ctx: RequestCtx,
    path: web::Path<i64>,
) -> AppResult<HttpResponse> {
    let actor = ctx.actor()?;
    campaigns::require_planner(actor)?;
    let id = path.into_inner();
    let pending = imports::load_pending(&state.db.conn, actor, import::KIND, id).await?;
    let content = pending.content.clone().unwrap_or_default();
    let (report, committed) =
        import::commit(&state.db, actor, &pending.filename, content, Some(id)).await?;
    match committed {
        Some(_) => Ok(see_other("/enrollment?notice=snapshots-imported")),
        None => {
            let view = report.view(&state.i18n, ctx.lang, "rejected", None);
            let data = snapshots_page(
                &state,
                &ctx,
                &SnapshotFilter::default(),
                PageParams::first(50),
                json!({}),
                json!({"report": view, "filename": pending.filename}),
            )
            .await?;
            state.page(&ctx, "enrollment/snapshots", data)
        }
    }
}

fn svg(body: String) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("image/svg+xml; charset=utf-8")
        .body(body)
}

async fn trend_svg(
    state: web::Data<AppState>,
    ctx: RequestCtx,
    q: Query<CoverageQuery>,
) -> AppResult<HttpResponse> {
    let v = state.coverage_of(ctx.actor()?, &q).await?;
    let points: Vec<_> = v.trend.iter().map(|p| (p.date, p.coverage)).collect();
    let title = state.t(&ctx, &crate::error::Msg::new("coverage-trend"));
    Ok(svg(charts::trend(&points, v.target, &title)?))
}

async fn event_study_svg(
    state: web::Data<AppState>,
    ctx: RequestCtx,
    q: Query<AnalysisQuery>,
) -> AppResult<HttpResponse> {
    let d = analysis::did(&state.db, ctx.actor()?, &q, state.tz()).await?;
    let title = state.t(&ctx, &crate::error::Msg::new("analysis-event-study"));
    Ok(svg(charts::event_study(&d.event_study, &title)?))
}

async fn dose_svg(
    state: web::Data<AppState>,
    ctx: RequestCtx,
    q: Query<AnalysisQuery>,
) -> AppResult<HttpResponse> {
    let d = analysis::dose_response(&state.db, ctx.actor()?, &q, state.tz()).await?;
    let slope = d
        .coefficients
        .iter()
        .find(|c| c.name == "attendance_per_100")
        .map(|c| c.estimate)
        .unwrap_or(0.0);
    let title = state.t(&ctx, &crate::error::Msg::new("analysis-dose-title"));
    let x = state.t(&ctx, &crate::error::Msg::new("analysis-dose-x"));
    Ok(svg(charts::binned_scatter(&d.bins, slope, &title, &x)?))
}

async fn analysis_page(
    state: web::Data<AppState>,
    ctx: RequestCtx,
    q: Query<AnalysisQuery>,
) -> AppResult<HttpResponse> {
    let actor = ctx.actor()?;
    let tz = state.tz();
    // Each estimate may fail on thin data; the page says why instead of failing as a whole.
    let message = |e: AppError| match e {
        AppError::BadRequest(m) | AppError::Conflict(m) => Ok(state.t(&ctx, &m)),
        AppError::Invalid(errors) => Ok(errors
            .0
            .iter()
            .map(|f| format!("{}: {}", f.field, state.t(&ctx, &f.msg)))
            .collect::<Vec<_>>()
            .join("; ")),
        other => Err(other),
    };
    let (did, did_error) = match analysis::did(&state.db, actor, &q, tz).await {
        Ok(d) => (Some(d), None),
        Err(e) => (None, Some(message(e)?)),
    };
    let (dose, dose_error) = match analysis::dose_response(&state.db, actor, &q, tz).await {
        Ok(d) => (Some(d), None),
        Err(e) => (None, Some(message(e)?)),
    };
    let f1 = |x: Option<f64>| x.map(|v| format!("{v:+.1}")).unwrap_or_else(|| "—".into());
    let did_fmt = did.as_ref().map(|d| {
        json!({"att": f1(Some(d.att)), "lo": f1(d.lo), "hi": f1(d.hi), "p": d.pretest_p.map(|p| format!("{p:.3}"))})
    });
    let channels: Vec<String> = crate::campaigns::kinds::Channel::codes()
        .into_iter()
        .map(|c| format!("channel:{c}"))
        .collect();
    let qs = serde_urlencoded::to_string(&*q).unwrap_or_default();
    state.page(
        &ctx,
        "enrollment/analysis",
        json!({
            "q": &*q, "qs": qs, "did": did, "did_fmt": did_fmt, "did_error": did_error, "dose": dose, "dose_error": dose_error,
            "channels": channels,
        }),
    )
}
