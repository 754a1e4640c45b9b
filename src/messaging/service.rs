//! Message templates: list, create, new versions on every edit, preview, and the default
//! templates shipped with the platform.
use chrono::{DateTime, Utc};
use rust_embed::RustEmbed;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, Set,
};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::content::{self, Content};
use super::entity::{template, version};
use super::render::{self, LinkVars, Rendered, SessionVars, StudentVars, Variables};
use crate::audit;
use crate::auth::actor::Actor;
use crate::contacts::entity::{guardian, student, student_guardian};
use crate::contacts::fields::{Channel, HiStatus};
use crate::db::Db;
use crate::error::{AppError, AppResult, FieldErrors, Msg};
use crate::fields::required_text;
use crate::org::entity::{province, school};
use crate::school_year;
use crate::web::i18n::{I18n, Lang};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Purpose {
    /// Before the HI collection deadline.
    DeadlineReminder,
    /// An invitation to a Q&A session at school.
    SessionInvite,
    /// Thanks, once a child is insured.
    ThankYou,
    Custom,
}

impl Purpose {
    pub const ALL: [Purpose; 4] = [
        Purpose::DeadlineReminder,
        Purpose::SessionInvite,
        Purpose::ThankYou,
        Purpose::Custom,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Purpose::DeadlineReminder => "deadline_reminder",
            Purpose::SessionInvite => "session_invite",
            Purpose::ThankYou => "thank_you",
            Purpose::Custom => "custom",
        }
    }

    pub fn parse(raw: &str) -> Result<Purpose, Msg> {
        Purpose::ALL
            .into_iter()
            .find(|p| p.code() == raw.trim())
            .ok_or_else(|| {
                Msg::new("error-one-of").arg("allowed", Purpose::ALL.map(|p| p.code()).join(", "))
            })
    }
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct VersionInfo {
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TemplateView {
    pub id: i64,
    /// Set for the templates shipped with the platform.
    pub code: Option<String>,
    pub name: String,
    pub purpose: Purpose,
    pub channel: Channel,
    pub language: String,
    pub current_version: i32,
    pub archived: bool,
    pub updated_at: DateTime<Utc>,
    /// The content of the version asked for (the current one by default).
    pub content: Content,
    pub version: i32,
    pub versions: Vec<VersionInfo>,
}

/// A template as submitted: name, purpose, language and the channel's content.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct TemplateDraft {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub purpose: String,
    #[serde(default)]
    pub language: String,
    pub content: Content,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, utoipa::IntoParams)]
pub struct TemplateFilter {
    pub channel: Option<String>,
    pub language: Option<String>,
    pub purpose: Option<String>,
}

struct Checked {
    name: String,
    purpose: Purpose,
    language: Lang,
    content: Content,
}

fn check(draft: &TemplateDraft) -> Result<Checked, AppError> {
    let mut errors = FieldErrors::new();
    let name = errors.take("name", required_text(&draft.name, 150));
    let purpose = errors.take("purpose", Purpose::parse(&draft.purpose));
    let language = errors.take(
        "language",
        Lang::parse(&draft.language)
            .ok_or_else(|| Msg::new("error-one-of").arg("allowed", "vi, en")),
    );
    if let Err(e) = content::validate(&draft.content) {
        errors.0.extend(e.0);
    }
    errors.into_result()?;
    Ok(Checked {
        name: name.expect("checked"),
        purpose: purpose.expect("checked"),
        language: language.expect("checked"),
        content: draft.content.clone(),
    })
}

fn parse_content(raw: &str) -> AppResult<Content> {
    serde_json::from_str(raw)
        .map_err(|e| AppError::Internal(anyhow::anyhow!("stored template content: {e}")))
}

async fn view<C: ConnectionTrait>(
    conn: &C,
    t: template::Model,
    version_no: Option<i32>,
) -> AppResult<TemplateView> {
    let wanted = version_no.unwrap_or(t.current_version);
    let versions = version::Entity::find()
        .filter(version::Column::TemplateId.eq(t.id))
        .order_by_desc(version::Column::Version)
        .all(conn)
        .await?;
    let chosen = versions
        .iter()
        .find(|v| v.version == wanted)
        .ok_or(AppError::NotFound)?;
    Ok(TemplateView {
        content: parse_content(&chosen.content)?,
        version: chosen.version,
        versions: versions
            .iter()
            .map(|v| VersionInfo {
                version: v.version,
                created_at: v.created_at,
                created_by: v.created_by_label.clone(),
            })
            .collect(),
        purpose: Purpose::parse(&t.purpose).unwrap_or(Purpose::Custom),
        channel: Channel::parse(&t.channel).unwrap_or(Channel::Sms),
        id: t.id,
        code: t.code,
        name: t.name,
        language: t.language,
        current_version: t.current_version,
        archived: t.archived,
        updated_at: t.updated_at,
    })
}

/// Templates hold no personal data: every role may read them.
pub async fn list(
    db: &Db,
    _actor: &Actor,
    filter: &TemplateFilter,
) -> AppResult<Vec<TemplateView>> {
    let nonempty = |v: &Option<String>| {
        v.as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    let mut q = template::Entity::find().filter(template::Column::Archived.eq(false));
    if let Some(c) = nonempty(&filter.channel) {
        let c = Channel::parse(&c).map_err(|m| AppError::invalid("channel", m))?;
        q = q.filter(template::Column::Channel.eq(c.code()));
    }
    if let Some(l) = nonempty(&filter.language) {
        let l = Lang::parse(&l).ok_or_else(|| {
            AppError::invalid(
                "language",
                Msg::new("error-one-of").arg("allowed", "vi, en"),
            )
        })?;
        q = q.filter(template::Column::Language.eq(l.code()));
    }
    if let Some(p) = nonempty(&filter.purpose) {
        let p = Purpose::parse(&p).map_err(|m| AppError::invalid("purpose", m))?;
        q = q.filter(template::Column::Purpose.eq(p.code()));
    }
    let rows = q
        .order_by_asc(template::Column::Purpose)
        .order_by_asc(template::Column::Channel)
        .order_by_asc(template::Column::Language)
        .all(&db.conn)
        .await?;
    let mut out = Vec::with_capacity(rows.len());
    for t in rows {
        out.push(view(&db.conn, t, None).await?);
    }
    Ok(out)
}

pub async fn get(
    db: &Db,
    _actor: &Actor,
    id: i64,
    version_no: Option<i32>,
) -> AppResult<TemplateView> {
    let t = template::Entity::find_by_id(id)
        .one(&db.conn)
        .await?
        .ok_or(AppError::NotFound)?;
    view(&db.conn, t, version_no).await
}

/// The content of one version, for a message being sent.
pub async fn version_content<C: ConnectionTrait>(
    conn: &C,
    template_id: i64,
    version_no: i32,
) -> AppResult<Content> {
    let v = version::Entity::find()
        .filter(version::Column::TemplateId.eq(template_id))
        .filter(version::Column::Version.eq(version_no))
        .one(conn)
        .await?
        .ok_or(AppError::NotFound)?;
    parse_content(&v.content)
}

async fn insert_version<C: ConnectionTrait>(
    conn: &C,
    actor: &Actor,
    template_id: i64,
    version_no: i32,
    content: &Content,
) -> AppResult<()> {
    version::ActiveModel {
        template_id: Set(template_id),
        version: Set(version_no),
        content: Set(serde_json::to_string(content).map_err(anyhow::Error::from)?),
        created_at: Set(Utc::now()),
        created_by: Set(actor.user_id),
        created_by_label: Set(actor.label.chars().take(254).collect()),
        ..Default::default()
    }
    .insert(conn)
    .await?;
    Ok(())
}

/// Staff and admins write templates.
pub async fn create(db: &Db, actor: &Actor, draft: &TemplateDraft) -> AppResult<TemplateView> {
    actor.require_map_editor()?;
    let c = check(draft)?;
    let tx = db.begin_write().await?;
    let now = Utc::now();
    let t = template::ActiveModel {
        code: Set(None),
        name: Set(c.name.clone()),
        purpose: Set(c.purpose.code().to_string()),
        channel: Set(c.content.channel().code().to_string()),
        language: Set(c.language.code().to_string()),
        current_version: Set(1),
        archived: Set(false),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(&*tx)
    .await?;
    insert_version(&*tx, actor, t.id, 1, &c.content).await?;
    audit::record(
        &*tx,
        actor,
        "template.created",
        "template",
        Some(t.id.to_string()),
        json!({"name": t.name, "channel": t.channel, "language": t.language, "purpose": t.purpose}),
    )
    .await?;
    tx.commit().await?;
    get(db, actor, t.id, None).await
}

/// Saves an edit as a new version; the channel of a template never changes.
pub async fn update(
    db: &Db,
    actor: &Actor,
    id: i64,
    draft: &TemplateDraft,
) -> AppResult<TemplateView> {
    actor.require_map_editor()?;
    let tx = db.begin_write().await?;
    let t = template::Entity::find_by_id(id)
        .one(&*tx)
        .await?
        .ok_or(AppError::NotFound)?;
    let c = check(draft)?;
    if c.content.channel().code() != t.channel {
        return Err(AppError::invalid(
            "channel",
            Msg::new("error-template-channel"),
        ));
    }
    let current = version_content(&*tx, id, t.current_version).await?;
    let unchanged = current == c.content
        && t.name == c.name
        && t.purpose == c.purpose.code()
        && t.language == c.language.code();
    if unchanged {
        drop(tx);
        return get(db, actor, id, None).await;
    }
    let next = t.current_version + 1;
    if current != c.content {
        insert_version(&*tx, actor, id, next, &c.content).await?;
    }
    let new_version = if current != c.content {
        next
    } else {
        t.current_version
    };
    template::Entity::update_many()
        .col_expr(template::Column::Name, Expr::value(c.name.clone()))
        .col_expr(template::Column::Purpose, Expr::value(c.purpose.code()))
        .col_expr(template::Column::Language, Expr::value(c.language.code()))
        .col_expr(template::Column::CurrentVersion, Expr::value(new_version))
        .col_expr(template::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(template::Column::Id.eq(id))
        .exec(&*tx)
        .await?;
    audit::record(
        &*tx,
        actor,
        "template.updated",
        "template",
        Some(id.to_string()),
        json!({"version": {"from": t.current_version, "to": new_version}, "name": c.name}),
    )
    .await?;
    tx.commit().await?;
    get(db, actor, id, None).await
}

fn status_text(i18n: &I18n, lang: Lang, status: HiStatus) -> String {
    i18n.text::<&str>(lang, &format!("msg-hi-{}", status.code()), &[])
}

fn join_names(i18n: &I18n, lang: Lang, names: &[String]) -> String {
    match names {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!(
            "{} {} {last}",
            init.join(", "),
            i18n.text::<&str>(lang, "msg-and", &[])
        ),
    }
}

/// A school year's facts as messages quote them, in the message's language.
#[derive(Debug, Clone, Default)]
pub struct YearFacts {
    pub deadline: String,
    pub premium: String,
    pub state_support: String,
    pub how_to_pay: String,
}

impl YearFacts {
    /// The facts of `y`; `deadline` replaces the year's collection deadline (a school's own).
    pub fn of(
        y: &school_year::entity::Model,
        lang: Lang,
        deadline: Option<chrono::NaiveDate>,
    ) -> Self {
        let p = y.premium();
        YearFacts {
            deadline: deadline
                .unwrap_or(y.deadline)
                .format("%d/%m/%Y")
                .to_string(),
            premium: school_year::entity::Model::money(p.student, lang),
            state_support: format!(
                "{} ({})",
                school_year::entity::Model::money(p.state, lang),
                y.state_share_percent()
            ),
            how_to_pay: y.how_to_pay(lang).to_string(),
        }
    }
}

/// Facts of the current school year, in the message's language.
async fn year_facts<C: ConnectionTrait>(conn: &C, lang: Lang) -> AppResult<YearFacts> {
    let today = school_year::today();
    Ok(match school_year::current(conn, today).await? {
        Some(y) => YearFacts::of(&y, lang, None),
        None => YearFacts::default(),
    })
}

/// One child as a message names it.
pub struct Child {
    pub name: String,
    pub school: String,
    pub class: String,
    pub status: HiStatus,
}

impl Child {
    pub fn of(s: &student::Model, school: Option<&school::Model>) -> Self {
        Child {
            name: s.full_name.clone(),
            school: school.map(|x| x.name.clone()).unwrap_or_default(),
            class: s.class_name.clone().unwrap_or_default(),
            status: HiStatus::parse(&s.hi_status).unwrap_or(HiStatus::Uninsured),
        }
    }
}

/// The variables of a message to `guardian_name` about `children` (in the order given).
pub fn variables_for(
    i18n: &I18n,
    lang: Lang,
    base_url: &str,
    guardian_name: &str,
    children: Vec<Child>,
    province: String,
    facts: YearFacts,
) -> Variables {
    let students: Vec<StudentVars> = children
        .into_iter()
        .map(|c| StudentVars {
            name: c.name,
            school: c.school,
            class: c.class,
            hi_status: status_text(i18n, lang, c.status),
        })
        .collect();
    Variables {
        guardian_name: guardian_name.to_string(),
        student_names: join_names(
            i18n,
            lang,
            &students.iter().map(|s| s.name.clone()).collect::<Vec<_>>(),
        ),
        school: students
            .first()
            .map(|s| s.school.clone())
            .unwrap_or_default(),
        students,
        province,
        deadline: facts.deadline,
        premium: facts.premium,
        state_support: facts.state_support,
        how_to_pay: facts.how_to_pay,
        unsubscribe_url: String::new(),
        links: LinkVars {
            pay: format!("{base_url}/pay"),
            info: format!("{base_url}/info"),
        },
        session: SessionVars::default(),
    }
}

/// Made-up variables for previews.
pub async fn sample_variables<C: ConnectionTrait>(
    conn: &C,
    i18n: &I18n,
    lang: Lang,
    base_url: &str,
) -> AppResult<Variables> {
    let YearFacts {
        deadline,
        premium,
        state_support,
        how_to_pay,
    } = year_facts(conn, lang).await?;
    let students = vec![
        StudentVars {
            name: "Nguyễn Văn An".into(),
            school: "Trường THCS Nguyễn Du".into(),
            class: "9A".into(),
            hi_status: status_text(i18n, lang, HiStatus::Uninsured),
        },
        StudentVars {
            name: "Nguyễn Thị Chi".into(),
            school: "Trường Tiểu học Kim Đồng".into(),
            class: "4B".into(),
            hi_status: status_text(i18n, lang, HiStatus::Uninsured),
        },
    ];
    Ok(Variables {
        guardian_name: "Trần Thị Bình".into(),
        student_names: join_names(
            i18n,
            lang,
            &students.iter().map(|s| s.name.clone()).collect::<Vec<_>>(),
        ),
        school: students[0].school.clone(),
        students,
        province: "Hà Nội".into(),
        deadline,
        premium,
        state_support,
        how_to_pay,
        unsubscribe_url: format!("{base_url}/unsubscribe/preview"),
        links: LinkVars {
            pay: format!("{base_url}/pay"),
            info: format!("{base_url}/info"),
        },
        session: SessionVars {
            date: "15/10/2025".into(),
            time: "15:00".into(),
            location: "Hội trường tầng 2".into(),
            school: "Trường THCS Nguyễn Du".into(),
        },
    })
}

/// A guardian's own variables. `only_uninsured`: mention only the children who still need
/// cover (what reminders do); otherwise all of them.
pub async fn guardian_variables<C: ConnectionTrait>(
    conn: &C,
    i18n: &I18n,
    lang: Lang,
    base_url: &str,
    guardian_id: i64,
    only_uninsured: bool,
) -> AppResult<Variables> {
    let g = guardian::Entity::find_by_id(guardian_id)
        .one(conn)
        .await?
        .ok_or(AppError::NotFound)?;
    let ids: Vec<i64> = student_guardian::Entity::find()
        .filter(student_guardian::Column::GuardianId.eq(guardian_id))
        .all(conn)
        .await?
        .into_iter()
        .map(|l| l.student_id)
        .collect();
    let mut q = student::Entity::find().filter(student::Column::Id.is_in(ids));
    if only_uninsured {
        q = q.filter(student::Column::HiStatus.eq(HiStatus::Uninsured.code()));
    }
    let kids = q
        .order_by_asc(student::Column::DateOfBirth)
        .all(conn)
        .await?;
    let schools: std::collections::HashMap<i64, school::Model> = school::Entity::find()
        .filter(school::Column::Id.is_in(kids.iter().map(|s| s.school_id).collect::<Vec<_>>()))
        .all(conn)
        .await?
        .into_iter()
        .map(|s| (s.id, s))
        .collect();
    let province = match kids.first().and_then(|k| schools.get(&k.school_id)) {
        Some(s) => province::Entity::find_by_id(s.province_id)
            .one(conn)
            .await?
            .map(|p| p.name)
            .unwrap_or_default(),
        None => String::new(),
    };
    let children = kids
        .iter()
        .map(|k| Child::of(k, schools.get(&k.school_id)))
        .collect();
    let facts = year_facts(conn, lang).await?;
    Ok(variables_for(
        i18n,
        lang,
        base_url,
        &g.full_name,
        children,
        province,
        facts,
    ))
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Preview {
    pub template_id: i64,
    pub version: i32,
    /// Whose data filled it: `sample`, or `guardian`.
    pub data: String,
    pub rendered: Rendered,
}

/// Renders a template with sample data, or with a real guardian the actor may see.
pub async fn preview(
    db: &Db,
    actor: &Actor,
    i18n: &I18n,
    base_url: &str,
    id: i64,
    version_no: Option<i32>,
    guardian_id: Option<i64>,
) -> AppResult<Preview> {
    let t = get(db, actor, id, version_no).await?;
    let lang = Lang::parse(&t.language).unwrap_or_default();
    let (vars, data) = match guardian_id {
        Some(gid) => {
            // The same scope rule as the guardian page: 404 outside it.
            crate::contacts::service::get_guardian(db, actor, gid).await?;
            let mut vars = guardian_variables(&db.conn, i18n, lang, base_url, gid, false).await?;
            vars.unsubscribe_url = format!("{base_url}/unsubscribe/preview");
            (vars, "guardian")
        }
        None => (
            sample_variables(&db.conn, i18n, lang, base_url).await?,
            "sample",
        ),
    };
    Ok(Preview {
        template_id: t.id,
        version: t.version,
        data: data.into(),
        rendered: render::render(&t.content, &vars)?,
    })
}

/// The templates shipped with the platform: `templates/messages/<lang>/<purpose>.json`, one
/// file holding the content for every channel.
#[derive(RustEmbed)]
#[folder = "templates/messages/"]
struct Defaults;

#[derive(Deserialize)]
struct DefaultFile {
    name: String,
    purpose: Purpose,
    email: Content,
    sms: Content,
    zalo: Content,
    push: Content,
}

/// Adds the default templates that are missing (by code); run at start-up, safe to repeat and
/// to race with another instance.
pub async fn ensure_defaults(db: &Db) -> AppResult<()> {
    let actor = Actor::cli();
    for path in Defaults::iter() {
        let Some(lang) = path.split('/').next().and_then(Lang::parse) else {
            continue;
        };
        let file = Defaults::get(&path).ok_or_else(|| anyhow::anyhow!("{path} vanished"))?;
        let parsed: DefaultFile =
            serde_json::from_slice(&file.data).map_err(|e| anyhow::anyhow!("{path}: {e}"))?;
        for content in [parsed.email, parsed.sms, parsed.zalo, parsed.push] {
            content::validate(&content).map_err(|e| anyhow::anyhow!("{path}: {e:?}"))?;
            let code = format!(
                "default.{}.{}.{}",
                parsed.purpose.code(),
                content.channel().code(),
                lang.code()
            );
            if template::Entity::find()
                .filter(template::Column::Code.eq(&code))
                .count(&db.conn)
                .await?
                > 0
            {
                continue;
            }
            let tx = db.begin_write().await?;
            let now = Utc::now();
            let inserted = template::ActiveModel {
                code: Set(Some(code.clone())),
                name: Set(parsed.name.clone()),
                purpose: Set(parsed.purpose.code().to_string()),
                channel: Set(content.channel().code().to_string()),
                language: Set(lang.code().to_string()),
                current_version: Set(1),
                archived: Set(false),
                created_at: Set(now),
                updated_at: Set(now),
                ..Default::default()
            }
            .insert(&*tx)
            .await;
            match inserted {
                Ok(t) => {
                    insert_version(&*tx, &actor, t.id, 1, &content).await?;
                    tx.commit().await?;
                }
                // Another instance added it first.
                Err(e)
                    if matches!(
                        e.sql_err(),
                        Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
                    ) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
    Ok(())
}
