//! What staff see of delivery: the per-recipient log, a message's history, the funnel of a
//! send-out, "retry failures", and sending one message to one guardian.
use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, Query};
use sea_orm::{
    ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, QuerySelect, QueryTrait,
};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::compose::Composer;
use super::entity::{event, message};
use super::model::Status;
use super::outbox::{self, source, FallbackStep, NewMessage};
use crate::audit;
use crate::auth::actor::{Actor, Scope};
use crate::contacts::entity::{student, student_guardian};
use crate::contacts::fields::{mask_email, mask_phone, Channel};
use crate::contacts::service::{self as contacts, sees_contact_details};
use crate::db::Db;
use crate::error::{AppError, AppResult, FieldErrors, Msg};
use crate::messaging::entity::template;
use crate::org::entity::school;
use crate::web::paging::{count_up_to, PageParams, Paged, COUNT_CAP};

/// Messages about schools in the actor's scope.
pub fn message_scope(actor: &Actor) -> Condition {
    match actor.scope() {
        Scope::National => Condition::all(),
        Scope::Province(p) => Condition::all().add(
            message::Column::SchoolId.in_subquery(
                Query::select()
                    .column(school::Column::Id)
                    .from(school::Entity)
                    .and_where(school::Column::ProvinceId.eq(p))
                    .to_owned(),
            ),
        ),
        Scope::Schools(ids) => Condition::all().add(message::Column::SchoolId.is_in(ids)),
    }
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, utoipa::IntoParams, utoipa::ToSchema)]
pub struct MessageFilter {
    pub status: Option<String>,
    pub channel: Option<String>,
    /// School code.
    pub school: Option<String>,
    /// `manual`, `wave` or `rule`.
    pub source_kind: Option<String>,
    pub source_id: Option<i64>,
    pub campaign_id: Option<i64>,
    pub guardian_id: Option<i64>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MessageView {
    pub id: i64,
    pub source_kind: String,
    pub source_id: Option<i64>,
    pub campaign_id: Option<i64>,
    pub school_id: Option<i64>,
    pub guardian_id: i64,
    pub channel: String,
    /// Masked for roles that do not need it; empty once the retention period erased it.
    pub recipient: Option<String>,
    pub status: Status,
    pub attempts: i32,
    pub max_attempts: i32,
    pub next_attempt_at: DateTime<Utc>,
    pub error_class: Option<String>,
    pub last_error: Option<String>,
    pub template_id: Option<i64>,
    pub template_version: Option<i32>,
    pub fallback_of: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
    pub delivered_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct EventView {
    pub kind: String,
    pub at: DateTime<Utc>,
    #[schema(value_type = Option<Object>)]
    pub detail: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MessageDetail {
    #[serde(flatten)]
    pub message: MessageView,
    pub events: Vec<EventView>,
    /// The rendered content, for roles that see contact details; null once erased.
    #[schema(value_type = Option<Object>)]
    pub content: Option<serde_json::Value>,
}

fn view(actor: &Actor, m: message::Model) -> MessageView {
    let full = sees_contact_details(actor);
    let channel = Channel::parse(&m.channel).unwrap_or(Channel::Sms);
    MessageView {
        recipient: m.recipient.as_deref().map(|r| {
            if full {
                r.to_string()
            } else if channel == Channel::Email {
                mask_email(r)
            } else {
                mask_phone(r)
            }
        }),
        status: Status::parse(&m.status).unwrap_or(Status::Queued),
        id: m.id,
        source_kind: m.source_kind,
        source_id: m.source_id,
        campaign_id: m.campaign_id,
        school_id: m.school_id,
        guardian_id: m.guardian_id,
        channel: m.channel,
        attempts: m.attempts,
        max_attempts: m.max_attempts,
        next_attempt_at: m.next_attempt_at,
        error_class: m.error_class,
        last_error: m.last_error,
        template_id: m.template_id,
        template_version: m.template_version,
        fallback_of: m.fallback_of,
        created_at: m.created_at,
        sent_at: m.sent_at,
        delivered_at: m.delivered_at,
    }
}

async fn filtered(
    db: &Db,
    actor: &Actor,
    f: &MessageFilter,
) -> AppResult<sea_orm::Select<message::Entity>> {
    let mut q = message::Entity::find().filter(message_scope(actor));
    let nonempty = |v: &Option<String>| {
        v.as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    if let Some(s) = nonempty(&f.status) {
        let s = Status::parse(&s).ok_or_else(|| {
            AppError::invalid(
                "status",
                Msg::new("error-one-of").arg("allowed", Status::ALL.map(|s| s.code()).join(", ")),
            )
        })?;
        q = q.filter(message::Column::Status.eq(s.code()));
    }
    if let Some(c) = nonempty(&f.channel) {
        let c = Channel::parse(&c).map_err(|m| AppError::invalid("channel", m))?;
        q = q.filter(message::Column::Channel.eq(c.code()));
    }
    if let Some(code) = nonempty(&f.school) {
        let s = school::Entity::find()
            .filter(school::Column::Code.eq(code.to_uppercase()))
            .one(&db.conn)
            .await?
            .ok_or_else(|| {
                AppError::invalid(
                    "school",
                    Msg::new("error-unknown-school").arg("code", &code),
                )
            })?;
        q = q.filter(message::Column::SchoolId.eq(s.id));
    }
    if let Some(k) = nonempty(&f.source_kind) {
        q = q.filter(message::Column::SourceKind.eq(k));
    }
    if let Some(id) = f.source_id {
        q = q.filter(message::Column::SourceId.eq(id));
    }
    if let Some(id) = f.campaign_id {
        q = q.filter(message::Column::CampaignId.eq(id));
    }
    if let Some(id) = f.guardian_id {
        q = q.filter(message::Column::GuardianId.eq(id));
    }
    Ok(q)
}

pub async fn list(
    db: &Db,
    actor: &Actor,
    f: &MessageFilter,
    paging: PageParams,
) -> AppResult<Paged<MessageView>> {
    let q = filtered(db, actor, f).await?;
    let total = count_up_to(&db.conn, q.clone(), COUNT_CAP).await?;
    let rows = q
        .order_by_desc(message::Column::Id)
        .offset(paging.offset())
        .limit(paging.per_page)
        .all(&db.conn)
        .await?;
    Ok(Paged::counted(
        rows.into_iter().map(|m| view(actor, m)).collect(),
        paging,
        total,
    ))
}

pub async fn get(db: &Db, actor: &Actor, id: i64) -> AppResult<MessageDetail> {
    let m = message::Entity::find_by_id(id)
        .filter(message_scope(actor))
        .one(&db.conn)
        .await?
        .ok_or(AppError::NotFound)?;
    let mut events: Vec<EventView> = event::Entity::find()
        .filter(event::Column::MessageId.eq(id))
        .order_by_asc(event::Column::Id)
        .all(&db.conn)
        .await?
        .into_iter()
        .map(|e| EventView {
            kind: e.kind,
            at: e.at,
            detail: e.detail.and_then(|d| serde_json::from_str(&d).ok()),
        })
        .collect();
    // Messages queued in bulk (waves, reminders) have no event row of their own for it: the
    // message's creation is the moment it was queued.
    if events.first().is_none_or(|e| e.kind != "queued") {
        events.insert(
            0,
            EventView {
                kind: "queued".into(),
                at: m.created_at,
                detail: None,
            },
        );
    }
    let content = sees_contact_details(actor)
        .then(|| {
            m.content
                .as_deref()
                .and_then(|c| serde_json::from_str(c).ok())
        })
        .flatten();
    Ok(MessageDetail {
        message: view(actor, m),
        events,
        content,
    })
}

/// Counts of one send-out (or any filtered set): where the messages are, and how many were
/// opened or clicked at least once.
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct Funnel {
    pub total: u64,
    pub queued: u64,
    pub retrying: u64,
    pub sending: u64,
    pub sent: u64,
    pub delivered: u64,
    pub read: u64,
    pub opened: u64,
    pub clicked: u64,
    /// Unsubscribes attributed to these messages.
    pub unsubscribed: u64,
    pub failed: u64,
    pub dead: u64,
    pub suppressed: u64,
    pub cancelled: u64,
    /// Different guardians reached (sent or better).
    pub guardians_reached: u64,
}

pub async fn funnel(db: &Db, actor: &Actor, f: &MessageFilter) -> AppResult<Funnel> {
    let q = filtered(db, actor, f).await?;
    let by_status: Vec<(String, i64)> = q
        .clone()
        .select_only()
        .column(message::Column::Status)
        .column_as(Expr::col(message::Column::Id).count(), "n")
        .group_by(message::Column::Status)
        .into_tuple()
        .all(&db.conn)
        .await?;
    let counts: HashMap<String, u64> = by_status.into_iter().map(|(s, n)| (s, n as u64)).collect();
    let get = |s: Status| counts.get(s.code()).copied().unwrap_or(0);
    let ids_query = q
        .clone()
        .select_only()
        .column(message::Column::Id)
        .into_query();
    let event_counts: Vec<(String, i64)> = event::Entity::find()
        .select_only()
        .column(event::Column::Kind)
        .column_as(Expr::col(event::Column::MessageId).count_distinct(), "n")
        .filter(event::Column::MessageId.in_subquery(ids_query))
        .filter(event::Column::Kind.is_in([
            "opened",
            "clicked",
            "unsubscribed",
            "failed",
            "bounced",
        ]))
        .group_by(event::Column::Kind)
        .into_tuple()
        .all(&db.conn)
        .await?;
    let ev: HashMap<String, u64> = event_counts
        .into_iter()
        .map(|(k, n)| (k, n as u64))
        .collect();
    let reached: Vec<i64> = q
        .select_only()
        .column_as(Expr::col(message::Column::GuardianId).count_distinct(), "n")
        .filter(message::Column::Status.is_in([
            Status::Sent.code(),
            Status::Delivered.code(),
            Status::Read.code(),
        ]))
        .into_tuple()
        .all(&db.conn)
        .await?;
    let sent_or_better = get(Status::Sent) + get(Status::Delivered) + get(Status::Read);
    Ok(Funnel {
        total: counts.values().sum(),
        queued: get(Status::Queued),
        retrying: get(Status::Retrying),
        sending: get(Status::Sending),
        sent: sent_or_better,
        delivered: get(Status::Delivered) + get(Status::Read),
        read: get(Status::Read),
        opened: ev.get("opened").copied().unwrap_or(0),
        clicked: ev.get("clicked").copied().unwrap_or(0),
        unsubscribed: ev.get("unsubscribed").copied().unwrap_or(0),
        failed: ev.get("failed").copied().unwrap_or(0) + ev.get("bounced").copied().unwrap_or(0),
        dead: get(Status::Dead),
        suppressed: get(Status::Suppressed),
        cancelled: get(Status::Cancelled),
        guardians_reached: reached.first().copied().unwrap_or(0) as u64,
    })
}

/// Sends the dead messages of the filter again (staff and admins, within scope).
pub async fn retry_failures(db: &Db, actor: &Actor, f: &MessageFilter) -> AppResult<u64> {
    actor.require_map_editor()?;
    let ids: Vec<i64> = filtered(db, actor, f)
        .await?
        .filter(message::Column::Status.eq(Status::Dead.code()))
        .select_only()
        .column(message::Column::Id)
        .into_tuple()
        .all(&db.conn)
        .await?;
    let tx = db.begin_write().await?;
    let mut n = 0;
    for chunk in ids.chunks(500) {
        n += outbox::requeue_dead(
            &*tx,
            Condition::all().add(message::Column::Id.is_in(chunk.to_vec())),
        )
        .await?;
    }
    audit::record(
        &*tx,
        actor,
        "messages.retried",
        "message",
        None,
        json!({"filter": f, "messages": n}),
    )
    .await?;
    tx.commit().await?;
    Ok(n)
}

/// One message to one guardian, with optional fallback templates on other channels.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct SendRequest {
    pub guardian_id: i64,
    pub template_id: i64,
    /// Templates of other channels, tried in order if the person is not on the first one.
    #[serde(default)]
    pub fallback_template_ids: Vec<i64>,
    /// Not before this time (default: now).
    pub not_before: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SendResponse {
    pub message_id: i64,
    /// False when the same request (same Idempotency-Key) had already queued it.
    pub created: bool,
}

async fn pin(db: &Db, template_id: i64, field: &str) -> AppResult<(Channel, i32)> {
    let t = template::Entity::find_by_id(template_id)
        .one(&db.conn)
        .await?
        .ok_or_else(|| AppError::invalid(field, Msg::new("error-unknown-template")))?;
    Ok((
        Channel::parse(&t.channel).unwrap_or(Channel::Sms),
        t.current_version,
    ))
}

async fn existing_message(db: &Db, key: &str) -> AppResult<Option<SendResponse>> {
    Ok(message::Entity::find()
        .filter(message::Column::IdempotencyKey.eq(key))
        .one(&db.conn)
        .await?
        .map(|m| SendResponse {
            message_id: m.id,
            created: false,
        }))
}

/// Queues one message (staff and admins; the guardian must be in scope). `idempotency` (the
/// client's Idempotency-Key) makes a repeated request return the message already queued.
pub async fn send_one(
    db: &Db,
    actor: &Actor,
    composer: &Composer<'_>,
    req: &SendRequest,
    idempotency: Option<&str>,
    max_attempts: i32,
) -> AppResult<SendResponse> {
    actor.require_map_editor()?;
    contacts::get_guardian(db, actor, req.guardian_id).await?;
    let (channel, version) = pin(db, req.template_id, "template_id").await?;
    let mut fallback = Vec::new();
    for (i, id) in req.fallback_template_ids.iter().enumerate() {
        let (c, v) = pin(db, *id, &format!("fallback_template_ids[{i}]")).await?;
        fallback.push(FallbackStep {
            channel: c,
            template_id: *id,
            template_version: v,
        });
    }
    if contacts::reachable(&db.conn, channel, &[req.guardian_id])
        .await?
        .is_empty()
    {
        return Err(AppError::Invalid(FieldErrors::single(
            "guardian_id",
            Msg::new("error-not-reachable").arg("channel", channel.code()),
        )));
    }
    let key = match idempotency.map(str::trim).filter(|k| !k.is_empty()) {
        // A key cut short would quietly stop protecting the client's retries: refuse it.
        Some(k) if k.len() > 100 => {
            return Err(AppError::invalid(
                "Idempotency-Key",
                Msg::new("error-too-long").arg("max", 100),
            ))
        }
        Some(k) => format!("manual:{}:{k}", actor.user_id.unwrap_or(0)),
        None => format!("manual:{}", uuid::Uuid::new_v4().simple()),
    };
    if let Some(existing) = existing_message(db, &key).await? {
        return Ok(existing);
    }
    let Some(c) = composer
        .compose(
            &db.conn,
            req.guardian_id,
            req.template_id,
            version,
            &key,
            false,
        )
        .await?
    else {
        return Err(AppError::invalid(
            "guardian_id",
            Msg::new("error-not-reachable").arg("channel", channel.code()),
        ));
    };
    // The children the sender may see: the message is filed under their school, so it stays
    // within the sender's scope and out of other schools' logs.
    let students: Vec<student::Model> = student::Entity::find()
        .filter(
            student::Column::Id.in_subquery(
                Query::select()
                    .column(student_guardian::Column::StudentId)
                    .from(student_guardian::Entity)
                    .and_where(student_guardian::Column::GuardianId.eq(req.guardian_id))
                    .to_owned(),
            ),
        )
        .filter(contacts::student_scope(actor))
        .order_by_asc(student::Column::Id)
        .all(&db.conn)
        .await?;
    let tx = db.begin_write().await?;
    let ids = outbox::enqueue(
        &*tx,
        vec![NewMessage {
            idempotency_key: key.clone(),
            source_kind: source::MANUAL,
            source_id: None,
            occurrence_id: None,
            campaign_id: None,
            school_id: students.first().map(|s| s.school_id),
            guardian_id: req.guardian_id,
            channel,
            template_id: Some(req.template_id),
            template_version: Some(version),
            language: c.language,
            recipient: c.recipient,
            content: Some(c.content),
            student_ids: students.iter().map(|s| s.id).collect(),
            fallback,
            fallback_of: None,
            not_before: req.not_before.unwrap_or_else(Utc::now),
            max_attempts,
        }],
    )
    .await?;
    let Some(id) = ids.first().copied() else {
        // A request with the same key won the race: answer with its message.
        drop(tx);
        return existing_message(db, &key)
            .await?
            .ok_or_else(|| anyhow::anyhow!("the message was not queued").into());
    };
    audit::record(
        &*tx,
        actor,
        "message.queued",
        "message",
        Some(id.to_string()),
        json!({"guardian_id": req.guardian_id, "template_id": req.template_id, "channel": channel.code()}),
    )
    .await?;
    tx.commit().await?;
    Ok(SendResponse {
        message_id: id,
        created: true,
    })
}
