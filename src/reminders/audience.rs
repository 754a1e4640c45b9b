//! Audiences: saved filters over students and their guardians — scope (province, commune,
//! school, grade), HI status (uninsured by default), consent on a channel, language. Opted-out
//! and erased guardians are always left out. A live count and a sample answer "who is this".
use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set,
};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::audit;
use crate::auth::actor::{Actor, Scope};
use crate::campaigns::kinds::loose_list;
use crate::campaigns::service::{require_planner, PlaceRef};
use crate::contacts::fields::{mask_email, mask_phone, Channel, HiStatus, PURPOSE_HI_REMINDERS};
use crate::db::{Db, Params};
use crate::error::{AppError, AppResult, FieldErrors, Msg};
use crate::fields::{optional_text, required_text};
use crate::org::entity::{commune, school};
use crate::web::i18n::Lang;

pub mod entity {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "audiences")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub name: String,
        pub province_id: Option<i64>,
        pub commune_id: Option<i64>,
        pub school_id: Option<i64>,
        pub grade: Option<String>,
        /// A HI status code, or `any`.
        pub hi_status: String,
        /// Channel codes as `|zalo|sms|`: consent on at least one of them; empty for any.
        pub channels: String,
        pub language: Option<String>,
        pub created_by: Option<i64>,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// An audience as a form or the API sends it.
#[derive(Debug, Clone, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(default)]
pub struct AudienceDraft {
    pub name: String,
    /// Province code; empty for the caller's whole scope.
    pub province_code: String,
    pub commune_code: String,
    pub school_code: String,
    /// A grade as stored on students (e.g. `10`).
    pub grade: String,
    /// `uninsured` (default), `insured`, `state_funded` or `any`.
    pub hi_status: String,
    /// Guardians who consented to at least one of these channels (`email`, `sms`, `zalo`,
    /// `push`); empty for consent on any channel.
    #[serde(deserialize_with = "loose_list")]
    pub channels: Vec<String>,
    /// `vi` or `en`; empty for both.
    pub language: String,
}

/// A filter that passed every check.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Spec {
    pub province_id: Option<i64>,
    pub commune_id: Option<i64>,
    pub school_id: Option<i64>,
    pub grade: Option<String>,
    pub hi_status: Option<HiStatus>,
    pub channels: Vec<Channel>,
    pub language: Option<Lang>,
}

impl Spec {
    pub fn of(m: &entity::Model) -> Spec {
        Spec {
            province_id: m.province_id,
            commune_id: m.commune_id,
            school_id: m.school_id,
            grade: m.grade.clone(),
            hi_status: HiStatus::parse(&m.hi_status).ok(),
            channels: m
                .channels
                .split('|')
                .filter_map(|c| Channel::parse(c).ok())
                .collect(),
            language: m.language.as_deref().and_then(Lang::parse),
        }
    }

    fn channels_text(&self) -> String {
        if self.channels.is_empty() {
            String::new()
        } else {
            format!(
                "|{}|",
                self.channels
                    .iter()
                    .map(|c| c.code())
                    .collect::<Vec<_>>()
                    .join("|")
            )
        }
    }
}

/// Checks a draft; the name only when `named`.
pub async fn validate<C: ConnectionTrait>(
    conn: &C,
    actor: &Actor,
    d: &AudienceDraft,
    named: bool,
) -> AppResult<(Option<String>, Spec)> {
    let mut errors = FieldErrors::new();
    let name = if named {
        errors.take("name", required_text(&d.name, 200))
    } else {
        None
    };
    let mut spec = Spec::default();
    if !d.province_code.trim().is_empty() {
        match crate::org::service::province_by_code(conn, &d.province_code).await? {
            Some(p)
                if matches!(actor.scope(), Scope::National)
                    || actor.scope() == Scope::Province(p.id) =>
            {
                spec.province_id = Some(p.id)
            }
            _ => errors.add(
                "province_code",
                Msg::new("error-unknown-province").arg("code", d.province_code.trim()),
            ),
        }
    }
    if !d.commune_code.trim().is_empty() {
        match commune::Entity::find()
            .filter(commune::Column::Code.eq(d.commune_code.trim()))
            .one(conn)
            .await?
        {
            Some(c) if spec.province_id.is_none_or(|p| p == c.province_id) => {
                spec.commune_id = Some(c.id)
            }
            _ => errors.add(
                "commune_code",
                Msg::new("error-unknown-commune").arg("code", d.commune_code.trim()),
            ),
        }
    }
    if !d.school_code.trim().is_empty() {
        let code = d.school_code.trim().to_uppercase();
        match school::Entity::find()
            .filter(school::Column::Code.eq(code.as_str()))
            .one(conn)
            .await?
        {
            Some(s) if actor.sees_school(s.id, s.province_id) => spec.school_id = Some(s.id),
            _ => errors.add(
                "school_code",
                Msg::new("error-unknown-school").arg("code", code),
            ),
        }
    }
    spec.grade = errors.take("grade", optional_text(&d.grade, 16)).flatten();
    spec.hi_status = match d.hi_status.trim() {
        "" => Some(HiStatus::Uninsured),
        "any" => None,
        s => errors.take("hi_status", HiStatus::parse(s)),
    };
    for c in &d.channels {
        if let Some(ch) = errors.take("channels", Channel::parse(c)) {
            if !spec.channels.contains(&ch) {
                spec.channels.push(ch);
            }
        }
    }
    spec.language = match d.language.trim() {
        "" => None,
        s => match Lang::parse(s) {
            Some(l) => Some(l),
            None => {
                errors.add(
                    "language",
                    Msg::new("error-one-of").arg("allowed", "vi, en"),
                );
                None
            }
        },
    };
    errors.into_result()?;
    Ok((name, spec))
}

/// Conditions on the students a spec picks, within the actor's scope: students `st`, their
/// schools `sc`.
pub fn student_conditions(actor: &Actor, spec: &Spec, p: &mut Params) -> Vec<String> {
    let mut w = Vec::new();
    match actor.scope() {
        Scope::National => {}
        Scope::Province(id) => w.push(format!("sc.province_id = {}", p.bind(id))),
        Scope::Schools(ids) if ids.is_empty() => w.push("1 = 0".into()),
        Scope::Schools(ids) => w.push(format!("st.school_id IN {}", p.bind_list(&ids))),
    }
    if let Some(id) = spec.province_id {
        w.push(format!("sc.province_id = {}", p.bind(id)));
    }
    if let Some(id) = spec.commune_id {
        w.push(format!("sc.commune_id = {}", p.bind(id)));
    }
    if let Some(id) = spec.school_id {
        w.push(format!("st.school_id = {}", p.bind(id)));
    }
    if let Some(g) = &spec.grade {
        w.push(format!("st.grade = {}", p.bind(g.clone())));
    }
    if let Some(h) = spec.hi_status {
        w.push(format!("st.hi_status = {}", p.bind(h.code())));
    }
    w
}

/// Conditions on the guardians a spec picks (`g`): never opted out or erased, the language,
/// and consent on one of the spec's channels (any channel when it names none).
pub fn guardian_conditions(spec: &Spec, p: &mut Params) -> Vec<String> {
    let mut w = vec![
        "g.opted_out_at IS NULL".to_string(),
        "g.erased_at IS NULL".to_string(),
    ];
    if let Some(l) = spec.language {
        w.push(format!("g.language = {}", p.bind(l.code())));
    }
    // Consent: the latest record for (guardian, channel, purpose) is a grant, on one of the
    // channels.
    let channels: Vec<&str> = if spec.channels.is_empty() {
        Channel::ALL.iter().map(|c| c.code()).collect()
    } else {
        spec.channels.iter().map(|c| c.code()).collect()
    };
    let purpose = p.bind(PURPOSE_HI_REMINDERS);
    let list = p.bind_list(&channels);
    let granted = p.bind(true);
    w.push(format!(
        "EXISTS (SELECT 1 FROM consents c WHERE c.guardian_id = g.id AND c.purpose = {purpose} \
         AND c.channel IN {list} AND c.granted = {granted} AND c.id = (SELECT MAX(c2.id) FROM consents c2 \
         WHERE c2.guardian_id = c.guardian_id AND c2.channel = c.channel AND c2.purpose = c.purpose))"
    ));
    w
}

/// `FROM … WHERE …` of the guardians (and their students) the spec picks, within the actor's
/// scope: students `st`, schools `sc`, links `sg`, guardians `g`.
fn from_where(actor: &Actor, spec: &Spec, p: &mut Params) -> String {
    let mut w = guardian_conditions(spec, p);
    w.extend(student_conditions(actor, spec, p));
    format!(
        "FROM students st JOIN schools sc ON sc.id = st.school_id \
         JOIN student_guardians sg ON sg.student_id = st.id \
         JOIN guardians g ON g.id = sg.guardian_id WHERE {}",
        w.join(" AND ")
    )
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SampleGuardian {
    pub guardian_id: i64,
    pub name: String,
    /// Masked contact details.
    pub phone: Option<String>,
    pub email: Option<String>,
    pub language: String,
    /// The children this audience picks.
    pub children: Vec<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Preview {
    /// Guardians picked (each once, however many children).
    pub guardians: i64,
    /// Students picked.
    pub students: i64,
    pub sample: Vec<SampleGuardian>,
}

/// The count and the first guardians (by id) of a spec.
pub async fn preview<C: ConnectionTrait>(
    conn: &C,
    actor: &Actor,
    spec: &Spec,
    sample: usize,
) -> AppResult<Preview> {
    let backend = conn.get_database_backend();
    let mut p = Params::new(backend);
    let fw = from_where(actor, spec, &mut p);
    let row = conn
        .query_one(p.statement(format!(
            "SELECT COUNT(DISTINCT g.id) AS guardians, COUNT(DISTINCT st.id) AS students {fw}"
        )))
        .await?
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("no count row")))?;
    let guardians: i64 = row.try_get("", "guardians")?;
    let students: i64 = row.try_get("", "students")?;
    if sample == 0 || guardians == 0 {
        return Ok(Preview {
            guardians,
            students,
            sample: Vec::new(),
        });
    }
    let mut p = Params::new(backend);
    let fw = from_where(actor, spec, &mut p);
    let limit = p.bind(sample as i64);
    let ids: Vec<i64> = conn
        .query_all(p.statement(format!(
            "SELECT g.id AS gid {fw} GROUP BY g.id ORDER BY g.id LIMIT {limit}"
        )))
        .await?
        .iter()
        .map(|r| r.try_get::<i64>("", "gid"))
        .collect::<Result<_, _>>()?;
    // The same filter again, narrowed to them.
    let mut p = Params::new(backend);
    let fw = from_where(actor, spec, &mut p);
    let list = p.bind_list(&ids);
    let rows = conn
        .query_all(p.statement(format!(
            "SELECT g.id AS gid, g.full_name AS gname, g.phone AS phone, g.email AS email, g.language AS lang, \
             st.full_name AS sname {fw} AND g.id IN {list} ORDER BY g.id, st.full_name"
        )))
        .await?;
    let mut by_guardian: BTreeMap<i64, SampleGuardian> = BTreeMap::new();
    for r in rows {
        let id: i64 = r.try_get("", "gid")?;
        let child: String = r.try_get("", "sname")?;
        let e = by_guardian.entry(id).or_insert_with(|| SampleGuardian {
            guardian_id: id,
            name: r.try_get("", "gname").unwrap_or_default(),
            phone: r
                .try_get::<Option<String>>("", "phone")
                .ok()
                .flatten()
                .map(|s| mask_phone(&s)),
            email: r
                .try_get::<Option<String>>("", "email")
                .ok()
                .flatten()
                .map(|s| mask_email(&s)),
            language: r.try_get("", "lang").unwrap_or_default(),
            children: Vec::new(),
        });
        e.children.push(child);
    }
    Ok(Preview {
        guardians,
        students,
        sample: by_guardian.into_values().collect(),
    })
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AudienceView {
    pub id: i64,
    pub name: String,
    pub province: Option<PlaceRef>,
    pub commune: Option<PlaceRef>,
    pub school: Option<PlaceRef>,
    pub grade: Option<String>,
    /// A HI status, or `any`.
    pub hi_status: String,
    pub channels: Vec<String>,
    pub language: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

async fn view<C: ConnectionTrait>(conn: &C, m: entity::Model) -> AppResult<AudienceView> {
    let place = |id: i64, code: String, name: String| PlaceRef { id, code, name };
    let province = match m.province_id {
        Some(id) => crate::org::entity::province::Entity::find_by_id(id)
            .one(conn)
            .await?
            .map(|p| place(p.id, p.code, p.name)),
        None => None,
    };
    let commune = match m.commune_id {
        Some(id) => commune::Entity::find_by_id(id)
            .one(conn)
            .await?
            .map(|c| place(c.id, c.code, c.name)),
        None => None,
    };
    let school = match m.school_id {
        Some(id) => school::Entity::find_by_id(id)
            .one(conn)
            .await?
            .map(|s| place(s.id, s.code, s.name)),
        None => None,
    };
    Ok(AudienceView {
        id: m.id,
        name: m.name,
        province,
        commune,
        school,
        grade: m.grade,
        hi_status: m.hi_status,
        channels: m
            .channels
            .split('|')
            .filter(|c| !c.is_empty())
            .map(str::to_string)
            .collect(),
        language: m.language,
        created_at: m.created_at,
        updated_at: m.updated_at,
    })
}

/// Audiences the actor may use: those whose places lie in the actor's scope.
pub async fn visible<C: ConnectionTrait>(
    conn: &C,
    actor: &Actor,
    id: i64,
) -> AppResult<entity::Model> {
    let m = entity::Entity::find_by_id(id)
        .one(conn)
        .await?
        .ok_or(AppError::NotFound)?;
    if !within(conn, actor, &m).await? {
        return Err(AppError::NotFound);
    }
    Ok(m)
}

async fn within<C: ConnectionTrait>(conn: &C, actor: &Actor, m: &entity::Model) -> AppResult<bool> {
    Ok(match actor.scope() {
        Scope::National => true,
        Scope::Province(p) => {
            if m.province_id == Some(p) {
                true
            } else if let Some(s) = m.school_id {
                school::Entity::find_by_id(s)
                    .one(conn)
                    .await?
                    .is_some_and(|s| s.province_id == p)
            } else {
                false
            }
        }
        Scope::Schools(ids) => m.school_id.is_some_and(|s| ids.contains(&s)),
    })
}

pub async fn list(db: &Db, actor: &Actor) -> AppResult<Vec<(AudienceView, i64)>> {
    let mut out = Vec::new();
    for m in entity::Entity::find()
        .order_by_desc(entity::Column::Id)
        .all(&db.conn)
        .await?
    {
        if within(&db.conn, actor, &m).await? {
            let n = preview(&db.conn, actor, &Spec::of(&m), 0).await?.guardians;
            out.push((view(&db.conn, m).await?, n));
        }
    }
    Ok(out)
}

pub async fn get(db: &Db, actor: &Actor, id: i64) -> AppResult<(AudienceView, Preview)> {
    let m = visible(&db.conn, actor, id).await?;
    require_planner(actor)?;
    let p = preview(&db.conn, actor, &Spec::of(&m), 10).await?;
    Ok((view(&db.conn, m).await?, p))
}

/// The spec of a saved audience, for waves and rules.
pub async fn spec_of<C: ConnectionTrait>(conn: &C, actor: &Actor, id: i64) -> AppResult<Spec> {
    Ok(Spec::of(&visible(conn, actor, id).await?))
}

pub async fn save(
    db: &Db,
    actor: &Actor,
    id: Option<i64>,
    d: &AudienceDraft,
) -> AppResult<AudienceView> {
    require_planner(actor)?;
    let tx = db.begin_write().await?;
    let existing = match id {
        Some(id) => Some(visible(&*tx, actor, id).await?),
        None => None,
    };
    let (name, spec) = validate(&*tx, actor, d, true).await?;
    // Province staff save audiences of their province (a saved filter must not widen later).
    if let Scope::Province(p) = actor.scope() {
        if spec.province_id != Some(p) && spec.school_id.is_none() {
            return Err(AppError::invalid(
                "province_code",
                Msg::new("error-scope-outside"),
            ));
        }
    }
    let now = Utc::now();
    let summary = json!({
        "name": name, "province_id": spec.province_id, "commune_id": spec.commune_id,
        "school_id": spec.school_id, "grade": spec.grade, "hi_status": spec.hi_status.map(|h| h.code()),
        "channels": spec.channels_text(), "language": spec.language.map(|l| l.code()),
    });
    let m = match existing {
        Some(e) => {
            let mut m: entity::ActiveModel = e.into();
            m.name = Set(name.expect("checked"));
            m.province_id = Set(spec.province_id);
            m.commune_id = Set(spec.commune_id);
            m.school_id = Set(spec.school_id);
            m.grade = Set(spec.grade.clone());
            m.hi_status = Set(spec.hi_status.map(|h| h.code()).unwrap_or("any").into());
            m.channels = Set(spec.channels_text());
            m.language = Set(spec.language.map(|l| l.code().to_string()));
            m.updated_at = Set(now);
            m.update(&*tx).await?
        }
        None => {
            entity::ActiveModel {
                name: Set(name.expect("checked")),
                province_id: Set(spec.province_id),
                commune_id: Set(spec.commune_id),
                school_id: Set(spec.school_id),
                grade: Set(spec.grade.clone()),
                hi_status: Set(spec.hi_status.map(|h| h.code()).unwrap_or("any").into()),
                channels: Set(spec.channels_text()),
                language: Set(spec.language.map(|l| l.code().to_string())),
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
            "audience.updated"
        } else {
            "audience.created"
        },
        "audience",
        Some(m.id.to_string()),
        summary,
    )
    .await?;
    tx.commit().await?;
    view(&db.conn, m).await
}
