//! Goal-aware sending: once a child is insured, parent messages about that child that are still
//! waiting are not sent. A message about several siblings waits while any of them still needs
//! cover (and, written when sent, no longer names the insured one); it is cancelled when none
//! does. A reminder rule with a thank-you template thanks the parents it reminded.
use std::collections::HashSet;

use chrono::{SubsecRound, Utc};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect};

use super::entity::rule;
use super::materialise;
use super::steps::Step;
use crate::campaigns::entity::campaign;
use crate::campaigns::kinds::CampaignStatus;
use crate::contacts::entity::student;
use crate::contacts::fields::HiStatus;
use crate::db::Params;
use crate::delivery::entity::{message, message_student};
use crate::delivery::model::Status;
use crate::delivery::outbox::{self, source};
use crate::error::AppResult;

/// Why a waiting message is withdrawn when its children are covered (also the worker's reason
/// for not sending a message left with nobody to write about).
pub const INSURED_REASON: &str = "child insured";

/// Called in the transaction that changed these students' HI status. Answers the messages
/// cancelled.
pub async fn cancel_for_covered<C: ConnectionTrait>(
    conn: &C,
    student_ids: &[i64],
) -> AppResult<Vec<i64>> {
    let cancelled = cancel_waiting(conn, student_ids).await?;
    thank(conn, student_ids).await?;
    Ok(cancelled)
}

async fn cancel_waiting<C: ConnectionTrait>(conn: &C, student_ids: &[i64]) -> AppResult<Vec<i64>> {
    if student_ids.is_empty() {
        return Ok(Vec::new());
    }
    // Waiting messages about these children, of a manual send or of a wave or rule whose
    // audience is the uninsured (a wave to insured families, say about renewing a card, is not
    // the insurance drive's to withdraw). A thank-you is about a child who is insured: it goes.
    let mut candidates: HashSet<i64> = HashSet::new();
    for chunk in student_ids.chunks(500) {
        let mut p = Params::new(conn.get_database_backend());
        let sql = format!(
            "SELECT DISTINCT m.id AS id FROM message_students ms JOIN messages m ON m.id = ms.message_id \
             WHERE ms.student_id IN {ids} AND m.status IN ({queued}, {retrying}) \
               AND (m.source_kind = {manual} \
                 OR (m.source_kind = {wave} AND m.source_id IN (SELECT w.id FROM waves w \
                   JOIN audiences a ON a.id = w.audience_id WHERE a.hi_status = {uninsured})) \
                 OR (m.source_kind = {rule} AND m.source_id IN (SELECT r.id FROM reminder_rules r \
                   JOIN audiences a ON a.id = r.audience_id WHERE a.hi_status = {uninsured})))",
            ids = p.bind_list(chunk),
            queued = p.bind(Status::Queued.code()),
            retrying = p.bind(Status::Retrying.code()),
            manual = p.bind(source::MANUAL),
            wave = p.bind(source::WAVE),
            rule = p.bind(source::RULE),
            uninsured = p.bind(HiStatus::Uninsured.code()),
        );
        for r in conn.query_all(p.statement(sql)).await? {
            candidates.insert(r.try_get("", "id")?);
        }
    }
    if candidates.is_empty() {
        return Ok(Vec::new());
    }
    let candidates: Vec<i64> = candidates.into_iter().collect();
    // Of those, the messages that still concern an uninsured child keep waiting.
    let mut still_needed: HashSet<i64> = HashSet::new();
    for chunk in candidates.chunks(500) {
        let ids: Vec<i64> = message_student::Entity::find()
            .select_only()
            .column(message_student::Column::MessageId)
            .filter(message_student::Column::MessageId.is_in(chunk.to_vec()))
            .filter(
                message_student::Column::StudentId.in_subquery(
                    sea_orm::sea_query::Query::select()
                        .column(student::Column::Id)
                        .from(student::Entity)
                        .and_where(student::Column::HiStatus.eq(HiStatus::Uninsured.code()))
                        .to_owned(),
                ),
            )
            .into_tuple()
            .all(conn)
            .await?;
        still_needed.extend(ids);
    }
    let done: Vec<i64> = candidates
        .into_iter()
        .filter(|id| !still_needed.contains(id))
        .collect();
    let mut cancelled = Vec::new();
    for chunk in done.chunks(500) {
        cancelled.extend(
            outbox::cancel_where(
                conn,
                sea_orm::Condition::all().add(message::Column::Id.is_in(chunk.to_vec())),
                INSURED_REASON,
            )
            .await?,
        );
    }
    Ok(cancelled)
}

/// For each active reminder rule of an active campaign with a thank-you template that reminded
/// a parent about one of these (now covered) children — a reminder sent or on its way, or one
/// withdrawn because a child got insured: one thank-you per rule, child and parent, on the
/// template's channel when the parent consented to it. Written when sent, like reminders.
async fn thank<C: ConnectionTrait>(conn: &C, student_ids: &[i64]) -> AppResult<u64> {
    let backend = conn.get_database_backend();
    let mut rules: HashSet<i64> = HashSet::new();
    for chunk in student_ids.chunks(500) {
        let mut p = Params::new(backend);
        let sql = format!(
            "SELECT DISTINCT m.source_id AS rid FROM messages m \
             JOIN message_students ms ON ms.message_id = m.id \
             WHERE m.source_kind = {kind} AND ms.student_id IN {ids}",
            kind = p.bind(source::RULE),
            ids = p.bind_list(chunk),
        );
        for r in conn.query_all(p.statement(sql)).await? {
            if let Some(id) = r.try_get::<Option<i64>>("", "rid")? {
                rules.insert(id);
            }
        }
    }
    let mut queued = 0;
    let max_attempts = crate::config::Settings::default().max_attempts as i32;
    for r in rule::Entity::find()
        .filter(rule::Column::Id.is_in(rules))
        .filter(rule::Column::ThankYou.is_not_null())
        .filter(rule::Column::Active.eq(true))
        .filter(
            rule::Column::CampaignId.in_subquery(
                sea_orm::sea_query::Query::select()
                    .column(campaign::Column::Id)
                    .from(campaign::Entity)
                    .and_where(campaign::Column::Status.eq(CampaignStatus::Active.code()))
                    .to_owned(),
            ),
        )
        .all(conn)
        .await?
    {
        let Some(step) = r
            .thank_you
            .as_deref()
            .and_then(|t| serde_json::from_str::<Step>(t).ok())
        else {
            continue;
        };
        let now = Utc::now().trunc_subsecs(6);
        for chunk in student_ids.chunks(500) {
            let mut p = Params::new(backend);
            let prefix = p.bind(format!("thanks:{}:s", r.id));
            let kind = p.bind(source::THANKS);
            let rule_id = p.bind(r.id);
            let camp = p.bind(r.campaign_id);
            let channel = p.bind(step.channel.code());
            let tpl = p.bind(step.template_id);
            let ver = p.bind(step.template_version);
            let lang = p.bind(step.language.code());
            let status = p.bind(Status::Queued.code());
            let max = p.bind(max_attempts);
            let at = p.bind(now);
            let ids = p.bind_list(chunk);
            let uninsured = p.bind(HiStatus::Uninsured.code());
            let reachable = materialise::reachable(step.channel, &mut p);
            let reminded = p.bind(source::RULE);
            // A reminder withdrawn because the child got insured counts too: the thank-you comes
            // instead of it.
            let also = format!(
                " OR (m.status = 'cancelled' AND EXISTS (SELECT 1 FROM message_events e \
                 WHERE e.message_id = m.id AND e.kind = 'cancelled' AND e.detail LIKE {}))",
                p.bind(format!("%\"{}\"%", INSURED_REASON))
            );
            let sql = format!(
                "INSERT INTO messages (idempotency_key, source_kind, source_id, campaign_id, school_id, \
                   guardian_id, channel, template_id, template_version, language, recipient, status, \
                   attempts, max_attempts, next_attempt_at, created_at, updated_at) \
                 SELECT {prefix} || CAST(st.id AS TEXT) || ':g' || CAST(g.id AS TEXT), {kind}, {rule_id}, \
                   {camp}, st.school_id, g.id, {channel}, {tpl}, {ver}, {lang}, {addr}, {status}, 0, \
                   {max}, {at}, {at}, {at} \
                 FROM students st JOIN student_guardians sg ON sg.student_id = st.id \
                 JOIN guardians g ON g.id = sg.guardian_id \
                 WHERE st.id IN {ids} AND st.hi_status <> {uninsured} AND g.opted_out_at IS NULL \
                   AND g.erased_at IS NULL AND {reachable} \
                   AND EXISTS (SELECT 1 FROM messages m JOIN message_students ms ON ms.message_id = m.id \
                     WHERE m.source_kind = {reminded} AND m.source_id = {rule_id} AND m.guardian_id = g.id \
                     AND ms.student_id = st.id AND (m.status IN ('queued', 'sending', 'retrying', \
                       'sent', 'delivered', 'read'){also})) \
                 ON CONFLICT (idempotency_key) DO NOTHING",
                addr = materialise::address(step.channel),
            );
            let n = conn.execute(p.statement(sql)).await?.rows_affected();
            if n == 0 {
                continue;
            }
            queued += n;
            let mut p = Params::new(backend);
            let sql = format!(
                "INSERT INTO message_students (message_id, student_id) SELECT m.id, st.id \
                 FROM messages m JOIN students st ON st.id IN {ids} \
                 WHERE m.source_kind = {kind} AND m.source_id = {rule_id} AND m.created_at = {at} \
                   AND m.idempotency_key = {prefix} || CAST(st.id AS TEXT) || ':g' || CAST(m.guardian_id AS TEXT)",
                ids = p.bind_list(chunk),
                kind = p.bind(source::THANKS),
                rule_id = p.bind(r.id),
                at = p.bind(now),
                prefix = p.bind(format!("thanks:{}:s", r.id)),
            );
            conn.execute(p.statement(sql)).await?;
        }
    }
    Ok(queued)
}
