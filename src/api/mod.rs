//! `/api/v1`: bearer-token JSON API, its OpenAPI document and the docs UI (served from the
//! binary, no CDN).
use actix_web::web;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_swagger_ui::SwaggerUi;

use crate::{
    audit, auth, campaigns, consultations, contacts, delivery, enrollment, media, messaging, org,
    reminders,
};

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("An API token (`hio_…`), created under Account → API tokens or with `hi-outreach token create`."))
                    .build(),
            ),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "hi-outreach API",
        description = "Outreach about Vietnam's student health insurance.\n\n\
Authentication: `Authorization: Bearer <token>`.\n\n\
Errors are `application/problem+json` documents: `title`, `status`, `detail` (a human \
message in the caller's language), and `errors` — one `{field, message, code}` per invalid field.\n\n\
Pagination: list endpoints take `page` (from 1) and `per_page` (1–200, default 50) and answer \
`{items, page, per_page, total, pages}`. Out-of-range values are a 422 naming the parameter.\n\n\
Scope: admins and national staff see the whole country; province staff one province; liaisons \
their assigned schools. Anything outside the caller's scope answers 404, as if it did not exist; \
actions the caller's role may not take answer 403."
    ),
    paths(
        auth::api::me, auth::api::list_users, auth::api::get_user, auth::api::create_user,
        auth::api::update_user, auth::api::list_tokens, auth::api::revoke_token,
        org::api::list_provinces, org::api::get_province, org::api::list_communes,
        org::api::list_schools, org::api::get_school, org::api::create_school, org::api::update_school,
        org::api::import_schools,
        audit::api::list,
        contacts::api::list_students, contacts::api::get_student, contacts::api::set_hi_status,
        contacts::api::get_guardian, contacts::api::record_consent, contacts::api::export_guardian,
        contacts::api::erase_guardian, contacts::api::import_students,
        messaging::api::list, messaging::api::create, messaging::api::get, messaging::api::update,
        messaging::api::preview,
        delivery::api::list, delivery::api::get, delivery::api::funnel, delivery::api::retry,
        delivery::api::send, delivery::api::list_providers, delivery::api::get_provider,
        delivery::api::create_provider, delivery::api::update_provider,
        campaigns::api::list_topics, campaigns::api::create_topic, campaigns::api::update_topic,
        campaigns::api::list_campaigns, campaigns::api::create_campaign, campaigns::api::get_campaign,
        campaigns::api::update_campaign, campaigns::api::change_status, campaigns::api::overview,
        campaigns::api::list_activities, campaigns::api::create_activity, campaigns::api::get_activity,
        campaigns::api::update_activity, campaigns::api::calendar_items,
        consultations::api::list_sessions, consultations::api::create_session,
        consultations::api::get_session, consultations::api::update_session,
        consultations::api::log_session, consultations::api::session_ics,
        consultations::api::list_feeds, consultations::api::create_feed, consultations::api::revoke_feed,
        media::api::list_outlets, media::api::create_outlet, media::api::get_outlet,
        media::api::update_outlet, media::api::list_pieces, media::api::create_piece,
        media::api::get_piece, media::api::update_piece,
        enrollment::api::list, enrollment::api::save, enrollment::api::get,
        enrollment::api::import_csv, enrollment::api::coverage_json, enrollment::api::coverage_csv,
        enrollment::api::engagement, enrollment::api::panel_csv, enrollment::api::did,
        enrollment::api::dose_response,
        reminders::api::list, reminders::api::create, reminders::api::preview, reminders::api::get,
        reminders::api::update,
        reminders::api::list_waves, reminders::api::create_wave, reminders::api::preview_wave,
        reminders::api::get_wave, reminders::api::update_wave, reminders::api::confirm_wave,
        reminders::api::cancel_wave, reminders::api::retry_wave,
        reminders::api::list_rules, reminders::api::create_rule, reminders::api::schedule_preview,
        reminders::api::get_rule, reminders::api::update_rule, reminders::api::activate_rule,
        reminders::api::pause_rule, reminders::api::dry_run_rule, reminders::api::set_deadline,
    ),
    modifiers(&BearerAuth),
    tags(
        (name = "accounts", description = "Users, roles, API tokens"),
        (name = "organisation", description = "Provinces, communes, schools"),
        (name = "audit", description = "Audit log"),
        (name = "contacts", description = "Students, guardians, consent, imports"),
        (name = "messages", description = "Parent message templates"),
        (name = "delivery", description = "Outbox, delivery log, funnel, providers"),
        (name = "campaigns", description = "Campaigns, topics, activities, calendar"),
        (name = "sessions", description = "School consultation sessions, their logs, iCalendar feeds"),
        (name = "media", description = "Media outlets and pieces"),
        (name = "enrollment", description = "HI enrollment snapshots and coverage"),
        (name = "reminders", description = "Audiences (saved parent filters), broadcast waves, reminder rules and their schedules"),
    )
)]
pub struct ApiDoc;

/// The OpenAPI document as JSON, built once per process: each HTTP worker used to build and
/// keep its own copy with the docs UI (some 12 MB of resident memory per worker).
fn openapi_json() -> &'static str {
    static JSON: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    JSON.get_or_init(|| {
        ApiDoc::openapi()
            .to_json()
            .expect("the OpenAPI document serialises")
    })
}

async fn openapi() -> actix_web::HttpResponse {
    actix_web::HttpResponse::Ok()
        .content_type("application/json")
        .body(openapi_json())
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        SwaggerUi::new("/api/v1/docs/{_:.*}")
            .config(utoipa_swagger_ui::Config::from("/api/v1/openapi.json")),
    );
    cfg.route("/api/v1/openapi.json", web::get().to(openapi));
    cfg.service(
        web::scope("/api/v1")
            .configure(auth::api::configure)
            .configure(org::api::configure)
            .configure(audit::api::configure)
            .configure(contacts::api::configure)
            .configure(messaging::api::configure)
            .configure(delivery::api::configure)
            .configure(campaigns::api::configure)
            .configure(consultations::api::configure)
            .configure(media::api::configure)
            .configure(enrollment::api::configure)
            .configure(reminders::api::configure),
    );
}
