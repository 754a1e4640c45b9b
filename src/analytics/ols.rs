//! Ordinary least squares with classical and cluster-robust (CR1) inference.
//!
//! The fit goes through a Householder QR of the column-scaled design instead
//! of the normal equations: forming X'X squares the condition number, which on
//! collinear data such as Longley's loses about half the available digits.

use std::collections::HashMap;
use std::hash::Hash;

use nalgebra::{DMatrix, DVector};
use serde::Serialize;

use super::error::{AnalyticsError, Result};
use super::inference::{t_critical, t_two_sided_p};
use super::warnings::{few_clusters, AnalysisWarning, MIN_COMFORTABLE_CLUSTERS};

/// A regressor counts as redundant when, after scaling every column to unit
/// length, less than this much of it lies outside the span of the earlier
/// columns. Tight enough to accept Longley (whose smallest such distance is
/// around 1e-4), loose enough to catch exact collinearity blurred by rounding.
const COLLINEARITY_TOLERANCE: f64 = 1e-10;

/// Per-coefficient inference under one variance estimator.
#[derive(Debug, Clone, Serialize)]
pub struct CoefficientInference {
    pub std_errors: Vec<f64>,
    pub t_values: Vec<f64>,
    pub p_values: Vec<f64>,
    /// 95% confidence interval bounds, using the t distribution with `df`.
    pub ci_lower: Vec<f64>,
    pub ci_upper: Vec<f64>,
    /// Degrees of freedom of the reference t distribution.
    pub df: usize,
}

/// Cluster-robust inference, kept apart from the classical one so a report
/// can show both and a reader can see how much clustering matters.
#[derive(Debug, Clone, Serialize)]
pub struct ClusteredInference {
    #[serde(flatten)]
    pub inference: CoefficientInference,
    pub n_clusters: usize,
    /// G/(G-1) * (N-1)/(N-K): Stata's CR1 small-sample correction, recorded so
    /// results can be compared with other software.
    pub small_sample_factor: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct OlsFit {
    pub coefficients: Vec<f64>,
    /// Homoskedastic standard errors with t(N-K) inference.
    pub classical: CoefficientInference,
    /// Present when the fit was asked to cluster.
    pub clustered: Option<ClusteredInference>,
    /// sqrt(RSS / (N-K)).
    pub residual_std_error: f64,
    pub residual_sum_of_squares: f64,
    /// Centred R^2 when the design has a constant column, uncentred otherwise
    /// (the convention of R's `lm` and of the NIST certified values).
    pub r_squared: f64,
    pub n_obs: usize,
    pub n_params: usize,
    pub warnings: Vec<AnalysisWarning>,
}

/// Prepends a column of ones: most callers want an intercept and forgetting
/// it silently changes every coefficient.
pub fn with_intercept<R: AsRef<[f64]>>(x: &[R]) -> Vec<Vec<f64>> {
    x.iter()
        .map(|row| {
            let row = row.as_ref();
            let mut out = Vec::with_capacity(row.len() + 1);
            out.push(1.0);
            out.extend_from_slice(row);
            out
        })
        .collect()
}

/// OLS with classical standard errors. `x` holds one row per observation and
/// must already contain an intercept column if one is wanted.
pub fn ols<R: AsRef<[f64]>>(x: &[R], y: &[f64]) -> Result<OlsFit> {
    let core = fit_core(x, y)?;
    Ok(core.into_fit(None, Vec::new()))
}

/// OLS with classical and CR1 cluster-robust standard errors. Cluster-robust
/// p-values and intervals use t(G-1), as Stata does, because with few
/// clusters the normal reference is badly anti-conservative.
pub fn ols_clustered<R: AsRef<[f64]>, C: Hash + Eq>(
    x: &[R],
    y: &[f64],
    clusters: &[C],
) -> Result<OlsFit> {
    if clusters.len() != y.len() {
        return Err(AnalyticsError::invalid(format!(
            "clusters has {} entries but there are {} observations",
            clusters.len(),
            y.len()
        )));
    }
    let core = fit_core(x, y)?;

    let mut index: HashMap<&C, usize> = HashMap::new();
    let cluster_of: Vec<usize> = clusters
        .iter()
        .map(|c| {
            let next = index.len();
            *index.entry(c).or_insert(next)
        })
        .collect();
    let g = index.len();
    if g < 2 {
        return Err(AnalyticsError::TooFewObservations {
            needed: 2,
            got: g,
            what: "cluster-robust inference (clusters)".into(),
        });
    }

    let n = core.n;
    let k = core.k;
    // Scores per cluster, s_g = sum_{i in g} x_i e_i, in the scaled coordinates
    // the QR worked in so the sandwich never mixes wildly different magnitudes.
    let mut scores = DMatrix::<f64>::zeros(k, g);
    for (i, &c) in cluster_of.iter().enumerate() {
        let e = core.residuals[i];
        for j in 0..k {
            scores[(j, c)] += core.xs[(i, j)] * e;
        }
    }
    let meat = &scores * scores.transpose();
    let factor = (g as f64 / (g as f64 - 1.0)) * ((n as f64 - 1.0) / (n as f64 - k as f64));
    let v_scaled = &core.bread_scaled * meat * &core.bread_scaled * factor;
    let std_errors: Vec<f64> = (0..k)
        .map(|j| v_scaled[(j, j)].max(0.0).sqrt() / core.scale[j])
        .collect();
    let inference = build_inference(&core.beta, std_errors, g - 1);

    let mut warnings = Vec::new();
    if g < MIN_COMFORTABLE_CLUSTERS {
        warnings.push(few_clusters(g, "the regression's standard errors"));
    }
    let clustered = ClusteredInference {
        inference,
        n_clusters: g,
        small_sample_factor: factor,
    };
    Ok(core.into_fit(Some(clustered), warnings))
}

struct Core {
    n: usize,
    k: usize,
    beta: Vec<f64>,
    /// Column norms used to scale the design.
    scale: Vec<f64>,
    /// Scaled design X D^{-1}.
    xs: DMatrix<f64>,
    /// (Xs'Xs)^{-1} = R^{-1} R^{-T}.
    bread_scaled: DMatrix<f64>,
    residuals: DVector<f64>,
    rss: f64,
    tss: f64,
}

impl Core {
    fn into_fit(
        self,
        clustered: Option<ClusteredInference>,
        warnings: Vec<AnalysisWarning>,
    ) -> OlsFit {
        let df = self.n - self.k;
        let sigma2 = self.rss / df as f64;
        let std_errors: Vec<f64> = (0..self.k)
            .map(|j| (sigma2 * self.bread_scaled[(j, j)]).max(0.0).sqrt() / self.scale[j])
            .collect();
        let classical = build_inference(&self.beta, std_errors, df);
        let r_squared = if self.tss > 0.0 {
            1.0 - self.rss / self.tss
        } else {
            f64::NAN
        };
        OlsFit {
            coefficients: self.beta,
            classical,
            clustered,
            residual_std_error: sigma2.sqrt(),
            residual_sum_of_squares: self.rss,
            r_squared,
            n_obs: self.n,
            n_params: self.k,
            warnings,
        }
    }
}

fn build_inference(beta: &[f64], std_errors: Vec<f64>, df: usize) -> CoefficientInference {
    let crit = t_critical(0.95, df as f64);
    let t_values: Vec<f64> = beta
        .iter()
        .zip(&std_errors)
        .map(|(b, s)| if *s > 0.0 { b / s } else { f64::NAN })
        .collect();
    let p_values = t_values
        .iter()
        .map(|t| t_two_sided_p(*t, df as f64))
        .collect();
    let ci_lower = beta
        .iter()
        .zip(&std_errors)
        .map(|(b, s)| b - crit * s)
        .collect();
    let ci_upper = beta
        .iter()
        .zip(&std_errors)
        .map(|(b, s)| b + crit * s)
        .collect();
    CoefficientInference {
        std_errors,
        t_values,
        p_values,
        ci_lower,
        ci_upper,
        df,
    }
}

fn fit_core<R: AsRef<[f64]>>(x: &[R], y: &[f64]) -> Result<Core> {
    let n = y.len();
    if x.len() != n {
        return Err(AnalyticsError::invalid(format!(
            "design has {} rows but y has {} values",
            x.len(),
            n
        )));
    }
    let k = x.first().map(|r| r.as_ref().len()).unwrap_or(0);
    if k == 0 {
        return Err(AnalyticsError::invalid("design matrix has no columns"));
    }
    if n <= k {
        return Err(AnalyticsError::TooFewObservations {
            needed: k + 1,
            got: n,
            what: format!("a regression with {k} coefficients (rows)"),
        });
    }
    let mut xm = DMatrix::<f64>::zeros(n, k);
    for (i, row) in x.iter().enumerate() {
        let row = row.as_ref();
        if row.len() != k {
            return Err(AnalyticsError::invalid(format!(
                "design row {} has {} columns, expected {k}",
                i + 1,
                row.len()
            )));
        }
        for (j, v) in row.iter().enumerate() {
            if !v.is_finite() {
                return Err(AnalyticsError::invalid(format!(
                    "design row {}, column {} is not a finite number",
                    i + 1,
                    j + 1
                )));
            }
            xm[(i, j)] = *v;
        }
    }
    if let Some(i) = y.iter().position(|v| !v.is_finite()) {
        return Err(AnalyticsError::invalid(format!(
            "y value {} is not a finite number",
            i + 1
        )));
    }

    // Equilibrate columns: QR is then insensitive to units of measurement
    // (GNP in dollars next to a year), and the collinearity test below can
    // use one absolute tolerance.
    let scale: Vec<f64> = xm.column_iter().map(|c| c.norm()).collect();
    if let Some(j) = scale.iter().position(|s| *s == 0.0) {
        return Err(AnalyticsError::SingularDesign {
            column: j,
            columns: k,
        });
    }
    let mut xs = xm.clone();
    for (mut col, s) in xs.column_iter_mut().zip(&scale) {
        col.scale_mut(1.0 / s);
    }

    let qr = xs.clone().qr();
    let r = qr.r();
    for j in 0..k {
        let pivot = r[(j, j)].abs();
        if pivot.is_nan() || pivot <= COLLINEARITY_TOLERANCE {
            return Err(AnalyticsError::SingularDesign {
                column: j,
                columns: k,
            });
        }
    }
    let mut qty = DVector::from_column_slice(y);
    qr.q_tr_mul(&mut qty);
    let qty_top = qty.rows(0, k).into_owned();
    let beta_scaled = r
        .solve_upper_triangular(&qty_top)
        .ok_or(AnalyticsError::SingularDesign {
            column: k - 1,
            columns: k,
        })?;
    let r_inv = r
        .solve_upper_triangular(&DMatrix::<f64>::identity(k, k))
        .ok_or(AnalyticsError::SingularDesign {
            column: k - 1,
            columns: k,
        })?;
    let bread_scaled = &r_inv * r_inv.transpose();

    let beta: Vec<f64> = (0..k).map(|j| beta_scaled[j] / scale[j]).collect();
    let beta_v = DVector::from_column_slice(&beta);
    let residuals = DVector::from_column_slice(y) - &xm * &beta_v;
    let rss = residuals.norm_squared();

    let has_constant = (0..k).any(|j| {
        let first = xm[(0, j)];
        first != 0.0 && xm.column(j).iter().all(|v| *v == first)
    });
    let tss = if has_constant {
        let mean = y.iter().sum::<f64>() / n as f64;
        y.iter().map(|v| (v - mean) * (v - mean)).sum()
    } else {
        y.iter().map(|v| v * v).sum()
    };

    Ok(Core {
        n,
        k,
        beta,
        scale,
        xs,
        bread_scaled,
        residuals,
        rss,
        tss,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// NIST Statistical Reference Datasets, linear regression, "Longley"
    /// (higher level of difficulty), https://www.itl.nist.gov/div898/strd/lls/data/Longley.shtml
    /// Data from J. W. Longley (1967), "An appraisal of least-squares programs
    /// from the point of view of the user", JASA 62, 819-841. Columns:
    /// y (total employment), x1 GNP deflator, x2 GNP, x3 unemployed,
    /// x4 armed forces, x5 population 14+, x6 year.
    const LONGLEY: [[f64; 7]; 16] = [
        [60323.0, 83.0, 234289.0, 2356.0, 1590.0, 107608.0, 1947.0],
        [61122.0, 88.5, 259426.0, 2325.0, 1456.0, 108632.0, 1948.0],
        [60171.0, 88.2, 258054.0, 3682.0, 1616.0, 109773.0, 1949.0],
        [61187.0, 89.5, 284599.0, 3351.0, 1650.0, 110929.0, 1950.0],
        [63221.0, 96.2, 328975.0, 2099.0, 3099.0, 112075.0, 1951.0],
        [63639.0, 98.1, 346999.0, 1932.0, 3594.0, 113270.0, 1952.0],
        [64989.0, 99.0, 365385.0, 1870.0, 3547.0, 115094.0, 1953.0],
        [63761.0, 100.0, 363112.0, 3578.0, 3350.0, 116219.0, 1954.0],
        [66019.0, 101.2, 397469.0, 2904.0, 3048.0, 117388.0, 1955.0],
        [67857.0, 104.6, 419180.0, 2822.0, 2857.0, 118734.0, 1956.0],
        [68169.0, 108.4, 442769.0, 2936.0, 2798.0, 120445.0, 1957.0],
        [66513.0, 110.8, 444546.0, 4681.0, 2637.0, 121950.0, 1958.0],
        [68655.0, 112.6, 482704.0, 3813.0, 2552.0, 123366.0, 1959.0],
        [69564.0, 114.2, 502601.0, 3931.0, 2514.0, 125368.0, 1960.0],
        [69331.0, 115.7, 518173.0, 4806.0, 2572.0, 127852.0, 1961.0],
        [70551.0, 116.9, 554894.0, 4007.0, 2827.0, 130081.0, 1962.0],
    ];

    /// Certified values from the same NIST page (B0..B6 and their standard
    /// deviations), residual standard deviation and R-squared.
    const CERT_B: [f64; 7] = [
        -3482258.63459582,
        15.0618722713733,
        -0.358191792925910E-01,
        -2.02022980381683,
        -1.03322686717359,
        -0.511041056535807E-01,
        1829.15146461355,
    ];
    const CERT_SE: [f64; 7] = [
        890420.383607373,
        84.9149257747669,
        0.334910077722432E-01,
        0.488399681651699,
        0.214274163161675,
        0.226073200069370,
        455.478499142212,
    ];
    const CERT_RESID_SD: f64 = 304.854073561965;
    const CERT_R2: f64 = 0.995479004577296;

    fn rel(a: f64, b: f64) -> f64 {
        ((a - b) / b).abs()
    }

    #[test]
    fn longley_matches_nist_certified_values() {
        let y: Vec<f64> = LONGLEY.iter().map(|r| r[0]).collect();
        let x: Vec<Vec<f64>> =
            with_intercept(&LONGLEY.iter().map(|r| r[1..].to_vec()).collect::<Vec<_>>());
        let fit = ols(&x, &y).unwrap();
        for j in 0..7 {
            let eb = rel(fit.coefficients[j], CERT_B[j]);
            let es = rel(fit.classical.std_errors[j], CERT_SE[j]);
            assert!(
                eb < 1e-6,
                "coefficient {j}: {} vs {} (rel {eb:e})",
                fit.coefficients[j],
                CERT_B[j]
            );
            assert!(
                es < 1e-6,
                "std error {j}: {} vs {} (rel {es:e})",
                fit.classical.std_errors[j],
                CERT_SE[j]
            );
        }
        assert!(rel(fit.residual_std_error, CERT_RESID_SD) < 1e-6);
        assert!(rel(fit.r_squared, CERT_R2) < 1e-9);
        assert_eq!(fit.classical.df, 9);
    }

    /// Hand computation (numbers chosen so every step is exact):
    ///
    /// x = (-2, -1, 0, 0, 1, 2), y = (1, 2, 3, 5, 4, 3), clusters A A B B C C,
    /// design [1, x]. Sum x = 0 and sum x^2 = 10, so X'X = diag(6, 10).
    /// Intercept = mean y = 18/6 = 3; slope = sum x y / 10 = (-2-2+0+0+4+6)/10 = 0.6.
    /// Residuals e = y - 3 - 0.6 x = (-0.8, -0.4, 0, 2, 0.4, -1.2).
    /// Cluster scores s_g = sum_{i in g} (1, x_i) e_i:
    ///   A: (-0.8-0.4, (-2)(-0.8)+(-1)(-0.4)) = (-1.2, 2.0)
    ///   B: (0+2, 0*0+0*2)                    = ( 2.0, 0.0)
    ///   C: (0.4-1.2, 1*0.4+2*(-1.2))         = (-0.8, -2.0)
    /// Outer products s s': A = [[1.44, -2.4], [-2.4, 4]], B = [[4, 0], [0, 0]],
    /// C = [[0.64, 1.6], [1.6, 4]], so Meat = [[6.08, -0.8], [-0.8, 8.0]].
    /// Bread (X'X)^{-1} = diag(1/6, 1/10), so the sandwich is
    ///   [[6.08/36, -0.8/60], [-0.8/60, 8/100]].
    /// CR1 factor G/(G-1) * (N-1)/(N-K) = 3/2 * 5/4 = 15/8, giving
    ///   Var(intercept) = 6.08/36 * 15/8 = 0.316666..., se = 0.5627314338711377
    ///   Var(slope)     = 0.08 * 15/8     = 0.15,       se = 0.3872983346207417
    ///   Cov            = -0.8/60 * 15/8  = -0.025.
    /// t(slope) = 0.6 / sqrt(0.15) = 1.5491933; with G-1 = 2 df the two-sided
    /// p-value is 1 - t / sqrt(2 + t^2) = 1 - 1.5491933/sqrt(4.4) = 0.2614511,
    /// and the 95% critical value is sqrt(2*0.95^2/(1-0.95^2)) = 4.3026527.
    /// Classical: RSS = 0.64+0.16+0+4+0.16+1.44 = 6.4, sigma^2 = 6.4/4 = 1.6,
    ///   se(intercept) = sqrt(1.6/6) = 0.5163978, se(slope) = sqrt(1.6/10) = 0.4.
    #[test]
    fn cr1_matches_hand_computation() {
        let x = [
            [1.0, -2.0],
            [1.0, -1.0],
            [1.0, 0.0],
            [1.0, 0.0],
            [1.0, 1.0],
            [1.0, 2.0],
        ];
        let y = [1.0, 2.0, 3.0, 5.0, 4.0, 3.0];
        let cl = ["A", "A", "B", "B", "C", "C"];
        let fit = ols_clustered(&x, &y, &cl).unwrap();
        assert!((fit.coefficients[0] - 3.0).abs() < 1e-12);
        assert!((fit.coefficients[1] - 0.6).abs() < 1e-12);
        let c = fit.clustered.as_ref().unwrap();
        assert_eq!(c.n_clusters, 3);
        assert_eq!(c.inference.df, 2);
        assert!((c.small_sample_factor - 15.0 / 8.0).abs() < 1e-12);
        assert!((c.inference.std_errors[0] - (6.08f64 / 36.0 * 15.0 / 8.0).sqrt()).abs() < 1e-12);
        assert!((c.inference.std_errors[1] - 0.15f64.sqrt()).abs() < 1e-12);
        let t = 0.6 / 0.15f64.sqrt();
        assert!((c.inference.t_values[1] - t).abs() < 1e-10);
        assert!((c.inference.p_values[1] - (1.0 - t / (2.0 + t * t).sqrt())).abs() < 1e-10);
        let crit = (2.0 * 0.95f64 * 0.95 / (1.0 - 0.95 * 0.95)).sqrt();
        assert!((c.inference.ci_lower[1] - (0.6 - crit * 0.15f64.sqrt())).abs() < 1e-8);
        assert!((c.inference.ci_upper[1] - (0.6 + crit * 0.15f64.sqrt())).abs() < 1e-8);
        assert!((fit.classical.std_errors[0] - (1.6f64 / 6.0).sqrt()).abs() < 1e-12);
        assert!((fit.classical.std_errors[1] - 0.4).abs() < 1e-12);
        assert_eq!(fit.classical.df, 4);
        // Three clusters is far too few to trust: the fit must say so.
        assert!(fit
            .warnings
            .iter()
            .any(|w| w.kind == super::super::warnings::WarningKind::FewClusters));
    }

    #[test]
    fn singular_design_is_reported() {
        // Third column = first + second.
        let x = [
            [1.0, 0.0, 1.0],
            [1.0, 1.0, 2.0],
            [1.0, 2.0, 3.0],
            [1.0, 5.0, 6.0],
        ];
        let y = [1.0, 2.0, 2.5, 7.0];
        match ols(&x, &y) {
            Err(AnalyticsError::SingularDesign { column, columns }) => {
                assert_eq!(column, 2);
                assert_eq!(columns, 3);
            }
            other => panic!("expected singular design, got {other:?}"),
        }
        // An all-zero column is singular too.
        let x = [[1.0, 0.0], [1.0, 0.0], [1.0, 0.0]];
        assert!(matches!(
            ols(&x, &[1.0, 2.0, 3.0]),
            Err(AnalyticsError::SingularDesign { column: 1, .. })
        ));
    }

    #[test]
    fn too_few_rows_and_bad_input_are_reported() {
        let x = [[1.0, 0.0], [1.0, 1.0]];
        assert!(matches!(
            ols(&x, &[1.0, 2.0]),
            Err(AnalyticsError::TooFewObservations {
                needed: 3,
                got: 2,
                ..
            })
        ));
        let x = [[1.0, 0.0], [1.0, 1.0], [1.0, 3.0]];
        assert!(matches!(
            ols(&x, &[1.0, f64::NAN, 2.0]),
            Err(AnalyticsError::InvalidInput { .. })
        ));
        assert!(matches!(
            ols(&x, &[1.0, 2.0]),
            Err(AnalyticsError::InvalidInput { .. })
        ));
        assert!(matches!(
            ols_clustered(&x, &[1.0, 2.0, 4.0], &[1, 1, 1]),
            Err(AnalyticsError::TooFewObservations {
                needed: 2,
                got: 1,
                ..
            })
        ));
    }
}
