//! Balanced panels (every unit observed in every period) and their CSV reader.
//!
//! The staggered estimator needs a rectangular unit x period matrix. Building
//! it once, with every problem reported against the row a person can open in
//! a spreadsheet, keeps data errors out of the statistics code.

use std::collections::{HashMap, HashSet};
use std::io::Read;

use serde::{Deserialize, Serialize};

use super::error::{AnalyticsError, Result};
use super::warnings::{list_some, AnalysisWarning, WarningKind};

/// A balanced panel stored unit-major: the outcome of unit `i` in period
/// index `t` sits at `outcome[i * n_periods + t]`, so one unit's history is a
/// contiguous slice (the estimator walks units, not periods).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Panel {
    unit_ids: Vec<String>,
    periods: Vec<i64>,
    first_treated: Vec<i64>,
    outcome: Vec<f64>,
    cluster_of_unit: Option<Vec<usize>>,
    cluster_labels: Vec<String>,
}

impl Panel {
    /// Builds a panel from already-rectangular data (e.g. a simulation or a
    /// query that returns one row per unit). `periods` must be strictly
    /// increasing; `first_treated` is 0 for never-treated units; `clusters`,
    /// if given, holds one label per unit.
    pub fn new(
        unit_ids: Vec<String>,
        periods: Vec<i64>,
        first_treated: Vec<i64>,
        outcome: Vec<f64>,
        clusters: Option<Vec<String>>,
    ) -> Result<Panel> {
        let n = unit_ids.len();
        let t = periods.len();
        if n == 0 || t == 0 {
            return Err(AnalyticsError::invalid(
                "a panel needs at least one unit and one period",
            ));
        }
        if periods.windows(2).any(|w| w[0] >= w[1]) {
            return Err(AnalyticsError::invalid(
                "periods must be sorted ascending with no repeats",
            ));
        }
        if first_treated.len() != n {
            return Err(AnalyticsError::invalid(format!(
                "first_treated has {} entries for {n} units",
                first_treated.len()
            )));
        }
        if let Some(i) = first_treated.iter().position(|g| *g < 0) {
            return Err(AnalyticsError::invalid(format!(
                "unit '{}' has first_treated {}; use 0 for never-treated units",
                unit_ids[i], first_treated[i]
            )));
        }
        if outcome.len() != n * t {
            return Err(AnalyticsError::invalid(format!(
                "outcome has {} values, expected {n} units x {t} periods = {}",
                outcome.len(),
                n * t
            )));
        }
        if let Some(k) = outcome.iter().position(|v| !v.is_finite()) {
            return Err(AnalyticsError::invalid(format!(
                "unit '{}' has a non-finite outcome in period {}",
                unit_ids[k / t],
                periods[k % t]
            )));
        }
        let mut seen: HashSet<&str> = HashSet::with_capacity(n);
        for id in &unit_ids {
            if !seen.insert(id.as_str()) {
                return Err(AnalyticsError::invalid(format!(
                    "unit id '{id}' appears twice"
                )));
            }
        }
        drop(seen);
        let (cluster_of_unit, cluster_labels) = match clusters {
            None => (None, Vec::new()),
            Some(labels) => {
                if labels.len() != n {
                    return Err(AnalyticsError::invalid(format!(
                        "clusters has {} entries for {n} units",
                        labels.len()
                    )));
                }
                let mut index: HashMap<String, usize> = HashMap::new();
                let mut names = Vec::new();
                let mut of_unit = Vec::with_capacity(n);
                for l in labels {
                    let next = names.len();
                    let c = *index.entry(l.clone()).or_insert_with(|| {
                        names.push(l);
                        next
                    });
                    of_unit.push(c);
                }
                (Some(of_unit), names)
            }
        };
        Ok(Panel {
            unit_ids,
            periods,
            first_treated,
            outcome,
            cluster_of_unit,
            cluster_labels,
        })
    }

    /// Builds a panel from long records (one per unit-period), checking
    /// balance and the per-unit constancy of `first_treated` and `cluster`.
    /// Record numbers in errors count from 1.
    pub fn from_records(records: &[PanelRecord], policy: BalancePolicy) -> Result<PanelBuild> {
        let has_cluster = records.first().is_some_and(|r| r.cluster.is_some());
        let mut b = LongBuilder::new(has_cluster.then(|| "cluster".to_owned()));
        let locate = |issue: Issue| {
            AnalyticsError::invalid(format!(
                "record {}, field '{}': {}",
                issue.row, issue.column, issue.message
            ))
        };
        for (k, r) in records.iter().enumerate() {
            if r.cluster.is_some() != has_cluster {
                return Err(AnalyticsError::invalid(format!(
                    "record {}: either every record has a cluster or none does",
                    k + 1
                )));
            }
            if let Some(v) = r.outcome {
                if !v.is_finite() {
                    return Err(locate(Issue::new(k + 1, "outcome", "not a finite number")));
                }
            }
            if r.first_treated < 0 {
                return Err(locate(Issue::new(
                    k + 1,
                    "first_treated",
                    "must be 0 (never treated) or the first treated period",
                )));
            }
            b.push(
                k + 1,
                &r.unit,
                r.period,
                r.outcome,
                r.first_treated,
                r.cluster.as_deref(),
            )
            .map_err(locate)?;
        }
        b.finish(policy, "record").map_err(|e| match e {
            FinishError::Issue(i) => locate(i),
            FinishError::Other(e) => e,
        })
    }

    pub fn n_units(&self) -> usize {
        self.unit_ids.len()
    }
    pub fn n_periods(&self) -> usize {
        self.periods.len()
    }
    pub fn unit_ids(&self) -> &[String] {
        &self.unit_ids
    }
    /// Sorted ascending.
    pub fn periods(&self) -> &[i64] {
        &self.periods
    }
    /// One per unit; 0 means never treated.
    pub fn first_treated(&self) -> &[i64] {
        &self.first_treated
    }
    /// Unit-major outcome matrix.
    pub fn outcome(&self) -> &[f64] {
        &self.outcome
    }
    /// One unit's outcomes in period order.
    pub fn unit_outcomes(&self, unit: usize) -> &[f64] {
        let t = self.periods.len();
        &self.outcome[unit * t..(unit + 1) * t]
    }
    /// Cluster index per unit (into [`Panel::cluster_labels`]), if the panel
    /// has clusters.
    pub fn clusters(&self) -> Option<&[usize]> {
        self.cluster_of_unit.as_deref()
    }
    pub fn cluster_labels(&self) -> &[String] {
        &self.cluster_labels
    }
}

/// One unit-period observation in long format.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PanelRecord {
    pub unit: String,
    pub period: i64,
    /// `None` marks a missing outcome; the unit then counts as incomplete.
    pub outcome: Option<f64>,
    pub first_treated: i64,
    pub cluster: Option<String>,
}

/// What to do with units not observed (with a non-missing outcome) in every
/// period.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BalancePolicy {
    /// Drop them and say so in a warning. This is what R's `did` does, so
    /// results stay comparable.
    #[default]
    DropIncompleteUnits,
    /// Refuse the data: use when a gap means an upstream bug.
    Strict,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PanelCsvOptions {
    /// Header name of an optional cluster column (e.g. "province").
    pub cluster_column: Option<String>,
    pub balance: BalancePolicy,
}

/// A panel plus what had to be done to get it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PanelBuild {
    pub panel: Panel,
    /// Units removed for not being observed in every period.
    pub dropped_units: Vec<String>,
    pub warnings: Vec<AnalysisWarning>,
}

const REQUIRED: [&str; 4] = ["unit", "period", "outcome", "first_treated"];

/// Reads a long CSV with header `unit,period,outcome,first_treated` (any
/// order, case-insensitive, extra columns ignored) plus an optional cluster
/// column. Errors name the row (the header is row 1) and the column. Empty,
/// `NA` or `.` outcomes count as missing, which makes the unit incomplete.
pub fn read_panel_csv<R: Read>(reader: R, options: &PanelCsvOptions) -> Result<PanelBuild> {
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(reader);
    let headers = rdr
        .headers()
        .map_err(|e| AnalyticsError::csv(Some(1), None, format!("cannot read the header: {e}")))?
        .clone();
    let names: Vec<String> = headers
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let h = if i == 0 {
                h.trim_start_matches('\u{feff}')
            } else {
                h
            };
            h.trim().to_ascii_lowercase()
        })
        .collect();
    let find = |want: &str| -> Result<usize> {
        let want_l = want.trim().to_ascii_lowercase();
        let hits: Vec<usize> = names
            .iter()
            .enumerate()
            .filter(|(_, n)| **n == want_l)
            .map(|(i, _)| i)
            .collect();
        match hits.len() {
            1 => Ok(hits[0]),
            0 => Err(AnalyticsError::csv(
                Some(1),
                Some(want),
                format!(
                    "required column is missing from the header (found: {})",
                    headers.iter().collect::<Vec<_>>().join(", ")
                ),
            )),
            _ => Err(AnalyticsError::csv(
                Some(1),
                Some(want),
                "column appears more than once in the header",
            )),
        }
    };
    let idx: Vec<usize> = REQUIRED.iter().map(|c| find(c)).collect::<Result<_>>()?;
    let cluster_idx = match &options.cluster_column {
        Some(c) => Some((find(c)?, c.clone())),
        None => None,
    };
    let mut b = LongBuilder::new(cluster_idx.as_ref().map(|(_, n)| n.clone()));
    let mut rec = csv::StringRecord::new();
    let mut k = 0usize;
    loop {
        let fallback_row = k + 2;
        match rdr.read_record(&mut rec) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                let row = e
                    .position()
                    .map(|p| p.line() as usize)
                    .unwrap_or(fallback_row);
                return Err(AnalyticsError::csv(
                    Some(row),
                    None,
                    format!("cannot parse the row: {e}"),
                ));
            }
        }
        k += 1;
        let row = rec
            .position()
            .map(|p| p.line() as usize)
            .unwrap_or(fallback_row);
        let field = |i: usize, name: &str| -> Result<&str> {
            rec.get(i).ok_or_else(|| {
                AnalyticsError::csv(
                    Some(row),
                    Some(name),
                    format!(
                        "the row has {} fields but the header has {}",
                        rec.len(),
                        headers.len()
                    ),
                )
            })
        };
        let unit = field(idx[0], REQUIRED[0])?;
        if unit.is_empty() {
            return Err(AnalyticsError::csv(
                Some(row),
                Some(REQUIRED[0]),
                "unit id is empty",
            ));
        }
        let period_s = field(idx[1], REQUIRED[1])?;
        let period = parse_whole(period_s).ok_or_else(|| {
            AnalyticsError::csv(
                Some(row),
                Some(REQUIRED[1]),
                format!("expected a whole-number period, found '{period_s}'"),
            )
        })?;
        let outcome_s = field(idx[2], REQUIRED[2])?;
        let outcome = if is_missing(outcome_s) {
            None
        } else {
            match outcome_s.parse::<f64>() {
                Ok(v) if v.is_finite() => Some(v),
                _ => {
                    return Err(AnalyticsError::csv(
                        Some(row),
                        Some(REQUIRED[2]),
                        format!("expected a number (or empty/NA for missing), found '{outcome_s}'"),
                    ))
                }
            }
        };
        let g_s = field(idx[3], REQUIRED[3])?;
        let g = match parse_whole(g_s) {
            Some(g) if g >= 0 => g,
            _ => {
                return Err(AnalyticsError::csv(
                    Some(row),
                    Some(REQUIRED[3]),
                    format!(
                        "expected 0 (never treated) or the first treated period as a whole \
                         number, found '{g_s}'"
                    ),
                ))
            }
        };
        let cluster = match &cluster_idx {
            Some((ci, cname)) => {
                let c = field(*ci, cname)?;
                if c.is_empty() {
                    return Err(AnalyticsError::csv(
                        Some(row),
                        Some(cname),
                        "cluster is empty",
                    ));
                }
                Some(c)
            }
            None => None,
        };
        b.push(row, unit, period, outcome, g, cluster)
            .map_err(|i| AnalyticsError::csv(Some(i.row), Some(&i.column), i.message))?;
    }
    if k == 0 {
        return Err(AnalyticsError::csv(
            None,
            None,
            "the file has a header but no data rows",
        ));
    }
    b.finish(options.balance, "row").map_err(|e| match e {
        FinishError::Issue(i) => AnalyticsError::csv(Some(i.row), Some(&i.column), i.message),
        FinishError::Other(e) => e,
    })
}

fn is_missing(s: &str) -> bool {
    s.is_empty() || s.eq_ignore_ascii_case("na") || s == "." || s.eq_ignore_ascii_case("nan")
}

/// Accepts "2004" and also "2004.0", which spreadsheets like to write.
fn parse_whole(s: &str) -> Option<i64> {
    if let Ok(v) = s.parse::<i64>() {
        return Some(v);
    }
    let f = s.parse::<f64>().ok()?;
    if f.is_finite() && f.fract() == 0.0 && f.abs() < 9.0e15 {
        Some(f as i64)
    } else {
        None
    }
}

struct Issue {
    row: usize,
    column: String,
    message: String,
}

impl Issue {
    fn new(row: usize, column: &str, message: impl Into<String>) -> Self {
        Issue {
            row,
            column: column.to_owned(),
            message: message.into(),
        }
    }
}

enum FinishError {
    Issue(Issue),
    Other(AnalyticsError),
}

struct Obs {
    period: i64,
    value: Option<f64>,
    row: usize,
}

struct UnitAcc {
    id: String,
    first_row: usize,
    first_treated: i64,
    cluster: Option<String>,
    obs: Vec<Obs>,
}

/// Collects long rows per unit; `finish` turns them into a rectangle.
struct LongBuilder {
    index: HashMap<String, usize>,
    units: Vec<UnitAcc>,
    /// Name used for the cluster field in messages; `None` without clusters.
    cluster_column: Option<String>,
}

impl LongBuilder {
    fn new(cluster_column: Option<String>) -> Self {
        LongBuilder {
            index: HashMap::new(),
            units: Vec::new(),
            cluster_column,
        }
    }

    fn push(
        &mut self,
        row: usize,
        unit: &str,
        period: i64,
        value: Option<f64>,
        first_treated: i64,
        cluster: Option<&str>,
    ) -> std::result::Result<(), Issue> {
        let u = match self.index.get(unit) {
            Some(&u) => u,
            None => {
                let u = self.units.len();
                self.index.insert(unit.to_owned(), u);
                self.units.push(UnitAcc {
                    id: unit.to_owned(),
                    first_row: row,
                    first_treated,
                    cluster: cluster.map(str::to_owned),
                    obs: Vec::new(),
                });
                u
            }
        };
        let acc = &mut self.units[u];
        if acc.first_treated != first_treated {
            return Err(Issue::new(
                row,
                "first_treated",
                format!(
                    "unit '{}' has first_treated {first_treated} here but {} at row {}; it must \
                     be the same in every period",
                    acc.id, acc.first_treated, acc.first_row
                ),
            ));
        }
        if acc.cluster.as_deref() != cluster {
            return Err(Issue::new(
                row,
                self.cluster_column.as_deref().unwrap_or("cluster"),
                format!(
                    "unit '{}' is in cluster '{}' here but '{}' at row {}; a unit must stay in \
                     one cluster",
                    acc.id,
                    cluster.unwrap_or(""),
                    acc.cluster.as_deref().unwrap_or(""),
                    acc.first_row
                ),
            ));
        }
        acc.obs.push(Obs { period, value, row });
        Ok(())
    }

    fn finish(
        self,
        policy: BalancePolicy,
        row_word: &str,
    ) -> std::result::Result<PanelBuild, FinishError> {
        let mut periods: Vec<i64> = self
            .units
            .iter()
            .flat_map(|u| u.obs.iter().map(|o| o.period))
            .collect();
        periods.sort_unstable();
        periods.dedup();
        let t = periods.len();
        let slot = |p: i64| periods.binary_search(&p).expect("period collected above");

        let mut ids = Vec::new();
        let mut gs = Vec::new();
        let mut clusters = Vec::new();
        let mut outcome = Vec::new();
        let mut dropped = Vec::new();
        let mut problems = Vec::new();
        let mut row_of = vec![0usize; t];
        let mut values = vec![f64::NAN; t];
        for u in self.units {
            row_of.iter_mut().for_each(|r| *r = 0);
            values.iter_mut().for_each(|v| *v = f64::NAN);
            let mut empty_rows = Vec::new();
            for o in &u.obs {
                let s = slot(o.period);
                if row_of[s] != 0 {
                    return Err(FinishError::Issue(Issue::new(
                        o.row,
                        "period",
                        format!(
                            "unit '{}' already has period {} at {row_word} {}; each unit may \
                             appear once per period",
                            u.id, o.period, row_of[s]
                        ),
                    )));
                }
                row_of[s] = o.row;
                match o.value {
                    Some(v) => values[s] = v,
                    None => empty_rows.push(o.row),
                }
            }
            let missing: Vec<i64> = (0..t)
                .filter(|&s| row_of[s] == 0)
                .map(|s| periods[s])
                .collect();
            if missing.is_empty() && empty_rows.is_empty() {
                ids.push(u.id);
                gs.push(u.first_treated);
                if let Some(c) = u.cluster {
                    clusters.push(c);
                }
                outcome.extend_from_slice(&values);
            } else {
                let mut what = Vec::new();
                if !missing.is_empty() {
                    what.push(format!(
                        "has no {row_word} for period(s) {}",
                        list_some(&missing, 4)
                    ));
                }
                if !empty_rows.is_empty() {
                    what.push(format!(
                        "has an empty outcome at {row_word}(s) {}",
                        list_some(&empty_rows, 4)
                    ));
                }
                problems.push(format!("unit '{}' {}", u.id, what.join(" and ")));
                dropped.push(u.id);
            }
        }

        let mut warnings = Vec::new();
        if !dropped.is_empty() {
            let detail = list_some(&problems, 3);
            if policy == BalancePolicy::Strict {
                return Err(FinishError::Other(AnalyticsError::UnbalancedPanel {
                    message: format!(
                        "{} of {} units are not observed in all {t} periods: {detail}",
                        dropped.len(),
                        dropped.len() + ids.len()
                    ),
                }));
            }
            if ids.is_empty() {
                return Err(FinishError::Other(AnalyticsError::UnbalancedPanel {
                    message: format!(
                        "no unit is observed in all {t} periods, so nothing is left after \
                         balancing: {detail}"
                    ),
                }));
            }
            warnings.push(AnalysisWarning::new(
                WarningKind::UnbalancedPanel,
                format!(
                    "The panel was unbalanced: {} of {} units were dropped because they are not \
                     observed in every period ({detail}). Results describe the remaining units \
                     only.",
                    dropped.len(),
                    dropped.len() + ids.len()
                ),
            ));
        }
        let clusters = self.cluster_column.is_some().then_some(clusters);
        let panel = Panel::new(ids, periods, gs, outcome, clusters).map_err(FinishError::Other)?;
        Ok(PanelBuild {
            panel,
            dropped_units: dropped,
            warnings,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str, cluster: Option<&str>, balance: BalancePolicy) -> Result<PanelBuild> {
        read_panel_csv(
            text.as_bytes(),
            &PanelCsvOptions {
                cluster_column: cluster.map(str::to_owned),
                balance,
            },
        )
    }

    #[test]
    fn reads_a_balanced_panel_in_any_row_order() {
        let text = "Unit,period,outcome,first_treated,province\n\
                    b,2,5.5,0,P2\na,1,1.0,2,P1\na,2,2.0,2,P1\nb,1,4.0,0,P2\n";
        let out = read(text, Some("province"), BalancePolicy::Strict).unwrap();
        let p = &out.panel;
        assert_eq!(p.unit_ids(), &["b".to_string(), "a".to_string()]);
        assert_eq!(p.periods(), &[1, 2]);
        assert_eq!(p.first_treated(), &[0, 2]);
        assert_eq!(p.unit_outcomes(0), &[4.0, 5.5]);
        assert_eq!(p.unit_outcomes(1), &[1.0, 2.0]);
        assert_eq!(p.clusters().unwrap(), &[0, 1]);
        assert_eq!(p.cluster_labels(), &["P2".to_string(), "P1".to_string()]);
        assert!(out.warnings.is_empty());
    }

    #[test]
    fn errors_name_row_and_column() {
        let text = "unit,period,outcome,first_treated\na,1,1.0,0\na,2,abc,0\n";
        match read(text, None, BalancePolicy::Strict) {
            Err(AnalyticsError::Csv { row, column, .. }) => {
                assert_eq!(row, Some(3));
                assert_eq!(column.as_deref(), Some("outcome"));
            }
            other => panic!("unexpected {other:?}"),
        }
        let text = "unit,period,outcome,first_treated\na,1,1.0,0\na,2.5,2.0,0\n";
        let e = read(text, None, BalancePolicy::Strict).unwrap_err();
        assert_eq!(
            e.to_string().split(':').next().unwrap(),
            "row 3, column 'period'"
        );

        let text = "unit,period,outcome\na,1,1.0\n";
        match read(text, None, BalancePolicy::Strict) {
            Err(AnalyticsError::Csv { row, column, .. }) => {
                assert_eq!(row, Some(1));
                assert_eq!(column.as_deref(), Some("first_treated"));
            }
            other => panic!("unexpected {other:?}"),
        }
        let text = "unit,period,outcome,first_treated\na,1,1.0,3\nb,1,1.0,0\na,2,2.0,4\n";
        match read(text, None, BalancePolicy::Strict) {
            Err(AnalyticsError::Csv {
                row,
                column,
                message,
            }) => {
                assert_eq!(row, Some(4));
                assert_eq!(column.as_deref(), Some("first_treated"));
                assert!(message.contains("row 2"), "{message}");
            }
            other => panic!("unexpected {other:?}"),
        }
        let text = "unit,period,outcome,first_treated\na,1,1.0,0\na,1,2.0,0\n";
        match read(text, None, BalancePolicy::Strict) {
            Err(AnalyticsError::Csv { row, column, .. }) => {
                assert_eq!(row, Some(3));
                assert_eq!(column.as_deref(), Some("period"));
            }
            other => panic!("unexpected {other:?}"),
        }
        let text = "unit,period,outcome,first_treated,prov\na,1,1.0,0,X\na,2,2.0,0,Y\n";
        match read(text, Some("prov"), BalancePolicy::Strict) {
            Err(AnalyticsError::Csv { row, column, .. }) => {
                assert_eq!(row, Some(3));
                assert_eq!(column.as_deref(), Some("prov"));
            }
            other => panic!("unexpected {other:?}"),
        }
        let text = "unit,period,outcome,first_treated\na,1,1.0\n";
        assert!(matches!(
            read(text, None, BalancePolicy::Strict),
            Err(AnalyticsError::Csv { row: Some(2), .. })
        ));
    }

    #[test]
    fn unbalanced_units_are_dropped_or_refused() {
        let text = "unit,period,outcome,first_treated\n\
                    a,1,1,0\na,2,2,0\na,3,3,0\n\
                    b,1,1,0\nb,3,3,0\n\
                    c,1,1,2\nc,2,NA,2\nc,3,3,2\n\
                    d,1,1,2\nd,2,1,2\nd,3,1,2\n";
        let out = read(text, None, BalancePolicy::DropIncompleteUnits).unwrap();
        assert_eq!(out.panel.unit_ids(), &["a".to_string(), "d".to_string()]);
        assert_eq!(out.dropped_units, vec!["b".to_string(), "c".to_string()]);
        assert_eq!(out.warnings.len(), 1);
        assert_eq!(out.warnings[0].kind, WarningKind::UnbalancedPanel);
        assert!(out.warnings[0]
            .message
            .contains("unit 'b' has no row for period(s) 2"));
        assert!(out.warnings[0]
            .message
            .contains("unit 'c' has an empty outcome at row(s) 8"));
        match read(text, None, BalancePolicy::Strict) {
            Err(AnalyticsError::UnbalancedPanel { message }) => {
                assert!(message.starts_with("2 of 4 units"), "{message}")
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn records_and_dense_constructors_agree() {
        let recs = vec![
            PanelRecord {
                unit: "x".into(),
                period: 2001,
                outcome: Some(1.0),
                first_treated: 0,
                cluster: None,
            },
            PanelRecord {
                unit: "x".into(),
                period: 2000,
                outcome: Some(0.5),
                first_treated: 0,
                cluster: None,
            },
        ];
        let built = Panel::from_records(&recs, BalancePolicy::Strict).unwrap();
        let dense = Panel::new(
            vec!["x".into()],
            vec![2000, 2001],
            vec![0],
            vec![0.5, 1.0],
            None,
        )
        .unwrap();
        assert_eq!(built.panel, dense);
        assert!(Panel::new(
            vec!["x".into()],
            vec![2001, 2000],
            vec![0],
            vec![0.5, 1.0],
            None
        )
        .is_err());
        assert!(Panel::new(
            vec!["x".into()],
            vec![2000, 2001],
            vec![-1],
            vec![0.5, 1.0],
            None
        )
        .is_err());
    }
}
