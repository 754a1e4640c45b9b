//! JSON bodies and query strings that, when they do not fit, say which field is wrong.
//! (actix's own extractors report serde's message, which names a line and column, not the field.)
use std::future::Future;
use std::ops::Deref;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::web::Data;
use actix_web::{FromRequest, HttpRequest};
use futures_util::StreamExt;
use serde::de::DeserializeOwned;

use super::state::AppState;
use crate::error::{AppError, FieldErrors, Msg};

/// The path of the value that failed, e.g. `enrolled_students` or `items[2].name`.
fn field_of<E>(err: &serde_path_to_error::Error<E>) -> String {
    let path = err.path().to_string();
    if path == "." {
        String::new()
    } else {
        path
    }
}

fn invalid(field: String, detail: String) -> AppError {
    if field.is_empty() {
        AppError::BadRequest(Msg::new("error-bad-input").arg("detail", detail))
    } else {
        AppError::Invalid(FieldErrors::single(
            field,
            Msg::new("error-bad-value").arg("detail", detail),
        ))
    }
}

/// A JSON request body (`application/json`), at most `max_body_bytes`.
pub struct Json<T>(pub T);

impl<T> Deref for Json<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: DeserializeOwned + 'static> FromRequest for Json<T> {
    type Error = AppError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, AppError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let limit = req
            .app_data::<Data<AppState>>()
            .map(|s| s.settings.max_body_bytes)
            .unwrap_or(256 * 1024);
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| {
                let v = v.split(';').next().unwrap_or("").trim();
                v == "application/json" || v.ends_with("+json")
            })
            .unwrap_or(false);
        let mut payload = payload.take();
        Box::pin(async move {
            if !is_json {
                return Err(AppError::BadRequest(Msg::new("error-not-json")));
            }
            let mut body = Vec::new();
            while let Some(chunk) = payload.next().await {
                let chunk = chunk.map_err(|_| AppError::bad_request("error-body-unreadable"))?;
                if body.len() + chunk.len() > limit {
                    return Err(AppError::PayloadTooLarge);
                }
                body.extend_from_slice(&chunk);
            }
            let mut de = serde_json::Deserializer::from_slice(&body);
            let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
                let field = field_of(&e);
                let inner = e.into_inner();
                if inner.is_data() {
                    invalid(field, inner.to_string())
                } else {
                    // Syntax, truncation or bad UTF-8: the document as a whole is unreadable.
                    AppError::BadRequest(
                        Msg::new("error-bad-input").arg("detail", inner.to_string()),
                    )
                }
            })?;
            de.end().map_err(|e| {
                AppError::BadRequest(Msg::new("error-bad-input").arg("detail", e.to_string()))
            })?;
            Ok(Json(value))
        })
    }
}

/// Query-string parameters.
pub struct Query<T>(pub T);

impl<T> Deref for Query<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: DeserializeOwned> FromRequest for Query<T> {
    type Error = AppError;
    type Future = std::future::Ready<Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        // A filter form's "all" option sends `name=`: an empty value means "not given", so
        // optional numbers and dates need not accept empty text.
        let pairs: Vec<(String, String)> =
            url::form_urlencoded::parse(req.query_string().as_bytes())
                .filter(|(_, v)| !v.trim().is_empty())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
        let query = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(&pairs)
            .finish();
        let parsed = url::form_urlencoded::parse(query.as_bytes());
        let de = serde_urlencoded::Deserializer::new(parsed);
        std::future::ready(
            serde_path_to_error::deserialize(de)
                .map(Query)
                .map_err(|e| invalid(field_of(&e), e.into_inner().to_string())),
        )
    }
}

/// A form body (`application/x-www-form-urlencoded`) where a name may repeat (check boxes,
/// rows of a table), so a `Vec<String>` field collects every value. Errors name the field.
pub struct HtmlForm<T>(pub T);

impl<T> Deref for HtmlForm<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: DeserializeOwned + 'static> FromRequest for HtmlForm<T> {
    type Error = AppError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, AppError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let limit = req
            .app_data::<Data<AppState>>()
            .map(|s| s.settings.max_body_bytes)
            .unwrap_or(256 * 1024);
        let mut payload = payload.take();
        Box::pin(async move {
            let mut body = Vec::new();
            while let Some(chunk) = payload.next().await {
                let chunk = chunk.map_err(|_| AppError::bad_request("error-body-unreadable"))?;
                if body.len() + chunk.len() > limit {
                    return Err(AppError::PayloadTooLarge);
                }
                body.extend_from_slice(&chunk);
            }
            let de = serde_html_form::Deserializer::new(url::form_urlencoded::parse(&body));
            serde_path_to_error::deserialize(de)
                .map(HtmlForm)
                .map_err(|e| invalid(field_of(&e), e.into_inner().to_string()))
        })
    }
}
