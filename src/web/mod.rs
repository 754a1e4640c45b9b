//! Router assembly, middleware order, security headers and extractor limits. Nothing here is
//! domain-specific: each slice registers its own routes.
pub mod assets;
pub mod context;
pub mod errors;
pub mod extract;
pub mod figures;
pub mod format;
pub mod health;
pub mod i18n;
pub mod paging;
pub mod render;
pub mod request_log;
pub mod state;
pub mod upload;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::error::UrlencodedError;
use actix_web::middleware::{from_fn, Compress, DefaultHeaders};
use actix_web::web::{self, Data};
use actix_web::{App, HttpResponse};
use tracing_actix_web::TracingLogger;

use crate::error::AppError;
use state::AppState;

/// Content-Security-Policy: everything from this origin, no inline script, no framing.
pub const CSP: &str =
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; \
frame-ancestors 'none'";

pub fn security_headers(https: bool) -> DefaultHeaders {
    let mut h = DefaultHeaders::new()
        .add(("Content-Security-Policy", CSP))
        .add(("X-Content-Type-Options", "nosniff"))
        .add(("X-Frame-Options", "DENY"))
        .add(("Referrer-Policy", "same-origin"))
        .add(("Cross-Origin-Opener-Policy", "same-origin"))
        .add((
            "Permissions-Policy",
            "camera=(), microphone=(), geolocation=()",
        ))
        .add(("Cache-Control", "no-store"));
    if https {
        h = h.add((
            "Strict-Transport-Security",
            "max-age=31536000; includeSubDomains",
        ));
    }
    h
}

/// Registers every route and the extractor configuration.
pub fn configure(cfg: &mut web::ServiceConfig, state: Data<AppState>) {
    let body_limit = state.settings.max_body_bytes;
    cfg.app_data(state)
        .app_data(web::PayloadConfig::new(body_limit))
        .app_data(
            web::FormConfig::default()
                .limit(body_limit)
                .error_handler(|err, _| match err {
                    UrlencodedError::Overflow { .. } => AppError::PayloadTooLarge.into(),
                    other => errors::extractor_error(other.to_string()),
                }),
        )
        .app_data(web::PathConfig::default().error_handler(|_, _| AppError::NotFound.into()))
        .route("/health", web::get().to(health::health))
        .route("/assets/{path:.*}", web::get().to(assets::serve));
    crate::api::configure(cfg);
    crate::auth::pages::configure(cfg);
    crate::auth::admin::configure(cfg);
    crate::audit::pages::configure(cfg);
    crate::org::pages::configure(cfg);
    crate::contacts::pages::configure(cfg);
    crate::contacts::unsubscribe::configure(cfg);
    crate::delivery::tracking::configure(cfg);
    crate::delivery::metrics::configure(cfg);
    crate::delivery::pages::configure(cfg);
    crate::messaging::pages::configure(cfg);
    crate::campaigns::pages::configure(cfg);
    crate::consultations::pages::configure(cfg);
    crate::media::pages::configure(cfg);
    crate::enrollment::pages::configure(cfg);
    crate::reminders::pages::configure(cfg);
    crate::reminders::send_pages::configure(cfg);
    cfg.route("/", web::get().to(crate::org::pages::home));
}

/// Builds the actix `App` with middleware in this order, outermost first: request span and
/// id, compression, security headers, error rendering, request context (auth, language, CSRF).
pub fn app(
    state: Data<AppState>,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    let https = state.settings.is_https();
    App::new()
        .wrap(from_fn(context::middleware))
        .wrap(from_fn(errors::middleware))
        .wrap(security_headers(https))
        .wrap(Compress::default())
        .wrap(from_fn(request_log::request_id_header))
        .wrap(TracingLogger::<request_log::RootSpan>::new())
        .configure(|cfg| configure(cfg, state))
        .default_service(web::to(|| async {
            Err::<HttpResponse, _>(AppError::NotFound)
        }))
}
