//! Statistics for the HI-enrollment analytics feature.
//!
//! Everything here is pure computation: plain data in, plain serialisable
//! structs out, no database or web types. That keeps the estimators testable
//! against published reference values and lets the web layer decide how to
//! present numbers and warnings.
//!
//! * [`ols`](mod@ols) - least squares with classical and CR1 cluster-robust inference.
//! * [`uplift`](mod@uplift) - per-school coverage uplift and its enrollment-weighted mean.
//! * [`did`] - the classic 2x2 difference-in-differences on period means.
//! * [`staggered`] - Callaway & Sant'Anna (2021) group-time ATTs, the
//!   aggregations of R's `did::aggte`, and the pre-trend Wald test.
//! * [`panel`] - balanced panels and their CSV reader.
//! * [`warnings`] - plain-language caveats attached to results.
//! * [`sim`] - a seeded data-generating process shared by tests and benchmarks.

pub mod did;
pub mod error;
mod inference;
pub mod ols;
pub mod panel;
pub mod sim;
pub mod staggered;
pub mod uplift;
pub mod warnings;

pub use did::{did_2x2, Did2x2};
pub use error::{AnalyticsError, Result};
pub(crate) use inference::t_critical;
pub use ols::{
    ols, ols_clustered, with_intercept, ClusteredInference, CoefficientInference, OlsFit,
};
pub use panel::{read_panel_csv, BalancePolicy, Panel, PanelBuild, PanelCsvOptions, PanelRecord};
pub use staggered::{
    cohort_period_means, staggered_did, Aggregate, CohortMeans, ControlGroup, DynamicAggregate,
    EventStudyPreTest, EventTimeAtt, GroupAtt, GroupTimeAtt, PreTest, PretestReference,
    PretestStatus, StaggeredAnalysis, StaggeredDidResult, StaggeredOptions,
};
pub use uplift::{uplift, SchoolCoverage, SchoolUplift, UpliftOptions, UpliftSummary};
pub use warnings::{AnalysisWarning, WarningKind};

#[cfg(test)]
mod prop99_tests;
#[cfg(test)]
mod staggered_tests;
