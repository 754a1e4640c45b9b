//! Reading one file from a multipart form, with a size limit.
use actix_multipart::Multipart;
use futures_util::StreamExt;

use crate::error::{AppError, Msg};

pub struct Upload {
    pub filename: String,
    pub content: Vec<u8>,
}

/// The first part named `field`; other parts are read and dropped. More than `limit` bytes
/// is refused with 413 before the rest is read.
pub async fn read_file_field(
    mut payload: Multipart,
    field: &str,
    limit: usize,
) -> Result<Upload, AppError> {
    let unreadable = |_| AppError::BadRequest(Msg::new("error-upload-unreadable"));
    while let Some(part) = payload.next().await {
        let mut part = part.map_err(unreadable)?;
        let is_file = part.name() == Some(field);
        let filename = part
            .content_disposition()
            .and_then(|cd| cd.get_filename())
            .map(|f| f.rsplit(['/', '\\']).next().unwrap_or(f).to_string())
            .unwrap_or_else(|| "upload.csv".to_string());
        let mut content = Vec::new();
        while let Some(chunk) = part.next().await {
            let chunk = chunk.map_err(unreadable)?;
            if is_file {
                if content.len() + chunk.len() > limit {
                    return Err(AppError::PayloadTooLarge);
                }
                content.extend_from_slice(&chunk);
            }
        }
        if is_file {
            if content.is_empty() {
                return Err(AppError::invalid(field, Msg::new("error-empty-file")));
            }
            return Ok(Upload { filename, content });
        }
    }
    Err(AppError::invalid(field, Msg::new("error-required")))
}

/// A raw request body (e.g. `text/csv`), refusing more than `limit` bytes with 413.
pub async fn read_body(
    mut payload: actix_web::web::Payload,
    limit: usize,
) -> Result<Vec<u8>, AppError> {
    let mut body = Vec::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|_| AppError::BadRequest(Msg::new("error-body-unreadable")))?;
        if body.len() + chunk.len() > limit {
            return Err(AppError::PayloadTooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The small text fields of a multipart form that come before its file, and the file part
/// itself, left unread so it can be streamed.
pub struct StreamedUpload {
    pub fields: std::collections::HashMap<String, String>,
    pub filename: String,
    pub file: actix_multipart::Field,
}

/// Reads text fields (at most 4 KiB each) until the part named `file_field`, and returns it
/// unread. The form must put its file input last.
pub async fn open_file_field(
    payload: &mut Multipart,
    file_field: &str,
) -> Result<StreamedUpload, AppError> {
    let unreadable = |_| AppError::BadRequest(Msg::new("error-upload-unreadable"));
    let mut fields = std::collections::HashMap::new();
    while let Some(part) = payload.next().await {
        let mut part = part.map_err(unreadable)?;
        let name = part.name().unwrap_or_default().to_string();
        if name == file_field {
            let filename = part
                .content_disposition()
                .and_then(|cd| cd.get_filename())
                .map(|f| f.rsplit(['/', '\\']).next().unwrap_or(f).to_string())
                .unwrap_or_else(|| "upload.csv".to_string());
            return Ok(StreamedUpload {
                fields,
                filename,
                file: part,
            });
        }
        let mut value = Vec::new();
        while let Some(chunk) = part.next().await {
            let chunk = chunk.map_err(unreadable)?;
            if value.len() + chunk.len() > 4096 {
                return Err(AppError::PayloadTooLarge);
            }
            value.extend_from_slice(&chunk);
        }
        let value = String::from_utf8(value)
            .map_err(|_| AppError::invalid(name.clone(), Msg::new("import-not-utf8")))?;
        fields.insert(name, value);
    }
    Err(AppError::invalid(file_field, Msg::new("error-required")))
}
