//! Static files and templates, embedded in the binary (read from disk in debug builds).
use std::collections::HashMap;
use std::sync::OnceLock;

use actix_web::http::header::{self, EntityTag};
use actix_web::{web, HttpRequest, HttpResponse};
use rust_embed::RustEmbed;

use crate::error::AppError;

#[derive(RustEmbed)]
#[folder = "assets/"]
pub struct Assets;

#[derive(RustEmbed)]
#[folder = "templates/"]
#[include = "*.hbs"]
pub struct Templates;

/// Content hashes of the assets, for cache-busting URLs (`/assets/app.css?v=…`).
fn versions() -> &'static HashMap<String, String> {
    static VERSIONS: OnceLock<HashMap<String, String>> = OnceLock::new();
    VERSIONS.get_or_init(|| {
        Assets::iter()
            .filter_map(|name| {
                let file = Assets::get(&name)?;
                Some((
                    name.to_string(),
                    hex::encode(&file.metadata.sha256_hash()[..6]),
                ))
            })
            .collect()
    })
}

/// The URL of an asset, with its content hash so it can be cached for a year.
pub fn url(path: &str) -> String {
    match versions().get(path) {
        Some(v) => format!("/assets/{path}?v={v}"),
        None => format!("/assets/{path}"),
    }
}

/// `GET /assets/{path}`. A request carrying the current content hash is cached for a year;
/// others for five minutes, with an ETag for revalidation.
pub async fn serve(req: HttpRequest, path: web::Path<String>) -> Result<HttpResponse, AppError> {
    let path = path.into_inner();
    if path.starts_with("locales/") {
        return Err(AppError::NotFound);
    }
    let file = Assets::get(&path).ok_or(AppError::NotFound)?;
    let hash = hex::encode(file.metadata.sha256_hash());
    let etag = EntityTag::new_strong(hash.clone());
    if let Some(inm) = req.headers().get(header::IF_NONE_MATCH) {
        if inm.to_str().map(|v| v.contains(&hash)).unwrap_or(false) {
            return Ok(HttpResponse::NotModified()
                .insert_header(header::ETag(etag))
                .finish());
        }
    }
    let versioned = req.query_string().split('&').any(|kv| {
        kv.strip_prefix("v=")
            .is_some_and(|v| hash.starts_with(v) && !v.is_empty())
    });
    let cache = if versioned {
        "public, max-age=31536000, immutable"
    } else {
        "public, max-age=300"
    };
    let mime = mime_guess::from_path(&path).first_or_octet_stream();
    Ok(HttpResponse::Ok()
        .insert_header((
            header::CONTENT_TYPE,
            mime.essence_str().to_string() + charset(&mime),
        ))
        .insert_header((header::CACHE_CONTROL, cache))
        .insert_header(header::ETag(etag))
        .body(file.data.into_owned()))
}

fn charset(mime: &mime_guess::Mime) -> &'static str {
    if mime.type_() == mime_guess::mime::TEXT || mime.subtype() == mime_guess::mime::JAVASCRIPT {
        "; charset=utf-8"
    } else {
        ""
    }
}
