//! Staggered difference-in-differences after Callaway & Sant'Anna (2021),
//! reproducing R's `did::att_gt` (no covariates, base period "varying") and
//! `did::aggte` ("simple", "group", "dynamic"), with analytic standard errors.
//!
//! # Why the implementation looks the way it does
//!
//! `did` builds an n x K influence-function matrix (units x group-time cells)
//! and multiplies it out. For 45,000 schools and ~800 cells that is tens of
//! millions of entries and most of the run time. Without covariates every
//! influence function is *linear in a unit's outcomes with coefficients that
//! depend only on the unit's cohort*:
//!
//! ```text
//! psi(i) = sum_t a_{h(i)}[t] * (W_it - wbar_{h(i),t}) + c_{h(i)},
//! ```
//!
//! where h(i) is i's cohort (first-treatment period, 0 = never), W_it is the
//! outcome minus the unit's own time mean (it removes unit fixed effects so
//! the sums below do not cancel catastrophically; allowed because every
//! coefficient vector sums to zero over t) and wbar its cohort mean. Hence
//!
//! ```text
//! sum_i psi_a(i) psi_b(i) = sum_h [ a_h' S_h b_h + n_h c_ah c_bh ],
//! ```
//!
//! with S_h the centred cross-moment matrix of W within cohort h (equivalently
//! the prefix sums of the cross-moments of first differences). One pass over
//! the data builds the cohort means and S_h; every standard error, aggregated
//! influence function and the pre-trend covariance are then small dense
//! computations on T x T blocks. With clustering, S_h is replaced by per
//! (cluster, cohort) sums of the centred W, which is all that summing
//! influence functions within clusters needs.
//!
//! Influence functions here are `psi = IF / n`, where IF is `did`'s n-scaled
//! influence function, so se = sqrt(sum_i psi_i^2) = sqrt(mean(IF^2) / n) and
//! the Wald statistic n * theta' V^{-1} theta with V = IF'IF / n equals
//! theta' (sum_i psi psi')^{-1} theta.
//!
//! # Where this deliberately differs from `did`
//!
//! * Clustering is analytic (cluster sums of influence functions, no
//!   small-sample factor) rather than `did`'s multiplier bootstrap; the two
//!   agree when clusters are equally sized.
//! * With clustering the pre-test p-value uses a Hotelling F reference
//!   instead of chi-square (see `wald`); without clustering it is `did`'s.
//! * `did` rounds the pre-test p-value to 5 decimals; we do not.
//! * The "group" aggregation's weight term uses each cohort's own indicator,
//!   as in `did` after PR #223 (March 2025); earlier releases indexed the
//!   wrong vector there and report a different overall "group" SE.
//! * [`StaggeredAnalysis::event_study_pretest`] is an extra test `did` lacks.

use nalgebra::{Cholesky, DMatrix, DVector};
use serde::{Deserialize, Serialize};

use super::error::{AnalyticsError, Result};
use super::inference::{chi2_sf, f_sf};
use super::panel::Panel;
use super::warnings::{
    few_clusters, list_some, AnalysisWarning, WarningKind, MIN_COMFORTABLE_CLUSTERS,
    MIN_COMFORTABLE_GROUP,
};

/// Who the treated cohort is compared with.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ControlGroup {
    /// Units never treated in the data (first_treated = 0). `did`'s default.
    #[default]
    NeverTreated,
    /// Never-treated units plus units whose treatment starts after the period
    /// being compared. More comparison units, but relies on no anticipation.
    NotYetTreated,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StaggeredOptions {
    pub control_group: ControlGroup,
    /// Cluster standard errors on the panel's cluster column by summing
    /// influence functions within clusters (analytic, no bootstrap).
    pub cluster: bool,
}

/// ATT(g,t): the effect for the cohort first treated in `group`, in `period`.
/// Cells with period < group are pseudo-effects used for pre-trend checks.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroupTimeAtt {
    pub group: i64,
    pub period: i64,
    pub att: f64,
    /// `None` where the standard error is numerically zero (as `did` reports NA).
    pub se: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Aggregate {
    pub att: f64,
    pub se: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EventTimeAtt {
    /// Periods since treatment started (0 = first treated period).
    pub e: i64,
    pub att: f64,
    pub se: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DynamicAggregate {
    /// Mean of the event-time effects for e >= 0.
    pub att: f64,
    pub se: Option<f64>,
    pub event_times: Vec<EventTimeAtt>,
}

/// Joint Wald test that all pre-treatment ATT(g,t) are zero. `p` is from
/// chi-square(df) without clustering (as in `did`); see
/// [`StaggeredAnalysis::pretest_reference`] for the clustered case.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PreTest {
    pub w: f64,
    pub df: usize,
    pub p: f64,
}

/// The serialisable result. Its JSON shape is a contract with the front end:
/// `{"att_gt":[{"group","period","att","se"}], "simple":{"att","se"},
/// "group":{"att","se"}, "dynamic":{"att","se","event_times":[{"e","att","se"}]},
/// "pretest":{"w","df","p"} | null}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StaggeredDidResult {
    pub att_gt: Vec<GroupTimeAtt>,
    pub simple: Aggregate,
    pub group: Aggregate,
    pub dynamic: DynamicAggregate,
    pub pretest: Option<PreTest>,
}

/// Per-cohort effect from the "group" aggregation (mean over its post periods).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroupAtt {
    pub group: i64,
    pub att: f64,
    pub se: Option<f64>,
    pub n_units: usize,
}

/// Reference distribution behind a pre-test p-value.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "distribution", rename_all = "snake_case")]
pub enum PretestReference {
    /// chi-square(df), as `did` uses for its cell-level test.
    ChiSquare,
    /// With clustering: F = W (G - K) / (K (G - 1)) against F(K, G - K), the
    /// Hotelling T^2 reference for a mean of G cluster scores. A chi-square
    /// reference over-rejects badly when K is not small relative to G (in
    /// the benchmark panel, 25 restrictions and 34 clusters give p < 0.01
    /// under true parallel trends; see `wald` for Monte Carlo figures).
    HotellingF { df1: usize, df2: usize },
}

/// Joint test that all pre-treatment event-time effects theta(e), e < 0, are
/// zero. Not part of `did`; see [`StaggeredAnalysis::event_study_pretest`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EventStudyPreTest {
    pub w: f64,
    pub df: usize,
    pub p: f64,
    pub reference: PretestReference,
}

/// Why `pretest` is or is not present.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum PretestStatus {
    Computed,
    /// No cohort has a pre-treatment period after the first period.
    NoPrePeriods,
    /// The covariance of the pre-period estimates cannot be inverted.
    Singular {
        message: String,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CohortCount {
    /// 0 = never treated (including units first treated after the data end).
    pub first_treated: i64,
    pub n_units: usize,
}

/// Everything the estimator knows, for callers that want more than the JSON
/// contract (diagnostics, per-cohort effects, warnings).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StaggeredAnalysis {
    pub result: StaggeredDidResult,
    pub group_effects: Vec<GroupAtt>,
    pub pretest_status: PretestStatus,
    /// How `result.pretest.p` was computed: chi-square(df) without clustering
    /// (exactly `did`), the Hotelling F reference with clustering.
    pub pretest_reference: Option<PretestReference>,
    /// Not part of `did`: a Wald test that all pre-treatment *event-time*
    /// effects theta(e), e < 0, are zero. It has far fewer restrictions than
    /// the cell-level test, so it stays computable with cluster-robust
    /// covariances when there are more pre-treatment cells than clusters.
    pub event_study_pretest: Option<EventStudyPreTest>,
    pub control_group: ControlGroup,
    pub clustered: bool,
    pub n_units: usize,
    /// Periods used (fewer than in the panel when there are no never-treated
    /// units and not-yet-treated controls force dropping late periods).
    pub periods_used: Vec<i64>,
    pub n_clusters: Option<usize>,
    pub cohorts: Vec<CohortCount>,
    pub warnings: Vec<AnalysisWarning>,
}

impl StaggeredAnalysis {
    /// The JSON contract (see [`StaggeredDidResult`]).
    pub fn result_json(&self) -> String {
        serde_json::to_string(&self.result).expect("plain numeric struct always serialises")
    }
}

/// Mean outcome per raw first-treatment cohort and period: the trajectories
/// people plot next to an event study, and the cheapest possible pass over
/// the panel (the benchmark's baseline).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CohortMeans {
    pub first_treated: i64,
    pub n_units: usize,
    /// One mean per panel period.
    pub means: Vec<f64>,
}

pub fn cohort_period_means(panel: &Panel) -> Vec<CohortMeans> {
    let t = panel.n_periods();
    let mut gs: Vec<i64> = panel.first_treated().to_vec();
    gs.sort_unstable();
    gs.dedup();
    let mut sums = vec![0.0; gs.len() * t];
    let mut counts = vec![0usize; gs.len()];
    for (i, g) in panel.first_treated().iter().enumerate() {
        let h = gs.binary_search(g).expect("value collected above");
        counts[h] += 1;
        for (s, y) in sums[h * t..(h + 1) * t]
            .iter_mut()
            .zip(panel.unit_outcomes(i))
        {
            *s += *y;
        }
    }
    gs.iter()
        .enumerate()
        .map(|(h, &g)| CohortMeans {
            first_treated: g,
            n_units: counts[h],
            means: sums[h * t..(h + 1) * t]
                .iter()
                .map(|s| s / counts[h] as f64)
                .collect(),
        })
        .collect()
}

/// Standard errors at or below this are reported as missing, exactly as `did`
/// does (`sqrt(.Machine$double.eps) * 10`): they only arise when a cell's
/// outcome changes are identical for everyone, and dividing by them would
/// produce nonsense t-statistics.
fn se_floor() -> f64 {
    f64::EPSILON.sqrt() * 10.0
}

fn se_or_none(var: f64) -> Option<f64> {
    let se = var.max(0.0).sqrt();
    (se.is_finite() && se > se_floor()).then_some(se)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Never,
    Treated,
    /// Last cohort when nobody is never treated: used only as a control.
    ControlOnly,
}

struct Cohort {
    g: i64,
    role: Role,
    n: usize,
}

/// The analysis sample after `did`'s preprocessing.
struct Design {
    periods: Vec<i64>,
    /// Cohort index per panel unit; `None` for dropped units.
    unit_cohort: Vec<Option<usize>>,
    cohorts: Vec<Cohort>,
    /// Indices of treated cohorts, by ascending g.
    treated: Vec<usize>,
    n: usize,
}

fn build_design(
    panel: &Panel,
    options: &StaggeredOptions,
) -> Result<(Design, Vec<AnalysisWarning>)> {
    let all = panel.periods();
    if all.len() < 2 {
        return Err(AnalyticsError::TooFewObservations {
            needed: 2,
            got: all.len(),
            what: "difference-in-differences (periods)".into(),
        });
    }
    let mut warnings = Vec::new();
    let first = all[0];
    let last = *all.last().expect("non-empty");

    // Treatment that starts after the data end is invisible in the data.
    let mut g: Vec<i64> = panel.first_treated().to_vec();
    let late: Vec<i64> = {
        let mut v: Vec<i64> = g.iter().copied().filter(|&x| x > last).collect();
        v.sort_unstable();
        v.dedup();
        v
    };
    if !late.is_empty() {
        let count = g.iter().filter(|&&x| x > last).count();
        g.iter_mut().filter(|x| **x > last).for_each(|x| *x = 0);
        warnings.push(AnalysisWarning::new(
            WarningKind::DataAdjusted,
            format!(
                "{count} unit(s) are first treated after the last period {last} (first_treated \
                 {}); they are treated as never treated, as R's did does.",
                list_some(&late, 5)
            ),
        ));
    }

    let mut t_used = all.len();
    let mut control_only: Option<i64> = None;
    if !g.contains(&0) {
        match options.control_group {
            ControlGroup::NeverTreated => {
                return Err(AnalyticsError::not_identified(
                    "there are no never-treated units (first_treated = 0), so the never-treated \
                     comparison group is empty; use not-yet-treated controls instead",
                ))
            }
            ControlGroup::NotYetTreated => {
                let gmax = *g.iter().max().expect("non-empty panel");
                t_used = all.iter().filter(|&&p| p < gmax).count();
                control_only = Some(gmax);
                warnings.push(AnalysisWarning::new(
                    WarningKind::DataAdjusted,
                    format!(
                        "No unit is never treated. As in R's did, periods from {gmax} on are \
                         dropped (no one is left untreated to compare with) and units first \
                         treated in {gmax} serve only as not-yet-treated controls."
                    ),
                ));
            }
        }
    }
    if t_used < 2 {
        return Err(AnalyticsError::not_identified(
            "fewer than two periods remain before the last cohort is treated, so no change \
             can be compared with an untreated group",
        ));
    }
    let periods = all[..t_used].to_vec();

    let already: usize = g.iter().filter(|&&x| x != 0 && x <= first).count();
    if already > 0 {
        warnings.push(AnalysisWarning::new(
            WarningKind::DataAdjusted,
            format!(
                "Dropped {already} unit(s) already treated in the first period ({first}): with no \
                 untreated period they cannot contribute a before/after comparison."
            ),
        ));
    }

    let mut values: Vec<i64> = g.iter().copied().filter(|&x| x == 0 || x > first).collect();
    values.sort_unstable();
    values.dedup();
    let mut cohorts: Vec<Cohort> = values
        .iter()
        .map(|&v| Cohort {
            g: v,
            role: if v == 0 {
                Role::Never
            } else if Some(v) == control_only {
                Role::ControlOnly
            } else {
                Role::Treated
            },
            n: 0,
        })
        .collect();
    let mut unit_cohort = Vec::with_capacity(g.len());
    let mut n = 0;
    for &x in &g {
        if x != 0 && x <= first {
            unit_cohort.push(None);
        } else {
            let h = values.binary_search(&x).expect("collected above");
            cohorts[h].n += 1;
            n += 1;
            unit_cohort.push(Some(h));
        }
    }
    let treated: Vec<usize> = (0..cohorts.len())
        .filter(|&h| cohorts[h].role == Role::Treated)
        .collect();
    if treated.is_empty() {
        return Err(AnalyticsError::not_identified(format!(
            "no cohort is first treated after the first period ({first}) and within the data, so \
             there is no treatment effect to estimate"
        )));
    }

    let small: Vec<String> = cohorts
        .iter()
        .filter(|c| c.n < MIN_COMFORTABLE_GROUP)
        .map(|c| {
            if c.g == 0 {
                format!("never treated ({} units)", c.n)
            } else {
                format!("{} ({} units)", c.g, c.n)
            }
        })
        .collect();
    if !small.is_empty() {
        warnings.push(AnalysisWarning::new(
            WarningKind::TinyGroup,
            format!(
                "Some cohorts have fewer than {MIN_COMFORTABLE_GROUP} units: {}. Their effects \
                 rest on a handful of units and their standard errors are unreliable.",
                list_some(&small, 8)
            ),
        ));
    }
    if options.control_group == ControlGroup::NeverTreated {
        if let Some(c) = cohorts.iter().find(|c| c.role == Role::Never) {
            if c.n < MIN_COMFORTABLE_GROUP {
                // Same refusal as R's did: a comparison group of one or two
                // units makes every ATT(g,t) hinge on them.
                return Err(AnalyticsError::not_identified(format!(
                    "the never-treated group has only {} unit(s); use not-yet-treated controls",
                    c.n
                )));
            }
        }
    }
    if treated.len() < 2 {
        warnings.push(AnalysisWarning::new(
            WarningKind::FewTreatedCohorts,
            format!(
                "Only one treated cohort (first treated in {}). The staggered estimator then \
                 reduces to one before/after comparison repeated over periods; the group and \
                 event-study summaries cannot separate timing effects from that cohort's story.",
                cohorts[treated[0]].g
            ),
        ));
    }
    Ok((
        Design {
            periods,
            unit_cohort,
            cohorts,
            treated,
            n,
        },
        warnings,
    ))
}

/// Sums per (cluster, cohort) of the centred, unit-demeaned outcomes.
struct ClusterSums {
    n_clusters: usize,
    cluster: Vec<usize>,
    cohort: Vec<usize>,
    count: Vec<f64>,
    /// pairs x T
    sums: Vec<f64>,
}

/// Everything the estimator needs from the unit-level data.
struct Moments {
    t: usize,
    /// Cohort x period means of the outcome.
    mean_y: Vec<f64>,
    /// Cohort x T x T centred cross-moments (unclustered inference only).
    cross: Vec<f64>,
    clusters: Option<ClusterSums>,
}

impl Moments {
    fn ybar(&self, h: usize, t: usize) -> f64 {
        self.mean_y[h * self.t + t]
    }
    fn s(&self, h: usize, r: usize, c: usize) -> f64 {
        self.cross[(h * self.t + r) * self.t + c]
    }
}

fn compute_moments(panel: &Panel, design: &Design, cluster: bool) -> Result<Moments> {
    let tp = panel.n_periods();
    let t = design.periods.len();
    let hn = design.cohorts.len();
    let mut sum_y = vec![0.0; hn * t];
    let mut sum_rowmean = vec![0.0; hn];
    let mut rowmean = vec![0.0; panel.n_units()];
    let y_all = panel.outcome();
    for (i, h) in design.unit_cohort.iter().enumerate() {
        let Some(h) = *h else { continue };
        let y = &y_all[i * tp..i * tp + t];
        let m = y.iter().sum::<f64>() / t as f64;
        rowmean[i] = m;
        sum_rowmean[h] += m;
        for (s, v) in sum_y[h * t..(h + 1) * t].iter_mut().zip(y) {
            *s += *v;
        }
    }
    let mut mean_y = vec![0.0; hn * t];
    let mut mean_w = vec![0.0; hn * t];
    for h in 0..hn {
        let nh = design.cohorts[h].n as f64;
        let mrow = sum_rowmean[h] / nh;
        for s in 0..t {
            let m = sum_y[h * t + s] / nh;
            mean_y[h * t + s] = m;
            mean_w[h * t + s] = m - mrow;
        }
    }

    let mut u = vec![0.0; t];
    if !cluster {
        let mut cross = vec![0.0; hn * t * t];
        for (i, h) in design.unit_cohort.iter().enumerate() {
            let Some(h) = *h else { continue };
            let y = &y_all[i * tp..i * tp + t];
            let m = rowmean[i];
            for ((us, v), w) in u.iter_mut().zip(y).zip(&mean_w[h * t..(h + 1) * t]) {
                *us = (v - m) - w;
            }
            let block = &mut cross[h * t * t..(h + 1) * t * t];
            for r in 0..t {
                let ur = u[r];
                for (x, uc) in block[r * t + r..(r + 1) * t].iter_mut().zip(&u[r..]) {
                    *x += ur * uc;
                }
            }
        }
        for h in 0..hn {
            let block = &mut cross[h * t * t..(h + 1) * t * t];
            for r in 0..t {
                for c in 0..r {
                    block[r * t + c] = block[c * t + r];
                }
            }
        }
        return Ok(Moments {
            t,
            mean_y,
            cross,
            clusters: None,
        });
    }

    let labels = panel.clusters().ok_or_else(|| {
        AnalyticsError::invalid("clustering was requested but the panel has no cluster column")
    })?;
    // Map (cluster, cohort) to a dense pair index; clusters are relabelled
    // to those actually present after preprocessing.
    let n_labels = panel.cluster_labels().len();
    let mut cluster_new = vec![usize::MAX; n_labels];
    let mut n_clusters = 0;
    let mut pair_index: std::collections::HashMap<(usize, usize), usize> = Default::default();
    let mut cs = ClusterSums {
        n_clusters: 0,
        cluster: Vec::new(),
        cohort: Vec::new(),
        count: Vec::new(),
        sums: Vec::new(),
    };
    for (i, h) in design.unit_cohort.iter().enumerate() {
        let Some(h) = *h else { continue };
        let lab = labels[i];
        if cluster_new[lab] == usize::MAX {
            cluster_new[lab] = n_clusters;
            n_clusters += 1;
        }
        let c = cluster_new[lab];
        let p = *pair_index.entry((c, h)).or_insert_with(|| {
            cs.cluster.push(c);
            cs.cohort.push(h);
            cs.count.push(0.0);
            cs.sums.extend(std::iter::repeat_n(0.0, t));
            cs.cluster.len() - 1
        });
        cs.count[p] += 1.0;
        let y = &y_all[i * tp..i * tp + t];
        let m = rowmean[i];
        for ((s, v), w) in cs.sums[p * t..(p + 1) * t]
            .iter_mut()
            .zip(y)
            .zip(&mean_w[h * t..(h + 1) * t])
        {
            *s += (v - m) - w;
        }
    }
    if n_clusters < 2 {
        return Err(AnalyticsError::TooFewObservations {
            needed: 2,
            got: n_clusters,
            what: "cluster-robust standard errors (clusters)".into(),
        });
    }
    cs.n_clusters = n_clusters;
    Ok(Moments {
        t,
        mean_y,
        cross: Vec::new(),
        clusters: Some(cs),
    })
}

/// One cohort's part of a cell's influence function: alpha * (e_t - e_base)
/// applied to the centred outcomes, plus a constant.
#[derive(Clone, Copy)]
struct Member {
    h: usize,
    alpha: f64,
    konst: f64,
}

struct Cell {
    g: i64,
    cohort: usize,
    period: i64,
    ti: usize,
    base: usize,
    post: bool,
    att: f64,
    members: Vec<Member>,
}

fn build_cells(design: &Design, mom: &Moments, control: ControlGroup) -> Result<Vec<Cell>> {
    let t = design.periods.len();
    let mut cells = Vec::with_capacity(design.treated.len() * (t - 1));
    for &hg in &design.treated {
        let g = design.cohorts[hg].g;
        // Last period strictly before treatment: the base for post cells.
        let pre_last = design
            .periods
            .iter()
            .rposition(|&p| p < g)
            .expect("treated cohorts start after the first period");
        for ti in 1..t {
            let period = design.periods[ti];
            let post = g <= period;
            let base = if post { pre_last } else { ti - 1 };
            let controls: Vec<usize> = (0..design.cohorts.len())
                .filter(|&h| {
                    let c = &design.cohorts[h];
                    match control {
                        ControlGroup::NeverTreated => c.role == Role::Never,
                        ControlGroup::NotYetTreated => match c.role {
                            Role::Never | Role::ControlOnly => true,
                            // G > max(t, base) = t, and not the cohort itself.
                            Role::Treated => c.g > period && h != hg,
                        },
                    }
                })
                .collect();
            let n_c: usize = controls.iter().map(|&h| design.cohorts[h].n).sum();
            if n_c == 0 {
                return Err(AnalyticsError::not_identified(format!(
                    "no comparison units for cohort {g} in period {period}"
                )));
            }
            let delta = |h: usize| mom.ybar(h, ti) - mom.ybar(h, base);
            let n_c = n_c as f64;
            let m_c = controls
                .iter()
                .map(|&h| design.cohorts[h].n as f64 * delta(h))
                .sum::<f64>()
                / n_c;
            let att = delta(hg) - m_c;
            let mut members = Vec::with_capacity(controls.len() + 1);
            members.push(Member {
                h: hg,
                alpha: 1.0 / design.cohorts[hg].n as f64,
                konst: 0.0,
            });
            for &h in &controls {
                members.push(Member {
                    h,
                    alpha: -1.0 / n_c,
                    konst: -(delta(h) - m_c) / n_c,
                });
            }
            cells.push(Cell {
                g,
                cohort: hg,
                period,
                ti,
                base,
                post,
                att,
                members,
            });
        }
    }
    Ok(cells)
}

/// A general influence function in the cohort-linear form (see module docs).
#[derive(Clone)]
struct Rep {
    /// cohort x T coefficients a_h[t].
    coef: Vec<f64>,
    /// cohort constants c_h.
    konst: Vec<f64>,
}

impl Rep {
    fn zero(hn: usize, t: usize) -> Rep {
        Rep {
            coef: vec![0.0; hn * t],
            konst: vec![0.0; hn],
        }
    }
    fn add_cell(&mut self, cell: &Cell, w: f64, t: usize) {
        for m in &cell.members {
            self.coef[m.h * t + cell.ti] += w * m.alpha;
            self.coef[m.h * t + cell.base] -= w * m.alpha;
            self.konst[m.h] += w * m.konst;
        }
    }
    fn add(&mut self, other: &Rep, w: f64) {
        for (a, b) in self.coef.iter_mut().zip(&other.coef) {
            *a += w * b;
        }
        for (a, b) in self.konst.iter_mut().zip(&other.konst) {
            *a += w * b;
        }
    }
}

struct Engine<'a> {
    design: &'a Design,
    mom: &'a Moments,
}

impl Engine<'_> {
    fn t(&self) -> usize {
        self.mom.t
    }

    /// sum_{i in h} psi_a(i) psi_b(i) for the coefficient parts: a' S_h b.
    fn quad(&self, h: usize, a: &[f64], b: &[f64]) -> f64 {
        let t = self.t();
        let block = &self.mom.cross[h * t * t..(h + 1) * t * t];
        a.iter()
            .zip(block.chunks_exact(t))
            .filter(|(x, _)| **x != 0.0)
            .map(|(x, row)| x * row.iter().zip(b).map(|(s, y)| s * y).sum::<f64>())
            .sum()
    }

    /// sum_i psi_a(i) psi_b(i) for two general influence functions (unclustered).
    fn rep_cross(&self, a: &Rep, b: &Rep) -> f64 {
        let t = self.t();
        self.design
            .cohorts
            .iter()
            .enumerate()
            .map(|(h, cohort)| {
                cohort.n as f64 * a.konst[h] * b.konst[h]
                    + self.quad(h, &a.coef[h * t..(h + 1) * t], &b.coef[h * t..(h + 1) * t])
            })
            .sum()
    }

    /// sum_i psi(i)^2, or sum over clusters of (sum_{i in c} psi(i))^2.
    fn rep_var(&self, rep: &Rep) -> f64 {
        match &self.mom.clusters {
            None => self.rep_cross(rep, rep),
            Some(cs) => self.rep_cluster_sums(rep, cs).iter().map(|v| v * v).sum(),
        }
    }

    /// Cluster sums of a general influence function.
    fn rep_cluster_sums(&self, rep: &Rep, cs: &ClusterSums) -> Vec<f64> {
        let t = self.t();
        let mut s = vec![0.0; cs.n_clusters];
        for p in 0..cs.cluster.len() {
            let h = cs.cohort[p];
            let a = &rep.coef[h * t..(h + 1) * t];
            let dot: f64 = a
                .iter()
                .zip(&cs.sums[p * t..(p + 1) * t])
                .map(|(x, y)| x * y)
                .sum();
            s[cs.cluster[p]] += dot + cs.count[p] * rep.konst[h];
        }
        s
    }

    /// sum_i psi psi' for general influence functions (e.g. event-time effects).
    fn rep_covariance(&self, reps: &[&Rep]) -> DMatrix<f64> {
        let k = reps.len();
        match &self.mom.clusters {
            None => {
                let mut m = DMatrix::<f64>::zeros(k, k);
                for a in 0..k {
                    for b in a..k {
                        let v = self.rep_cross(reps[a], reps[b]);
                        m[(a, b)] = v;
                        m[(b, a)] = v;
                    }
                }
                m
            }
            Some(cs) => {
                let mut sums = DMatrix::<f64>::zeros(k, cs.n_clusters);
                for (a, r) in reps.iter().enumerate() {
                    for (c, v) in self.rep_cluster_sums(r, cs).into_iter().enumerate() {
                        sums[(a, c)] = v;
                    }
                }
                &sums * sums.transpose()
            }
        }
    }

    /// Cross-product sum_i psi_a(i) psi_b(i) for two cells (unclustered),
    /// using that each member is alpha * (e_t - e_base).
    fn cell_cross(&self, a: &Cell, b: &Cell, b_by_h: &[(f64, f64)]) -> f64 {
        let mut total = 0.0;
        for m in &a.members {
            let (beta, kb) = b_by_h[m.h];
            if beta == 0.0 && kb == 0.0 {
                continue;
            }
            let h = m.h;
            let s = |r: usize, c: usize| self.mom.s(h, r, c);
            let q = s(a.ti, b.ti) - s(a.ti, b.base) - s(a.base, b.ti) + s(a.base, b.base);
            total += m.alpha * beta * q + self.design.cohorts[h].n as f64 * m.konst * kb;
        }
        total
    }

    /// Cluster sums of a cell's influence function.
    fn cell_cluster_sums(&self, cell: &Cell, by_h: &[(f64, f64)], out: &mut [f64]) {
        let cs = self.mom.clusters.as_ref().expect("clustered");
        let t = self.t();
        out.iter_mut().for_each(|v| *v = 0.0);
        for p in 0..cs.cluster.len() {
            let (alpha, k) = by_h[cs.cohort[p]];
            if alpha == 0.0 && k == 0.0 {
                continue;
            }
            let row = &cs.sums[p * t..(p + 1) * t];
            out[cs.cluster[p]] += alpha * (row[cell.ti] - row[cell.base]) + cs.count[p] * k;
        }
    }

    fn by_h(&self, cell: &Cell) -> Vec<(f64, f64)> {
        let mut v = vec![(0.0, 0.0); self.design.cohorts.len()];
        for m in &cell.members {
            v[m.h] = (m.alpha, m.konst);
        }
        v
    }

    fn cell_var(&self, cell: &Cell) -> f64 {
        let by_h = self.by_h(cell);
        match &self.mom.clusters {
            None => self.cell_cross(cell, cell, &by_h),
            Some(cs) => {
                let mut s = vec![0.0; cs.n_clusters];
                self.cell_cluster_sums(cell, &by_h, &mut s);
                s.iter().map(|v| v * v).sum()
            }
        }
    }

    /// sum_i psi psi' over the given cells.
    fn cell_covariance(&self, cells: &[&Cell]) -> DMatrix<f64> {
        let k = cells.len();
        let by_h: Vec<Vec<(f64, f64)>> = cells.iter().map(|c| self.by_h(c)).collect();
        let mut m = DMatrix::<f64>::zeros(k, k);
        match &self.mom.clusters {
            None => {
                for a in 0..k {
                    for b in a..k {
                        let v = self.cell_cross(cells[a], cells[b], &by_h[b]);
                        m[(a, b)] = v;
                        m[(b, a)] = v;
                    }
                }
            }
            Some(cs) => {
                let mut sums = DMatrix::<f64>::zeros(k, cs.n_clusters);
                let mut buf = vec![0.0; cs.n_clusters];
                for a in 0..k {
                    self.cell_cluster_sums(cells[a], &by_h[a], &mut buf);
                    for (c, v) in buf.iter().enumerate() {
                        sums[(a, c)] = *v;
                    }
                }
                m = &sums * sums.transpose();
            }
        }
        m
    }
}

/// Runs the full analysis: ATT(g,t) for every treated cohort and period after
/// the first, the simple/group/dynamic aggregations of `did::aggte` with their
/// weight-estimation terms, and the joint pre-trend Wald test.
pub fn staggered_did(panel: &Panel, options: &StaggeredOptions) -> Result<StaggeredAnalysis> {
    let (design, mut warnings) = build_design(panel, options)?;
    let mom = compute_moments(panel, &design, options.cluster)?;
    let cells = build_cells(&design, &mom, options.control_group)?;
    let engine = Engine {
        design: &design,
        mom: &mom,
    };
    let t = design.periods.len();
    let hn = design.cohorts.len();
    let n = design.n as f64;
    let pg = |h: usize| design.cohorts[h].n as f64 / n;

    let cell_se: Vec<Option<f64>> = cells
        .iter()
        .map(|c| se_or_none(engine.cell_var(c)))
        .collect();
    let att_gt: Vec<GroupTimeAtt> = cells
        .iter()
        .zip(&cell_se)
        .map(|(c, se)| GroupTimeAtt {
            group: c.g,
            period: c.period,
            att: c.att,
            se: *se,
        })
        .collect();

    // Weighted average of cells with weights pg / sum(pg), plus `did`'s wif
    // term for having estimated pg. In did's notation, wif = if1 - if2 and its
    // contribution wif %*% att collapses to, for a unit in cohort h,
    // (1/S) * sum_{cells k of cohort h} (att_k - theta), S = sum_k pg_k.
    let weighted = |idx: &[usize]| -> (f64, Rep) {
        let s: f64 = idx.iter().map(|&k| pg(cells[k].cohort)).sum();
        let theta = idx
            .iter()
            .map(|&k| pg(cells[k].cohort) * cells[k].att)
            .sum::<f64>()
            / s;
        let mut rep = Rep::zero(hn, t);
        for &k in idx {
            let c = &cells[k];
            rep.add_cell(c, pg(c.cohort) / s, t);
            rep.konst[c.cohort] += (c.att - theta) / (s * n);
        }
        (theta, rep)
    };

    // Simple: all post-treatment cells, weighted by cohort size.
    let post: Vec<usize> = (0..cells.len()).filter(|&k| cells[k].post).collect();
    if post.is_empty() {
        return Err(AnalyticsError::not_identified(
            "no treated cohort is observed in a treated period within the analysed periods",
        ));
    }
    let (simple_att, simple_rep) = weighted(&post);
    let simple = Aggregate {
        att: simple_att,
        se: se_or_none(engine.rep_var(&simple_rep)),
    };

    // Group: each cohort's mean over its post periods, then cohort-size weights.
    let mut group_effects = Vec::new();
    let mut group_reps = Vec::new();
    let mut no_post = Vec::new();
    for &h in &design.treated {
        let idx: Vec<usize> = post
            .iter()
            .copied()
            .filter(|&k| cells[k].cohort == h)
            .collect();
        if idx.is_empty() {
            no_post.push(design.cohorts[h].g);
            continue;
        }
        let w = 1.0 / idx.len() as f64;
        let att = idx.iter().map(|&k| cells[k].att).sum::<f64>() * w;
        let mut rep = Rep::zero(hn, t);
        for &k in &idx {
            rep.add_cell(&cells[k], w, t);
        }
        group_effects.push(GroupAtt {
            group: design.cohorts[h].g,
            att,
            se: se_or_none(engine.rep_var(&rep)),
            n_units: design.cohorts[h].n,
        });
        group_reps.push((h, att, rep));
    }
    if !no_post.is_empty() {
        warnings.push(AnalysisWarning::new(
            WarningKind::DataAdjusted,
            format!(
                "Cohort(s) {} have no treated period inside the analysed periods and are left \
                 out of the group summary.",
                list_some(&no_post, 5)
            ),
        ));
    }
    let s_group: f64 = group_reps.iter().map(|(h, _, _)| pg(*h)).sum();
    let group_att = group_reps.iter().map(|(h, a, _)| pg(*h) * a).sum::<f64>() / s_group;
    let mut group_rep = Rep::zero(hn, t);
    for (h, a, rep) in &group_reps {
        group_rep.add(rep, pg(*h) / s_group);
        group_rep.konst[*h] += (a - group_att) / (s_group * n);
    }
    let group = Aggregate {
        att: group_att,
        se: se_or_none(engine.rep_var(&group_rep)),
    };

    // Dynamic: by event time e = t - g over all cells (negative e included),
    // overall = plain mean of the e >= 0 effects.
    let mut es: Vec<i64> = cells.iter().map(|c| c.period - c.g).collect();
    es.sort_unstable();
    es.dedup();
    let mut event_times = Vec::with_capacity(es.len());
    let mut dyn_rep = Rep::zero(hn, t);
    let mut dyn_sum = 0.0;
    let mut n_pos = 0usize;
    let mut pre_event: Vec<(f64, Rep)> = Vec::new();
    for &e in &es {
        let idx: Vec<usize> = (0..cells.len())
            .filter(|&k| cells[k].period - cells[k].g == e)
            .collect();
        let (att, rep) = weighted(&idx);
        event_times.push(EventTimeAtt {
            e,
            att,
            se: se_or_none(engine.rep_var(&rep)),
        });
        if e >= 0 {
            dyn_sum += att;
            n_pos += 1;
            dyn_rep.add(&rep, 1.0);
        } else if event_times.last().is_some_and(|x| x.se.is_some()) {
            pre_event.push((att, rep));
        }
    }
    let dyn_rep = {
        let mut r = Rep::zero(hn, t);
        r.add(&dyn_rep, 1.0 / n_pos as f64);
        r
    };
    let dynamic = DynamicAggregate {
        att: dyn_sum / n_pos as f64,
        se: se_or_none(engine.rep_var(&dyn_rep)),
        event_times,
    };

    // Pre-trend Wald test over pre-treatment cells with a usable SE.
    let pre: Vec<&Cell> = cells
        .iter()
        .zip(&cell_se)
        .filter(|(c, se)| !c.post && se.is_some())
        .map(|(c, _)| c)
        .collect();
    let n_clusters = mom.clusters.as_ref().map(|c| c.n_clusters);
    let (pretest, pretest_reference, pretest_status) = pretest(&engine, &pre, n_clusters);
    let event_study_pretest = if pre_event.is_empty() {
        None
    } else {
        let theta = DVector::from_iterator(pre_event.len(), pre_event.iter().map(|(a, _)| *a));
        let reps: Vec<&Rep> = pre_event.iter().map(|(_, r)| r).collect();
        match rank_limit(&engine, reps.len()) {
            Some(_) => None,
            None => wald(theta, engine.rep_covariance(&reps), n_clusters)
                .ok()
                .map(|(t, reference)| EventStudyPreTest {
                    w: t.w,
                    df: t.df,
                    p: t.p,
                    reference,
                }),
        }
    };
    if let (Some(p), Some(g)) = (&pretest, n_clusters) {
        if 4 * p.df > g {
            warnings.push(AnalysisWarning::new(
                WarningKind::FewClusters,
                format!(
                    "The pre-trend test combines {} pre-treatment estimates using only {g} \
                     clusters. Its p-value uses a small-sample F reference, which keeps false \
                     alarms near 5%, but with this few clusters per restriction the test has \
                     little power: not rejecting is weak evidence of parallel trends.",
                    p.df
                ),
            ));
        }
    }
    match (&pretest, &pretest_status) {
        (Some(p), _) if p.p < 0.05 => warnings.push(AnalysisWarning::new(
            WarningKind::PretrendRejected,
            format!(
                "The pre-trend test rejects parallel trends (W = {:.2} on {} df, p = {:.4}): \
                 before treatment, treated cohorts were already drifting away from their \
                 comparison group, so post-treatment effects may partly reflect that drift.",
                p.w, p.df, p.p
            ),
        )),
        (None, PretestStatus::Singular { message }) => {
            let fallback = match &event_study_pretest {
                Some(p) => format!(
                    " The event-study version (pre-treatment event-time effects jointly zero) \
                     is available instead: W = {:.2} on {} df, p = {:.4}.",
                    p.w, p.df, p.p
                ),
                None => String::new(),
            };
            warnings.push(AnalysisWarning::new(
                WarningKind::PretestUnavailable,
                format!("The pre-trend test could not be computed: {message}.{fallback}"),
            ));
            if let Some(p) = event_study_pretest.as_ref().filter(|p| p.p < 0.05) {
                warnings.push(AnalysisWarning::new(
                    WarningKind::PretrendRejected,
                    format!(
                        "The event-study pre-trend test rejects parallel trends (W = {:.2} on {} \
                         df, p = {:.4}): before treatment, treated cohorts were already \
                         drifting away from their comparison group.",
                        p.w, p.df, p.p
                    ),
                ));
            }
        }
        _ => {}
    }

    if let Some(cs) = &mom.clusters {
        let thin: Vec<String> = design
            .treated
            .iter()
            .filter_map(|&h| {
                let k = cs.cohort.iter().filter(|&&c| c == h).count();
                (k < MIN_COMFORTABLE_CLUSTERS).then(|| format!("{} ({k})", design.cohorts[h].g))
            })
            .collect();
        if !thin.is_empty() {
            warnings.push(AnalysisWarning::new(
                WarningKind::FewClusters,
                format!(
                    "Some cohorts are spread over fewer than {MIN_COMFORTABLE_CLUSTERS} clusters \
                     (cohort (clusters): {}). With few treated clusters, cluster-robust standard \
                     errors tend to be too small and pre-trend tests reject too often.",
                    list_some(&thin, 8)
                ),
            ));
        }
    }
    if let Some(g) = n_clusters {
        if g < MIN_COMFORTABLE_CLUSTERS {
            warnings.push(few_clusters(
                g,
                "the difference-in-differences standard errors",
            ));
        }
    }

    Ok(StaggeredAnalysis {
        result: StaggeredDidResult {
            att_gt,
            simple,
            group,
            dynamic,
            pretest,
        },
        group_effects,
        pretest_status,
        pretest_reference,
        event_study_pretest,
        control_group: options.control_group,
        clustered: options.cluster,
        n_units: design.n,
        periods_used: design.periods.clone(),
        n_clusters,
        cohorts: design
            .cohorts
            .iter()
            .map(|c| CohortCount {
                first_treated: c.g,
                n_units: c.n,
            })
            .collect(),
        warnings,
    })
}

/// With clustering, the covariance of k estimates has rank at most G - 1
/// (cluster sums of influence functions add to zero), so k >= G cannot be
/// inverted. Returns the limit when it bites.
fn rank_limit(engine: &Engine, k: usize) -> Option<usize> {
    let cs = engine.mom.clusters.as_ref()?;
    (k + 1 > cs.n_clusters).then_some(cs.n_clusters)
}

fn pretest(
    engine: &Engine,
    pre: &[&Cell],
    n_clusters: Option<usize>,
) -> (Option<PreTest>, Option<PretestReference>, PretestStatus) {
    let k = pre.len();
    if k == 0 {
        return (None, None, PretestStatus::NoPrePeriods);
    }
    if let Some(g) = rank_limit(engine, k) {
        return (
            None,
            None,
            PretestStatus::Singular {
                message: format!(
                    "there are {k} pre-treatment estimates but only {g} clusters; a \
                     cluster-robust covariance has rank at most {} (clusters minus one), so it \
                     cannot be inverted",
                    g - 1
                ),
            },
        );
    }
    let theta = DVector::from_iterator(k, pre.iter().map(|c| c.att));
    match wald(theta, engine.cell_covariance(pre), n_clusters) {
        Ok((p, reference)) => (Some(p), Some(reference), PretestStatus::Computed),
        Err(why) => (
            None,
            None,
            PretestStatus::Singular {
                message: format!(
                    "the covariance matrix of the {k} pre-treatment estimates is singular ({why})"
                ),
            },
        ),
    }
}

/// W = theta' Sigma^{-1} theta with Sigma = sum_i psi psi' (equal to did's
/// n theta' V^{-1} theta), refusing near-singular Sigma the way did does.
///
/// Without clustering p comes from chi-square(K), exactly as in did. With G
/// clusters it comes from F = W (G - K) / (K (G - 1)) ~ F(K, G - K): in our
/// Monte Carlo (30 provinces, 9 pre-period cells, parallel trends true) a
/// chi-square reference gave 33% false alarms at the 5% level when schools
/// adopt independently, which would make the "failed pre-trend" warning fire
/// on most clean data; the F reference gives 5.5%. When whole provinces adopt
/// together (about 7 per cohort) it still over-rejects (29%): that is the
/// few-treated-clusters problem, flagged by its own warning.
fn wald(
    theta: DVector<f64>,
    sigma: DMatrix<f64>,
    n_clusters: Option<usize>,
) -> std::result::Result<(PreTest, PretestReference), String> {
    let k = theta.len();
    let norm1 = (0..k)
        .map(|j| sigma.column(j).iter().map(|v| v.abs()).sum::<f64>())
        .fold(0.0, f64::max);
    let Some(chol) = Cholesky::new(sigma) else {
        return Err("it is not positive definite".into());
    };
    // Same criterion as did: reciprocal 1-norm condition number <= machine eps.
    let rcond = 1.0 / (norm1 * inverse_norm1_estimate(&chol, k));
    if rcond.is_nan() || rcond <= f64::EPSILON {
        return Err(format!("reciprocal condition number {rcond:.1e}"));
    }
    let w = theta.dot(&chol.solve(&theta));
    let (p, reference) = match n_clusters {
        None => (chi2_sf(w, k as f64), PretestReference::ChiSquare),
        Some(g) => {
            let (kf, gf) = (k as f64, g as f64);
            let f = w * (gf - kf) / (kf * (gf - 1.0));
            (
                f_sf(f, kf, gf - kf),
                PretestReference::HotellingF { df1: k, df2: g - k },
            )
        }
    };
    Ok((PreTest { w, df: k, p }, reference))
}

/// Hager's (1984) estimate of ||A^{-1}||_1 from a few solves with the
/// Cholesky factor, as LAPACK's condition estimators do; forming the inverse
/// would cost O(K^3) for a diagnostic.
fn inverse_norm1_estimate(chol: &Cholesky<f64, nalgebra::Dyn>, k: usize) -> f64 {
    let mut x = DVector::from_element(k, 1.0 / k as f64);
    let mut best: f64 = 0.0;
    for _ in 0..5 {
        let y = chol.solve(&x);
        let est = y.iter().map(|v| v.abs()).sum::<f64>();
        if !est.is_finite() {
            return f64::INFINITY;
        }
        if est <= best {
            break;
        }
        best = est;
        let xi = y.map(|v| if v >= 0.0 { 1.0 } else { -1.0 });
        let z = chol.solve(&xi);
        let (j, zmax) = z
            .iter()
            .enumerate()
            .map(|(j, v)| (j, v.abs()))
            .fold((0, f64::NEG_INFINITY), |a, b| if b.1 > a.1 { b } else { a });
        if zmax <= z.dot(&x) {
            break;
        }
        x = DVector::zeros(k);
        x[j] = 1.0;
    }
    best
}
