//! Coverage as of a day: each school's latest snapshot on or before it, summed (so the
//! percentage is weighted by enrollment) for the nation, a province, a commune; the trend by
//! month; uplift since a campaign's start with its confidence interval; the schools furthest
//! from the target.
use std::collections::{BTreeMap, HashMap};

use chrono::{Datelike, Duration, NaiveDate, Utc};
use chrono_tz::Tz;
use sea_orm::{ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, Statement};
use serde::{Deserialize, Serialize};

use super::service::pct;
use crate::analytics::{self, SchoolCoverage, UpliftOptions};
use crate::auth::actor::{Actor, Scope};
use crate::campaigns::kinds;
use crate::campaigns::service as campaigns;
use crate::db::Db;
use crate::error::{AppError, AppResult, Msg};
use crate::org::entity::{commune, province, school};
use crate::org::level::SchoolLevel;

#[derive(Debug, Clone, Default, Deserialize, Serialize, utoipa::IntoParams)]
pub struct CoverageQuery {
    /// Province code: its communes. Without it: the provinces of the caller's scope.
    pub province: Option<String>,
    /// Commune code (with or without `province`): its schools.
    pub commune: Option<String>,
    /// The day of the figures, yyyy-mm-dd (each school's latest snapshot on or before it);
    /// today in Vietnam when empty.
    pub date: Option<String>,
    /// A campaign id: uplift since its start.
    pub campaign: Option<i64>,
    /// A school level code, e.g. `upper_secondary`.
    pub level: Option<String>,
}

/// One row of the dashboard: a place and its figures.
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct Unit {
    /// nation, province, commune or school.
    pub kind: String,
    pub code: String,
    pub name: String,
    /// The dashboard page of this place.
    pub href: String,
    pub schools: u64,
    /// Schools with a snapshot on or before the day.
    pub reporting: u64,
    pub enrolled: i64,
    pub insured: i64,
    pub state_funded: i64,
    pub uninsured: i64,
    /// insured / enrolled, percent, weighted by enrollment.
    pub coverage: f64,
    /// Target minus coverage, percentage points (0 when reached).
    pub gap: f64,
    /// Coverage at the campaign's start, when a campaign is chosen.
    pub baseline: Option<f64>,
    /// Coverage now minus at the start, percentage points.
    pub uplift: Option<f64>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TrendPoint {
    pub date: NaiveDate,
    pub coverage: f64,
    pub enrolled: i64,
    pub insured: i64,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct UpliftView {
    /// Enrollment-weighted mean of the schools' uplift, percentage points.
    pub mean: f64,
    pub ci_lower: f64,
    pub ci_upper: f64,
    pub schools: usize,
    /// Independent units behind the interval (provinces).
    pub clusters: usize,
    /// Plain-language caveats (few clusters, data outside 0–100%...).
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CoverageView {
    /// nation, province or commune: the place the page is about.
    pub level: String,
    pub total: Unit,
    pub date: NaiveDate,
    /// The target in percent (the campaign's, else 100).
    pub target: f64,
    pub children: Vec<Unit>,
    /// Coverage at the end of each month up to the day (at most 24 months).
    pub trend: Vec<TrendPoint>,
    /// The ten reporting schools with the lowest coverage.
    pub furthest: Vec<Unit>,
    pub campaign: Option<campaigns::PlaceRef>,
    pub campaign_start: Option<NaiveDate>,
    pub uplift: Option<UpliftView>,
}

use crate::db::Params as Sql;

/// The schools the figures cover: the actor's scope, the place, the level.
#[derive(Debug, Clone, Default)]
struct Filter {
    province_id: Option<i64>,
    commune_id: Option<i64>,
    school_ids: Option<Vec<i64>>,
    level: Option<String>,
}

impl Filter {
    fn conditions(&self, sql: &mut Sql) -> String {
        let mut c = vec!["1 = 1".to_string()];
        if let Some(p) = self.province_id {
            c.push(format!("sc.province_id = {}", sql.bind(p)));
        }
        if let Some(m) = self.commune_id {
            c.push(format!("sc.commune_id = {}", sql.bind(m)));
        }
        if let Some(ids) = &self.school_ids {
            if ids.is_empty() {
                c.push("1 = 0".into());
            } else {
                let list: Vec<String> = ids.iter().map(|i| sql.bind(*i)).collect();
                c.push(format!("sc.id IN ({})", list.join(", ")));
            }
        }
        if let Some(l) = &self.level {
            c.push(format!("sc.level = {}", sql.bind(l.clone())));
        }
        c.join(" AND ")
    }
}

/// `SELECT columns` over each covered school's latest snapshot on or before `day` (alias `s`,
/// the school `sc`), with its bound values.
fn latest_sql(backend: DbBackend, f: &Filter, day: NaiveDate, columns: &str) -> (Sql, String) {
    let mut sql = Sql::new(backend);
    let d = sql.bind(day);
    let cond = f.conditions(&mut sql);
    // The place and scope filter the inner query, so only the covered schools' snapshots are
    // grouped (a liaison's dashboard reads a few schools, not the country).
    let text = format!(
        "SELECT {columns} FROM enrollment_snapshots s \
         JOIN (SELECT s2.school_id AS school_id, MAX(s2.taken_on) AS d FROM enrollment_snapshots s2 \
               JOIN schools sc ON sc.id = s2.school_id \
               WHERE s2.taken_on <= {d} AND {cond} GROUP BY s2.school_id) m \
           ON m.school_id = s.school_id AND m.d = s.taken_on"
    );
    (sql, text)
}

/// Each covered school's latest snapshot on or before `day`: (enrolled, insured, state-funded).
async fn latest<C: ConnectionTrait>(
    conn: &C,
    f: &Filter,
    day: NaiveDate,
) -> AppResult<HashMap<i64, (i64, i64, i64)>> {
    let (sql, text) = latest_sql(
        conn.get_database_backend(),
        f,
        day,
        "s.school_id AS school_id, s.enrolled AS enrolled, s.insured AS insured, s.state_funded AS state_funded",
    );
    let rows = conn
        .query_all(Statement::from_sql_and_values(
            sql.backend,
            text,
            sql.values,
        ))
        .await?;
    let mut out = HashMap::with_capacity(rows.len());
    for r in rows {
        let id: i64 = r.try_get("", "school_id")?;
        let e: i32 = r.try_get("", "enrolled")?;
        let i: i32 = r.try_get("", "insured")?;
        let s: i32 = r.try_get("", "state_funded")?;
        out.insert(id, (e.into(), i.into(), s.into()));
    }
    Ok(out)
}

/// How the covered schools' sums change over time up to `day`, by one statement: each snapshot
/// counts from its date until the school's next snapshot, so it adds its figures on its own
/// date and takes them away on the next one's. Answers (date, change of enrolled, change of
/// insured) in date order; the sums at a date are the changes up to it added together.
async fn changes<C: ConnectionTrait>(
    conn: &C,
    f: &Filter,
    day: NaiveDate,
) -> AppResult<Vec<(NaiveDate, i64, i64)>> {
    let mut sql = Sql::new(conn.get_database_backend());
    let d = sql.bind(day);
    let cond = f.conditions(&mut sql);
    let text = format!(
        "WITH x AS (SELECT s.taken_on AS taken_on, s.enrolled AS enrolled, s.insured AS insured, \
                LEAD(s.taken_on) OVER (PARTITION BY s.school_id ORDER BY s.taken_on) AS next_on \
            FROM enrollment_snapshots s JOIN schools sc ON sc.id = s.school_id \
            WHERE s.taken_on <= {d} AND {cond}) \
         SELECT c.d AS d, CAST(SUM(c.de) AS BIGINT) AS de, CAST(SUM(c.di) AS BIGINT) AS di FROM ( \
            SELECT taken_on AS d, enrolled AS de, insured AS di FROM x \
            UNION ALL \
            SELECT next_on AS d, -enrolled AS de, -insured AS di FROM x WHERE next_on IS NOT NULL \
         ) c GROUP BY c.d ORDER BY c.d"
    );
    let rows = conn
        .query_all(Statement::from_sql_and_values(
            sql.backend,
            text,
            sql.values,
        ))
        .await?;
    rows.into_iter()
        .map(|r| {
            Ok((
                r.try_get("", "d")?,
                r.try_get("", "de")?,
                r.try_get("", "di")?,
            ))
        })
        .collect()
}

fn month_end(d: NaiveDate) -> NaiveDate {
    let next = if d.month() == 12 {
        NaiveDate::from_ymd_opt(d.year() + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(d.year(), d.month() + 1, 1)
    };
    next.expect("valid") - Duration::days(1)
}

fn unit(kind: &str, code: String, name: String, href: String) -> Unit {
    Unit {
        kind: kind.into(),
        code,
        name,
        href,
        ..Default::default()
    }
}

/// Sums over the schools with figures both at the baseline and now.
#[derive(Debug, Clone, Copy, Default)]
struct Paired {
    now_enrolled: i64,
    now_insured: i64,
    base_enrolled: i64,
    base_insured: i64,
}

impl Unit {
    fn add(
        &mut self,
        now: Option<&(i64, i64, i64)>,
        base: Option<&(i64, i64, i64)>,
        base_sums: &mut Paired,
    ) {
        self.schools += 1;
        if let Some((e, i, s)) = now {
            self.reporting += 1;
            self.enrolled += e;
            self.insured += i;
            self.state_funded += s;
            if let Some((be, bi, _)) = base {
                base_sums.now_enrolled += e;
                base_sums.now_insured += i;
                base_sums.base_enrolled += be;
                base_sums.base_insured += bi;
            }
        }
    }

    fn finish(&mut self, target: f64, base_sums: Option<Paired>) {
        self.uninsured = self.enrolled - self.insured;
        self.coverage = pct(self.insured, self.enrolled);
        self.gap = (target - self.coverage).max(0.0);
        // The change is measured on the schools with figures at both dates only, so schools
        // that started reporting later do not move it.
        if let Some(p) = base_sums.filter(|p| p.base_enrolled > 0 && p.now_enrolled > 0) {
            let b = pct(p.base_insured, p.base_enrolled);
            self.baseline = Some(b);
            self.uplift = Some(pct(p.now_insured, p.now_enrolled) - b);
        }
    }
}

pub async fn coverage(
    db: &Db,
    actor: &Actor,
    q: &CoverageQuery,
    tz: Tz,
) -> AppResult<CoverageView> {
    let conn = &db.conn;
    let today = Utc::now().with_timezone(&tz).date_naive();
    let day = match q.date.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        Some(s) => kinds::day(s).map_err(|m| AppError::invalid("date", m))?,
        None => today,
    };
    let mut f = Filter::default();
    match actor.scope() {
        Scope::National => {}
        Scope::Province(p) => f.province_id = Some(p),
        Scope::Schools(ids) => f.school_ids = Some(ids),
    }
    if let Some(l) = q.level.as_deref().filter(|s| !s.is_empty()) {
        f.level = Some(
            SchoolLevel::parse(l)
                .map_err(|m| AppError::invalid("level", m))?
                .code()
                .to_string(),
        );
    }
    // The place: nation, a province or a commune, inside the actor's scope.
    let mut level = "nation";
    let mut total = unit("nation", String::new(), String::new(), "/coverage".into());
    if let Some(code) = q.province.as_deref().filter(|s| !s.is_empty()) {
        let p = crate::org::service::province_by_code(conn, code)
            .await?
            .ok_or_else(|| {
                AppError::invalid(
                    "province",
                    Msg::new("error-unknown-province").arg("code", code),
                )
            })?;
        if f.province_id.is_some_and(|x| x != p.id) {
            return Err(AppError::NotFound);
        }
        f.province_id = Some(p.id);
        level = "province";
        total = unit(
            "province",
            p.code.clone(),
            p.name.clone(),
            format!("/coverage?province={}", p.code),
        );
    }
    if let Some(code) = q.commune.as_deref().filter(|s| !s.is_empty()) {
        let c = commune::Entity::find()
            .filter(commune::Column::Code.eq(code.trim()))
            .one(conn)
            .await?
            .ok_or_else(|| {
                AppError::invalid(
                    "commune",
                    Msg::new("error-unknown-commune").arg("code", code),
                )
            })?;
        if f.province_id.is_some_and(|x| x != c.province_id) {
            return Err(AppError::NotFound);
        }
        f.province_id = Some(c.province_id);
        f.commune_id = Some(c.id);
        level = "commune";
        total = unit(
            "commune",
            c.code.clone(),
            c.name.clone(),
            format!("/coverage?commune={}", c.code),
        );
    }
    // The campaign: its target and its start as the baseline.
    let (campaign, start, target) = match q.campaign {
        Some(id) => {
            let c = campaigns::visible(conn, actor, id).await?;
            (
                Some(campaigns::PlaceRef {
                    id: c.id,
                    code: String::new(),
                    name: c.name.clone(),
                }),
                Some(c.starts_on),
                f64::from(c.target_coverage_bp) / 100.0,
            )
        }
        None => (None, None, 100.0),
    };
    // Before the campaign started there is no change since its start to show.
    let start = start.filter(|s| *s <= day);

    // The schools covered, with their places.
    let mut sq = school::Entity::find();
    if let Some(p) = f.province_id {
        sq = sq.filter(school::Column::ProvinceId.eq(p));
    }
    if let Some(c) = f.commune_id {
        sq = sq.filter(school::Column::CommuneId.eq(c));
    }
    if let Some(ids) = &f.school_ids {
        sq = sq.filter(school::Column::Id.is_in(ids.clone()));
    }
    if let Some(l) = &f.level {
        sq = sq.filter(school::Column::Level.eq(l.clone()));
    }
    let schools = sq.all(conn).await?;
    let now = latest(conn, &f, day).await?;
    let base = match start {
        Some(s) => latest(conn, &f, s).await?,
        None => HashMap::new(),
    };
    let provinces: HashMap<i64, province::Model> = province::Entity::find()
        .all(conn)
        .await?
        .into_iter()
        .map(|p| (p.id, p))
        .collect();
    let communes: HashMap<i64, commune::Model> = match (level, f.province_id) {
        ("province", Some(p)) => commune::Entity::find()
            .filter(commune::Column::ProvinceId.eq(p))
            .all(conn)
            .await?
            .into_iter()
            .map(|c| (c.id, c))
            .collect(),
        _ => HashMap::new(),
    };

    let mut children: BTreeMap<String, (Unit, Paired)> = BTreeMap::new();
    let mut total_base = Paired::default();
    let mut school_units = Vec::new();
    for s in &schools {
        let n = now.get(&s.id);
        let b = base.get(&s.id);
        total.add(n, b, &mut total_base);
        let (key, child) = match level {
            "nation" => {
                let p = provinces.get(&s.province_id);
                let code = p.map(|p| p.code.clone()).unwrap_or_default();
                (
                    code.clone(),
                    unit(
                        "province",
                        code.clone(),
                        p.map(|p| p.name.clone()).unwrap_or_default(),
                        format!("/coverage?province={code}"),
                    ),
                )
            }
            "province" => match s.commune_id.and_then(|c| communes.get(&c)) {
                Some(c) => (
                    c.code.clone(),
                    unit(
                        "commune",
                        c.code.clone(),
                        c.name.clone(),
                        format!("/coverage?commune={}", c.code),
                    ),
                ),
                None => (
                    "~".into(),
                    unit("commune", String::new(), "—".into(), String::new()),
                ),
            },
            _ => (
                s.code.clone(),
                unit(
                    "school",
                    s.code.clone(),
                    s.name.clone(),
                    format!("/schools/{}", s.id),
                ),
            ),
        };
        let entry = children.entry(key).or_insert((child, Paired::default()));
        let mut sums = entry.1;
        entry.0.add(n, b, &mut sums);
        entry.1 = sums;
        if n.is_some() {
            let mut u = unit(
                "school",
                s.code.clone(),
                s.name.clone(),
                format!("/schools/{}", s.id),
            );
            let mut sums = Paired::default();
            u.add(n, b, &mut sums);
            u.finish(target, start.map(|_| sums));
            school_units.push(u);
        }
    }
    total.finish(target, start.map(|_| total_base));
    if level == "nation" && total.name.is_empty() {
        total.name = match actor.scope() {
            Scope::National => "Toàn quốc".into(),
            Scope::Province(p) => provinces
                .get(&p)
                .map(|p| p.name.clone())
                .unwrap_or_default(),
            Scope::Schools(_) => String::new(),
        };
    }
    let children: Vec<Unit> = children
        .into_values()
        .map(|(mut u, sums)| {
            u.finish(target, start.map(|_| sums));
            u
        })
        .collect();
    school_units.sort_by(|a, b| {
        a.coverage
            .total_cmp(&b.coverage)
            .then_with(|| b.uninsured.cmp(&a.uninsured))
    });
    let furthest: Vec<Unit> = school_units.iter().take(10).cloned().collect();

    // Uplift since the campaign's start, school by school, clustered by province.
    let uplift = match start {
        Some(_) => {
            let pairs: Vec<SchoolCoverage> = schools
                .iter()
                .filter_map(|s| {
                    let (e, i, _) = now.get(&s.id)?;
                    let (be, bi, _) = base.get(&s.id)?;
                    (*e > 0 && *be > 0).then(|| SchoolCoverage {
                        school_id: s.code.clone(),
                        province: provinces.get(&s.province_id).map(|p| p.code.clone()),
                        baseline_coverage_pct: pct(*bi, *be),
                        current_coverage_pct: pct(*i, *e),
                        enrolled: *e as u64,
                    })
                })
                .collect();
            // Clustering by province needs two of them; one province's staff get school-level
            // intervals (the analytics module says so in its warnings).
            let provinces = pairs
                .iter()
                .filter_map(|p| p.province.clone())
                .collect::<std::collections::HashSet<_>>()
                .len();
            match analytics::uplift(
                &pairs,
                &UpliftOptions {
                    cluster_by_province: provinces >= 2,
                },
            ) {
                Ok(u) => Some(UpliftView {
                    mean: u.weighted_mean_uplift_pp,
                    ci_lower: u.ci_lower,
                    ci_upper: u.ci_upper,
                    schools: u.n_schools,
                    clusters: u.n_clusters,
                    warnings: u.warnings.iter().map(|w| w.message.clone()).collect(),
                }),
                Err(_) => None,
            }
        }
        None => None,
    };

    // The trend: month ends from the first snapshot (at most 24) up to the day.
    let changes = changes(conn, &f, day).await?;
    let mut changes = changes.iter().peekable();
    let (mut e, mut i) = (0i64, 0i64);
    let mut trend = Vec::new();
    let mut m = month_end(day - Duration::days(31 * 23)).min(month_end(day));
    loop {
        let point = if m > day { day } else { m };
        while let Some((_, de, di)) = changes.next_if(|(d, _, _)| *d <= point) {
            e += de;
            i += di;
        }
        if e > 0 {
            trend.push(TrendPoint {
                date: point,
                coverage: pct(i, e),
                enrolled: e,
                insured: i,
            });
        }
        if point >= day {
            break;
        }
        m = month_end(m + Duration::days(1));
    }
    Ok(CoverageView {
        level: level.into(),
        total,
        date: day,
        target,
        children,
        trend,
        furthest,
        campaign,
        campaign_start: start,
        uplift,
    })
}

/// A text cell a spreadsheet will not run as a formula.
pub fn csv_text(s: &str) -> String {
    if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_string()
    }
}

/// The dashboard's rows as CSV (UTF-8 with a byte-order mark, so spreadsheets read the
/// Vietnamese names right).
pub fn to_csv(v: &CoverageView) -> AppResult<Vec<u8>> {
    let mut w = csv::Writer::from_writer(vec![0xEF, 0xBB, 0xBF]);
    let err = |e: csv::Error| AppError::Internal(anyhow::anyhow!("csv: {e}"));
    w.write_record([
        "kind",
        "code",
        "name",
        "schools",
        "reporting",
        "enrolled",
        "insured",
        "state_funded",
        "uninsured",
        "coverage_pct",
        "gap_pp",
        "baseline_pct",
        "uplift_pp",
    ])
    .map_err(err)?;
    let f = |x: f64| format!("{x:.2}");
    for u in std::iter::once(&v.total).chain(v.children.iter()) {
        w.write_record([
            u.kind.clone(),
            csv_text(&u.code),
            csv_text(&u.name),
            u.schools.to_string(),
            u.reporting.to_string(),
            u.enrolled.to_string(),
            u.insured.to_string(),
            u.state_funded.to_string(),
            u.uninsured.to_string(),
            f(u.coverage),
            f(u.gap),
            u.baseline.map(f).unwrap_or_default(),
            u.uplift.map(f).unwrap_or_default(),
        ])
        .map_err(err)?;
    }
    w.into_inner()
        .map_err(|e| AppError::Internal(anyhow::anyhow!("csv: {e}")))
}
