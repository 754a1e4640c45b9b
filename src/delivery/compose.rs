//! Turning a template and a guardian into a message: the address for the channel, the
//! rendered content (only the children who still need cover), the unsubscribe link, tracked
//! links and the open pixel.
use sea_orm::{ConnectionTrait, EntityTrait};

use super::tracking;
use crate::contacts::entity::guardian;
use crate::contacts::fields::Channel;
use crate::contacts::unsubscribe;
use crate::error::{AppError, AppResult};
use crate::messaging::render::{self, Rendered};
use crate::messaging::service as templates;
use crate::web::i18n::{I18n, Lang};

pub struct Composer<'a> {
    pub i18n: &'a I18n,
    pub base_url: &'a str,
    pub secret: &'a [u8],
    pub track_opens: bool,
}

pub struct Composed {
    pub recipient: String,
    pub content: Rendered,
    pub language: Lang,
}

/// The address a channel uses for a guardian, if there is one.
pub fn address(g: &guardian::Model, channel: Channel) -> Option<String> {
    match channel {
        Channel::Email => g.email.clone(),
        Channel::Sms => g.phone.clone(),
        Channel::Zalo => g.phone.clone().filter(|_| g.zalo),
        Channel::Push => g.app_ref.clone(),
    }
}

impl Composer<'_> {
    /// Renders `template_id` at `version` for one guardian. None when the guardian has no
    /// address on the template's channel.
    pub async fn compose<C: ConnectionTrait>(
        &self,
        conn: &C,
        guardian_id: i64,
        template_id: i64,
        version: i32,
        idempotency_key: &str,
        only_uninsured: bool,
    ) -> AppResult<Option<Composed>> {
        let g = guardian::Entity::find_by_id(guardian_id)
            .one(conn)
            .await?
            .ok_or(AppError::NotFound)?;
        let content = templates::version_content(conn, template_id, version).await?;
        let channel = content.channel();
        let Some(recipient) = address(&g, channel) else {
            return Ok(None);
        };
        let t = crate::messaging::entity::template::Entity::find_by_id(template_id)
            .one(conn)
            .await?
            .ok_or(AppError::NotFound)?;
        let language = Lang::parse(&t.language).unwrap_or_default();
        let mut vars = templates::guardian_variables(
            conn,
            self.i18n,
            language,
            self.base_url,
            guardian_id,
            only_uninsured,
        )
        .await?;
        vars.unsubscribe_url = unsubscribe::url(self.base_url, self.secret, guardian_id, channel);
        // SMS is charged by length: its links stay short and untracked.
        if channel != Channel::Sms {
            vars.links.pay =
                tracking::click_url(self.base_url, self.secret, idempotency_key, &vars.links.pay);
            vars.links.info = tracking::click_url(
                self.base_url,
                self.secret,
                idempotency_key,
                &vars.links.info,
            );
        }
        let mut rendered = render::render(&content, &vars)?;
        if let (Rendered::Email { html, .. }, true) = (&mut rendered, self.track_opens) {
            let pixel = format!(
                r#"<img src="{}" width="1" height="1" alt="">"#,
                tracking::open_pixel_url(self.base_url, self.secret, idempotency_key)
            );
            match html.rfind("</body>") {
                Some(i) => html.insert_str(i, &pixel),
                None => html.push_str(&pixel),
            }
        }
        Ok(Some(Composed {
            recipient,
            content: rendered,
            language,
        }))
    }
}
