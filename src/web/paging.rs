//! Pagination of lists: `?page=1&per_page=50` in, `{items, page, per_page, total, pages}` out.
use serde::{Deserialize, Serialize};

use crate::error::{AppError, FieldErrors, Msg};

pub const DEFAULT_PER_PAGE: u64 = 50;
pub const MAX_PER_PAGE: u64 = 200;

/// Query parameters of every list endpoint.
#[derive(Debug, Clone, Default, Deserialize, Serialize, utoipa::IntoParams)]
pub struct PageQuery {
    /// Page number, starting at 1.
    pub page: Option<u64>,
    /// Items per page, 1 to 200 (default 50).
    pub per_page: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageParams {
    pub page: u64,
    pub per_page: u64,
}

impl PageParams {
    pub fn first(per_page: u64) -> Self {
        Self { page: 1, per_page }
    }

    pub fn offset(&self) -> u64 {
        (self.page - 1) * self.per_page
    }
}

impl TryFrom<&PageQuery> for PageParams {
    type Error = AppError;
    fn try_from(q: &PageQuery) -> Result<Self, AppError> {
        let mut errors = FieldErrors::new();
        let page = q.page.unwrap_or(1);
        let per_page = q.per_page.unwrap_or(DEFAULT_PER_PAGE);
        if page == 0 || page > 1_000_000 {
            errors.add(
                "page",
                Msg::new("error-out-of-range")
                    .arg("min", 1)
                    .arg("max", 1_000_000),
            );
        }
        if per_page == 0 || per_page > MAX_PER_PAGE {
            errors.add(
                "per_page",
                Msg::new("error-out-of-range")
                    .arg("min", 1)
                    .arg("max", MAX_PER_PAGE),
            );
        }
        errors.into_result()?;
        Ok(Self { page, per_page })
    }
}

/// One page of a list.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Paged<T> {
    pub items: Vec<T>,
    /// This page's number, from 1.
    pub page: u64,
    pub per_page: u64,
    /// Items in the whole list.
    pub total: u64,
    /// Pages in the whole list.
    pub pages: u64,
    /// False when counting stopped at `total`: the list has more items than that (long lists
    /// are not counted to the end on every page).
    pub total_exact: bool,
}

impl<T> Paged<T> {
    pub fn new(items: Vec<T>, params: PageParams, total: u64) -> Self {
        Self {
            items,
            page: params.page,
            per_page: params.per_page,
            total,
            pages: total.div_ceil(params.per_page),
            total_exact: true,
        }
    }

    /// A page of a list counted by [`count_up_to`].
    pub fn counted(items: Vec<T>, params: PageParams, (total, exact): (u64, bool)) -> Self {
        Self {
            total_exact: exact,
            ..Self::new(items, params, total)
        }
    }

    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Paged<U> {
        Paged {
            items: self.items.into_iter().map(f).collect(),
            page: self.page,
            per_page: self.per_page,
            total: self.total,
            pages: self.pages,
            total_exact: self.total_exact,
        }
    }
}

/// Lists are counted up to this many items (a national list of students has 20 million: an
/// exact count on every page would read them all, most of a second each time; counting to
/// 10,000 still cost 5–19 ms a page). Past it a list says "more than"; filters narrow it.
pub const COUNT_CAP: u64 = 1_000;

/// A text search is counted up to this many matches. Each row it reads is matched against the
/// text, and a common name matches one row in sixteen of the national list: counting 1,000
/// matches read 16,000 rows (9–17 ms a page), most of the search's time. Past a few pages of
/// matches the search is narrowed, not paged through.
pub const SEARCH_COUNT_CAP: u64 = 200;

/// How far a list is counted: [`SEARCH_COUNT_CAP`] when it is a text search, else [`COUNT_CAP`].
pub fn count_cap(searching: bool) -> u64 {
    if searching {
        SEARCH_COUNT_CAP
    } else {
        COUNT_CAP
    }
}

/// The number of rows `select` finds, counting no further than `cap`: `(n, true)` when there
/// are n ≤ cap, `(cap, false)` when there are more.
pub async fn count_up_to<E, C>(
    conn: &C,
    select: sea_orm::Select<E>,
    cap: u64,
) -> Result<(u64, bool), sea_orm::DbErr>
where
    E: sea_orm::EntityTrait,
    C: sea_orm::ConnectionTrait,
{
    let stmt = capped_count(select, conn.get_database_backend(), cap);
    run_capped_count(conn, stmt, cap).await
}

/// How long a list found to go on past its count's cap is taken to still do so.
pub const PAST_CAP_FOR: std::time::Duration = std::time::Duration::from_secs(2);
/// Lists remembered as going on past their cap, at most.
const PAST_CAP_AT_MOST: usize = 10_000;

/// Counts that reached their cap lately, by the counting statement (text and values: the
/// filters and the caller's scope), under the version of lists they were read at
/// (`Db::lists_changed`).
pub type PastCap = crate::recent::Recent<()>;

pub fn past_cap() -> PastCap {
    PastCap::new(PAST_CAP_FOR, PAST_CAP_AT_MOST)
}

/// The length of a long list (students, schools) of which `shown` rows are on the page read at
/// `params`, as [`count_up_to`] gives it, with two short cuts. A page that is not full ends the
/// list (and an empty first page is an empty list), so a short list needs no count. A list
/// counted past its cap is taken to still go on past it for [`PAST_CAP_FOR`] ([`PastCap`]):
/// counting to the cap read a thousand index entries of the national student list on every
/// page, about a fifth of the request's cost (server and database together); rows are
/// never deleted from these lists, so only a change that moves rows out of a filter (a status,
/// a school's province) can bring a list back under its cap. Such a change through this
/// process is seen at once (`Db::lists_changed`), one through another instance within
/// [`PAST_CAP_FOR`]. Exact counts are never remembered.
pub async fn count_long_list<E>(
    db: &crate::db::Db,
    select: sea_orm::Select<E>,
    cap: u64,
    params: PageParams,
    shown: u64,
) -> Result<(u64, bool), sea_orm::DbErr>
where
    E: sea_orm::EntityTrait,
{
    let through = params.offset() + shown;
    if (shown > 0 || params.page == 1) && shown < params.per_page && through <= cap {
        return Ok((through, true));
    }
    let stmt = capped_count(select, db.backend(), cap);
    let key = format!("{}\n{:?}", stmt.sql, stmt.values);
    // Read before counting: a change committed meanwhile leaves what is counted unused.
    let (version, read_at) = (db.lists_version(), std::time::Instant::now());
    if db.past_cap().get(&key, version).is_some() {
        return Ok((cap, false));
    }
    let counted = run_capped_count(&db.conn, stmt, cap).await?;
    if !counted.1 {
        db.past_cap().store(key, version, read_at, ());
    }
    Ok(counted)
}

/// `SELECT COUNT(*)` of at most `cap + 1` of the rows `select` finds.
fn capped_count<E: sea_orm::EntityTrait>(
    select: sea_orm::Select<E>,
    backend: sea_orm::DbBackend,
    cap: u64,
) -> sea_orm::Statement {
    use sea_orm::sea_query::Expr;
    use sea_orm::{QuerySelect, QueryTrait};
    // The cap is written into the text (see `db::literal_paging`), so PostgreSQL can keep one
    // plan for a count without a filter.
    let inner = select.select_only().expr(Expr::cust("1")).build(backend);
    sea_orm::Statement {
        sql: format!(
            "SELECT COUNT(*) AS n FROM ({} LIMIT {}) AS capped",
            inner.sql,
            cap + 1
        ),
        ..inner
    }
}

async fn run_capped_count<C: sea_orm::ConnectionTrait>(
    conn: &C,
    stmt: sea_orm::Statement,
    cap: u64,
) -> Result<(u64, bool), sea_orm::DbErr> {
    let n: i64 = match conn.query_one(stmt).await? {
        Some(row) => row.try_get("", "n")?,
        None => 0,
    };
    let n = n.max(0) as u64;
    Ok(if n > cap { (cap, false) } else { (n, true) })
}

/// One page of the rows `select` finds (ordered by the caller) and the length of the whole
/// list. The list is counted by a second statement only when it may go on past this page: a
/// page that is not full ends the list, so most short lists cost one statement.
pub async fn page_of<E, C>(
    conn: &C,
    select: sea_orm::Select<E>,
    params: PageParams,
) -> Result<(Vec<E::Model>, u64), sea_orm::DbErr>
where
    E: sea_orm::EntityTrait,
    E::Model: Sync,
    C: sea_orm::ConnectionTrait,
{
    use sea_orm::{PaginatorTrait, QuerySelect};
    let rows = select
        .clone()
        .offset(params.offset())
        .limit(params.per_page)
        .all(conn)
        .await?;
    let shown = rows.len() as u64;
    let total = if shown < params.per_page && (shown > 0 || params.page == 1) {
        params.offset() + shown
    } else {
        select.count(conn).await?
    };
    Ok((rows, total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paging_bounds() {
        let ok = PageParams::try_from(&PageQuery {
            page: Some(3),
            per_page: Some(20),
        })
        .unwrap();
        assert_eq!(ok.offset(), 40);
        assert!(PageParams::try_from(&PageQuery {
            page: Some(0),
            per_page: None
        })
        .is_err());
        assert!(PageParams::try_from(&PageQuery {
            page: None,
            per_page: Some(500)
        })
        .is_err());
        assert_eq!(Paged::new(vec![1, 2], ok, 41).pages, 3);
    }
}
