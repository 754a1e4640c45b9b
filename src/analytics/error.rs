use std::fmt;

use serde::Serialize;

/// One error type for the whole module, so callers (an HTTP handler, a CLI)
/// can turn any failure into a single user-facing message without matching
/// on estimator-specific types.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AnalyticsError {
    /// The caller handed over data the estimator cannot use as given
    /// (mismatched lengths, non-finite numbers, empty inputs, ...).
    InvalidInput { message: String },
    /// Fewer observations than the estimator needs; kept separate from
    /// `InvalidInput` because the fix is "collect more data", not "fix the data".
    TooFewObservations {
        needed: usize,
        got: usize,
        what: String,
    },
    /// The regressors are (numerically) collinear, so coefficients are not
    /// identified. `column` is the first regressor (0-based) found to be a
    /// linear combination of the ones before it.
    SingularDesign { column: usize, columns: usize },
    /// A problem in an input file, located so a person can open the file and
    /// find it. Rows count the header as row 1.
    Csv {
        row: Option<usize>,
        column: Option<String>,
        message: String,
    },
    /// The panel is not balanced (or not a panel at all) and the caller asked
    /// for strict handling.
    UnbalancedPanel { message: String },
    /// The design cannot identify the requested estimand (e.g. no
    /// never-treated units with a never-treated comparison group).
    NotIdentified { message: String },
}

impl AnalyticsError {
    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        AnalyticsError::InvalidInput {
            message: message.into(),
        }
    }

    pub(crate) fn not_identified(message: impl Into<String>) -> Self {
        AnalyticsError::NotIdentified {
            message: message.into(),
        }
    }

    pub(crate) fn csv(
        row: Option<usize>,
        column: Option<&str>,
        message: impl Into<String>,
    ) -> Self {
        AnalyticsError::Csv {
            row,
            column: column.map(str::to_owned),
            message: message.into(),
        }
    }
}

impl fmt::Display for AnalyticsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AnalyticsError::InvalidInput { message } => write!(f, "invalid input: {message}"),
            AnalyticsError::TooFewObservations { needed, got, what } => write!(
                f,
                "too few observations: {what} needs at least {needed}, got {got}"
            ),
            AnalyticsError::SingularDesign { column, columns } => write!(
                f,
                "singular design: regressor {} of {columns} (counting from 1) is a linear \
                 combination of the regressors before it, so the coefficients are not identified; \
                 drop a redundant column",
                column + 1
            ),
            AnalyticsError::Csv {
                row,
                column,
                message,
            } => {
                match (row, column) {
                    (Some(r), Some(c)) => write!(f, "row {r}, column '{c}': ")?,
                    (Some(r), None) => write!(f, "row {r}: ")?,
                    (None, Some(c)) => write!(f, "column '{c}': ")?,
                    (None, None) => {}
                }
                write!(f, "{message}")
            }
            AnalyticsError::UnbalancedPanel { message } => {
                write!(f, "unbalanced panel: {message}")
            }
            AnalyticsError::NotIdentified { message } => write!(f, "not identified: {message}"),
        }
    }
}

impl std::error::Error for AnalyticsError {}

pub type Result<T> = std::result::Result<T, AnalyticsError>;
