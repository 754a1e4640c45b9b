//! `GET /health`: 200 `{"status":"ok","database":"ok"}`, or 503 when the database does not answer.
use actix_web::{web, HttpResponse};
use serde_json::json;

use super::state::AppState;

pub async fn health(state: web::Data<AppState>) -> HttpResponse {
    let check = tokio::time::timeout(std::time::Duration::from_secs(3), state.db.ping()).await;
    match check {
        Ok(Ok(())) => HttpResponse::Ok().json(json!({"status": "ok", "database": "ok"})),
        _ => HttpResponse::ServiceUnavailable()
            .json(json!({"status": "error", "database": "unreachable"})),
    }
}
