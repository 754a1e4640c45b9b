//! Per-school coverage uplift and its enrollment-weighted mean.
//!
//! Weighting by enrollment answers "by how many points did coverage rise for
//! the average *student*", which is what the programme is judged on; the
//! unweighted mean (also reported) answers the per-school question.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::error::{AnalyticsError, Result};
use super::inference::t_critical;
use super::warnings::{
    few_clusters, AnalysisWarning, WarningKind, MIN_COMFORTABLE_CLUSTERS, MIN_COMFORTABLE_GROUP,
};

/// One school's coverage snapshot pair. Percentages are on the 0-100 scale.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SchoolCoverage {
    pub school_id: String,
    /// Needed only when clustering by province.
    pub province: Option<String>,
    pub baseline_coverage_pct: f64,
    pub current_coverage_pct: f64,
    pub enrolled: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UpliftOptions {
    /// Treat provinces, not schools, as the independent units. Use it when
    /// schools in a province share shocks (a provincial campaign, a policy
    /// change), which makes school-level errors understate uncertainty.
    pub cluster_by_province: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SchoolUplift {
    pub school_id: String,
    pub province: Option<String>,
    /// current - baseline, in percentage points.
    pub uplift_pp: f64,
    pub enrolled: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UpliftSummary {
    pub schools: Vec<SchoolUplift>,
    pub weighted_mean_uplift_pp: f64,
    pub unweighted_mean_uplift_pp: f64,
    pub se: f64,
    pub ci_lower: f64,
    pub ci_upper: f64,
    /// Degrees of freedom of the t reference used for the interval (G - 1).
    pub df: usize,
    pub n_schools: usize,
    /// Schools with positive enrollment, i.e. the ones that carry weight.
    pub n_weighted_schools: usize,
    pub total_enrolled: u64,
    /// Independent units behind the standard error: schools, or provinces
    /// when clustering.
    pub n_clusters: usize,
    pub clustered_by_province: bool,
    pub warnings: Vec<AnalysisWarning>,
}

/// Computes per-school uplift and the enrollment-weighted mean with a 95% CI.
///
/// Variance. With weights w_i (enrollment), uplifts u_i, W = sum w_i and the
/// weighted mean m = sum w_i u_i / W, we use the linearisation (sandwich)
/// variance of a ratio estimator,
///
/// ```text
/// Var(m) = G/(G-1) * sum_c ( sum_{i in c} w_i (u_i - m) )^2 / W^2,
/// ```
///
/// where c runs over schools (G = number of weighted schools) or, with
/// `cluster_by_province`, over provinces. It equals the CR1 variance of a
/// weighted regression of u on a constant (for one regressor Stata's factor
/// (N-1)/(N-K) is 1), so it treats enrollments as fixed and lets each school's
/// (or province's) own deviation speak, instead of assuming that a school's
/// noise shrinks with its size. The interval is m +/- t(0.975, G-1) * se.
pub fn uplift(schools: &[SchoolCoverage], options: &UpliftOptions) -> Result<UpliftSummary> {
    if schools.is_empty() {
        return Err(AnalyticsError::TooFewObservations {
            needed: 2,
            got: 0,
            what: "an uplift estimate (schools)".into(),
        });
    }
    let mut warnings = Vec::new();
    let mut out_of_range = Vec::new();
    let mut rows = Vec::with_capacity(schools.len());
    for s in schools {
        if !s.baseline_coverage_pct.is_finite() || !s.current_coverage_pct.is_finite() {
            return Err(AnalyticsError::invalid(format!(
                "school '{}' has a coverage value that is not a finite number",
                s.school_id
            )));
        }
        for v in [s.baseline_coverage_pct, s.current_coverage_pct] {
            if !(0.0..=100.0).contains(&v) {
                out_of_range.push(s.school_id.clone());
                break;
            }
        }
        rows.push(SchoolUplift {
            school_id: s.school_id.clone(),
            province: s.province.clone(),
            uplift_pp: s.current_coverage_pct - s.baseline_coverage_pct,
            enrolled: s.enrolled,
        });
    }
    if !out_of_range.is_empty() {
        warnings.push(AnalysisWarning::new(
            WarningKind::OutOfRange,
            format!(
                "{} school(s) report coverage outside 0-100% ({}). This usually means the \
                 enrollment snapshot and the insured count come from different dates; their \
                 uplift is used as reported.",
                out_of_range.len(),
                super::warnings::list_some(&out_of_range, 5)
            ),
        ));
    }

    let weighted: Vec<&SchoolUplift> = rows.iter().filter(|r| r.enrolled > 0).collect();
    let zero = rows.len() - weighted.len();
    if zero > 0 {
        warnings.push(AnalysisWarning::new(
            WarningKind::DataAdjusted,
            format!(
                "{zero} school(s) have zero enrollment and carry no weight in the weighted mean."
            ),
        ));
    }
    let total: u64 = weighted.iter().map(|r| r.enrolled).sum();
    if weighted.is_empty() || total == 0 {
        return Err(AnalyticsError::invalid(
            "no school has positive enrollment, so an enrollment-weighted mean is undefined",
        ));
    }
    let w_total = total as f64;
    let mean = weighted
        .iter()
        .map(|r| r.enrolled as f64 * r.uplift_pp)
        .sum::<f64>()
        / w_total;
    let unweighted = rows.iter().map(|r| r.uplift_pp).sum::<f64>() / rows.len() as f64;

    // Sum w_i (u_i - m) within each independent unit.
    let mut cluster_sums: Vec<f64> = Vec::new();
    if options.cluster_by_province {
        let mut index: HashMap<&str, usize> = HashMap::new();
        for r in &weighted {
            let p = r.province.as_deref().ok_or_else(|| {
                AnalyticsError::invalid(format!(
                    "school '{}' has no province, which clustering by province needs",
                    r.school_id
                ))
            })?;
            let next = index.len();
            let c = *index.entry(p).or_insert(next);
            if c == cluster_sums.len() {
                cluster_sums.push(0.0);
            }
            cluster_sums[c] += r.enrolled as f64 * (r.uplift_pp - mean);
        }
    } else {
        cluster_sums = weighted
            .iter()
            .map(|r| r.enrolled as f64 * (r.uplift_pp - mean))
            .collect();
    }
    let g = cluster_sums.len();
    if g < 2 {
        return Err(AnalyticsError::TooFewObservations {
            needed: 2,
            got: g,
            what: if options.cluster_by_province {
                "a standard error clustered by province (provinces with enrolled schools)".into()
            } else {
                "a standard error (schools with positive enrollment)".into()
            },
        });
    }
    let gf = g as f64;
    let var =
        gf / (gf - 1.0) * cluster_sums.iter().map(|s| s * s).sum::<f64>() / (w_total * w_total);
    let se = var.sqrt();
    let crit = t_critical(0.95, gf - 1.0);

    if options.cluster_by_province && g < MIN_COMFORTABLE_CLUSTERS {
        warnings.push(few_clusters(g, "the uplift confidence interval"));
    }
    if weighted.len() < MIN_COMFORTABLE_GROUP {
        warnings.push(AnalysisWarning::new(
            WarningKind::TinyGroup,
            format!(
                "Only {} school(s) carry weight; the mean uplift and its interval rest on very \
                 few schools.",
                weighted.len()
            ),
        ));
    }

    Ok(UpliftSummary {
        n_schools: rows.len(),
        n_weighted_schools: weighted.len(),
        schools: rows,
        weighted_mean_uplift_pp: mean,
        unweighted_mean_uplift_pp: unweighted,
        se,
        ci_lower: mean - crit * se,
        ci_upper: mean + crit * se,
        df: g - 1,
        total_enrolled: total,
        n_clusters: g,
        clustered_by_province: options.cluster_by_province,
        warnings,
    })
}

#[cfg(test)]
mod tests {
    use super::super::ols::ols_clustered;
    use super::*;

    fn school(id: &str, prov: &str, base: f64, cur: f64, enrolled: u64) -> SchoolCoverage {
        SchoolCoverage {
            school_id: id.into(),
            province: Some(prov.into()),
            baseline_coverage_pct: base,
            current_coverage_pct: cur,
            enrolled,
        }
    }

    /// Hand computation: uplifts (10, 0, 20) with weights (100, 300, 100).
    /// W = 500, m = (1000 + 0 + 2000)/500 = 6.
    /// w(u - m) = (400, -1800, 1400); squares sum to 160000 + 3240000 + 1960000 = 5360000.
    /// Var = 3/2 * 5360000 / 250000 = 32.16, se = 5.671...
    #[test]
    fn weighted_mean_and_variance_by_hand() {
        let s = vec![
            school("a", "P1", 50.0, 60.0, 100),
            school("b", "P1", 70.0, 70.0, 300),
            school("c", "P2", 40.0, 60.0, 100),
        ];
        let out = uplift(&s, &UpliftOptions::default()).unwrap();
        assert_eq!(out.schools[2].uplift_pp, 20.0);
        assert!((out.weighted_mean_uplift_pp - 6.0).abs() < 1e-12);
        assert!((out.unweighted_mean_uplift_pp - 10.0).abs() < 1e-12);
        assert!((out.se - 32.16f64.sqrt()).abs() < 1e-12);
        let crit = (2.0 * 0.95f64 * 0.95 / (1.0 - 0.95 * 0.95)).sqrt(); // t(0.975, 2)
        assert!((out.ci_lower - (6.0 - crit * out.se)).abs() < 1e-8);
        assert_eq!(out.df, 2);
        assert_eq!(out.total_enrolled, 500);
    }

    /// The clustered variance must equal the CR1 standard error of a weighted
    /// regression on a constant, i.e. OLS of sqrt(w) u on sqrt(w), clustered.
    #[test]
    fn province_clustering_matches_weighted_cr1_regression() {
        let s = vec![
            school("a", "P1", 50.0, 60.0, 120),
            school("b", "P1", 70.0, 71.0, 300),
            school("c", "P2", 40.0, 61.0, 80),
            school("d", "P2", 30.0, 45.0, 200),
            school("e", "P3", 20.0, 22.0, 50),
            school("f", "P3", 65.0, 80.0, 90),
            school("g", "P4", 55.0, 58.0, 400),
        ];
        let out = uplift(
            &s,
            &UpliftOptions {
                cluster_by_province: true,
            },
        )
        .unwrap();
        let x: Vec<[f64; 1]> = s.iter().map(|r| [(r.enrolled as f64).sqrt()]).collect();
        let y: Vec<f64> = s
            .iter()
            .map(|r| {
                (r.enrolled as f64).sqrt() * (r.current_coverage_pct - r.baseline_coverage_pct)
            })
            .collect();
        let prov: Vec<&str> = s.iter().map(|r| r.province.as_deref().unwrap()).collect();
        let reg = ols_clustered(&x, &y, &prov).unwrap();
        let c = reg.clustered.unwrap();
        assert!((reg.coefficients[0] - out.weighted_mean_uplift_pp).abs() < 1e-10);
        // Regression CR1 uses (N-1)/(N-K) = 1 for K = 1, same as ours.
        assert!((c.inference.std_errors[0] - out.se).abs() < 1e-10);
        assert!((c.inference.ci_lower[0] - out.ci_lower).abs() < 1e-8);
        assert_eq!(out.n_clusters, 4);
        assert!(out
            .warnings
            .iter()
            .any(|w| w.kind == WarningKind::FewClusters));
    }

    #[test]
    fn problems_are_reported() {
        let s = vec![
            school("a", "P1", 50.0, 60.0, 0),
            school("b", "P1", 50.0, 60.0, 0),
        ];
        assert!(uplift(&s, &UpliftOptions::default()).is_err());
        let s = vec![school("a", "P1", 50.0, 60.0, 10)];
        assert!(matches!(
            uplift(&s, &UpliftOptions::default()),
            Err(AnalyticsError::TooFewObservations { .. })
        ));
        let mut s = vec![
            school("a", "P1", 50.0, 120.0, 10),
            school("b", "P2", 50.0, 60.0, 10),
        ];
        let out = uplift(&s, &UpliftOptions::default()).unwrap();
        assert!(out
            .warnings
            .iter()
            .any(|w| w.kind == WarningKind::OutOfRange));
        s[1].province = None;
        assert!(uplift(
            &s,
            &UpliftOptions {
                cluster_by_province: true
            }
        )
        .is_err());
    }
}
