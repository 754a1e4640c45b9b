//! Media outlets (newspaper, radio, TV, commune loudspeaker, online news) and the pieces they
//! run. Staff see national outlets and those of their province; liaisons read the same for the
//! provinces of their schools; only staff and admins write.
use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use sea_orm::sea_query::Query;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder, Set,
};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::entity::{outlet, piece};
use crate::audit;
use crate::auth::actor::{Actor, Scope};
use crate::campaigns::kinds::{self, loose_list, loose_number};
use crate::campaigns::service::{self as campaigns, require_planner, PlaceRef};
use crate::db::Db;
use crate::error::{AppError, AppResult, FieldErrors, Msg};
use crate::fields::{multiline_text, required_text};
use crate::org::entity::{province, school};
use crate::web::paging::{page_of, PageParams, Paged};

crate::campaigns::kinds::vocabulary!(OutletKind {
    Newspaper => "newspaper",
    Radio => "radio",
    Tv => "tv",
    Loudspeaker => "loudspeaker",
    Online => "online",
});

crate::campaigns::kinds::vocabulary!(PieceKind {
    Article => "article",
    Interview => "interview",
    Report => "report",
    Broadcast => "broadcast",
    Announcement => "announcement",
});

pub const MAX_AUDIENCE: i64 = 200_000_000;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct OutletView {
    pub id: i64,
    pub name: String,
    pub kind: OutletKind,
    /// None for a national outlet.
    pub province: Option<PlaceRef>,
    pub estimated_reach: i64,
    pub editable: bool,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(default)]
pub struct OutletDraft {
    pub name: String,
    /// newspaper, radio, tv, loudspeaker or online.
    pub kind: String,
    /// Province code; empty for a national outlet.
    pub province_code: String,
    #[serde(deserialize_with = "loose_number")]
    #[schema(value_type = Option<i64>)]
    pub estimated_reach: Option<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PieceView {
    pub id: i64,
    pub title: String,
    pub outlet: OutletView,
    pub published_on: NaiveDate,
    pub url: Option<String>,
    pub kind: PieceKind,
    pub topics: Vec<String>,
    pub campaign: Option<PlaceRef>,
    pub estimated_audience: i64,
    pub notes: String,
    pub editable: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(default)]
pub struct PieceDraft {
    pub title: String,
    #[serde(deserialize_with = "loose_number")]
    #[schema(value_type = i64)]
    pub outlet_id: Option<String>,
    /// yyyy-mm-dd or dd/mm/yyyy.
    pub published_on: String,
    /// http(s) address of the piece, if online.
    pub url: String,
    /// article, interview, report, broadcast or announcement.
    pub kind: String,
    #[serde(deserialize_with = "loose_list")]
    pub topics: Vec<String>,
    #[serde(deserialize_with = "loose_number")]
    #[schema(value_type = Option<i64>)]
    pub campaign_id: Option<String>,
    /// Readers, listeners or viewers; the outlet's reach when empty.
    #[serde(deserialize_with = "loose_number")]
    #[schema(value_type = Option<i64>)]
    pub estimated_audience: Option<String>,
    pub notes: String,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, utoipa::IntoParams)]
pub struct PieceFilter {
    pub campaign: Option<i64>,
    pub outlet: Option<i64>,
    /// Province code of the outlet.
    pub province: Option<String>,
    /// An outlet kind.
    pub outlet_kind: Option<String>,
    /// A piece kind.
    pub kind: Option<String>,
    /// A topic code.
    pub topic: Option<String>,
    /// First day, yyyy-mm-dd, inclusive.
    pub from: Option<String>,
    /// Last day, inclusive.
    pub to: Option<String>,
}

/// Outlets the actor may see: national ones and those of the actor's province(s).
pub fn outlet_scope(actor: &Actor) -> Condition {
    match actor.scope() {
        Scope::National => Condition::all(),
        Scope::Province(p) => Condition::any()
            .add(outlet::Column::ProvinceId.is_null())
            .add(outlet::Column::ProvinceId.eq(p)),
        Scope::Schools(ids) => Condition::any()
            .add(outlet::Column::ProvinceId.is_null())
            .add(
                outlet::Column::ProvinceId.in_subquery(
                    Query::select()
                        .column(school::Column::ProvinceId)
                        .from(school::Entity)
                        .and_where(school::Column::Id.is_in(ids))
                        .to_owned(),
                ),
            ),
    }
}

fn may_write(actor: &Actor, province_id: Option<i64>) -> bool {
    require_planner(actor).is_ok()
        && match actor.scope() {
            Scope::National => true,
            Scope::Province(p) => province_id == Some(p),
            Scope::Schools(_) => false,
        }
}

async fn outlet_views<C: ConnectionTrait>(
    conn: &C,
    actor: &Actor,
    rows: Vec<outlet::Model>,
) -> AppResult<Vec<OutletView>> {
    let provinces: BTreeMap<i64, province::Model> = province::Entity::find()
        .filter(
            province::Column::Id.is_in(
                rows.iter()
                    .filter_map(|o| o.province_id)
                    .collect::<Vec<_>>(),
            ),
        )
        .all(conn)
        .await?
        .into_iter()
        .map(|p| (p.id, p))
        .collect();
    Ok(rows
        .into_iter()
        .map(|o| OutletView {
            id: o.id,
            editable: may_write(actor, o.province_id),
            name: o.name,
            kind: OutletKind::parse(&o.kind).unwrap_or(OutletKind::Online),
            province: o
                .province_id
                .and_then(|id| provinces.get(&id))
                .map(|p| PlaceRef {
                    id: p.id,
                    code: p.code.clone(),
                    name: p.name.clone(),
                }),
            estimated_reach: o.estimated_reach,
        })
        .collect())
}

pub async fn list_outlets(db: &Db, actor: &Actor) -> AppResult<Vec<OutletView>> {
    let rows = outlet::Entity::find()
        .filter(outlet_scope(actor))
        .order_by_asc(outlet::Column::Name)
        .all(&db.conn)
        .await?;
    outlet_views(&db.conn, actor, rows).await
}

pub async fn get_outlet(db: &Db, actor: &Actor, id: i64) -> AppResult<OutletView> {
    let o = outlet::Entity::find_by_id(id)
        .filter(outlet_scope(actor))
        .one(&db.conn)
        .await?
        .ok_or(AppError::NotFound)?;
    Ok(outlet_views(&db.conn, actor, vec![o]).await?.remove(0))
}

pub async fn save_outlet(
    db: &Db,
    actor: &Actor,
    id: Option<i64>,
    d: &OutletDraft,
) -> AppResult<OutletView> {
    require_planner(actor)?;
    let tx = db.begin_write().await?;
    let existing = match id {
        Some(id) => {
            let o = outlet::Entity::find_by_id(id)
                .filter(outlet_scope(actor))
                .one(&*tx)
                .await?
                .ok_or(AppError::NotFound)?;
            if !may_write(actor, o.province_id) {
                return Err(AppError::Forbidden);
            }
            Some(o)
        }
        None => None,
    };
    let mut errors = FieldErrors::new();
    let name = errors.take("name", required_text(&d.name, 200));
    let kind = errors.take("kind", OutletKind::parse(&d.kind));
    let reach = errors.take(
        "estimated_reach",
        kinds::count(&d.estimated_reach, 0, MAX_AUDIENCE),
    );
    let mut province_id = None;
    if !d.province_code.trim().is_empty() {
        match crate::org::service::province_by_code(&*tx, &d.province_code).await? {
            Some(p) => province_id = Some(p.id),
            None => errors.add(
                "province_code",
                Msg::new("error-unknown-province").arg("code", d.province_code.trim()),
            ),
        }
    }
    errors.into_result()?;
    if !may_write(actor, province_id) {
        return Err(AppError::invalid(
            "province_code",
            Msg::new("error-scope-outside"),
        ));
    }
    let now = Utc::now();
    let (m, action, before) = match existing {
        Some(o) => {
            let before = json!({"name": o.name, "kind": o.kind, "province_id": o.province_id, "estimated_reach": o.estimated_reach});
            let mut m: outlet::ActiveModel = o.into();
            m.name = Set(name.expect("checked"));
            m.kind = Set(kind.expect("checked").code().into());
            m.province_id = Set(province_id);
            m.estimated_reach = Set(reach.expect("checked"));
            m.updated_at = Set(now);
            (m.update(&*tx).await?, "media_outlet.updated", Some(before))
        }
        None => (
            outlet::ActiveModel {
                name: Set(name.expect("checked")),
                kind: Set(kind.expect("checked").code().into()),
                province_id: Set(province_id),
                estimated_reach: Set(reach.expect("checked")),
                created_at: Set(now),
                updated_at: Set(now),
                ..Default::default()
            }
            .insert(&*tx)
            .await?,
            "media_outlet.created",
            None,
        ),
    };
    let after = json!({"name": m.name, "kind": m.kind, "province_id": m.province_id, "estimated_reach": m.estimated_reach});
    let summary = match before {
        Some(b) => audit::changes(&b, &after),
        None => after,
    };
    audit::record(
        &*tx,
        actor,
        action,
        "media_outlet",
        Some(m.id.to_string()),
        summary,
    )
    .await?;
    tx.commit().await?;
    get_outlet(db, actor, m.id).await
}

/// Pieces of outlets the actor sees.
fn piece_scope(actor: &Actor) -> Condition {
    Condition::all().add(
        piece::Column::OutletId.in_subquery(
            Query::select()
                .column(outlet::Column::Id)
                .from(outlet::Entity)
                .cond_where(outlet_scope(actor))
                .to_owned(),
        ),
    )
}

async fn piece_views<C: ConnectionTrait>(
    conn: &C,
    actor: &Actor,
    rows: Vec<piece::Model>,
) -> AppResult<Vec<PieceView>> {
    let outlets: BTreeMap<i64, OutletView> = outlet_views(
        conn,
        actor,
        outlet::Entity::find()
            .filter(outlet::Column::Id.is_in(rows.iter().map(|p| p.outlet_id).collect::<Vec<_>>()))
            .all(conn)
            .await?,
    )
    .await?
    .into_iter()
    .map(|o| (o.id, o))
    .collect();
    let camps =
        campaigns::visible_names(conn, actor, rows.iter().filter_map(|p| p.campaign_id)).await?;
    Ok(rows
        .into_iter()
        .filter_map(|p| {
            let outlet = outlets.get(&p.outlet_id)?.clone();
            Some(PieceView {
                id: p.id,
                title: p.title,
                editable: outlet.editable,
                outlet,
                published_on: p.published_on,
                url: p.url,
                kind: PieceKind::parse(&p.kind).unwrap_or(PieceKind::Article),
                topics: kinds::topics_of(&p.topics),
                campaign: p.campaign_id.and_then(|id| {
                    camps.get(&id).map(|name| PlaceRef {
                        id,
                        code: String::new(),
                        name: name.clone(),
                    })
                }),
                estimated_audience: p.estimated_audience,
                notes: p.notes,
                created_at: p.created_at,
                updated_at: p.updated_at,
            })
        })
        .collect())
}

pub async fn list_pieces(
    db: &Db,
    actor: &Actor,
    f: &PieceFilter,
    page: PageParams,
) -> AppResult<Paged<PieceView>> {
    let mut q = piece::Entity::find().filter(piece_scope(actor));
    if let Some(c) = f.campaign {
        q = q.filter(piece::Column::CampaignId.eq(c));
    }
    if let Some(o) = f.outlet {
        q = q.filter(piece::Column::OutletId.eq(o));
    }
    let mut outlet_cond = Condition::all();
    let mut by_outlet = false;
    if let Some(code) = f.province.as_deref().filter(|s| !s.is_empty()) {
        let p = crate::org::service::filter_province(&db.conn, code, "province").await?;
        outlet_cond = outlet_cond.add(outlet::Column::ProvinceId.eq(p.id));
        by_outlet = true;
    }
    if let Some(k) = f.outlet_kind.as_deref().filter(|s| !s.is_empty()) {
        let k = OutletKind::parse(k).map_err(|m| AppError::invalid("outlet_kind", m))?;
        outlet_cond = outlet_cond.add(outlet::Column::Kind.eq(k.code()));
        by_outlet = true;
    }
    if by_outlet {
        q = q.filter(
            piece::Column::OutletId.in_subquery(
                Query::select()
                    .column(outlet::Column::Id)
                    .from(outlet::Entity)
                    .cond_where(outlet_cond)
                    .to_owned(),
            ),
        );
    }
    if let Some(k) = f.kind.as_deref().filter(|s| !s.is_empty()) {
        let k = PieceKind::parse(k).map_err(|m| AppError::invalid("kind", m))?;
        q = q.filter(piece::Column::Kind.eq(k.code()));
    }
    if let Some(t) = f.topic.as_deref().filter(|s| !s.is_empty()) {
        let t = campaigns::check_topics(&db.conn, &[t.to_string()])
            .await
            .map_err(|m| AppError::invalid("topic", m))?;
        q = q.filter(crate::db::contains(
            db.backend(),
            piece::Column::Topics,
            &format!("|{}|", t[0]),
        ));
    }
    let parse = |raw: Option<&str>, field: &str| -> AppResult<Option<NaiveDate>> {
        match raw.map(str::trim).filter(|s| !s.is_empty()) {
            None => Ok(None),
            Some(s) => kinds::day(s)
                .map(Some)
                .map_err(|m| AppError::invalid(field, m)),
        }
    };
    if let Some(from) = parse(f.from.as_deref(), "from")? {
        q = q.filter(piece::Column::PublishedOn.gte(from));
    }
    if let Some(to) = parse(f.to.as_deref(), "to")? {
        q = q.filter(piece::Column::PublishedOn.lte(to));
    }
    let (rows, total) = page_of(
        &db.conn,
        q.order_by_desc(piece::Column::PublishedOn)
            .order_by_desc(piece::Column::Id),
        page,
    )
    .await?;
    Ok(Paged::new(
        piece_views(&db.conn, actor, rows).await?,
        page,
        total,
    ))
}

pub async fn get_piece(db: &Db, actor: &Actor, id: i64) -> AppResult<PieceView> {
    let p = piece::Entity::find_by_id(id)
        .filter(piece_scope(actor))
        .one(&db.conn)
        .await?
        .ok_or(AppError::NotFound)?;
    piece_views(&db.conn, actor, vec![p])
        .await?
        .pop()
        .ok_or(AppError::NotFound)
}

pub async fn save_piece(
    db: &Db,
    actor: &Actor,
    id: Option<i64>,
    d: &PieceDraft,
    _tz: Tz,
) -> AppResult<PieceView> {
    require_planner(actor)?;
    let tx = db.begin_write().await?;
    let existing = match id {
        Some(id) => Some(
            piece::Entity::find_by_id(id)
                .filter(piece_scope(actor))
                .one(&*tx)
                .await?
                .ok_or(AppError::NotFound)?,
        ),
        None => None,
    };
    let mut errors = FieldErrors::new();
    let title = errors.take("title", required_text(&d.title, 300));
    let outlet = match d.outlet_id.as_deref().map(|s| s.trim().parse::<i64>()) {
        Some(Ok(oid)) => {
            let o = outlet::Entity::find_by_id(oid)
                .filter(outlet_scope(actor))
                .one(&*tx)
                .await?;
            if o.is_none() {
                errors.add("outlet_id", Msg::new("error-unknown-outlet"));
            }
            o
        }
        Some(Err(_)) => {
            errors.add("outlet_id", Msg::new("error-not-a-number"));
            None
        }
        None => {
            errors.add("outlet_id", Msg::new("error-required"));
            None
        }
    };
    let published = errors.take("published_on", kinds::day(&d.published_on));
    let url = errors.take("url", kinds::web_url(&d.url));
    let kind = if d.kind.trim().is_empty() {
        Some(PieceKind::Article)
    } else {
        errors.take("kind", PieceKind::parse(&d.kind))
    };
    let kept = existing
        .as_ref()
        .map(|p| kinds::topics_of(&p.topics))
        .unwrap_or_default();
    let topics = errors.take(
        "topics",
        campaigns::check_topics_keeping(&*tx, &d.topics, &kept).await,
    );
    let campaign_id = match d.campaign_id.as_deref().map(|s| s.trim().parse::<i64>()) {
        None => None,
        Some(Ok(cid)) => match campaigns::visible(&*tx, actor, cid).await {
            Ok(c) => Some(c.id),
            Err(AppError::NotFound) => {
                errors.add("campaign_id", Msg::new("error-unknown-campaign"));
                None
            }
            Err(e) => return Err(e),
        },
        Some(Err(_)) => {
            errors.add("campaign_id", Msg::new("error-not-a-number"));
            None
        }
    };
    let audience = errors.take(
        "estimated_audience",
        kinds::count(
            &d.estimated_audience,
            outlet.as_ref().map(|o| o.estimated_reach).unwrap_or(0),
            MAX_AUDIENCE,
        ),
    );
    let notes = errors
        .take("notes", multiline_text(&d.notes, 5000))
        .map(Option::unwrap_or_default);
    errors.into_result()?;
    let outlet = outlet.expect("checked");
    if !may_write(actor, outlet.province_id) {
        return Err(AppError::invalid(
            "outlet_id",
            Msg::new("error-scope-outside"),
        ));
    }
    if let Some(p) = &existing {
        let old_outlet = outlet::Entity::find_by_id(p.outlet_id).one(&*tx).await?;
        if !old_outlet.is_some_and(|o| may_write(actor, o.province_id)) {
            return Err(AppError::Forbidden);
        }
    }
    let now = Utc::now();
    let audit_of = |p: &piece::Model| json!({"title": p.title, "outlet_id": p.outlet_id, "published_on": p.published_on.to_string(), "url": p.url, "kind": p.kind, "topics": p.topics, "campaign_id": p.campaign_id, "estimated_audience": p.estimated_audience});
    let (m, action, before) = match existing {
        Some(p) => {
            let before = audit_of(&p);
            let mut m: piece::ActiveModel = p.into();
            m.title = Set(title.expect("checked"));
            m.outlet_id = Set(outlet.id);
            m.published_on = Set(published.expect("checked"));
            m.url = Set(url.expect("checked"));
            m.kind = Set(kind.expect("checked").code().into());
            m.topics = Set(kinds::topics_text(&topics.expect("checked")));
            m.campaign_id = Set(campaign_id);
            m.estimated_audience = Set(audience.expect("checked"));
            m.notes = Set(notes.expect("checked"));
            m.updated_at = Set(now);
            (m.update(&*tx).await?, "media_piece.updated", Some(before))
        }
        None => (
            piece::ActiveModel {
                title: Set(title.expect("checked")),
                outlet_id: Set(outlet.id),
                published_on: Set(published.expect("checked")),
                url: Set(url.expect("checked")),
                kind: Set(kind.expect("checked").code().into()),
                topics: Set(kinds::topics_text(&topics.expect("checked"))),
                campaign_id: Set(campaign_id),
                estimated_audience: Set(audience.expect("checked")),
                notes: Set(notes.expect("checked")),
                created_at: Set(now),
                updated_at: Set(now),
                ..Default::default()
            }
            .insert(&*tx)
            .await?,
            "media_piece.created",
            None,
        ),
    };
    let summary = match before {
        Some(b) => audit::changes(&b, &audit_of(&m)),
        None => audit_of(&m),
    };
    audit::record(
        &*tx,
        actor,
        action,
        "media_piece",
        Some(m.id.to_string()),
        summary,
    )
    .await?;
    tx.commit().await?;
    get_piece(db, actor, m.id).await
}
