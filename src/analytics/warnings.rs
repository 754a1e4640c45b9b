use serde::Serialize;

/// Machine-readable category, so a UI can group or badge warnings without
/// parsing English text; the message carries the explanation for people.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WarningKind {
    /// Fewer than two treated cohorts: "staggered" results are really a
    /// single 2x2 comparison repeated over time.
    FewTreatedCohorts,
    /// Too few clusters for cluster-robust standard errors to be trusted.
    FewClusters,
    /// Units were dropped (or would have to be) because they are not observed
    /// in every period.
    UnbalancedPanel,
    /// The joint pre-trend test rejects parallel trends at the 5% level.
    PretrendRejected,
    /// The pre-trend test could not be computed (singular covariance, ...).
    PretestUnavailable,
    /// A cohort, comparison group or sample is so small that its estimates
    /// rest on a handful of units.
    TinyGroup,
    /// Units or periods were removed or recoded to make the design estimable
    /// (treated before the data start, treated after the data end, ...).
    DataAdjusted,
    /// Values outside their natural range (e.g. coverage above 100%).
    OutOfRange,
}

/// A caveat a person should read next to a number. Warnings never stop an
/// estimate from being returned: the caller decides whether to show or hide it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AnalysisWarning {
    pub kind: WarningKind,
    pub message: String,
}

impl AnalysisWarning {
    pub fn new(kind: WarningKind, message: impl Into<String>) -> Self {
        AnalysisWarning {
            kind,
            message: message.into(),
        }
    }
}

/// Below this many clusters, cluster-robust variances are known to be biased
/// downwards enough to matter (Cameron & Miller 2015 put the comfort zone
/// well above it), so we say so rather than let a tight CI speak for itself.
pub const MIN_COMFORTABLE_CLUSTERS: usize = 10;

/// Cohorts smaller than this trigger a warning. Same threshold as the R
/// package `did` uses without covariates, so both tools flag the same data.
pub const MIN_COMFORTABLE_GROUP: usize = 5;

pub(crate) fn few_clusters(n_clusters: usize, what: &str) -> AnalysisWarning {
    AnalysisWarning::new(
        WarningKind::FewClusters,
        format!(
            "Only {n_clusters} clusters were used for {what}. With fewer than \
             {MIN_COMFORTABLE_CLUSTERS} clusters, cluster-robust standard errors tend to be too \
             small, so confidence intervals are likely too narrow and p-values too optimistic."
        ),
    )
}

/// Formats a short list for messages, so one pathological input cannot
/// produce a multi-megabyte warning.
pub(crate) fn list_some<T: std::fmt::Display>(items: &[T], max: usize) -> String {
    let shown: Vec<String> = items.iter().take(max).map(|x| x.to_string()).collect();
    if items.len() > max {
        format!("{} and {} more", shown.join(", "), items.len() - max)
    } else {
        shown.join(", ")
    }
}
