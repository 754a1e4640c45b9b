//! One error type for every handler. A handler returns `AppError`; the response is finished by
//! `web::errors::render`, which knows the request (HTML page or `application/problem+json`, and the
//! user's language). Messages are translation keys, so the same error reads right in both languages.
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use sea_orm::DbErr;
use serde::Serialize;

/// A translatable message: a Fluent key and its arguments.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Msg {
    pub key: &'static str,
    pub args: Vec<(&'static str, String)>,
}

impl Msg {
    pub fn new(key: &'static str) -> Self {
        Self {
            key,
            args: Vec::new(),
        }
    }

    pub fn arg(mut self, name: &'static str, value: impl ToString) -> Self {
        self.args.push((name, value.to_string()));
        self
    }
}

/// A problem with one input field.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub msg: Msg,
}

/// Every problem found in one submitted form or document.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct FieldErrors(pub Vec<FieldError>);

impl FieldErrors {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add(&mut self, field: impl Into<String>, msg: Msg) {
        self.0.push(FieldError {
            field: field.into(),
            msg,
        });
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn single(field: impl Into<String>, msg: Msg) -> Self {
        let mut e = Self::new();
        e.add(field, msg);
        e
    }

    /// Takes the value of a parse, or records its error under `field`.
    pub fn take<T>(&mut self, field: &str, result: Result<T, Msg>) -> Option<T> {
        match result {
            Ok(v) => Some(v),
            Err(msg) => {
                self.add(field, msg);
                None
            }
        }
    }

    /// Ok(()) when nothing was recorded, else the errors as an `AppError`.
    pub fn into_result(self) -> Result<(), AppError> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(AppError::Invalid(self))
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("not found")]
    NotFound,
    #[error("forbidden")]
    Forbidden,
    #[error("authentication required")]
    Unauthenticated,
    #[error("invalid or missing CSRF token")]
    Csrf,
    #[error("invalid input")]
    Invalid(FieldErrors),
    #[error("bad request: {}", .0.key)]
    BadRequest(Msg),
    #[error("conflict: {}", .0.key)]
    Conflict(Msg),
    #[error("payload too large")]
    PayloadTooLarge,
    #[error("too many requests")]
    TooManyRequests { retry_after_secs: u64 },
    #[error("database error: {0}")]
    Db(#[from] DbErr),
    #[error("internal error: {0:#}")]
    Internal(#[from] anyhow::Error),
}

impl AppError {
    pub fn bad_request(key: &'static str) -> Self {
        Self::BadRequest(Msg::new(key))
    }

    pub fn invalid(field: impl Into<String>, msg: Msg) -> Self {
        Self::Invalid(FieldErrors::single(field, msg))
    }

    /// For a write that may lose a race on a unique key: the violation becomes an error on the
    /// field (what the earlier check would have said), anything else stays a database error.
    pub fn unique_as(field: &'static str, msg: Msg) -> impl FnOnce(DbErr) -> AppError {
        move |err| match err.sql_err() {
            Some(sea_orm::SqlErr::UniqueConstraintViolation(_)) => AppError::invalid(field, msg),
            _ => AppError::Db(err),
        }
    }

    /// The message shown as the title of the problem.
    pub fn title_key(&self) -> &'static str {
        match self {
            Self::NotFound => "error-not-found",
            Self::Forbidden => "error-forbidden",
            Self::Unauthenticated => "error-unauthenticated",
            Self::Csrf => "error-csrf",
            Self::Invalid(_) => "error-invalid",
            Self::BadRequest(_) => "error-bad-request",
            Self::Conflict(_) => "error-conflict",
            Self::PayloadTooLarge => "error-too-large",
            Self::TooManyRequests { .. } => "error-too-many",
            Self::Db(_) | Self::Internal(_) => "error-internal",
        }
    }

    /// A description kept on the response for the renderer; it holds no secrets.
    pub fn details(&self) -> ErrorDetails {
        let detail = match self {
            Self::BadRequest(m) | Self::Conflict(m) => Some(m.clone()),
            _ => None,
        };
        let fields = match self {
            Self::Invalid(errors) => errors.clone(),
            _ => FieldErrors::new(),
        };
        ErrorDetails {
            status: self.status_code(),
            title: self.title_key(),
            detail,
            fields,
            retry_after_secs: match self {
                Self::TooManyRequests { retry_after_secs } => Some(*retry_after_secs),
                _ => None,
            },
        }
    }
}

/// What the error renderer needs, carried in the response's extensions.
#[derive(Debug, Clone)]
pub struct ErrorDetails {
    pub status: StatusCode,
    pub title: &'static str,
    pub detail: Option<Msg>,
    pub fields: FieldErrors,
    pub retry_after_secs: Option<u64>,
}

impl ResponseError for AppError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::Forbidden | Self::Csrf => StatusCode::FORBIDDEN,
            Self::Unauthenticated => StatusCode::UNAUTHORIZED,
            Self::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Db(_) | Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if matches!(self, Self::Db(_) | Self::Internal(_)) {
            // The cause chain goes to the log (it holds no request data); the user gets a
            // generic message and the request id.
            tracing::error!(error = %self, "request failed");
        }
        let mut resp = HttpResponse::build(self.status_code()).finish();
        resp.extensions_mut().insert(self.details());
        resp
    }
}

pub type AppResult<T> = Result<T, AppError>;
