//! Small wrappers over `statrs` so every estimator computes p-values and
//! critical values the same way, and degenerate degrees of freedom turn into
//! NaN instead of a panic deep inside a distribution constructor.

use statrs::distribution::{ChiSquared, ContinuousCDF, FisherSnedecor, StudentsT};

/// Two-sided p-value of a t statistic. Uses the survival function rather than
/// `1 - cdf` so very small p-values keep their precision.
pub(crate) fn t_two_sided_p(t: f64, df: f64) -> f64 {
    if !t.is_finite() || df <= 0.0 {
        return f64::NAN;
    }
    match StudentsT::new(0.0, 1.0, df) {
        Ok(dist) => (2.0 * dist.sf(t.abs())).min(1.0),
        Err(_) => f64::NAN,
    }
}

/// Critical value c with P(|T| <= c) = level for T ~ t(df).
pub(crate) fn t_critical(level: f64, df: f64) -> f64 {
    if df <= 0.0 {
        return f64::NAN;
    }
    match StudentsT::new(0.0, 1.0, df) {
        Ok(dist) => dist.inverse_cdf(0.5 + level / 2.0),
        Err(_) => f64::NAN,
    }
}

/// Upper tail of a chi-square distribution: the p-value of a Wald statistic.
pub(crate) fn chi2_sf(x: f64, df: f64) -> f64 {
    if !x.is_finite() || df <= 0.0 {
        return f64::NAN;
    }
    match ChiSquared::new(df) {
        Ok(dist) => dist.sf(x.max(0.0)),
        Err(_) => f64::NAN,
    }
}

/// Upper tail of an F(d1, d2) distribution.
pub(crate) fn f_sf(x: f64, d1: f64, d2: f64) -> f64 {
    if !x.is_finite() || d1 <= 0.0 || d2 <= 0.0 {
        return f64::NAN;
    }
    match FisherSnedecor::new(d1, d2) {
        Ok(dist) => dist.sf(x.max(0.0)),
        Err(_) => f64::NAN,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn t_distribution_matches_closed_form_for_two_df() {
        // For df = 2 the t CDF is 1/2 + t / (2 sqrt(2 + t^2)), so the two-sided
        // p-value is 1 - t / sqrt(2 + t^2) and the 97.5% quantile is
        // sqrt(2 q^2 / (1 - q^2)) with q = 0.95.
        let t: f64 = 1.5;
        let p = 1.0 - t / (2.0 + t * t).sqrt();
        assert!((t_two_sided_p(t, 2.0) - p).abs() < 1e-12);
        let q: f64 = 0.95;
        let crit = (2.0 * q * q / (1.0 - q * q)).sqrt();
        assert!(
            (t_critical(0.95, 2.0) - crit).abs() < 1e-9,
            "{}",
            t_critical(0.95, 2.0)
        );
    }

    #[test]
    fn chi_square_tail_matches_exponential_for_two_df() {
        // chi2(2) is exponential with mean 2: P(X > x) = exp(-x / 2).
        for x in [0.1, 1.0, 5.0, 30.0] {
            assert!((chi2_sf(x, 2.0) - (-x / 2.0f64).exp()).abs() < 1e-12);
        }
        assert!(chi2_sf(1.0, 0.0).is_nan());
    }

    #[test]
    fn f_tail_matches_closed_form_for_two_two_df() {
        // F(2, 2) has survival function 1 / (1 + x).
        for x in [0.2, 1.0, 7.0] {
            assert!((f_sf(x, 2.0, 2.0) - 1.0 / (1.0 + x)).abs() < 1e-12);
        }
    }
}
