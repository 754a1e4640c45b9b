//! Rendering a template for one guardian. Text channels (SMS, Zalo parameters, push, the
//! e-mail subject and text part) are not HTML-escaped — a parent would see `&amp;` otherwise —
//! while the e-mail HTML part escapes every value. Strict mode: a variable missing at send time
//! is an error, not an empty hole in a message to a parent.
use std::collections::BTreeMap;

use handlebars::Handlebars;
use serde::Serialize;

use super::content::Content;
use super::sms::{self, SmsInfo};
use crate::error::{AppError, AppResult};

/// One child as a message mentions them.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct StudentVars {
    pub name: String,
    pub school: String,
    pub class: String,
    /// In the message's language, e.g. "chưa có thẻ BHYT".
    pub hi_status: String,
}

#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct LinkVars {
    pub pay: String,
    pub info: String,
}

#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct SessionVars {
    pub date: String,
    pub time: String,
    pub location: String,
    pub school: String,
}

/// The declared variables (see `content::variables`).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Variables {
    pub guardian_name: String,
    pub students: Vec<StudentVars>,
    /// The children's names joined: "An và Chi" / "An and Chi".
    pub student_names: String,
    pub school: String,
    pub province: String,
    pub deadline: String,
    pub premium: String,
    pub state_support: String,
    pub how_to_pay: String,
    pub unsubscribe_url: String,
    pub links: LinkVars,
    pub session: SessionVars,
}

/// One rendered message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(tag = "channel", rename_all = "snake_case")]
pub enum Rendered {
    Email {
        subject: String,
        html: String,
        text: String,
    },
    Sms {
        text: String,
        info: SmsInfo,
    },
    Zalo {
        template_id: String,
        params: BTreeMap<String, String>,
    },
    Push {
        title: String,
        body: String,
        link: String,
    },
}

fn registry(escape_html: bool) -> Handlebars<'static> {
    let mut hbs = Handlebars::new();
    hbs.set_strict_mode(true);
    if !escape_html {
        hbs.register_escape_fn(handlebars::no_escape);
    }
    hbs
}

fn render_one(
    hbs: &Handlebars<'static>,
    field: &str,
    source: &str,
    vars: &Variables,
) -> AppResult<String> {
    hbs.render_template(source, vars)
        .map_err(|e| AppError::Internal(anyhow::anyhow!("rendering {field}: {e}")))
}

/// The two registries, built once: making one registers every built-in helper, which cost
/// more than rendering a short message.
fn registries() -> (&'static Handlebars<'static>, &'static Handlebars<'static>) {
    static TEXT: std::sync::OnceLock<Handlebars<'static>> = std::sync::OnceLock::new();
    static HTML: std::sync::OnceLock<Handlebars<'static>> = std::sync::OnceLock::new();
    (
        TEXT.get_or_init(|| registry(false)),
        HTML.get_or_init(|| registry(true)),
    )
}

pub fn render(content: &Content, vars: &Variables) -> AppResult<Rendered> {
    let (text, html) = registries();
    Ok(match content {
        Content::Email {
            subject,
            html: body,
            text: plain,
        } => Rendered::Email {
            // Line breaks have no place in a subject header.
            subject: render_one(text, "subject", subject, vars)?.replace(['\r', '\n'], " "),
            html: render_one(html, "html", body, vars)?,
            text: render_one(text, "text", plain, vars)?,
        },
        Content::Sms { text: body } => {
            let rendered = render_one(text, "text", body, vars)?;
            Rendered::Sms {
                info: sms::info(&rendered),
                text: rendered,
            }
        }
        Content::Zalo {
            template_id,
            params,
        } => Rendered::Zalo {
            template_id: template_id.clone(),
            params: params
                .iter()
                .map(|(k, v)| Ok((k.clone(), render_one(text, k, v, vars)?)))
                .collect::<AppResult<_>>()?,
        },
        Content::Push { title, body, link } => Rendered::Push {
            title: render_one(text, "title", title, vars)?,
            body: render_one(text, "body", body, vars)?,
            link: render_one(text, "link", link, vars)?,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    pub fn sample() -> Variables {
        Variables {
            guardian_name: "Trần Thị Bình".into(),
            students: vec![StudentVars {
                name: "Nguyễn Văn An".into(),
                school: "Trường THCS Nguyễn Du".into(),
                class: "9A".into(),
                hi_status: "chưa có thẻ BHYT".into(),
            }],
            student_names: "Nguyễn Văn An".into(),
            school: "Trường THCS Nguyễn Du".into(),
            province: "Hà Nội".into(),
            deadline: "31/12/2025".into(),
            premium: "884.520 đồng".into(),
            state_support: "30%".into(),
            how_to_pay: "<b>tại trường</b> & qua VssID".into(),
            unsubscribe_url: "https://x.vn/u/abc".into(),
            links: LinkVars::default(),
            session: SessionVars::default(),
        }
    }

    #[test]
    fn text_channels_are_not_escaped_html_is() {
        let vars = sample();
        let r = render(
            &Content::Sms {
                text: "Kính gửi {{guardian_name}}: {{how_to_pay}}".into(),
            },
            &vars,
        )
        .unwrap();
        match r {
            Rendered::Sms { text, info } => {
                assert_eq!(
                    text,
                    "Kính gửi Trần Thị Bình: <b>tại trường</b> & qua VssID"
                );
                assert_eq!(info.length.encoding, super::super::sms::Encoding::Ucs2);
            }
            other => panic!("{other:?}"),
        }
        let r = render(
            &Content::Email {
                subject: "Nhắc {{guardian_name}}\nhạn BHYT".into(),
                html: "<p>{{how_to_pay}}</p>".into(),
                text: "{{how_to_pay}}".into(),
            },
            &vars,
        )
        .unwrap();
        assert_eq!(
            r,
            Rendered::Email {
                subject: "Nhắc Trần Thị Bình hạn BHYT".into(),
                html: "<p>&lt;b&gt;tại trường&lt;/b&gt; &amp; qua VssID</p>".into(),
                text: "<b>tại trường</b> & qua VssID".into(),
            }
        );
    }

    #[test]
    fn diacritics_survive_and_lists_render() {
        let r = render(
            &Content::Push {
                title: "BHYT học sinh".into(),
                body: "{{#each students}}{{name}} – {{hi_status}}{{/each}}".into(),
                link: "{{unsubscribe_url}}".into(),
            },
            &sample(),
        )
        .unwrap();
        assert_eq!(
            r,
            Rendered::Push {
                title: "BHYT học sinh".into(),
                body: "Nguyễn Văn An – chưa có thẻ BHYT".into(),
                link: "https://x.vn/u/abc".into(),
            }
        );
    }
}
