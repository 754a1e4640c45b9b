//! Turning a template and a guardian into a message: the address for the channel, the
//! rendered content (only the children who still need cover), the unsubscribe link, tracked
//! links and the open pixel.
use std::collections::{BTreeSet, HashMap};

use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};

use super::entity::{message, message_student};
use super::outbox::source;
use super::tracking;
use crate::campaigns::entity::campaign;
use crate::contacts::entity::{guardian, student};
use crate::contacts::fields::{Channel, HiStatus};
use crate::contacts::unsubscribe;
use crate::db::Params;
use crate::error::{AppError, AppResult};
use crate::messaging::content::Content;
use crate::messaging::entity::template;
use crate::messaging::render::{self, Rendered, Variables};
use crate::messaging::service::{self as templates, YearFacts};
use crate::org::entity::{province, school};
use crate::school_year;
use crate::web::i18n::{I18n, Lang};

pub struct Composer<'a> {
    pub i18n: &'a I18n,
    pub base_url: &'a str,
    pub secret: &'a [u8],
    pub track_opens: bool,
}

pub struct Composed {
    pub recipient: String,
    pub content: Rendered,
    pub language: Lang,
}

/// The address a channel uses for a guardian, if there is one.
pub fn address(g: &guardian::Model, channel: Channel) -> Option<String> {
    match channel {
        Channel::Email => g.email.clone(),
        Channel::Sms => g.phone.clone(),
        Channel::Zalo => g.phone.clone().filter(|_| g.zalo),
        Channel::Push => g.app_ref.clone(),
    }
}

impl Composer<'_> {
    /// Renders `template_id` at `version` for one guardian. None when the guardian has no
    /// address on the template's channel.
    pub async fn compose<C: ConnectionTrait>(
        &self,
        conn: &C,
        guardian_id: i64,
        template_id: i64,
        version: i32,
        idempotency_key: &str,
        only_uninsured: bool,
    ) -> AppResult<Option<Composed>> {
        let g = guardian::Entity::find_by_id(guardian_id)
            .one(conn)
            .await?
            .ok_or(AppError::NotFound)?;
        let content = templates::version_content(conn, template_id, version).await?;
        let channel = content.channel();
        let Some(recipient) = address(&g, channel) else {
            return Ok(None);
        };
        let t = crate::messaging::entity::template::Entity::find_by_id(template_id)
            .one(conn)
            .await?
            .ok_or(AppError::NotFound)?;
        let language = Lang::parse(&t.language).unwrap_or_default();
        let vars = templates::guardian_variables(
            conn,
            self.i18n,
            language,
            self.base_url,
            guardian_id,
            only_uninsured,
        )
        .await?;
        let rendered = self.finish(&content, vars, guardian_id, idempotency_key)?;
        Ok(Some(Composed {
            recipient,
            content: rendered,
            language,
        }))
    }

    /// Renders `content` with the guardian's unsubscribe link, tracked links (not in SMS,
    /// which is charged by length) and, for e-mail, the open pixel.
    fn finish(
        &self,
        content: &Content,
        mut vars: Variables,
        guardian_id: i64,
        idempotency_key: &str,
    ) -> AppResult<Rendered> {
        let channel = content.channel();
        vars.unsubscribe_url = unsubscribe::url(self.base_url, self.secret, guardian_id, channel);
        if channel != Channel::Sms {
            vars.links.pay =
                tracking::click_url(self.base_url, self.secret, idempotency_key, &vars.links.pay);
            vars.links.info = tracking::click_url(
                self.base_url,
                self.secret,
                idempotency_key,
                &vars.links.info,
            );
        }
        let mut rendered = render::render(content, &vars)?;
        if let (Rendered::Email { html, .. }, true) = (&mut rendered, self.track_opens) {
            let pixel = format!(
                r#"<img src="{}" width="1" height="1" alt="">"#,
                tracking::open_pixel_url(self.base_url, self.secret, idempotency_key)
            );
            match html.rfind("</body>") {
                Some(i) => html.insert_str(i, &pixel),
                None => html.push_str(&pixel),
            }
        }
        Ok(rendered)
    }

    /// Renders, in a handful of queries for the whole batch, messages queued without content
    /// (waves, reminders, thank-yous: they are written when sent). Each names the children it
    /// was queued for that still match its audience's HI status now — a child insured since
    /// is left out, and a message left with no child is not sent.
    ///
    /// `given` names the students of messages not stored (a dry run); stored messages' are
    /// read from `message_students`.
    pub async fn compose_waiting<C: ConnectionTrait>(
        &self,
        conn: &C,
        msgs: &[message::Model],
        given: Option<HashMap<i64, Vec<i64>>>,
    ) -> AppResult<HashMap<i64, Late>> {
        let mut out = HashMap::new();
        if msgs.is_empty() {
            return Ok(out);
        }
        let ids: Vec<i64> = msgs.iter().map(|m| m.id).collect();
        let stored = given.is_none();
        let mut links: HashMap<i64, Vec<i64>> = given.unwrap_or_default();
        for chunk in ids.chunks(500).filter(|_| stored) {
            for l in message_student::Entity::find()
                .filter(message_student::Column::MessageId.is_in(chunk.to_vec()))
                .all(conn)
                .await?
            {
                links.entry(l.message_id).or_default().push(l.student_id);
            }
        }
        let student_ids: BTreeSet<i64> = links.values().flatten().copied().collect();
        let students = by_id(
            conn,
            student::Entity::find(),
            student::Column::Id,
            &student_ids,
            |s: &student::Model| s.id,
        )
        .await?;
        let school_ids: BTreeSet<i64> = students.values().map(|s| s.school_id).collect();
        let schools = by_id(
            conn,
            school::Entity::find(),
            school::Column::Id,
            &school_ids,
            |s: &school::Model| s.id,
        )
        .await?;
        let province_ids: BTreeSet<i64> = schools.values().map(|s| s.province_id).collect();
        let provinces = by_id(
            conn,
            province::Entity::find(),
            province::Column::Id,
            &province_ids,
            |p: &province::Model| p.id,
        )
        .await?;
        let guardian_ids: BTreeSet<i64> = msgs.iter().map(|m| m.guardian_id).collect();
        let guardians = by_id(
            conn,
            guardian::Entity::find(),
            guardian::Column::Id,
            &guardian_ids,
            |g: &guardian::Model| g.id,
        )
        .await?;
        let wanted = audience_statuses(conn, msgs).await?;
        let years = school_years_of(conn, msgs, &school_ids).await?;
        let mut contents: HashMap<(i64, i32), Option<(Content, Lang)>> = HashMap::new();
        for m in msgs {
            let (Some(tid), Some(v)) = (m.template_id, m.template_version) else {
                out.insert(m.id, Late::Failed("no template".into()));
                continue;
            };
            if let std::collections::hash_map::Entry::Vacant(e) = contents.entry((tid, v)) {
                let content = match templates::version_content(conn, tid, v).await {
                    Ok(c) => Some(c),
                    Err(AppError::NotFound) => None,
                    Err(e) => return Err(e),
                };
                let lang = template::Entity::find_by_id(tid)
                    .one(conn)
                    .await?
                    .and_then(|t| Lang::parse(&t.language))
                    .unwrap_or_default();
                e.insert(content.map(|c| (c, lang)));
            }
        }
        for m in msgs {
            if out.contains_key(&m.id) {
                continue;
            }
            let Some((content, lang)) = m
                .template_id
                .zip(m.template_version)
                .and_then(|k| contents.get(&k).cloned().flatten())
            else {
                out.insert(m.id, Late::Failed("template version missing".into()));
                continue;
            };
            let Some(g) = guardians.get(&m.guardian_id) else {
                out.insert(m.id, Late::Failed("guardian missing".into()));
                continue;
            };
            let filter = wanted
                .get(&(m.source_kind.clone(), m.source_id))
                .copied()
                .flatten();
            let mut kids: Vec<&student::Model> = links
                .get(&m.id)
                .map(|l| l.iter().filter_map(|id| students.get(id)).collect())
                .unwrap_or_default();
            kids.retain(|k| filter.is_none_or(|h| k.hi_status == h.code()));
            if kids.is_empty() {
                out.insert(m.id, Late::Nothing);
                continue;
            }
            kids.sort_by_key(|k| (k.date_of_birth, k.id));
            let first_school = schools.get(&kids[0].school_id);
            let province = first_school
                .and_then(|s| provinces.get(&s.province_id))
                .map(|p| p.name.clone())
                .unwrap_or_default();
            let facts = years.facts(m.campaign_id, kids[0].school_id, lang);
            let children = kids
                .iter()
                .map(|k| templates::Child::of(k, schools.get(&k.school_id)))
                .collect();
            let vars = templates::variables_for(
                self.i18n,
                lang,
                self.base_url,
                &g.full_name,
                children,
                province,
                facts,
            );
            match self.finish(&content, vars, g.id, &m.idempotency_key) {
                Ok(r) => {
                    out.insert(m.id, Late::Ready(r));
                }
                Err(e) => {
                    out.insert(m.id, Late::Failed(e.to_string()));
                }
            }
        }
        Ok(out)
    }
}

/// A message composed when it is sent.
#[derive(Debug, Clone)]
pub enum Late {
    Ready(Rendered),
    /// Nobody left to write about: every child it was about is covered now.
    Nothing,
    /// It cannot be written (its template version is gone): dead, with this reason.
    Failed(String),
}

/// Rows of `entity` whose `col` is in `ids`, by key, in chunks.
async fn by_id<C, E, K>(
    conn: &C,
    query: sea_orm::Select<E>,
    col: impl ColumnTrait,
    ids: &BTreeSet<i64>,
    key: K,
) -> AppResult<HashMap<i64, E::Model>>
where
    C: ConnectionTrait,
    E: EntityTrait,
    K: Fn(&E::Model) -> i64,
{
    let ids: Vec<i64> = ids.iter().copied().collect();
    let mut out = HashMap::new();
    for chunk in ids.chunks(500) {
        for row in query
            .clone()
            .filter(col.is_in(chunk.to_vec()))
            .all(conn)
            .await?
        {
            out.insert(key(&row), row);
        }
    }
    Ok(out)
}

/// The HI status each wave's and rule's audience picks (None: any status; thank-yous name
/// every child they were queued for).
async fn audience_statuses<C: ConnectionTrait>(
    conn: &C,
    msgs: &[message::Model],
) -> AppResult<HashMap<(String, Option<i64>), Option<HiStatus>>> {
    let mut out = HashMap::new();
    for (kind, table) in [(source::WAVE, "waves"), (source::RULE, "reminder_rules")] {
        let ids: BTreeSet<i64> = msgs
            .iter()
            .filter(|m| m.source_kind == kind)
            .filter_map(|m| m.source_id)
            .collect();
        if ids.is_empty() {
            continue;
        }
        let ids: Vec<i64> = ids.into_iter().collect();
        let mut p = Params::new(conn.get_database_backend());
        let list = p.bind_list(&ids);
        for r in conn
            .query_all(p.statement(format!(
                "SELECT s.id AS id, a.hi_status AS hi FROM {table} s \
                 JOIN audiences a ON a.id = s.audience_id WHERE s.id IN {list}"
            )))
            .await?
        {
            let id: i64 = r.try_get("", "id")?;
            let hi: String = r.try_get("", "hi")?;
            out.insert((kind.to_string(), Some(id)), HiStatus::parse(&hi).ok());
        }
    }
    Ok(out)
}

/// School years of the batch's campaigns (the current one for messages without a campaign)
/// and the schools' own collection deadlines in them.
struct Years {
    by_campaign: HashMap<i64, school_year::entity::Model>,
    current: Option<school_year::entity::Model>,
    deadlines: HashMap<(i64, i64), chrono::NaiveDate>,
}

impl Years {
    fn facts(&self, campaign_id: Option<i64>, school_id: i64, lang: Lang) -> YearFacts {
        let year = campaign_id
            .and_then(|c| self.by_campaign.get(&c))
            .or(self.current.as_ref());
        match year {
            Some(y) => YearFacts::of(y, lang, self.deadlines.get(&(school_id, y.id)).copied()),
            None => YearFacts::default(),
        }
    }
}

async fn school_years_of<C: ConnectionTrait>(
    conn: &C,
    msgs: &[message::Model],
    school_ids: &BTreeSet<i64>,
) -> AppResult<Years> {
    let campaign_ids: Vec<i64> = msgs
        .iter()
        .filter_map(|m| m.campaign_id)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let campaigns = campaign::Entity::find()
        .filter(campaign::Column::Id.is_in(campaign_ids))
        .all(conn)
        .await?;
    let year_ids: Vec<i64> = campaigns
        .iter()
        .map(|c| c.school_year_id)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let years: HashMap<i64, school_year::entity::Model> = school_year::entity::Entity::find()
        .filter(school_year::entity::Column::Id.is_in(year_ids.clone()))
        .all(conn)
        .await?
        .into_iter()
        .map(|y| (y.id, y))
        .collect();
    let by_campaign = campaigns
        .iter()
        .filter_map(|c| years.get(&c.school_year_id).map(|y| (c.id, y.clone())))
        .collect();
    let current = if msgs.iter().any(|m| m.campaign_id.is_none()) {
        school_year::current(conn, school_year::today()).await?
    } else {
        None
    };
    let mut all_years = year_ids;
    if let Some(c) = &current {
        all_years.push(c.id);
    }
    let mut deadlines = HashMap::new();
    let schools: Vec<i64> = school_ids.iter().copied().collect();
    for chunk in schools.chunks(500) {
        if all_years.is_empty() {
            break;
        }
        let mut p = Params::new(conn.get_database_backend());
        let s = p.bind_list(chunk);
        let y = p.bind_list(&all_years);
        for r in conn
            .query_all(p.statement(format!(
                "SELECT school_id, school_year_id, deadline FROM school_deadlines \
                 WHERE school_id IN {s} AND school_year_id IN {y}"
            )))
            .await?
        {
            deadlines.insert(
                (
                    r.try_get("", "school_id")?,
                    r.try_get("", "school_year_id")?,
                ),
                r.try_get("", "deadline")?,
            );
        }
    }
    Ok(Years {
        by_campaign,
        current,
        deadlines,
    })
}
