//! Pages of campaign planning: campaigns, their overview and lifecycle, activities, the
//! calendar (month and week) and the topics taxonomy.
use actix_web::{web, HttpResponse};
use chrono::{Datelike, Duration, NaiveDate, Utc};
use serde::Deserialize;
use serde_json::{json, Value};

use super::activities::{self, ActivityDraft, ActivityFilter, ActivityView};
use super::calendar::{self, CalendarQuery};
use super::kinds::{ActivityStatus, CampaignStatus, Channel, ScopeKind};
use super::service::{self, CampaignDraft, CampaignFilter, CampaignView, TopicDraft};
use crate::consultations::service::{self as sessions, SessionFilter};
use crate::error::{AppError, AppResult};
use crate::web::context::RequestCtx;
use crate::web::extract::{HtmlForm, Query};
use crate::web::paging::{PageParams, PageQuery, Paged};
use crate::web::render::see_other;
use crate::web::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/campaigns", web::get().to(list))
        .route("/campaigns/new", web::get().to(new_form))
        .route("/campaigns/new", web::post().to(create))
        .route("/campaigns/{id}", web::get().to(show))
        .route("/campaigns/{id}/edit", web::get().to(edit_form))
        .route("/campaigns/{id}/edit", web::post().to(update))
        .route("/campaigns/{id}/status", web::post().to(status))
        .route("/activities", web::get().to(activity_list))
        .route("/activities/new", web::get().to(activity_new_form))
        .route("/activities/new", web::post().to(activity_create))
        .route("/activities/{id}", web::get().to(activity_show))
        .route("/activities/{id}/edit", web::get().to(activity_edit_form))
        .route("/activities/{id}/edit", web::post().to(activity_update))
        .route("/calendar", web::get().to(calendar_page))
        .route("/topics", web::get().to(topics))
        .route("/topics", web::post().to(topic_create))
        .route("/topics/{code}", web::post().to(topic_update));
}

/// Topic names by code in the page's language, for `lookup` in templates.
pub async fn topic_names(state: &AppState, ctx: &RequestCtx) -> AppResult<Value> {
    let en = ctx.lang == crate::web::i18n::Lang::En;
    Ok(Value::Object(
        service::topics(&state.db)
            .await?
            .iter()
            .map(|t| {
                let name = if en { &t.name_en } else { &t.name_vi };
                (t.code.clone(), json!(name))
            })
            .collect(),
    ))
}

/// The topics with a `checked` flag for the codes given, for check boxes.
pub async fn topic_options(state: &AppState, chosen: &[String]) -> AppResult<Value> {
    Ok(json!(service::topics(&state.db)
        .await?
        .iter()
        .filter(|t| t.active || chosen.contains(&t.code))
        .map(|t| json!({"code": t.code, "name_vi": t.name_vi, "name_en": t.name_en, "checked": chosen.contains(&t.code)}))
        .collect::<Vec<_>>()))
}

async fn list(
    state: web::Data<AppState>,
    ctx: RequestCtx,
    filter: Query<CampaignFilter>,
    paging: Query<PageQuery>,
) -> AppResult<HttpResponse> {
    let actor = ctx.actor()?;
    let page =
        service::list_campaigns(&state.db, actor, &filter, PageParams::try_from(&*paging)?).await?;
    state.page(
        &ctx,
        "campaigns/list",
        json!({
            "campaigns": page, "filter": &*filter, "statuses": CampaignStatus::codes(),
            "can_plan": service::require_planner(actor).is_ok(),
        }),
    )
}

async fn form_data(state: &AppState, ctx: &RequestCtx, draft: &CampaignDraft) -> AppResult<Value> {
    let provinces = crate::org::service::provinces_in_scope(&state.db, ctx.actor()?).await?;
    Ok(json!({
        "form": draft,
        "province_codes_text": draft.province_codes.join(", "),
        "school_codes_text": draft.school_codes.join(", "),
        "topics": topic_options(state, &draft.topics).await?,
        "school_years": service::school_years(&state.db).await?,
        "scopes": ScopeKind::codes(),
        "provinces": provinces,
    }))
}

fn draft_of(c: &CampaignView) -> CampaignDraft {
    CampaignDraft {
        name: c.name.clone(),
        school_year: c.school_year.clone(),
        target_coverage: Some(c.target_coverage.to_string()),
        scope: c.scope.code().into(),
        province_codes: c.provinces.iter().map(|p| p.code.clone()).collect(),
        school_codes: c.schools.iter().map(|s| s.code.clone()).collect(),
        starts_on: c.starts_on.to_string(),
        ends_on: c.ends_on.to_string(),
        owner_user_id: c.owner.as_ref().map(|o| o.id.to_string()),
        description: c.description.clone(),
        topics: c.topics.clone(),
    }
}

async fn new_form(state: web::Data<AppState>, ctx: RequestCtx) -> AppResult<HttpResponse> {
    let actor = ctx.actor()?;
    service::require_planner(actor)?;
    let mut draft = CampaignDraft {
        school_year: service::school_years(&state.db)
            .await?
            .into_iter()
            .next()
            .unwrap_or_default(),
        target_coverage: Some("100".into()),
        scope: ScopeKind::National.code().into(),
        ..Default::default()
    };
    if let Some(code) = crate::org::service::own_province_code(&state.db, actor).await? {
        draft.scope = ScopeKind::Provinces.code().into();
        draft.province_codes = vec![code];
    }
    let data = form_data(&state, &ctx, &draft).await?;
    state.page(&ctx, "campaigns/form", data)
}

async fn create(
    state: web::Data<AppState>,
    ctx: RequestCtx,
    form: HtmlForm<CampaignDraft>,
) -> AppResult<HttpResponse> {
    let actor = ctx.actor()?;
    match service::create_campaign(&state.db, actor, &form).await {
        Ok(c) => Ok(see_other(&format!(
            "/campaigns/{}?notice=campaign-saved",
            c.id
        ))),
        Err(AppError::Invalid(errors)) => {
            let data = form_data(&state, &ctx, &form).await?;
            state.form_errors(&ctx, "campaigns/form", data, &errors)
        }
        Err(e) => Err(e),
    }
}

async fn show(
    state: web::Data<AppState>,
    ctx: RequestCtx,
    path: web::Path<i64>,
) -> AppResult<HttpResponse> {
    let actor = ctx.actor()?;
    let id = path.into_inner();
    let listed = PageParams::first(100);
    let campaign = service::visible(&state.db.conn, actor, id).await?;
    let (overview, first, total) = activities::overview_and_first(
        &state.db,
        actor,
        &campaign,
        Utc::now(),
        listed.per_page as usize,
    )
    .await?;
    let acts = Paged::new(first, listed, total);
    let counts = sessions::counts_for_campaign(&state.db, actor, id).await?;
    let upcoming = sessions::list_sessions(
        &state.db,
        actor,
        &SessionFilter {
            campaign: Some(id),
            status: Some("scheduled".into()),
            from: Some(
                Utc::now()
                    .with_timezone(&state.tz())
                    .date_naive()
                    .to_string(),
            ),
            ..Default::default()
        },
        PageParams::first(20),
        state.tz(),
        Some(&campaign),
    )
    .await?;
    let can_plan = service::require_planner(actor).is_ok();
    state.page(
        &ctx,
        "campaigns/show",
        json!({
            "overview": overview, "c": overview.campaign, "activities": acts,
            "session_counts": counts, "upcoming": upcoming, "can_plan": can_plan,
            "topic_names": topic_names(&state, &ctx).await?,
        }),
    )
}

async fn edit_form(
    state: web::Data<AppState>,
    ctx: RequestCtx,
    path: web::Path<i64>,
) -> AppResult<HttpResponse> {
    let c = service::get_campaign(&state.db, ctx.actor()?, path.into_inner()).await?;
    if !c.editable {
        return Err(AppError::Forbidden);
    }
    let mut data = form_data(&state, &ctx, &draft_of(&c)).await?;
    data["campaign"] = json!(c);
    state.page(&ctx, "campaigns/form", data)
}

async fn update(
    state: web::Data<AppState>,
    ctx: RequestCtx,
    path: web::Path<i64>,
    form: HtmlForm<CampaignDraft>,
) -> AppResult<HttpResponse> {
    let actor = ctx.actor()?;
    let id = path.into_inner();
    let c = service::get_campaign(&state.db, actor, id).await?;
    match service::update_campaign(&state.db, actor, id, &form).await {
        Ok(_) => Ok(see_other(&format!("/campaigns/{id}?notice=campaign-saved"))),
        Err(AppError::Invalid(errors)) => {
            let mut data = form_data(&state, &ctx, &form).await?;
            data["campaign"] = json!(c);
            state.form_errors(&ctx, "campaigns/form", data, &errors)
        }
        Err(e) => Err(e),
    }
}

#[derive(Debug, Default, Deserialize)]
struct StatusForm {
    #[serde(default)]
    status: String,
}

async fn status(
    state: web::Data<AppState>,
    ctx: RequestCtx,
    path: web::Path<i64>,
    form: web::Form<StatusForm>,
) -> AppResult<HttpResponse> {
    let id = path.into_inner();
    service::change_status(&state.db, ctx.actor()?, id, &form.status).await?;
    Ok(see_other(&format!(
        "/campaigns/{id}?notice=campaign-status"
    )))
}

// ---------------------------------------------------------------------------------------------
// Activities

async fn activity_list(
    state: web::Data<AppState>,
    ctx: RequestCtx,
    filter: Query<ActivityFilter>,
    paging: Query<PageQuery>,
) -> AppResult<HttpResponse> {
    let actor = ctx.actor()?;
    let page = activities::list_activities(
        &state.db,
        actor,
        &filter,
        PageParams::try_from(&*paging)?,
        state.tz(),
    )
    .await?;
    let provinces = crate::org::service::provinces_in_scope(&state.db, actor).await?;
    let campaigns = service::options(&state.db, actor).await?;
    state.page(
        &ctx,
        "campaigns/activities",
        json!({
            "activities": page, "filter": &*filter, "provinces": provinces,
            "campaigns": campaigns, "channels": Channel::codes(), "groups": Channel::GROUPS,
            "statuses": ActivityStatus::codes(), "can_plan": service::require_planner(actor).is_ok(),
        }),
    )
}

async fn activity_form_data(
    state: &AppState,
    ctx: &RequestCtx,
    draft: &ActivityDraft,
) -> AppResult<Value> {
    let actor = ctx.actor()?;
    let campaigns: Vec<Value> = service::open_campaigns(&state.db, actor)
        .await?
        .into_iter()
        .map(|(id, name)| json!({"id": id.to_string(), "name": name}))
        .collect();
    Ok(json!({
        "form": draft,
        "campaigns": campaigns,
        "channels": Channel::codes(),
        "statuses": ActivityStatus::codes(),
        "topics": topic_options(state, &draft.topics).await?,
        "provinces": crate::org::service::provinces_in_scope(&state.db, actor).await?,
    }))
}

fn activity_draft_of(a: &ActivityView, tz: chrono_tz::Tz) -> ActivityDraft {
    let start = a.starts_at.with_timezone(&tz);
    let end = a.ends_at.map(|e| e.with_timezone(&tz));
    ActivityDraft {
        campaign_id: Some(a.campaign_id.to_string()),
        channel: a.channel.code().into(),
        title: a.title.clone(),
        date: start.date_naive().to_string(),
        start_time: start.format("%H:%M").to_string(),
        end_date: end.map(|e| e.date_naive().to_string()).unwrap_or_default(),
        end_time: end
            .map(|e| e.format("%H:%M").to_string())
            .unwrap_or_default(),
        owner_user_id: a.owner.as_ref().map(|o| o.id.to_string()),
        status: a.status.code().into(),
        topics: a.topics.clone(),
        province_code: a
            .province
            .as_ref()
            .map(|p| p.code.clone())
            .unwrap_or_default(),
        school_code: a
            .school
            .as_ref()
            .map(|s| s.code.clone())
            .unwrap_or_default(),
        cost_vnd: Some(a.cost_vnd.to_string()),
        notes: a.notes.clone(),
    }
}

#[derive(Debug, Default, Deserialize)]
struct NewActivityQuery {
    campaign: Option<i64>,
    channel: Option<String>,
}

async fn activity_new_form(
    state: web::Data<AppState>,
    ctx: RequestCtx,
    q: Query<NewActivityQuery>,
) -> AppResult<HttpResponse> {
    let actor = ctx.actor()?;
    service::require_planner(actor)?;
    let mut draft = ActivityDraft {
        campaign_id: q.campaign.map(|c| c.to_string()),
        channel: q.channel.clone().unwrap_or_else(|| "newspaper".into()),
        date: Utc::now()
            .with_timezone(&state.tz())
            .date_naive()
            .to_string(),
        start_time: "08:00".into(),
        status: "planned".into(),
        ..Default::default()
    };
    if let Some(code) = crate::org::service::own_province_code(&state.db, actor).await? {
        draft.province_code = code;
    }
    let data = activity_form_data(&state, &ctx, &draft).await?;
    state.page(&ctx, "campaigns/activity_form", data)
}

async fn activity_create(
    state: web::Data<AppState>,
    ctx: RequestCtx,
    form: HtmlForm<ActivityDraft>,
) -> AppResult<HttpResponse> {
    match activities::create_activity(&state.db, ctx.actor()?, &form, state.tz()).await {
        Ok(a) => Ok(see_other(&format!(
            "/campaigns/{}?notice=activity-saved",
            a.campaign_id
        ))),
        Err(AppError::Invalid(errors)) => {
            let data = activity_form_data(&state, &ctx, &form).await?;
            state.form_errors(&ctx, "campaigns/activity_form", data, &errors)
        }
        Err(e) => Err(e),
    }
}

async fn activity_show(
    state: web::Data<AppState>,
    ctx: RequestCtx,
    path: web::Path<i64>,
) -> AppResult<HttpResponse> {
    let a = activities::get_activity(&state.db, ctx.actor()?, path.into_inner()).await?;
    state.page(
        &ctx,
        "campaigns/activity",
        json!({"a": a, "topic_names": topic_names(&state, &ctx).await?}),
    )
}

async fn activity_edit_form(
    state: web::Data<AppState>,
    ctx: RequestCtx,
    path: web::Path<i64>,
) -> AppResult<HttpResponse> {
    let a = activities::get_activity(&state.db, ctx.actor()?, path.into_inner()).await?;
    if !a.editable {
        return Err(AppError::Forbidden);
    }
    let mut data = activity_form_data(&state, &ctx, &activity_draft_of(&a, state.tz())).await?;
    data["activity"] = json!(a);
    state.page(&ctx, "campaigns/activity_form", data)
}

async fn activity_update(
    state: web::Data<AppState>,
    ctx: RequestCtx,
    path: web::Path<i64>,
    form: HtmlForm<ActivityDraft>,
) -> AppResult<HttpResponse> {
    let actor = ctx.actor()?;
    let id = path.into_inner();
    let a = activities::get_activity(&state.db, actor, id).await?;
    match activities::update_activity(&state.db, actor, id, &form, state.tz()).await {
        Ok(a) => Ok(see_other(&format!(
            "/activities/{}?notice=activity-saved",
            a.id
        ))),
        Err(AppError::Invalid(errors)) => {
            let mut data = activity_form_data(&state, &ctx, &form).await?;
            data["activity"] = json!(a);
            state.form_errors(&ctx, "campaigns/activity_form", data, &errors)
        }
        Err(e) => Err(e),
    }
}

// ---------------------------------------------------------------------------------------------
// Calendar

#[derive(Debug, Default, Deserialize, serde::Serialize)]
struct CalendarPageQuery {
    /// `month` (default) or `week`.
    view: Option<String>,
    /// Any day of the month or week shown.
    date: Option<String>,
    campaign: Option<i64>,
    province: Option<String>,
    channel: Option<String>,
}

async fn calendar_page(
    state: web::Data<AppState>,
    ctx: RequestCtx,
    q: Query<CalendarPageQuery>,
) -> AppResult<HttpResponse> {
    let actor = ctx.actor()?;
    let tz = state.tz();
    let today = Utc::now().with_timezone(&tz).date_naive();
    let anchor = match q.date.as_deref().filter(|s| !s.is_empty()) {
        Some(d) => super::kinds::day(d).map_err(|m| AppError::invalid("date", m))?,
        None => today,
    };
    let week = q.view.as_deref() == Some("week");
    let (start, end) = calendar::grid(anchor, week, today);
    let items = calendar::items(
        &state.db,
        actor,
        &CalendarQuery {
            from: Some(start.to_string()),
            to: Some(end.to_string()),
            campaign: q.campaign,
            province: q.province.clone(),
            channel: q.channel.clone(),
            status: None,
        },
        tz,
    )
    .await?;
    let weeks = calendar::weeks(start, end, (!week).then(|| anchor.month()), today, items);
    let (prev, next): (NaiveDate, NaiveDate) = if week {
        (anchor - Duration::days(7), anchor + Duration::days(7))
    } else {
        let first = anchor.with_day(1).expect("day 1");
        let prev = (first - Duration::days(1)).with_day(1).expect("day 1");
        let next = (first + Duration::days(32)).with_day(1).expect("day 1");
        (prev, next)
    };
    let campaigns = service::options(&state.db, actor).await?;
    let provinces = crate::org::service::provinces_in_scope(&state.db, actor).await?;
    state.page(
        &ctx,
        "campaigns/calendar",
        json!({
            "weeks": weeks, "week_view": week, "anchor": anchor.to_string(),
            "title_month": format!("{:02}/{}", anchor.month(), anchor.year()),
            "start": start.to_string(), "end": end.to_string(),
            "prev": prev.to_string(), "next": next.to_string(), "today": today.to_string(),
            "filter": &*q, "campaigns": campaigns, "provinces": provinces,
            "groups": Channel::GROUPS,
        }),
    )
}

// ---------------------------------------------------------------------------------------------
// Topics

async fn topics(state: web::Data<AppState>, ctx: RequestCtx) -> AppResult<HttpResponse> {
    let actor = ctx.actor()?;
    let list = service::list_topics(&state.db.conn).await?;
    state.page(
        &ctx,
        "campaigns/topics",
        json!({"topics": list, "is_admin": actor.is_admin(), "form": {}}),
    )
}

async fn topic_create(
    state: web::Data<AppState>,
    ctx: RequestCtx,
    form: HtmlForm<TopicDraft>,
) -> AppResult<HttpResponse> {
    let actor = ctx.actor()?;
    match service::save_topic(&state.db, actor, None, &form).await {
        Ok(_) => Ok(see_other("/topics?notice=topic-saved")),
        Err(AppError::Invalid(errors)) => {
            let list = service::list_topics(&state.db.conn).await?;
            state.form_errors(
                &ctx,
                "campaigns/topics",
                json!({"topics": list, "is_admin": true, "form": &*form}),
                &errors,
            )
        }
        Err(e) => Err(e),
    }
}

#[derive(Debug, Default, Deserialize)]
struct TopicEditForm {
    #[serde(default)]
    name_vi: String,
    #[serde(default)]
    name_en: String,
    #[serde(default)]
    position: String,
    #[serde(default)]
    active: Option<String>,
}

async fn topic_update(
    state: web::Data<AppState>,
    ctx: RequestCtx,
    path: web::Path<String>,
    form: web::Form<TopicEditForm>,
) -> AppResult<HttpResponse> {
    let draft = TopicDraft {
        code: String::new(),
        name_vi: form.name_vi.clone(),
        name_en: form.name_en.clone(),
        position: Some(form.position.clone()).filter(|s| !s.trim().is_empty()),
        active: Some(form.active.is_some()),
    };
    match service::save_topic(&state.db, ctx.actor()?, Some(&path), &draft).await {
        Ok(_) => Ok(see_other("/topics?notice=topic-saved")),
        Err(AppError::Invalid(errors)) => {
            let list = service::list_topics(&state.db.conn).await?;
            state.form_errors(
                &ctx,
                "campaigns/topics",
                json!({"topics": list, "is_admin": true, "form": {}}),
                &errors,
            )
        }
        Err(e) => Err(e),
    }
}
