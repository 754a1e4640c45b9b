//! Finishes error responses: an HTML page in the user's language for the pages, an
//! `application/problem+json` document for the API (and for clients that ask for JSON).
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{header, StatusCode};
use actix_web::middleware::Next;
use actix_web::web::Data;
use actix_web::{Error, HttpMessage, HttpRequest, HttpResponse};
use serde_json::json;

use super::context::RequestCtx;
use super::i18n::Lang;
use super::render;
use super::state::AppState;
use crate::error::{AppError, ErrorDetails};

pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    // (The request must not be cloned before routing: the router needs it unshared.)
    let res = next.call(req).await?.map_into_boxed_body();
    let Some(details) = res.response().extensions().get::<ErrorDetails>().cloned() else {
        return Ok(res);
    };
    let Some(state) = res.request().app_data::<Data<AppState>>().cloned() else {
        return Ok(res);
    };
    let (req, old) = res.into_parts();
    let mut new = build(&state, &req, &details);
    // Keep cookies the handler set (e.g. a cleared session cookie).
    for c in old.cookies() {
        let _ = new.add_cookie(&c);
    }
    Ok(ServiceResponse::new(req, new))
}

fn wants_json(req: &HttpRequest) -> bool {
    if req.path().starts_with("/api/") {
        return true;
    }
    let accept = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    (accept.contains("application/json") || accept.contains("application/problem+json"))
        && !accept.contains("text/html")
}

fn build(state: &AppState, req: &HttpRequest, details: &ErrorDetails) -> HttpResponse {
    let ctx = req.extensions().get::<RequestCtx>().cloned();
    let lang = ctx.as_ref().map(|c| c.lang).unwrap_or(Lang::Vi);
    let i18n = &state.i18n;
    let title = i18n.text::<&str>(lang, details.title, &[]);
    let detail = details.detail.as_ref().map(|m| i18n.msg(lang, m));
    let fields: Vec<_> = details
        .fields
        .0
        .iter()
        .map(|f| json!({"field": f.field, "message": i18n.msg(lang, &f.msg), "code": f.msg.key}))
        .collect();
    let request_id = ctx.as_ref().and_then(|c| c.request_id.clone());

    let mut builder = HttpResponse::build(details.status);
    builder.insert_header((header::CACHE_CONTROL, "no-store"));
    if let Some(secs) = details.retry_after_secs {
        builder.insert_header((header::RETRY_AFTER, secs.to_string()));
    }

    if wants_json(req) {
        if details.status == StatusCode::UNAUTHORIZED {
            builder.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
        }
        let detail_text = detail.clone().unwrap_or_else(|| {
            if fields.is_empty() {
                title.clone()
            } else {
                fields
                    .iter()
                    .map(|f| {
                        format!(
                            "{}: {}",
                            f["field"].as_str().unwrap_or(""),
                            f["message"].as_str().unwrap_or("")
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("; ")
            }
        });
        let body = json!({
            "type": "about:blank",
            "title": title,
            "status": details.status.as_u16(),
            "detail": detail_text,
            "errors": fields,
            "request_id": request_id,
        });
        return builder
            .insert_header((header::CONTENT_TYPE, "application/problem+json"))
            .body(body.to_string());
    }

    if details.status == StatusCode::UNAUTHORIZED {
        let next = ctx.map(|c| c.path_and_query).unwrap_or_else(|| "/".into());
        let target = format!(
            "/login?next={}",
            url::form_urlencoded::byte_serialize(next.as_bytes()).collect::<String>()
        );
        return HttpResponse::SeeOther()
            .insert_header((header::LOCATION, target))
            .finish();
    }

    let page_ctx = ctx.unwrap_or_else(|| RequestCtx {
        actor: None,
        lang,
        csrf_token: String::new(),
        path_and_query: req.path().to_string(),
        is_api: false,
        client_ip: String::new(),
        request_id: request_id.clone(),
    });
    let data = json!({
        "status": details.status.as_u16(),
        "title": title,
        "detail": detail,
        "fields": fields,
        "request_id": request_id,
        "retry_after": details.retry_after_secs,
    });
    match render::render(&state.hbs, &page_ctx, "error", data) {
        Ok(body) => builder
            .insert_header((header::CONTENT_TYPE, "text/html; charset=utf-8"))
            .body(body),
        Err(e) => {
            tracing::error!(error = %e, "error page failed to render");
            builder
                .insert_header((header::CONTENT_TYPE, "text/plain; charset=utf-8"))
                .body(title)
        }
    }
}

/// Maps extractor failures (bad JSON, forms, query strings, paths) to a 400 naming the problem.
pub fn extractor_error(detail: String) -> actix_web::Error {
    AppError::BadRequest(crate::error::Msg::new("error-bad-input").arg("detail", detail)).into()
}
