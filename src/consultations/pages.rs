//! Pages of consultation sessions: list, schedule, the phone-sized log form, .ics downloads
//! and calendar feeds.
use actix_web::{web, HttpResponse};
use chrono::Utc;
use serde::Deserialize;
use serde_json::{json, Value};

use super::api::{host, ics_response};
use super::ics;
use super::service::{
    self, Format, QuestionInput, SessionDraft, SessionFilter, SessionLog, SessionStatus,
    SessionView, TaskInput,
};
use crate::campaigns::service as campaigns;
use crate::error::{AppError, AppResult};
use crate::web::context::RequestCtx;
use crate::web::extract::{HtmlForm, Query};
use crate::web::paging::{PageParams, PageQuery};
use crate::web::render::see_other;
use crate::web::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/sessions", web::get().to(list))
        .route("/sessions/new", web::get().to(new_form))
        .route("/sessions/new", web::post().to(create))
        .route("/sessions/{id}", web::get().to(show))
        .route("/sessions/{id}/edit", web::get().to(edit_form))
        .route("/sessions/{id}/edit", web::post().to(update))
        .route("/sessions/{id}/log", web::get().to(log_form))
        .route("/sessions/{id}/log", web::post().to(log))
        .route("/sessions/{id}/calendar.ics", web::get().to(download))
        .route("/calendar/feeds", web::get().to(feeds))
        .route("/calendar/feeds", web::post().to(feed_create))
        .route("/calendar/feeds/{id}/revoke", web::post().to(feed_revoke))
        .route("/calendar/feed/{token}.ics", web::get().to(feed));
}

async fn list(
    state: web::Data<AppState>,
    ctx: RequestCtx,
    filter: Query<SessionFilter>,
    paging: Query<PageQuery>,
) -> AppResult<HttpResponse> {
    let actor = ctx.actor()?;
    let page = service::list_sessions(
        &state.db,
        actor,
        &filter,
        PageParams::try_from(&*paging)?,
        state.tz(),
        None,
    )
    .await?;
    state.page(
        &ctx,
        "sessions/list",
        json!({"sessions": page, "filter": &*filter, "statuses": SessionStatus::codes()}),
    )
}

async fn form_data(state: &AppState, ctx: &RequestCtx, draft: &SessionDraft) -> AppResult<Value> {
    let actor = ctx.actor()?;
    let campaigns: Vec<Value> = campaigns::open_campaigns(&state.db, actor)
        .await?
        .into_iter()
        .map(|(id, name)| json!({"id": id.to_string(), "name": name}))
        .collect();
    Ok(json!({
        "form": draft,
        "liaison_ids_text": draft.liaison_ids.join(", "),
        "campaigns": campaigns,
        "schools": service::schools_for_form(&state.db, actor).await?,
        "formats": Format::codes(),
    }))
}

fn draft_of(s: &SessionView) -> SessionDraft {
    SessionDraft {
        campaign_id: Some(s.campaign.id.to_string()),
        school_code: s.school.code.clone(),
        school_id: None,
        date: s.date.to_string(),
        start_time: s.start_time.clone(),
        end_time: s.end_time.clone(),
        format: s.format.code().into(),
        liaison_ids: s.liaisons.iter().map(|l| l.id.to_string()).collect(),
        expected_audience: Some(s.expected_audience.to_string()),
        location: s.location.clone().unwrap_or_default(),
    }
}

#[derive(Debug, Default, Deserialize)]
struct NewQuery {
    campaign: Option<i64>,
    school: Option<String>,
}

async fn new_form(
    state: web::Data<AppState>,
    ctx: RequestCtx,
    q: Query<NewQuery>,
) -> AppResult<HttpResponse> {
    ctx.actor()?;
    let (start, end) = service::default_times();
    let draft = SessionDraft {
        campaign_id: q.campaign.map(|c| c.to_string()),
        school_code: q.school.clone().unwrap_or_default(),
        date: service::today(state.tz()).to_string(),
        start_time: start.format("%H:%M").to_string(),
        end_time: end.format("%H:%M").to_string(),
        format: Format::AtSchool.code().into(),
        ..Default::default()
    };
    let data = form_data(&state, &ctx, &draft).await?;
    state.page(&ctx, "sessions/form", data)
}

async fn create(
    state: web::Data<AppState>,
    ctx: RequestCtx,
    form: HtmlForm<SessionDraft>,
) -> AppResult<HttpResponse> {
    match service::create_session(&state.db, ctx.actor()?, &form, state.tz()).await {
        Ok(s) => Ok(see_other(&format!(
            "/sessions/{}?notice=session-saved",
            s.id
        ))),
        Err(AppError::Invalid(errors)) => {
            let data = form_data(&state, &ctx, &form).await?;
            state.form_errors(&ctx, "sessions/form", data, &errors)
        }
        Err(e) => Err(e),
    }
}

async fn show(
    state: web::Data<AppState>,
    ctx: RequestCtx,
    path: web::Path<i64>,
) -> AppResult<HttpResponse> {
    let s = service::get_session(&state.db, ctx.actor()?, path.into_inner(), state.tz()).await?;
    let names = crate::campaigns::pages::topic_names(&state, &ctx).await?;
    state.page(&ctx, "sessions/show", json!({"s": s, "topic_names": names}))
}

async fn edit_form(
    state: web::Data<AppState>,
    ctx: RequestCtx,
    path: web::Path<i64>,
) -> AppResult<HttpResponse> {
    let s = service::get_session(&state.db, ctx.actor()?, path.into_inner(), state.tz()).await?;
    let mut data = form_data(&state, &ctx, &draft_of(&s)).await?;
    data["session"] = json!(s);
    state.page(&ctx, "sessions/form", data)
}

async fn update(
    state: web::Data<AppState>,
    ctx: RequestCtx,
    path: web::Path<i64>,
    form: HtmlForm<SessionDraft>,
) -> AppResult<HttpResponse> {
    let actor = ctx.actor()?;
    let id = path.into_inner();
    let s = service::get_session(&state.db, actor, id, state.tz()).await?;
    match service::update_session(&state.db, actor, id, &form, state.tz()).await {
        Ok(_) => Ok(see_other(&format!("/sessions/{id}?notice=session-saved"))),
        Err(AppError::Invalid(errors)) => {
            let mut data = form_data(&state, &ctx, &form).await?;
            data["session"] = json!(s);
            state.form_errors(&ctx, "sessions/form", data, &errors)
        }
        Err(e) => Err(e),
    }
}

/// The log form as the browser sends it: one column per question and task field, rows
/// aligned by position; blank rows are skipped.
#[derive(Debug, Default, Deserialize, serde::Serialize)]
#[serde(default)]
pub struct LogForm {
    status: String,
    reason: String,
    attendance_students: String,
    attendance_parents: String,
    attendance_teachers: String,
    registered_on_spot: String,
    materials: String,
    notes: String,
    q_topic: Vec<String>,
    q_text: Vec<String>,
    q_answer: Vec<String>,
    /// "yes" or "no" per row (a select, so that rows stay aligned).
    q_follow: Vec<String>,
    t_desc: Vec<String>,
    t_due: Vec<String>,
    /// "yes" or "no" per task row.
    t_done: Vec<String>,
}

impl LogForm {
    fn log(&self) -> SessionLog {
        let opt = |s: &str| Some(s.trim().to_string()).filter(|s| !s.is_empty());
        let at = |v: &Vec<String>, i: usize| v.get(i).cloned().unwrap_or_default();
        let questions = (0..self.q_text.len().max(self.q_topic.len()))
            .filter(|&i| {
                !at(&self.q_text, i).trim().is_empty() || !at(&self.q_answer, i).trim().is_empty()
            })
            .map(|i| QuestionInput {
                topic: at(&self.q_topic, i),
                question: at(&self.q_text, i),
                answer: at(&self.q_answer, i),
                needs_follow_up: at(&self.q_follow, i) == "yes",
            })
            .collect();
        let tasks = (0..self.t_desc.len().max(self.t_due.len()))
            .filter(|&i| {
                !at(&self.t_desc, i).trim().is_empty() || !at(&self.t_due, i).trim().is_empty()
            })
            .map(|i| TaskInput {
                description: at(&self.t_desc, i),
                due_on: at(&self.t_due, i),
                done: at(&self.t_done, i) == "yes",
            })
            .collect();
        SessionLog {
            status: self.status.clone(),
            reason: self.reason.clone(),
            attendance_students: opt(&self.attendance_students),
            attendance_parents: opt(&self.attendance_parents),
            attendance_teachers: opt(&self.attendance_teachers),
            questions,
            materials: self.materials.clone(),
            registered_on_spot: opt(&self.registered_on_spot),
            tasks,
            notes: self.notes.clone(),
        }
    }
}

/// Rows for the form: what was entered (or logged) plus blank rows to fill in.
fn rows(log: &SessionLog, blank_questions: usize, blank_tasks: usize) -> (Vec<Value>, Vec<Value>) {
    let mut q: Vec<Value> = log
        .questions
        .iter()
        .map(|x| json!({"topic": x.topic, "question": x.question, "answer": x.answer, "follow": x.needs_follow_up}))
        .collect();
    q.extend(
        (0..blank_questions)
            .map(|_| json!({"topic": "", "question": "", "answer": "", "follow": false})),
    );
    let mut t: Vec<Value> = log
        .tasks
        .iter()
        .map(|x| json!({"description": x.description, "due_on": x.due_on, "done": x.done}))
        .collect();
    t.extend((0..blank_tasks).map(|_| json!({"description": "", "due_on": "", "done": false})));
    (q, t)
}

async fn log_data(state: &AppState, s: &SessionView, log: &SessionLog) -> AppResult<Value> {
    let (questions, tasks) = rows(log, 3, 2);
    Ok(json!({
        "s": s, "form": log, "questions": questions, "tasks": tasks,
        "topics": campaigns::topics(&state.db).await?.iter().filter(|t| t.active).collect::<Vec<_>>(),
        "statuses": ["held", "postponed", "cancelled"],
    }))
}

async fn log_form(
    state: web::Data<AppState>,
    ctx: RequestCtx,
    path: web::Path<i64>,
) -> AppResult<HttpResponse> {
    let s = service::get_session(&state.db, ctx.actor()?, path.into_inner(), state.tz()).await?;
    let log = SessionLog {
        status: if s.status == SessionStatus::Scheduled {
            if s.starts_at <= Utc::now() {
                "held".into()
            } else {
                String::new()
            }
        } else {
            s.status.code().into()
        },
        reason: s.status_reason.clone().unwrap_or_default(),
        attendance_students: Some(s.attendance_students.to_string()),
        attendance_parents: Some(s.attendance_parents.to_string()),
        attendance_teachers: Some(s.attendance_teachers.to_string()),
        questions: s
            .questions
            .iter()
            .map(|q| QuestionInput {
                topic: q.topic.clone(),
                question: q.question.clone(),
                answer: q.answer.clone(),
                needs_follow_up: q.needs_follow_up,
            })
            .collect(),
        materials: s.materials.clone(),
        registered_on_spot: Some(s.registered_on_spot.to_string()),
        tasks: s
            .tasks
            .iter()
            .map(|t| TaskInput {
                description: t.description.clone(),
                due_on: t.due_on.to_string(),
                done: t.done,
            })
            .collect(),
        notes: s.notes.clone(),
    };
    let data = log_data(&state, &s, &log).await?;
    state.page(&ctx, "sessions/log", data)
}

async fn log(
    state: web::Data<AppState>,
    ctx: RequestCtx,
    path: web::Path<i64>,
    form: HtmlForm<LogForm>,
) -> AppResult<HttpResponse> {
    let actor = ctx.actor()?;
    let id = path.into_inner();
    let s = service::get_session(&state.db, actor, id, state.tz()).await?;
    let log = form.log();
    match service::log_session(&state.db, actor, id, &log, state.tz()).await {
        Ok(_) => Ok(see_other(&format!("/sessions/{id}?notice=session-logged"))),
        Err(AppError::Invalid(errors)) => {
            let data = log_data(&state, &s, &log).await?;
            state.form_errors(&ctx, "sessions/log", data, &errors)
        }
        Err(e) => Err(e),
    }
}

async fn download(
    state: web::Data<AppState>,
    ctx: RequestCtx,
    path: web::Path<i64>,
) -> AppResult<HttpResponse> {
    let id = path.into_inner();
    let body = ics::session_ics(&state.db, ctx.actor()?, id, host(&state), state.tz()).await?;
    Ok(ics_response(body, &format!("session-{id}.ics")))
}

async fn feeds(state: web::Data<AppState>, ctx: RequestCtx) -> AppResult<HttpResponse> {
    let actor = ctx.actor()?;
    let list = ics::list_feeds(&state.db, actor).await?;
    let campaigns = campaigns::options(&state.db, actor).await?;
    state.page(
        &ctx,
        "sessions/feeds",
        json!({"feeds": list, "campaigns": campaigns, "can_plan": campaigns::require_planner(actor).is_ok(), "new_url": Value::Null}),
    )
}

#[derive(Debug, Default, Deserialize)]
struct FeedForm {
    #[serde(default)]
    campaign_id: String,
}

async fn feed_create(
    state: web::Data<AppState>,
    ctx: RequestCtx,
    form: web::Form<FeedForm>,
) -> AppResult<HttpResponse> {
    let actor = ctx.actor()?;
    let campaign = match form.campaign_id.trim() {
        "" => None,
        s => Some(s.parse::<i64>().map_err(|_| AppError::NotFound)?),
    };
    let (_, path) = ics::create_feed(&state.db, actor, campaign).await?;
    let base = state.settings.base_url.as_str().trim_end_matches('/');
    let list = ics::list_feeds(&state.db, actor).await?;
    let campaigns = campaigns::options(&state.db, actor).await?;
    // The address is shown once, on this page; only its hash is kept.
    state.page(
        &ctx,
        "sessions/feeds",
        json!({"feeds": list, "campaigns": campaigns, "can_plan": campaigns::require_planner(actor).is_ok(), "new_url": format!("{base}{path}")}),
    )
}

async fn feed_revoke(
    state: web::Data<AppState>,
    ctx: RequestCtx,
    path: web::Path<i64>,
) -> AppResult<HttpResponse> {
    ics::revoke_feed(&state.db, ctx.actor()?, path.into_inner()).await?;
    Ok(see_other("/calendar/feeds?notice=feed-revoked"))
}

/// The public feed address: the token in the URL is the credential.
async fn feed(state: web::Data<AppState>, path: web::Path<String>) -> AppResult<HttpResponse> {
    let body = ics::render_feed(&state.db, &path, host(&state), state.tz()).await?;
    Ok(HttpResponse::Ok()
        .content_type("text/calendar; charset=utf-8")
        .body(body))
}
