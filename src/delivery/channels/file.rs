//! The file channel: with no provider configured, each message is written as JSON under the
//! outbox folder (`data/outbox/<channel>/<message id>.json`), so a demo shows real output and
//! nothing leaves the machine.
use std::path::PathBuf;

use super::{Outbound, Sender};
use crate::delivery::model::{Accepted, ErrorClass, Failure};
use crate::messaging::render::Rendered;

pub struct FileSender {
    dir: PathBuf,
}

impl FileSender {
    pub fn new(dir: &str) -> Self {
        Self {
            dir: PathBuf::from(dir),
        }
    }
}

#[async_trait::async_trait]
impl Sender for FileSender {
    async fn send(&self, out: &Outbound) -> Result<Accepted, Failure> {
        let channel = match &out.content {
            Rendered::Email { .. } => "email",
            Rendered::Sms { .. } => "sms",
            Rendered::Zalo { .. } => "zalo",
            Rendered::Push { .. } => "push",
        };
        let dir = self.dir.join(channel);
        let doc = serde_json::json!({
            "message_id": out.message_id,
            "idempotency_key": out.idempotency_key,
            "to": out.recipient,
            "language": out.language,
            "list_unsubscribe": out.one_click_unsubscribe,
            "content": out.content,
        });
        let path = dir.join(format!("{}.json", out.message_id));
        let bytes = serde_json::to_vec_pretty(&doc)
            .map_err(|_| Failure::new(ErrorClass::Content, "unserialisable"))?;
        tokio::fs::create_dir_all(&dir)
            .await
            .map_err(|e| Failure::new(ErrorClass::Server, format!("outbox folder: {e}")))?;
        tokio::fs::write(&path, bytes)
            .await
            .map_err(|e| Failure::new(ErrorClass::Server, format!("outbox file: {e}")))?;
        Ok(Accepted {
            provider_message_id: Some(path.display().to_string()),
        })
    }
}
