//! Broadcast waves: a one-off send-out in a campaign (optionally one of its "parent wave"
//! activities) — a saved audience, the channels in fallback order and a send time. A wave is
//! drafted with its recipient count, SMS segments and estimated cost, confirmed, then the
//! scheduler materialises it when it is due; it can be cancelled until its last message is
//! sent, and its progress is the delivery funnel of its messages.
//!
//! draft → scheduled (confirmed) → materialising → sending → done; draft / scheduled /
//! materialising / sending → cancelled.
use chrono::{DateTime, Duration, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Set,
};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::audience::{self, Spec};
use super::entity::wave;
use super::materialise::{self, Job, Progress, Run, StepPlan};
use super::steps::{self, Step, StepDraft};
use crate::audit;
use crate::auth::actor::{Actor, Scope};
use crate::campaigns::entity::{activity, campaign};
use crate::campaigns::kinds::{CampaignStatus, Channel as ActivityChannel};
use crate::campaigns::service::require_planner;
use crate::config::Settings;
use crate::contacts::fields::Channel;
use crate::db::Db;
use crate::delivery::compose::{Composer, Late};
use crate::delivery::entity::message;
use crate::delivery::outbox::{self, source};
use crate::delivery::service::{self as delivery, Funnel, MessageFilter};
use crate::error::{AppError, AppResult, FieldErrors, Msg};
use crate::fields::required_text;
use crate::messaging::render::Rendered;
use crate::web::format::parse_moment;

pub mod status {
    pub const DRAFT: &str = "draft";
    pub const SCHEDULED: &str = "scheduled";
    pub const MATERIALISING: &str = "materialising";
    pub const SENDING: &str = "sending";
    pub const DONE: &str = "done";
    pub const CANCELLED: &str = "cancelled";
}

/// A wave as a form or the API sends it.
#[derive(Debug, Clone, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(default)]
pub struct WaveDraft {
    pub name: String,
    pub campaign_id: Option<i64>,
    /// A `parent_wave` activity of the campaign this wave carries out.
    pub activity_id: Option<i64>,
    pub audience_id: Option<i64>,
    /// The channels in fallback order: the first the parent consented to and can be reached
    /// on is used; if it fails for good (not a Zalo user, say), the next.
    pub steps: Vec<StepDraft>,
    /// When to send: RFC 3339, or Vietnam time as `yyyy-mm-ddTHH:MM`; empty for now.
    pub send_at: String,
}

/// What a wave would do if sent now.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Estimate {
    /// Guardians who would get a message (one each, siblings together).
    pub recipients: i64,
    pub steps: Vec<StepPlan>,
    /// Guardians the frequency cap holds back.
    pub held_by_cap: i64,
    /// SMS messages, their segments (estimated from rendered samples) and cost.
    pub sms_messages: i64,
    pub sms_segments: i64,
    pub cost_vnd: i64,
    /// A few messages as their recipients would read them.
    pub samples: Vec<SampleMessage>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SampleMessage {
    pub guardian_id: i64,
    pub channel: Channel,
    #[schema(value_type = Object)]
    pub content: Rendered,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct WaveView {
    pub id: i64,
    pub name: String,
    pub campaign_id: i64,
    pub campaign: String,
    pub activity_id: Option<i64>,
    pub audience_id: i64,
    pub audience: String,
    pub steps: Vec<Step>,
    pub send_at: DateTime<Utc>,
    pub status: String,
    /// The recipient count, segments and cost as estimated when it was saved or confirmed.
    pub recipients: Option<i64>,
    pub sms_segments: Option<i32>,
    pub cost_vnd: Option<i64>,
    /// Messages queued so far.
    pub queued: i64,
    pub confirmed_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct WaveDetail {
    pub wave: WaveView,
    /// Where its messages are.
    pub progress: Funnel,
}

/// Everything a draft becomes once checked.
pub struct Checked {
    pub name: String,
    pub campaign: campaign::Model,
    pub activity_id: Option<i64>,
    pub audience: audience::entity::Model,
    pub steps: Vec<Step>,
    pub send_at: DateTime<Utc>,
}

fn scope_province(actor: &Actor) -> Option<i64> {
    match actor.scope() {
        Scope::Province(p) => Some(p),
        _ => None,
    }
}

/// Waves the actor may see: all for national staff and admins; a province's own for its staff.
fn wave_scope(actor: &Actor) -> AppResult<Condition> {
    require_planner(actor)?;
    Ok(match actor.scope() {
        Scope::National => Condition::all(),
        Scope::Province(p) => Condition::all().add(wave::Column::ScopeProvinceId.eq(p)),
        Scope::Schools(_) => return Err(AppError::Forbidden),
    })
}

/// The campaign a wave or rule names: one the actor sees that still accepts plans (the problem
/// is recorded under `campaign_id` otherwise).
pub async fn open_campaign<C: ConnectionTrait>(
    conn: &C,
    actor: &Actor,
    id: Option<i64>,
    errors: &mut FieldErrors,
) -> AppResult<Option<campaign::Model>> {
    let Some(id) = id else {
        errors.add("campaign_id", Msg::new("error-required"));
        return Ok(None);
    };
    match crate::campaigns::service::visible(conn, actor, id).await {
        Ok(c) if crate::campaigns::service::accepts_plans(&c).is_ok() => Ok(Some(c)),
        Ok(_) => {
            errors.add("campaign_id", Msg::new("error-campaign-closed"));
            Ok(None)
        }
        Err(AppError::NotFound) => {
            errors.add("campaign_id", Msg::new("error-unknown-campaign"));
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// The saved audience a wave or rule names, if the actor may use it (else recorded under
/// `audience_id`).
pub async fn own_audience<C: ConnectionTrait>(
    conn: &C,
    actor: &Actor,
    id: Option<i64>,
    errors: &mut FieldErrors,
) -> AppResult<Option<audience::entity::Model>> {
    let Some(id) = id else {
        errors.add("audience_id", Msg::new("error-required"));
        return Ok(None);
    };
    match audience::visible(conn, actor, id).await {
        Ok(a) => Ok(Some(a)),
        Err(AppError::NotFound) => {
            errors.add("audience_id", Msg::new("error-unknown-audience"));
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// Checks a draft: a name, a campaign the actor sees that still accepts plans, an audience of
/// theirs, steps with live templates, a send time not in the past (a minute's slack).
pub async fn check<C: ConnectionTrait>(
    conn: &C,
    actor: &Actor,
    settings: &Settings,
    d: &WaveDraft,
) -> AppResult<Checked> {
    require_planner(actor)?;
    let mut errors = FieldErrors::new();
    let name = errors.take("name", required_text(&d.name, 200));
    let campaign = open_campaign(conn, actor, d.campaign_id, &mut errors).await?;
    let mut activity_id = None;
    if let (Some(aid), Some(c)) = (d.activity_id, &campaign) {
        match activity::Entity::find_by_id(aid).one(conn).await? {
            Some(a) if a.campaign_id == c.id && a.channel == ActivityChannel::ParentWave.code() => {
                activity_id = Some(a.id)
            }
            _ => errors.add("activity_id", Msg::new("error-unknown-activity")),
        }
    }
    let audience = own_audience(conn, actor, d.audience_id, &mut errors).await?;
    let steps = steps::validate(conn, &d.steps, &mut errors).await?;
    let now = Utc::now();
    let send_at = if d.send_at.trim().is_empty() {
        Some(now)
    } else {
        match parse_moment(&d.send_at, settings.timezone) {
            Ok(at) if at < now - Duration::minutes(1) => {
                errors.add("send_at", Msg::new("error-in-the-past"));
                None
            }
            Ok(at) if at > now + Duration::days(366) => {
                errors.add("send_at", Msg::new("error-too-far"));
                None
            }
            Ok(at) => Some(at),
            Err(m) => {
                errors.add("send_at", m);
                None
            }
        }
    };
    errors.into_result()?;
    match (name, campaign, audience, send_at) {
        (Some(name), Some(campaign), Some(audience), Some(send_at)) => Ok(Checked {
            name,
            campaign,
            activity_id,
            audience,
            steps,
            send_at,
        }),
        _ => Err(AppError::Internal(anyhow::anyhow!(
            "checked draft incomplete"
        ))),
    }
}

/// The materialisation job of a wave.
pub fn job_of(w: &wave::Model, campaign: campaign::Model, spec: Spec, settings: &Settings) -> Job {
    Job {
        source_kind: source::WAVE,
        source_id: w.id,
        occurrence_id: None,
        key_prefix: format!("wave:{}", w.id),
        campaign,
        scope_province_id: w.scope_province_id,
        spec,
        steps: steps::from_json(&w.steps),
        send_at: w.send_at,
        max_attempts: settings.max_attempts as i32,
        per_source_cap: None,
        deadlines: None,
        cap: settings.cap(),
        tz: settings.timezone,
    }
}

/// Counts a job's recipients per step, renders a few of its messages (one or two per step)
/// and estimates SMS segments and cost from them.
///
/// The samples are real parents' messages only for `actor`s who see parents' contact details;
/// for others they are the same templates filled with a made-up family (the counts and the
/// segment estimate still come from real messages).
pub async fn estimate(
    db: &Db,
    actor: &Actor,
    composer: &Composer<'_>,
    settings: &Settings,
    job: &Job,
) -> AppResult<Estimate> {
    let plans = materialise::plan(db, job, Utc::now(), 5).await?;
    let ids: Vec<i64> = plans
        .iter()
        .flat_map(|p| p.sample.iter().copied())
        .collect();
    let students = materialise::students_of(db, job, &ids).await?;
    let guardians: std::collections::HashMap<i64, String> =
        crate::contacts::entity::guardian::Entity::find()
            .filter(crate::contacts::entity::guardian::Column::Id.is_in(ids.clone()))
            .all(&db.conn)
            .await?
            .into_iter()
            .map(|g| (g.id, g.language))
            .collect();
    // Messages as they would be queued (not stored), for the composer.
    let mut fake = Vec::new();
    let mut links = std::collections::HashMap::new();
    for (i, plan) in plans.iter().enumerate() {
        for gid in &plan.sample {
            let lang = guardians
                .get(gid)
                .and_then(|l| crate::web::i18n::Lang::parse(l))
                .unwrap_or_default();
            let (template_id, version, language) = job.steps[i].for_language(lang);
            let id = -(fake.len() as i64) - 1;
            links.insert(id, students.get(gid).cloned().unwrap_or_default());
            fake.push(sample_message(
                job,
                id,
                *gid,
                plan.channel,
                template_id,
                version,
                language,
            ));
        }
    }
    let composed = composer
        .compose_waiting(&db.conn, &fake, Some(links))
        .await?;
    let mut samples = Vec::new();
    let mut sms_segments_seen = Vec::new();
    for m in &fake {
        if let Some(Late::Ready(content)) = composed.get(&m.id) {
            if let Rendered::Sms { info, .. } = content {
                sms_segments_seen.push(info.length.segments as i64);
            }
            let channel = Channel::parse(&m.channel).unwrap_or(Channel::Sms);
            if samples
                .iter()
                .filter(|s: &&SampleMessage| s.channel == channel)
                .count()
                < 2
            {
                samples.push(SampleMessage {
                    guardian_id: m.guardian_id,
                    channel,
                    content: content.clone(),
                });
            }
        }
    }
    if !crate::contacts::service::sees_contact_details(actor) {
        samples = made_up_samples(db, composer, job).await?;
    }
    let sms_messages: i64 = plans
        .iter()
        .filter(|p| p.channel == Channel::Sms)
        .map(|p| p.guardians)
        .sum();
    // The longest sample sets the estimate: names differ in length, and a message that spills
    // into another segment costs another segment.
    let per_message = sms_segments_seen.iter().copied().max().unwrap_or(1);
    let sms_segments = sms_messages * per_message;
    Ok(Estimate {
        recipients: plans.iter().map(|p| p.guardians).sum(),
        held_by_cap: plans.iter().map(|p| p.held_by_cap).sum(),
        sms_messages,
        sms_segments,
        cost_vnd: sms_segments * i64::from(settings.sms_segment_price_vnd),
        steps: plans,
        samples,
    })
}

/// Each step's template filled with a made-up family, for those who may not read real
/// parents' messages.
async fn made_up_samples(
    db: &Db,
    composer: &Composer<'_>,
    job: &Job,
) -> AppResult<Vec<SampleMessage>> {
    let mut out = Vec::new();
    for step in &job.steps {
        let content = crate::messaging::service::version_content(
            &db.conn,
            step.template_id,
            step.template_version,
        )
        .await?;
        let vars = crate::messaging::service::sample_variables(
            &db.conn,
            composer.i18n,
            step.language,
            composer.base_url,
        )
        .await?;
        out.push(SampleMessage {
            guardian_id: 0,
            channel: step.channel,
            content: crate::messaging::render::render(&content, &vars)?,
        });
    }
    Ok(out)
}

#[allow(clippy::too_many_arguments)]
fn sample_message(
    job: &Job,
    id: i64,
    guardian_id: i64,
    channel: Channel,
    template_id: i64,
    version: i32,
    language: crate::web::i18n::Lang,
) -> message::Model {
    let now = Utc::now();
    message::Model {
        id,
        idempotency_key: format!(
            "{}:preview:g{guardian_id}:{}",
            job.key_prefix,
            channel.code()
        ),
        source_kind: job.source_kind.to_string(),
        source_id: Some(job.source_id),
        campaign_id: Some(job.campaign.id),
        school_id: None,
        guardian_id,
        channel: channel.code().to_string(),
        provider_id: None,
        template_id: Some(template_id),
        template_version: Some(version),
        language: language.code().to_string(),
        recipient: None,
        content: None,
        fallback_plan: None,
        fallback_of: None,
        status: "queued".into(),
        attempts: 0,
        max_attempts: 1,
        next_attempt_at: now,
        lease_until: None,
        leased_by: None,
        error_class: None,
        last_error: None,
        provider_message_id: None,
        created_at: now,
        updated_at: now,
        sent_at: None,
        delivered_at: None,
        read_at: None,
        content_purged_at: None,
        occurrence_id: None,
    }
}

/// A checked draft as the wave it would be, not stored (for estimates).
fn unsaved(c: &Checked, actor: &Actor, id: i64) -> wave::Model {
    let now = Utc::now();
    wave::Model {
        id,
        name: c.name.clone(),
        campaign_id: c.campaign.id,
        activity_id: c.activity_id,
        audience_id: c.audience.id,
        scope_province_id: scope_province(actor),
        steps: steps::to_json(&c.steps),
        send_at: c.send_at,
        status: status::DRAFT.into(),
        recipients: None,
        sms_segments: None,
        cost_vnd: None,
        queued: 0,
        done_through: None,
        leased_by: None,
        lease_until: None,
        created_by: actor.user_id,
        confirmed_by: None,
        confirmed_at: None,
        finished_at: None,
        created_at: now,
        updated_at: now,
    }
}

/// Estimates a draft without saving it. The audience's own filters apply, and the wave's
/// maker's province when they are a province's staff.
pub async fn preview(
    db: &Db,
    actor: &Actor,
    composer: &Composer<'_>,
    settings: &Settings,
    d: &WaveDraft,
) -> AppResult<Estimate> {
    let c = check(&db.conn, actor, settings, d).await?;
    let draft = unsaved(&c, actor, 0);
    let job = job_of(&draft, c.campaign, Spec::of(&c.audience), settings);
    estimate(db, actor, composer, settings, &job).await
}

fn summary(c: &Checked) -> serde_json::Value {
    json!({
        "name": c.name, "campaign_id": c.campaign.id, "activity_id": c.activity_id,
        "audience_id": c.audience.id, "steps": c.steps, "send_at": c.send_at,
    })
}

/// Saves a new draft (with its estimate) or changes a draft.
pub async fn save(
    db: &Db,
    actor: &Actor,
    composer: &Composer<'_>,
    settings: &Settings,
    id: Option<i64>,
    d: &WaveDraft,
) -> AppResult<WaveView> {
    let c = check(&db.conn, actor, settings, d).await?;
    let est = {
        let probe = unsaved(&c, actor, id.unwrap_or(0));
        let job = job_of(&probe, c.campaign.clone(), Spec::of(&c.audience), settings);
        estimate(db, actor, composer, settings, &job).await?
    };
    let now = Utc::now();
    let tx = db.begin_write().await?;
    let m = match id {
        Some(id) => {
            visible(&*tx, actor, id).await?;
            // Locked until this transaction ends (PostgreSQL; SQLite's write lock is held
            // already): a confirmation cannot slip in between this check and the change.
            let existing = wave::Entity::find_by_id(id)
                .lock_exclusive()
                .one(&*tx)
                .await?
                .ok_or(AppError::NotFound)?;
            if existing.status != status::DRAFT {
                return Err(AppError::Conflict(Msg::new("error-wave-not-draft")));
            }
            let mut m: wave::ActiveModel = existing.into();
            m.name = Set(c.name.clone());
            m.campaign_id = Set(c.campaign.id);
            m.activity_id = Set(c.activity_id);
            m.audience_id = Set(c.audience.id);
            m.steps = Set(steps::to_json(&c.steps));
            m.send_at = Set(c.send_at);
            m.recipients = Set(Some(est.recipients));
            m.sms_segments = Set(Some(est.sms_segments.min(i64::from(i32::MAX)) as i32));
            m.cost_vnd = Set(Some(est.cost_vnd));
            m.updated_at = Set(now);
            m.update(&*tx).await?
        }
        None => {
            wave::ActiveModel {
                name: Set(c.name.clone()),
                campaign_id: Set(c.campaign.id),
                activity_id: Set(c.activity_id),
                audience_id: Set(c.audience.id),
                scope_province_id: Set(scope_province(actor)),
                steps: Set(steps::to_json(&c.steps)),
                send_at: Set(c.send_at),
                status: Set(status::DRAFT.into()),
                recipients: Set(Some(est.recipients)),
                sms_segments: Set(Some(est.sms_segments.min(i64::from(i32::MAX)) as i32)),
                cost_vnd: Set(Some(est.cost_vnd)),
                queued: Set(0),
                created_by: Set(actor.user_id),
                created_at: Set(now),
                updated_at: Set(now),
                ..Default::default()
            }
            .insert(&*tx)
            .await?
        }
    };
    audit::record(
        &*tx,
        actor,
        if id.is_some() {
            "wave.updated"
        } else {
            "wave.created"
        },
        "wave",
        Some(m.id.to_string()),
        summary(&c),
    )
    .await?;
    tx.commit().await?;
    view(&db.conn, m).await
}

/// The wave if the actor may see it, else 404 (403 for liaisons).
pub async fn visible<C: ConnectionTrait>(
    conn: &C,
    actor: &Actor,
    id: i64,
) -> AppResult<wave::Model> {
    wave::Entity::find_by_id(id)
        .filter(wave_scope(actor)?)
        .one(conn)
        .await?
        .ok_or(AppError::NotFound)
}

async fn view<C: ConnectionTrait>(conn: &C, w: wave::Model) -> AppResult<WaveView> {
    let campaign = campaign::Entity::find_by_id(w.campaign_id)
        .one(conn)
        .await?
        .map(|c| c.name)
        .unwrap_or_default();
    let audience = audience::entity::Entity::find_by_id(w.audience_id)
        .one(conn)
        .await?
        .map(|a| a.name)
        .unwrap_or_default();
    Ok(WaveView {
        id: w.id,
        name: w.name,
        campaign_id: w.campaign_id,
        campaign,
        activity_id: w.activity_id,
        audience_id: w.audience_id,
        audience,
        steps: steps::from_json(&w.steps),
        send_at: w.send_at,
        status: w.status,
        recipients: w.recipients,
        sms_segments: w.sms_segments,
        cost_vnd: w.cost_vnd,
        queued: w.queued,
        confirmed_at: w.confirmed_at,
        finished_at: w.finished_at,
        created_at: w.created_at,
        updated_at: w.updated_at,
    })
}

pub async fn list(db: &Db, actor: &Actor) -> AppResult<Vec<WaveView>> {
    let mut out = Vec::new();
    for w in wave::Entity::find()
        .filter(wave_scope(actor)?)
        .order_by_desc(wave::Column::SendAt)
        .order_by_desc(wave::Column::Id)
        .all(&db.conn)
        .await?
    {
        out.push(view(&db.conn, w).await?);
    }
    Ok(out)
}

pub async fn get(db: &Db, actor: &Actor, id: i64) -> AppResult<WaveDetail> {
    let w = visible(&db.conn, actor, id).await?;
    let progress = delivery::funnel(
        db,
        actor,
        &MessageFilter {
            source_kind: Some(source::WAVE.into()),
            source_id: Some(w.id),
            ..Default::default()
        },
    )
    .await?;
    Ok(WaveDetail {
        wave: view(&db.conn, w).await?,
        progress,
    })
}

/// Confirms a draft: it is estimated again (the figures shown at confirmation are the ones
/// stored) and will be sent at its time. The campaign must be active.
pub async fn confirm(
    db: &Db,
    actor: &Actor,
    composer: &Composer<'_>,
    settings: &Settings,
    id: i64,
) -> AppResult<WaveView> {
    let w = visible(&db.conn, actor, id).await?;
    if w.status != status::DRAFT {
        return Err(AppError::Conflict(Msg::new("error-wave-not-draft")));
    }
    let campaign = campaign::Entity::find_by_id(w.campaign_id)
        .one(&db.conn)
        .await?
        .ok_or(AppError::NotFound)?;
    if campaign.status != CampaignStatus::Active.code() {
        return Err(AppError::Conflict(Msg::new("error-campaign-not-active")));
    }
    let audience = audience::entity::Entity::find_by_id(w.audience_id)
        .one(&db.conn)
        .await?
        .ok_or(AppError::NotFound)?;
    let job = job_of(&w, campaign, Spec::of(&audience), settings);
    let est = estimate(db, actor, composer, settings, &job).await?;
    let now = Utc::now();
    let tx = db.begin_write().await?;
    let res = wave::Entity::update_many()
        .col_expr(wave::Column::Status, Expr::value(status::SCHEDULED))
        .col_expr(wave::Column::Recipients, Expr::value(Some(est.recipients)))
        .col_expr(
            wave::Column::SmsSegments,
            Expr::value(Some(est.sms_segments.min(i64::from(i32::MAX)) as i32)),
        )
        .col_expr(wave::Column::CostVnd, Expr::value(Some(est.cost_vnd)))
        .col_expr(wave::Column::ConfirmedBy, Expr::value(actor.user_id))
        .col_expr(wave::Column::ConfirmedAt, Expr::value(Some(now)))
        .col_expr(wave::Column::UpdatedAt, Expr::value(now))
        .filter(wave::Column::Id.eq(id))
        .filter(wave::Column::Status.eq(status::DRAFT))
        // The draft these figures were estimated for, not one edited meanwhile.
        .filter(wave::Column::UpdatedAt.eq(w.updated_at))
        .exec(&*tx)
        .await?;
    if res.rows_affected != 1 {
        return Err(AppError::Conflict(Msg::new("error-wave-changed")));
    }
    audit::record(
        &*tx,
        actor,
        "wave.confirmed",
        "wave",
        Some(id.to_string()),
        json!({"recipients": est.recipients, "sms_segments": est.sms_segments, "cost_vnd": est.cost_vnd, "send_at": w.send_at}),
    )
    .await?;
    tx.commit().await?;
    let w = visible(&db.conn, actor, id).await?;
    view(&db.conn, w).await
}

/// Cancels a wave that is not finished: nothing more is materialised, and its messages not
/// yet sent are cancelled.
pub async fn cancel(db: &Db, actor: &Actor, id: i64) -> AppResult<WaveView> {
    let w = visible(&db.conn, actor, id).await?;
    let open = [
        status::DRAFT,
        status::SCHEDULED,
        status::MATERIALISING,
        status::SENDING,
    ];
    if !open.contains(&w.status.as_str()) {
        return Err(AppError::Conflict(Msg::new("error-wave-finished")));
    }
    let now = Utc::now();
    let tx = db.begin_write().await?;
    let res = wave::Entity::update_many()
        .col_expr(wave::Column::Status, Expr::value(status::CANCELLED))
        // A materialiser holding it loses its compare-and-set and stops.
        .col_expr(wave::Column::LeasedBy, Expr::value(Option::<String>::None))
        .col_expr(wave::Column::FinishedAt, Expr::value(Some(now)))
        .col_expr(wave::Column::UpdatedAt, Expr::value(now))
        .filter(wave::Column::Id.eq(id))
        .filter(wave::Column::Status.is_in(open))
        .exec(&*tx)
        .await?;
    if res.rows_affected != 1 {
        return Err(AppError::Conflict(Msg::new("error-wave-finished")));
    }
    let cancelled = outbox::cancel_where(
        &*tx,
        Condition::all()
            .add(message::Column::SourceKind.eq(source::WAVE))
            .add(message::Column::SourceId.eq(id)),
        "wave cancelled",
    )
    .await?;
    audit::record(
        &*tx,
        actor,
        "wave.cancelled",
        "wave",
        Some(id.to_string()),
        json!({"status_was": w.status, "messages_cancelled": cancelled.len()}),
    )
    .await?;
    tx.commit().await?;
    let w = visible(&db.conn, actor, id).await?;
    view(&db.conn, w).await
}

/// Scheduler: takes the next due wave (scheduled and due, or materialising with a lapsed
/// lease) for `holder` and materialises it. Answers whether there was one.
pub async fn run_due(
    db: &Db,
    settings: &Settings,
    holder: &str,
    now: DateTime<Utc>,
) -> AppResult<bool> {
    let lease = Duration::seconds(i64::from(settings.worker_lease_secs.max(60)));
    let candidates = wave::Entity::find()
        .filter(
            Condition::any()
                .add(
                    wave::Column::Status
                        .eq(status::SCHEDULED)
                        .and(wave::Column::SendAt.lte(now)),
                )
                .add(
                    wave::Column::Status
                        .eq(status::MATERIALISING)
                        .and(wave::Column::LeaseUntil.lt(now)),
                ),
        )
        .order_by_asc(wave::Column::SendAt)
        .all(&db.conn)
        .await?;
    for w in candidates {
        let campaign = campaign::Entity::find_by_id(w.campaign_id)
            .one(&db.conn)
            .await?
            .ok_or_else(|| anyhow::anyhow!("wave {} has no campaign", w.id))?;
        if campaign.status == CampaignStatus::Paused.code()
            || campaign.status == CampaignStatus::Draft.code()
        {
            // It waits for the campaign to resume.
            continue;
        }
        // Claim: compare-and-set on the status (and the lapsed lease).
        let claimed = wave::Entity::update_many()
            .col_expr(wave::Column::Status, Expr::value(status::MATERIALISING))
            .col_expr(
                wave::Column::LeasedBy,
                Expr::value(Some(holder.to_string())),
            )
            .col_expr(wave::Column::LeaseUntil, Expr::value(Some(now + lease)))
            .col_expr(wave::Column::UpdatedAt, Expr::value(now))
            .filter(wave::Column::Id.eq(w.id))
            .filter(wave::Column::Status.eq(w.status.clone()))
            .filter(match &w.lease_until {
                Some(l) => wave::Column::LeaseUntil.eq(*l),
                None => wave::Column::LeaseUntil.is_null(),
            })
            .exec(&db.conn)
            .await?;
        if claimed.rows_affected != 1 {
            continue;
        }
        if campaign.status != CampaignStatus::Active.code() {
            // The campaign ended before the wave went out (or while it was materialised).
            finish(db, w.id, holder, status::CANCELLED).await?;
            outbox::cancel_where(
                &db.conn,
                Condition::all()
                    .add(message::Column::SourceKind.eq(source::WAVE))
                    .add(message::Column::SourceId.eq(w.id)),
                "campaign ended",
            )
            .await?;
            audit::record(
                &db.conn,
                &super::scheduler::system_actor(),
                "wave.cancelled",
                "wave",
                Some(w.id.to_string()),
                json!({"reason": "campaign ended", "campaign_id": campaign.id}),
            )
            .await?;
            tracing::info!(wave = w.id, "wave cancelled: its campaign has ended");
            return Ok(true);
        }
        let audience = audience::entity::Entity::find_by_id(w.audience_id)
            .one(&db.conn)
            .await?
            .ok_or_else(|| anyhow::anyhow!("wave {} has no audience", w.id))?;
        let job = job_of(&w, campaign, Spec::of(&audience), settings);
        match materialise::run(
            db,
            &job,
            Progress::Wave(w.id),
            holder,
            w.done_through,
            i64::from(settings.materialise_batch),
            lease,
        )
        .await?
        {
            Run::Finished(n) => {
                finish(db, w.id, holder, status::SENDING).await?;
                tracing::info!(wave = w.id, queued = n, "wave materialised");
            }
            Run::Lost(n) => tracing::info!(wave = w.id, queued = n, "wave taken over or cancelled"),
        }
        return Ok(true);
    }
    Ok(false)
}

async fn finish(db: &Db, id: i64, holder: &str, to: &str) -> AppResult<()> {
    let now = Utc::now();
    let mut q = wave::Entity::update_many()
        .col_expr(wave::Column::Status, Expr::value(to))
        .col_expr(wave::Column::LeasedBy, Expr::value(Option::<String>::None))
        .col_expr(
            wave::Column::LeaseUntil,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .col_expr(wave::Column::UpdatedAt, Expr::value(now));
    if to == status::CANCELLED {
        q = q.col_expr(wave::Column::FinishedAt, Expr::value(Some(now)));
    }
    q.filter(wave::Column::Id.eq(id))
        .filter(wave::Column::LeasedBy.eq(holder))
        .exec(&db.conn)
        .await?;
    Ok(())
}

/// Scheduler: waves whose every message has an outcome are done (and their activity too).
pub async fn close_finished(db: &Db, now: DateTime<Utc>) -> AppResult<u64> {
    let sending = wave::Entity::find()
        .filter(wave::Column::Status.eq(status::SENDING))
        .all(&db.conn)
        .await?;
    let mut closed = 0;
    for w in sending {
        let waiting = message::Entity::find()
            .filter(message::Column::SourceKind.eq(source::WAVE))
            .filter(message::Column::SourceId.eq(w.id))
            .filter(message::Column::Status.is_in(["queued", "sending", "retrying"]))
            .one(&db.conn)
            .await?;
        if waiting.is_some() {
            continue;
        }
        let tx = db.begin_write().await?;
        let res = wave::Entity::update_many()
            .col_expr(wave::Column::Status, Expr::value(status::DONE))
            .col_expr(wave::Column::FinishedAt, Expr::value(Some(now)))
            .col_expr(wave::Column::UpdatedAt, Expr::value(now))
            .filter(wave::Column::Id.eq(w.id))
            .filter(wave::Column::Status.eq(status::SENDING))
            .exec(&*tx)
            .await?;
        if res.rows_affected == 1 {
            if let Some(a) = w.activity_id {
                activity::Entity::update_many()
                    .col_expr(activity::Column::Status, Expr::value("done"))
                    .col_expr(activity::Column::UpdatedAt, Expr::value(now))
                    .filter(activity::Column::Id.eq(a))
                    .filter(activity::Column::Status.eq("planned"))
                    .exec(&*tx)
                    .await?;
            }
            closed += 1;
        }
        tx.commit().await?;
    }
    Ok(closed)
}

/// "Retry failures": the wave's dead messages are sent again, from the first attempt.
pub async fn retry_failures(db: &Db, actor: &Actor, id: i64) -> AppResult<u64> {
    let w = visible(&db.conn, actor, id).await?;
    if w.status != status::SENDING && w.status != status::DONE {
        return Err(AppError::Conflict(Msg::new("error-wave-not-sending")));
    }
    delivery::retry_failures(
        db,
        actor,
        &MessageFilter {
            source_kind: Some(source::WAVE.into()),
            source_id: Some(w.id),
            ..Default::default()
        },
    )
    .await
}

/// Of these messages, those that must not go out any more: their wave was cancelled, or their
/// campaign is completed or archived.
pub async fn withdrawn<C: ConnectionTrait>(
    conn: &C,
    msgs: &[message::Model],
) -> AppResult<std::collections::HashSet<i64>> {
    use std::collections::{BTreeSet, HashSet};
    let wave_ids: BTreeSet<i64> = msgs
        .iter()
        .filter(|m| m.source_kind == source::WAVE)
        .filter_map(|m| m.source_id)
        .collect();
    let campaign_ids: BTreeSet<i64> = msgs.iter().filter_map(|m| m.campaign_id).collect();
    let mut dead_waves: HashSet<i64> = HashSet::new();
    if !wave_ids.is_empty() {
        dead_waves = wave::Entity::find()
            .filter(wave::Column::Id.is_in(wave_ids))
            .filter(wave::Column::Status.eq(status::CANCELLED))
            .all(conn)
            .await?
            .into_iter()
            .map(|w| w.id)
            .collect();
    }
    let mut ended: HashSet<i64> = HashSet::new();
    if !campaign_ids.is_empty() {
        ended = campaign::Entity::find()
            .filter(campaign::Column::Id.is_in(campaign_ids))
            .filter(campaign::Column::Status.is_in([
                CampaignStatus::Completed.code(),
                CampaignStatus::Archived.code(),
            ]))
            .all(conn)
            .await?
            .into_iter()
            .map(|c| c.id)
            .collect();
    }
    Ok(msgs
        .iter()
        .filter(|m| {
            (m.source_kind == source::WAVE && m.source_id.is_some_and(|w| dead_waves.contains(&w)))
                || m.campaign_id.is_some_and(|c| ended.contains(&c))
        })
        .map(|m| m.id)
        .collect())
}
