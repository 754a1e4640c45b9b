//! Classic 2x2 difference-in-differences on pre/post period means.
//!
//! Kept alongside the staggered estimator because it is the number most
//! readers already know (e.g. the Prop 99 textbook figure) and a quick sanity
//! check when there is a single adoption date.

use serde::Serialize;

use super::error::{AnalyticsError, Result};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Did2x2 {
    /// Mean over pre periods of the (per-period) mean of the treated units.
    pub treated_pre: f64,
    pub treated_post: f64,
    /// Mean over pre periods of the per-period mean across control units.
    pub control_pre: f64,
    pub control_post: f64,
    pub treated_change: f64,
    pub control_change: f64,
    /// (treated_post - treated_pre) - (control_post - control_pre).
    pub did: f64,
    pub n_treated: usize,
    pub n_control: usize,
    pub n_pre_periods: usize,
    pub n_post_periods: usize,
}

/// 2x2 DiD where every series is aligned with `periods`. Periods at or after
/// `first_post_period` are "post". Treated and control sides are first
/// averaged across units within each period, then across periods, so the
/// comparison is against the mean control unit rather than being dominated
/// by however many controls happen to exist.
pub fn did_2x2<R: AsRef<[f64]>>(
    periods: &[i64],
    treated: &[R],
    controls: &[R],
    first_post_period: i64,
) -> Result<Did2x2> {
    if treated.is_empty() || controls.is_empty() {
        return Err(AnalyticsError::invalid(
            "a 2x2 DiD needs at least one treated and one control series",
        ));
    }
    let t = periods.len();
    for (side, series) in [("treated", treated), ("control", controls)] {
        for (i, s) in series.iter().enumerate() {
            let s = s.as_ref();
            if s.len() != t {
                return Err(AnalyticsError::invalid(format!(
                    "{side} series {} has {} values but there are {t} periods",
                    i + 1,
                    s.len()
                )));
            }
            if let Some(j) = s.iter().position(|v| !v.is_finite()) {
                return Err(AnalyticsError::invalid(format!(
                    "{side} series {} has a non-finite value in period {}",
                    i + 1,
                    periods[j]
                )));
            }
        }
    }
    let pre: Vec<usize> = (0..t).filter(|&j| periods[j] < first_post_period).collect();
    let post: Vec<usize> = (0..t)
        .filter(|&j| periods[j] >= first_post_period)
        .collect();
    if pre.is_empty() || post.is_empty() {
        return Err(AnalyticsError::invalid(format!(
            "need periods both before and from {first_post_period} on"
        )));
    }

    let period_mean = |series: &[R], j: usize| -> f64 {
        series.iter().map(|s| s.as_ref()[j]).sum::<f64>() / series.len() as f64
    };
    let window_mean = |series: &[R], idx: &[usize]| -> f64 {
        idx.iter().map(|&j| period_mean(series, j)).sum::<f64>() / idx.len() as f64
    };
    let treated_pre = window_mean(treated, &pre);
    let treated_post = window_mean(treated, &post);
    let control_pre = window_mean(controls, &pre);
    let control_post = window_mean(controls, &post);
    let treated_change = treated_post - treated_pre;
    let control_change = control_post - control_pre;
    Ok(Did2x2 {
        treated_pre,
        treated_post,
        control_pre,
        control_post,
        treated_change,
        control_change,
        did: treated_change - control_change,
        n_treated: treated.len(),
        n_control: controls.len(),
        n_pre_periods: pre.len(),
        n_post_periods: post.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_example_by_hand() {
        // Treated: pre mean 2, post mean 7 (+5). Controls average: pre 1.5,
        // post 3.5 (+2). DiD = 3.
        let periods = [1, 2, 3, 4];
        let treated = [vec![1.0, 3.0, 6.0, 8.0]];
        let controls = [vec![1.0, 1.0, 3.0, 3.0], vec![2.0, 2.0, 4.0, 4.0]];
        let d = did_2x2(&periods, &treated, &controls, 3).unwrap();
        assert!((d.did - 3.0).abs() < 1e-12);
        assert_eq!(d.n_pre_periods, 2);
        assert!(did_2x2(&periods, &treated, &controls, 9).is_err());
        assert!(did_2x2(&periods, &treated, &[vec![1.0]], 3).is_err());
    }
}
