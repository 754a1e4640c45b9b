//! Pages of broadcast waves and reminder rules: lists, forms with a preview (the estimate of a
//! wave, the next fire times of a rule), the confirmation step, progress, cancel, retry of
//! failures, dry runs, and a school's own HI collection deadline.
use actix_web::{web, HttpResponse};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::rules::{self, RuleDraft, RuleView};
use super::steps::StepDraft;
use super::waves::{self, WaveDraft, WaveView};
use crate::campaigns::entity::activity;
use crate::campaigns::service::require_planner;
use crate::error::{AppError, AppResult, FieldErrors, Msg};
use crate::messaging::entity::template;
use crate::web::context::RequestCtx;
use crate::web::extract::HtmlForm;
use crate::web::render::see_other;
use crate::web::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/waves", web::get().to(wave_list))
        .route("/waves/new", web::get().to(wave_new))
        .route("/waves/new", web::post().to(wave_create))
        .route("/waves/{id}", web::get().to(wave_show))
        .route("/waves/{id}/edit", web::get().to(wave_edit))
        .route("/waves/{id}/edit", web::post().to(wave_update))
        .route("/waves/{id}/confirm", web::post().to(wave_confirm))
        .route("/waves/{id}/cancel", web::post().to(wave_cancel))
        .route("/waves/{id}/retry", web::post().to(wave_retry))
        .route("/rules", web::get().to(rule_list))
        .route("/rules/new", web::get().to(rule_new))
        .route("/rules/new", web::post().to(rule_create))
        .route("/rules/{id}", web::get().to(rule_show))
        .route("/rules/{id}/edit", web::get().to(rule_edit))
        .route("/rules/{id}/edit", web::post().to(rule_update))
        .route("/rules/{id}/active", web::post().to(rule_active))
        .route("/rules/{id}/dry-run", web::post().to(rule_dry_run))
        .route("/schools/{id}/deadline", web::post().to(school_deadline));
}

/// The channel steps as flat form fields: `step1` … `step4` and their English `step1_en` ….
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct StepFields {
    pub step1: String,
    pub step1_en: String,
    pub step2: String,
    pub step2_en: String,
    pub step3: String,
    pub step3_en: String,
    pub step4: String,
    pub step4_en: String,
}

impl StepFields {
    fn pairs(&self) -> [(&str, &str); 4] {
        [
            (&self.step1, &self.step1_en),
            (&self.step2, &self.step2_en),
            (&self.step3, &self.step3_en),
            (&self.step4, &self.step4_en),
        ]
    }

    fn drafts(&self, errors: &mut FieldErrors) -> Vec<StepDraft> {
        let mut out = Vec::new();
        for (i, (main, en)) in self.pairs().iter().enumerate() {
            let main = id_field(main, &format!("step{}", i + 1), errors);
            let en = id_field(en, &format!("step{}_en", i + 1), errors);
            if main.is_some() || en.is_some() {
                out.push(StepDraft {
                    template_id: main,
                    template_en_id: en,
                });
            }
        }
        out
    }

    /// The four rows of the form: number, chosen templates (errors are filled in by
    /// [`with_slot_errors`]).
    fn slots(&self) -> Value {
        json!(self
            .pairs()
            .iter()
            .enumerate()
            .map(|(i, (main, en))| json!({"n": (i + 1).to_string(), "value": main, "value_en": en}))
            .collect::<Vec<_>>())
    }

    fn of(drafts: &[StepDraft]) -> Self {
        let text = |v: Option<i64>| v.map(|v| v.to_string()).unwrap_or_default();
        let get = |i: usize| drafts.get(i).cloned().unwrap_or_default();
        StepFields {
            step1: text(get(0).template_id),
            step1_en: text(get(0).template_en_id),
            step2: text(get(1).template_id),
            step2_en: text(get(1).template_en_id),
            step3: text(get(2).template_id),
            step3_en: text(get(2).template_en_id),
            step4: text(get(3).template_id),
            step4_en: text(get(3).template_en_id),
        }
    }
}

/// An id typed in a form: empty is None; anything else must be a number.
fn id_field(raw: &str, field: &str, errors: &mut FieldErrors) -> Option<i64> {
    let raw = raw.trim();
    if raw.is_empty() {
        return None;
    }
    match raw.parse::<i64>() {
        Ok(v) => Some(v),
        Err(_) => {
            errors.add(field, Msg::new("error-not-a-number"));
            None
        }
    }
}

/// Errors of the service named as the form's fields (`steps[1].template_id` → `step2`).
fn form_field_errors(errors: FieldErrors) -> FieldErrors {
    FieldErrors(
        errors
            .0
            .into_iter()
            .map(|mut e| {
                if let Some(rest) = e.field.strip_prefix("steps[") {
                    if let Some((i, tail)) = rest.split_once(']') {
                        let n = i.parse::<usize>().unwrap_or(0) + 1;
                        e.field = if tail.contains("en") {
                            format!("step{n}_en")
                        } else {
                            format!("step{n}")
                        };
                    }
                } else if e.field == "steps" {
                    e.field = "step1".into();
                }
                e
            })
            .collect(),
    )
}

/// Puts the step errors beside their rows.
fn with_slot_errors(state: &AppState, ctx: &RequestCtx, data: &mut Value, errors: &FieldErrors) {
    let Some(slots) = data["slots"].as_array_mut() else {
        return;
    };
    for e in &errors.0 {
        let Some(rest) = e.field.strip_prefix("step") else {
            continue;
        };
        let (n, key) = match rest.strip_suffix("_en") {
            Some(n) => (n, "error_en"),
            None => (rest, "error"),
        };
        if let Some(slot) = n
            .parse::<usize>()
            .ok()
            .and_then(|n| slots.get_mut(n.saturating_sub(1)))
        {
            slot[key] = json!(state.t(ctx, &e.msg));
        }
    }
}

/// Live templates as choices: `(id, "[channel] name (language)")`, with the English ones apart.
async fn template_options(state: &AppState) -> AppResult<Value> {
    let all = template::Entity::find()
        .filter(template::Column::Archived.eq(false))
        .order_by_asc(template::Column::Channel)
        .order_by_asc(template::Column::Name)
        .all(&state.db.conn)
        .await?;
    let item = |t: &template::Model| json!({"id": t.id.to_string(), "name": t.name, "channel": t.channel, "language": t.language});
    Ok(json!({
        "all": all.iter().map(item).collect::<Vec<_>>(),
        "english": all.iter().filter(|t| t.language == "en").map(item).collect::<Vec<_>>(),
    }))
}

async fn choices(state: &AppState, ctx: &RequestCtx) -> AppResult<Value> {
    let actor = ctx.actor()?;
    let campaigns: Vec<Value> = crate::campaigns::service::open_campaigns(&state.db, actor)
        .await?
        .into_iter()
        .map(|(id, name)| json!({"id": id.to_string(), "name": name}))
        .collect();
    let campaign_ids: Vec<i64> = campaigns
        .iter()
        .filter_map(|c| c["id"].as_str().and_then(|s| s.parse().ok()))
        .collect();
    let activities: Vec<Value> = activity::Entity::find()
        .filter(activity::Column::CampaignId.is_in(campaign_ids))
        .filter(activity::Column::Channel.eq("parent_wave"))
        .order_by_desc(activity::Column::StartsAt)
        .all(&state.db.conn)
        .await?
        .into_iter()
        .map(|a| json!({"id": a.id.to_string(), "name": a.title}))
        .collect();
    let audiences: Vec<Value> = super::audience::list(&state.db, actor)
        .await?
        .into_iter()
        .map(|(a, n)| json!({"id": a.id.to_string(), "name": a.name, "guardians": n}))
        .collect();
    Ok(json!({
        "campaigns": campaigns, "activities": activities, "audiences": audiences,
        "templates": template_options(state).await?,
    }))
}

// ----- waves -----

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct WaveForm {
    pub name: String,
    pub campaign_id: String,
    pub activity_id: String,
    pub audience_id: String,
    #[serde(flatten)]
    pub steps: StepFields,
    /// `yyyy-mm-ddTHH:MM` in Vietnam time; empty for now.
    pub send_at: String,
    /// `preview` or `save`.
    pub action: String,
}

impl WaveForm {
    fn draft(&self) -> Result<WaveDraft, FieldErrors> {
        let mut errors = FieldErrors::new();
        let d = WaveDraft {
            name: self.name.clone(),
            campaign_id: id_field(&self.campaign_id, "campaign_id", &mut errors),
            activity_id: id_field(&self.activity_id, "activity_id", &mut errors),
            audience_id: id_field(&self.audience_id, "audience_id", &mut errors),
            steps: self.steps.drafts(&mut errors),
            send_at: self.send_at.clone(),
        };
        if errors.is_empty() {
            Ok(d)
        } else {
            Err(errors)
        }
    }

    fn of(w: &WaveView, tz: chrono_tz::Tz) -> Self {
        WaveForm {
            name: w.name.clone(),
            campaign_id: w.campaign_id.to_string(),
            activity_id: w.activity_id.map(|a| a.to_string()).unwrap_or_default(),
            audience_id: w.audience_id.to_string(),
            steps: StepFields::of(&super::steps::drafts_of(&w.steps)),
            send_at: w
                .send_at
                .with_timezone(&tz)
                .format("%Y-%m-%dT%H:%M")
                .to_string(),
            action: String::new(),
        }
    }
}

async fn wave_list(state: web::Data<AppState>, ctx: RequestCtx) -> AppResult<HttpResponse> {
    let items = waves::list(&state.db, ctx.actor()?).await?;
    state.page(&ctx, "reminders/waves", json!({"waves": items}))
}

async fn wave_form_page(
    state: &AppState,
    ctx: &RequestCtx,
    id: Option<i64>,
    form: &WaveForm,
    extra: Value,
) -> AppResult<Value> {
    let mut data = choices(state, ctx).await?;
    data["form"] = json!(form);
    data["slots"] = form.steps.slots();
    data["id"] = json!(id);
    if let (Value::Object(d), Value::Object(e)) = (&mut data, extra) {
        d.extend(e);
    }
    Ok(data)
}

async fn wave_new(state: web::Data<AppState>, ctx: RequestCtx) -> AppResult<HttpResponse> {
    require_planner(ctx.actor()?)?;
    let data = wave_form_page(&state, &ctx, None, &WaveForm::default(), json!({})).await?;
    state.page(&ctx, "reminders/wave_form", data)
}

async fn wave_submit(
    state: &AppState,
    ctx: &RequestCtx,
    id: Option<i64>,
    form: &WaveForm,
) -> AppResult<HttpResponse> {
    let actor = ctx.actor()?;
    require_planner(actor)?;
    let composer = state.composer();
    let result = match form.draft() {
        Err(errors) => Err(AppError::Invalid(errors)),
        Ok(d) if form.action == "preview" => {
            match waves::preview(&state.db, actor, &composer, &state.settings, &d).await {
                Ok(e) => {
                    let data = wave_form_page(state, ctx, id, form, json!({"estimate": e})).await?;
                    return state.page(ctx, "reminders/wave_form", data);
                }
                Err(e) => Err(e),
            }
        }
        Ok(d) => waves::save(&state.db, actor, &composer, &state.settings, id, &d)
            .await
            .map(|w| w.id),
    };
    match result {
        Ok(id) => Ok(see_other(&format!("/waves/{id}?notice=wave-saved"))),
        Err(AppError::Invalid(errors)) => {
            let errors = form_field_errors(errors);
            let mut data = wave_form_page(state, ctx, id, form, json!({})).await?;
            with_slot_errors(state, ctx, &mut data, &errors);
            state.form_errors(ctx, "reminders/wave_form", data, &errors)
        }
        Err(e) => Err(e),
    }
}

async fn wave_create(
    state: web::Data<AppState>,
    ctx: RequestCtx,
    form: HtmlForm<WaveForm>,
) -> AppResult<HttpResponse> {
    wave_submit(&state, &ctx, None, &form).await
}

async fn wave_edit(
    state: web::Data<AppState>,
    ctx: RequestCtx,
    path: web::Path<i64>,
) -> AppResult<HttpResponse> {
    let d = waves::get(&state.db, ctx.actor()?, *path).await?;
    if d.wave.status != waves::status::DRAFT {
        return Ok(see_other(&format!("/waves/{}", d.wave.id)));
    }
    let form = WaveForm::of(&d.wave, state.tz());
    let data = wave_form_page(&state, &ctx, Some(d.wave.id), &form, json!({})).await?;
    state.page(&ctx, "reminders/wave_form", data)
}

async fn wave_update(
    state: web::Data<AppState>,
    ctx: RequestCtx,
    path: web::Path<i64>,
    form: HtmlForm<WaveForm>,
) -> AppResult<HttpResponse> {
    wave_submit(&state, &ctx, Some(*path), &form).await
}

async fn wave_show(
    state: web::Data<AppState>,
    ctx: RequestCtx,
    path: web::Path<i64>,
) -> AppResult<HttpResponse> {
    let d = waves::get(&state.db, ctx.actor()?, *path).await?;
    let status = d.wave.status.clone();
    let open = [
        waves::status::DRAFT,
        waves::status::SCHEDULED,
        waves::status::MATERIALISING,
        waves::status::SENDING,
    ]
    .contains(&status.as_str());
    let live = [
        waves::status::SCHEDULED,
        waves::status::MATERIALISING,
        waves::status::SENDING,
    ]
    .contains(&status.as_str());
    state.page(
        &ctx,
        "reminders/wave",
        json!({
            "w": d.wave, "funnel": d.progress, "draft": status == waves::status::DRAFT,
            "can_cancel": open, "refresh": live,
        }),
    )
}

async fn wave_confirm(
    state: web::Data<AppState>,
    ctx: RequestCtx,
    path: web::Path<i64>,
) -> AppResult<HttpResponse> {
    waves::confirm(
        &state.db,
        ctx.actor()?,
        &state.composer(),
        &state.settings,
        *path,
    )
    .await?;
    Ok(see_other(&format!(
        "/waves/{}?notice=wave-confirmed",
        *path
    )))
}

async fn wave_cancel(
    state: web::Data<AppState>,
    ctx: RequestCtx,
    path: web::Path<i64>,
) -> AppResult<HttpResponse> {
    waves::cancel(&state.db, ctx.actor()?, *path).await?;
    Ok(see_other(&format!(
        "/waves/{}?notice=wave-cancelled",
        *path
    )))
}

async fn wave_retry(
    state: web::Data<AppState>,
    ctx: RequestCtx,
    path: web::Path<i64>,
) -> AppResult<HttpResponse> {
    waves::retry_failures(&state.db, ctx.actor()?, *path).await?;
    Ok(see_other(&format!(
        "/waves/{}?notice=messages-retried",
        *path
    )))
}

// ----- rules -----

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct RuleForm {
    pub name: String,
    pub campaign_id: String,
    pub audience_id: String,
    #[serde(flatten)]
    pub steps: StepFields,
    pub schedule_kind: String,
    pub cron: String,
    pub offsets: String,
    pub at_time: String,
    pub max_per_guardian: String,
    pub thank_you_template_id: String,
    /// A check box: present when ticked.
    pub active: Option<String>,
    pub action: String,
}

impl RuleForm {
    fn draft(&self) -> Result<RuleDraft, FieldErrors> {
        let mut errors = FieldErrors::new();
        let max = id_field(&self.max_per_guardian, "max_per_guardian", &mut errors);
        let d = RuleDraft {
            name: self.name.clone(),
            campaign_id: id_field(&self.campaign_id, "campaign_id", &mut errors),
            audience_id: id_field(&self.audience_id, "audience_id", &mut errors),
            steps: self.steps.drafts(&mut errors),
            schedule_kind: self.schedule_kind.clone(),
            cron: self.cron.clone(),
            offsets: self.offsets.clone(),
            at_time: self.at_time.clone(),
            max_per_guardian: max.map(|m| m.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32),
            thank_you_template_id: id_field(
                &self.thank_you_template_id,
                "thank_you_template_id",
                &mut errors,
            ),
            active: self.active.is_some(),
        };
        if errors.is_empty() {
            Ok(d)
        } else {
            Err(errors)
        }
    }

    fn of(r: &RuleView) -> Self {
        RuleForm {
            name: r.name.clone(),
            campaign_id: r.campaign_id.to_string(),
            audience_id: r.audience_id.to_string(),
            steps: StepFields::of(&super::steps::drafts_of(&r.steps)),
            schedule_kind: r.schedule_kind.clone(),
            cron: r.cron.clone().unwrap_or_default(),
            offsets: r.offsets.clone().unwrap_or_default(),
            at_time: r.at_time.clone().unwrap_or_default(),
            max_per_guardian: r
                .max_per_guardian
                .map(|m| m.to_string())
                .unwrap_or_default(),
            thank_you_template_id: r
                .thank_you
                .as_ref()
                .map(|t| t.template_id.to_string())
                .unwrap_or_default(),
            active: r.active.then(|| "on".to_string()),
            action: String::new(),
        }
    }
}

async fn rule_list(state: web::Data<AppState>, ctx: RequestCtx) -> AppResult<HttpResponse> {
    let items = rules::list(&state.db, ctx.actor()?, &state.settings).await?;
    state.page(&ctx, "reminders/rules", json!({"rules": items}))
}

async fn rule_form_page(
    state: &AppState,
    ctx: &RequestCtx,
    id: Option<i64>,
    form: &RuleForm,
    extra: Value,
) -> AppResult<Value> {
    let mut data = choices(state, ctx).await?;
    data["form"] = json!(form);
    data["slots"] = form.steps.slots();
    data["id"] = json!(id);
    data["is_deadline"] = json!(form.schedule_kind == rules::DEADLINE);
    if let (Value::Object(d), Value::Object(e)) = (&mut data, extra) {
        d.extend(e);
    }
    Ok(data)
}

async fn rule_new(state: web::Data<AppState>, ctx: RequestCtx) -> AppResult<HttpResponse> {
    require_planner(ctx.actor()?)?;
    let form = RuleForm {
        schedule_kind: rules::CRON.into(),
        cron: "0 8 * * 1".into(),
        at_time: "19:00".into(),
        offsets: "-7,-3,-1".into(),
        active: Some("on".into()),
        ..Default::default()
    };
    let data = rule_form_page(&state, &ctx, None, &form, json!({})).await?;
    state.page(&ctx, "reminders/rule_form", data)
}

async fn rule_submit(
    state: &AppState,
    ctx: &RequestCtx,
    id: Option<i64>,
    form: &RuleForm,
) -> AppResult<HttpResponse> {
    let actor = ctx.actor()?;
    require_planner(actor)?;
    let result = match form.draft() {
        Err(errors) => Err(AppError::Invalid(errors)),
        Ok(d) if form.action == "preview" => {
            match rules::preview_schedule(
                &state.db,
                actor,
                &state.settings,
                &d.schedule_kind,
                &d.cron,
                &d.offsets,
                &d.at_time,
                d.campaign_id,
            )
            .await
            {
                Ok(times) => {
                    let data =
                        rule_form_page(state, ctx, id, form, json!({"upcoming": times})).await?;
                    return state.page(ctx, "reminders/rule_form", data);
                }
                Err(e) => Err(e),
            }
        }
        Ok(d) => rules::save(&state.db, actor, &state.settings, id, &d)
            .await
            .map(|r| r.id),
    };
    match result {
        Ok(id) => Ok(see_other(&format!("/rules/{id}?notice=rule-saved"))),
        Err(AppError::Invalid(errors)) => {
            let errors = form_field_errors(errors);
            let mut data = rule_form_page(state, ctx, id, form, json!({})).await?;
            with_slot_errors(state, ctx, &mut data, &errors);
            state.form_errors(ctx, "reminders/rule_form", data, &errors)
        }
        Err(e) => Err(e),
    }
}

async fn rule_create(
    state: web::Data<AppState>,
    ctx: RequestCtx,
    form: HtmlForm<RuleForm>,
) -> AppResult<HttpResponse> {
    rule_submit(&state, &ctx, None, &form).await
}

async fn rule_edit(
    state: web::Data<AppState>,
    ctx: RequestCtx,
    path: web::Path<i64>,
) -> AppResult<HttpResponse> {
    let d = rules::get(&state.db, ctx.actor()?, &state.settings, *path).await?;
    let form = RuleForm::of(&d.rule);
    let data = rule_form_page(&state, &ctx, Some(d.rule.id), &form, json!({})).await?;
    state.page(&ctx, "reminders/rule_form", data)
}

async fn rule_update(
    state: web::Data<AppState>,
    ctx: RequestCtx,
    path: web::Path<i64>,
    form: HtmlForm<RuleForm>,
) -> AppResult<HttpResponse> {
    rule_submit(&state, &ctx, Some(*path), &form).await
}

async fn rule_page(
    state: &AppState,
    ctx: &RequestCtx,
    id: i64,
    extra: Value,
) -> AppResult<HttpResponse> {
    let d = rules::get(&state.db, ctx.actor()?, &state.settings, id).await?;
    let mut data = json!({"r": d.rule, "occurrences": d.occurrences});
    if let (Value::Object(d), Value::Object(e)) = (&mut data, extra) {
        d.extend(e);
    }
    state.page(ctx, "reminders/rule", data)
}

async fn rule_show(
    state: web::Data<AppState>,
    ctx: RequestCtx,
    path: web::Path<i64>,
) -> AppResult<HttpResponse> {
    rule_page(&state, &ctx, *path, json!({})).await
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ActiveForm {
    /// `on` or `off`.
    pub active: String,
}

async fn rule_active(
    state: web::Data<AppState>,
    ctx: RequestCtx,
    path: web::Path<i64>,
    form: HtmlForm<ActiveForm>,
) -> AppResult<HttpResponse> {
    let on = form.active == "on";
    rules::set_active(&state.db, ctx.actor()?, &state.settings, *path, on).await?;
    Ok(see_other(&format!("/rules/{}?notice=rule-saved", *path)))
}

async fn rule_dry_run(
    state: web::Data<AppState>,
    ctx: RequestCtx,
    path: web::Path<i64>,
) -> AppResult<HttpResponse> {
    let d = rules::dry_run(
        &state.db,
        ctx.actor()?,
        &state.composer(),
        &state.settings,
        *path,
    )
    .await?;
    rule_page(&state, &ctx, *path, json!({"dry": d})).await
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct DeadlineForm {
    pub school_year: String,
    /// yyyy-mm-dd or dd/mm/yyyy; empty for the year's.
    pub deadline: String,
}

async fn school_deadline(
    state: web::Data<AppState>,
    ctx: RequestCtx,
    path: web::Path<i64>,
    form: HtmlForm<DeadlineForm>,
) -> AppResult<HttpResponse> {
    let deadline = match form.deadline.trim() {
        "" => None,
        d => Some(crate::web::format::parse_day(d, "deadline")?),
    };
    rules::set_school_deadline(&state.db, ctx.actor()?, *path, &form.school_year, deadline).await?;
    rules::reschedule_deadline_rules(&state.db, &state.settings).await?;
    Ok(see_other(&format!(
        "/schools/{}?notice=deadline-saved",
        *path
    )))
}
