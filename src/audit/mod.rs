//! The audit log: every state change and authentication event, with who, when, what and a
//! before/after summary that never holds secrets.
pub mod api;
pub mod entity;
pub mod pages;

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
    Set,
};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::auth::actor::Actor;
use crate::db::Db;
use crate::error::AppResult;
use crate::web::paging::{page_of, PageParams, Paged};

/// Writes one entry. Call it inside the transaction of the change it describes, so the entry
/// and the change land together or not at all.
pub async fn record<C: ConnectionTrait>(
    conn: &C,
    actor: &Actor,
    action: &str,
    entity_type: &str,
    entity_id: Option<String>,
    summary: Value,
) -> Result<(), DbErr> {
    record_as(
        conn,
        actor.user_id,
        &actor.label,
        actor.request_id.clone(),
        action,
        entity_type,
        entity_id,
        summary,
    )
    .await
}

/// Writes an entry for someone who is not (yet) an actor, such as a failed login.
#[allow(clippy::too_many_arguments)]
pub async fn record_as<C: ConnectionTrait>(
    conn: &C,
    user_id: Option<i64>,
    label: &str,
    request_id: Option<String>,
    action: &str,
    entity_type: &str,
    entity_id: Option<String>,
    summary: Value,
) -> Result<(), DbErr> {
    entity::ActiveModel {
        at: Set(Utc::now()),
        actor_user_id: Set(user_id),
        actor_label: Set(label.chars().take(254).collect()),
        action: Set(action.to_string()),
        entity_type: Set(entity_type.to_string()),
        entity_id: Set(entity_id),
        summary: Set(summary.to_string()),
        request_id: Set(request_id),
        ..Default::default()
    }
    .insert(conn)
    .await?;
    Ok(())
}

/// One entry of a batch written with `record_many`.
pub struct Entry {
    pub action: &'static str,
    pub entity_type: &'static str,
    pub entity_id: Option<String>,
    pub summary: Value,
}

/// Writes many entries by one actor in a few statements (bulk imports).
pub async fn record_many<C: ConnectionTrait>(
    conn: &C,
    actor: &Actor,
    entries: Vec<Entry>,
) -> Result<(), DbErr> {
    let now = Utc::now();
    let label: String = actor.label.chars().take(254).collect();
    let mut rows = entries.into_iter().map(|e| entity::ActiveModel {
        at: Set(now),
        actor_user_id: Set(actor.user_id),
        actor_label: Set(label.clone()),
        action: Set(e.action.to_string()),
        entity_type: Set(e.entity_type.to_string()),
        entity_id: Set(e.entity_id),
        summary: Set(e.summary.to_string()),
        request_id: Set(actor.request_id.clone()),
        ..Default::default()
    });
    loop {
        let chunk: Vec<_> = rows.by_ref().take(500).collect();
        if chunk.is_empty() {
            return Ok(());
        }
        entity::Entity::insert_many(chunk).exec(conn).await?;
    }
}

/// The fields that differ between two JSON objects, as `{"field": {"from": …, "to": …}}`.
pub fn changes(before: &Value, after: &Value) -> Value {
    let empty = Map::new();
    let b = before.as_object().unwrap_or(&empty);
    let a = after.as_object().unwrap_or(&empty);
    let mut out = Map::new();
    for (key, new) in a {
        let old = b.get(key).unwrap_or(&Value::Null);
        if old != new {
            out.insert(key.clone(), json!({"from": old, "to": new}));
        }
    }
    Value::Object(out)
}

#[derive(Debug, Default, Clone, Deserialize, Serialize, utoipa::IntoParams)]
pub struct AuditFilter {
    /// Actions starting with this text, e.g. `login` or `school.`.
    pub action: Option<String>,
    pub entity_type: Option<String>,
    pub entity_id: Option<String>,
    /// Entries by actors whose label contains this text.
    pub actor: Option<String>,
    /// From this date (yyyy-mm-dd, Vietnam time), inclusive.
    pub from: Option<String>,
    /// Until this date (yyyy-mm-dd, Vietnam time), inclusive.
    pub to: Option<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AuditEntry {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub actor_user_id: Option<i64>,
    pub actor: String,
    pub action: String,
    pub entity_type: String,
    pub entity_id: Option<String>,
    #[schema(value_type = Object)]
    pub summary: Value,
    pub request_id: Option<String>,
}

impl From<entity::Model> for AuditEntry {
    fn from(m: entity::Model) -> Self {
        Self {
            id: m.id,
            at: m.at,
            actor_user_id: m.actor_user_id,
            actor: m.actor_label,
            action: m.action,
            entity_type: m.entity_type,
            entity_id: m.entity_id,
            summary: serde_json::from_str(&m.summary).unwrap_or(Value::Null),
            request_id: m.request_id,
        }
    }
}

/// The audit log, newest first; admins only.
pub async fn list(
    db: &Db,
    actor: &Actor,
    filter: &AuditFilter,
    tz: chrono_tz::Tz,
    paging: PageParams,
) -> AppResult<Paged<AuditEntry>> {
    actor.require_admin()?;
    use entity::Column;
    let mut q = entity::Entity::find();
    let nonempty = |v: &Option<String>| {
        v.as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    if let Some(a) = nonempty(&filter.action) {
        q = q.filter(Column::Action.starts_with(a));
    }
    if let Some(t) = nonempty(&filter.entity_type) {
        q = q.filter(Column::EntityType.eq(t));
    }
    if let Some(id) = nonempty(&filter.entity_id) {
        q = q.filter(Column::EntityId.eq(id));
    }
    if let Some(label) = nonempty(&filter.actor) {
        q = q.filter(crate::db::contains(
            db.backend(),
            Column::ActorLabel,
            &label.to_lowercase(),
        ));
    }
    if let Some(from) = nonempty(&filter.from) {
        let day = crate::web::format::parse_day(&from, "from")?;
        q = q.filter(Column::At.gte(crate::web::format::start_of_day(day, tz)));
    }
    if let Some(to) = nonempty(&filter.to) {
        let day = crate::web::format::parse_day(&to, "to")?;
        let next = day.succ_opt().unwrap_or(day);
        q = q.filter(Column::At.lt(crate::web::format::start_of_day(next, tz)));
    }
    let (rows, total) = page_of(&db.conn, q.order_by_desc(Column::Id), paging).await?;
    Ok(Paged::new(
        rows.into_iter().map(AuditEntry::from).collect(),
        paging,
        total,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_lists_only_differences() {
        let before = json!({"name": "A", "level": "primary", "enrolled": 10});
        let after = json!({"name": "B", "level": "primary", "enrolled": 12});
        assert_eq!(
            changes(&before, &after),
            json!({"name": {"from": "A", "to": "B"}, "enrolled": {"from": 10, "to": 12}})
        );
    }
}
