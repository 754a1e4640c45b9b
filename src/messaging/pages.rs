//! Pages for message templates: list, write, edit (a new version each time), preview.
use std::collections::BTreeMap;

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Value};

use super::content::{variable_names, Content};
use super::service::{self, Purpose, TemplateDraft, TemplateFilter};
use crate::contacts::fields::Channel;
use crate::error::{AppError, AppResult, FieldErrors, Msg};
use crate::web::context::RequestCtx;
use crate::web::extract::Query;
use crate::web::render::see_other;
use crate::web::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/templates", web::get().to(list))
        .route("/templates/new", web::get().to(new_form))
        .route("/templates/new", web::post().to(create))
        .route("/templates/{id}", web::get().to(show))
        .route("/templates/{id}", web::post().to(update));
}

fn options() -> Value {
    json!({
        "purposes": Purpose::ALL.iter().map(|p| p.code()).collect::<Vec<_>>(),
        "channels": Channel::ALL.iter().map(|c| c.code()).collect::<Vec<_>>(),
        "variables": variable_names(),
    })
}

async fn list(
    state: web::Data<AppState>,
    ctx: RequestCtx,
    filter: Query<TemplateFilter>,
) -> AppResult<HttpResponse> {
    let items = service::list(&state.db, ctx.actor()?, &filter).await?;
    let mut data = options();
    data["templates"] = json!(items);
    data["filter"] = json!(&*filter);
    state.page(&ctx, "messaging/templates", data)
}

/// The template form as the browser sends it: every channel's fields, of which the chosen
/// channel's are used. Zalo parameters come one per line as `name = {{variable}}`.
#[derive(Debug, Default, Deserialize)]
pub struct TemplateForm {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub purpose: String,
    #[serde(default)]
    pub language: String,
    #[serde(default)]
    pub channel: String,
    #[serde(default)]
    pub subject: String,
    #[serde(default)]
    pub html: String,
    #[serde(default)]
    pub text: String,
    #[serde(default)]
    pub template_id: String,
    #[serde(default)]
    pub params: String,
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub body: String,
    #[serde(default)]
    pub link: String,
}

impl TemplateForm {
    fn draft(&self) -> Result<TemplateDraft, AppError> {
        let channel = Channel::parse(&self.channel).map_err(|m| AppError::invalid("channel", m))?;
        // Browsers send CRLF line ends in text areas; messages keep plain LF.
        let lf = |s: &str| s.replace("\r\n", "\n");
        let content = match channel {
            Channel::Email => Content::Email {
                subject: self.subject.clone(),
                html: lf(&self.html),
                text: lf(&self.text),
            },
            Channel::Sms => Content::Sms {
                text: lf(&self.text),
            },
            Channel::Push => Content::Push {
                title: self.title.clone(),
                body: lf(&self.body),
                link: self.link.clone(),
            },
            Channel::Zalo => {
                let mut params = BTreeMap::new();
                for (i, line) in self
                    .params
                    .lines()
                    .enumerate()
                    .filter(|(_, l)| !l.trim().is_empty())
                {
                    let Some((k, v)) = line.split_once('=') else {
                        return Err(AppError::invalid(
                            "params",
                            Msg::new("error-zalo-param-line").arg("line", i + 1),
                        ));
                    };
                    params.insert(k.trim().to_string(), v.trim().to_string());
                }
                Content::Zalo {
                    template_id: self.template_id.trim().to_string(),
                    params,
                }
            }
        };
        Ok(TemplateDraft {
            name: self.name.clone(),
            purpose: self.purpose.clone(),
            language: self.language.clone(),
            content,
        })
    }

    fn from_content(name: &str, purpose: &str, language: &str, content: &Content) -> Value {
        let mut v = json!({"name": name, "purpose": purpose, "language": language, "channel": content.channel().code()});
        match content {
            Content::Email {
                subject,
                html,
                text,
            } => {
                v["subject"] = json!(subject);
                v["html"] = json!(html);
                v["text"] = json!(text);
            }
            Content::Sms { text } => v["text"] = json!(text),
            Content::Zalo {
                template_id,
                params,
            } => {
                v["template_id"] = json!(template_id);
                v["params"] = json!(params
                    .iter()
                    .map(|(k, p)| format!("{k} = {p}"))
                    .collect::<Vec<_>>()
                    .join("\n"));
            }
            Content::Push { title, body, link } => {
                v["title"] = json!(title);
                v["body"] = json!(body);
                v["link"] = json!(link);
            }
        }
        v
    }

    fn echo(&self) -> Value {
        json!({
            "name": self.name, "purpose": self.purpose, "language": self.language, "channel": self.channel,
            "subject": self.subject, "html": self.html, "text": self.text, "template_id": self.template_id,
            "params": self.params, "title": self.title, "body": self.body, "link": self.link,
        })
    }
}

#[derive(Debug, Deserialize)]
pub struct NewQuery {
    pub channel: Option<String>,
}

async fn new_form(
    state: web::Data<AppState>,
    ctx: RequestCtx,
    q: Query<NewQuery>,
) -> AppResult<HttpResponse> {
    ctx.actor()?.require_map_editor()?;
    let channel = q
        .channel
        .as_deref()
        .and_then(|c| Channel::parse(c).ok())
        .unwrap_or(Channel::Sms);
    let mut data = options();
    data["form"] = json!({"channel": channel.code(), "purpose": "deadline_reminder", "language": ctx.lang.code()});
    state.page(&ctx, "messaging/template_new", data)
}

fn invalid_form(
    state: &AppState,
    ctx: &RequestCtx,
    template: &str,
    mut data: Value,
    form: &TemplateForm,
    errors: &FieldErrors,
) -> AppResult<HttpResponse> {
    data["form"] = form.echo();
    // Errors in one Zalo parameter (`params.name`) show under the parameters box.
    let mut shown = FieldErrors::new();
    for e in &errors.0 {
        let field = if e.field.starts_with("params.") {
            "params".to_string()
        } else {
            e.field.clone()
        };
        shown.add(field, e.msg.clone());
    }
    state.form_errors(ctx, template, data, &shown)
}

async fn create(
    state: web::Data<AppState>,
    ctx: RequestCtx,
    form: web::Form<TemplateForm>,
) -> AppResult<HttpResponse> {
    let actor = ctx.actor()?;
    actor.require_map_editor()?;
    let result = match form.draft() {
        Ok(d) => service::create(&state.db, actor, &d).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(t) => Ok(see_other(&format!(
            "/templates/{}?notice=template-saved",
            t.id
        ))),
        Err(AppError::Invalid(errors)) => invalid_form(
            &state,
            &ctx,
            "messaging/template_new",
            options(),
            &form,
            &errors,
        ),
        Err(e) => Err(e),
    }
}

#[derive(Debug, Deserialize)]
pub struct ShowQuery {
    pub version: Option<i32>,
    /// Preview with this guardian's data instead of the sample.
    pub guardian: Option<i64>,
}

async fn show_data(state: &AppState, ctx: &RequestCtx, id: i64, q: &ShowQuery) -> AppResult<Value> {
    let actor = ctx.actor()?;
    let t = service::get(&state.db, actor, id, q.version).await?;
    let base = state.settings.base();
    let preview = service::preview(
        &state.db,
        actor,
        &state.i18n,
        &base,
        id,
        q.version,
        q.guardian,
    )
    .await;
    let (preview, preview_error) = match preview {
        Ok(p) => (Some(p), None),
        // A guardian outside the actor's scope reads as unknown, like everywhere else.
        Err(AppError::NotFound) if q.guardian.is_some() => {
            (None, Some(state.t(ctx, &Msg::new("error-not-found"))))
        }
        Err(e) => return Err(e),
    };
    let mut data = options();
    data["form"] = TemplateForm::from_content(&t.name, t.purpose.code(), &t.language, &t.content);
    data["template"] = json!(t);
    data["preview"] = json!(preview);
    data["preview_error"] = json!(preview_error);
    data["guardian"] = json!(q.guardian);
    data["can_edit"] = json!(actor.require_map_editor().is_ok());
    Ok(data)
}

async fn show(
    state: web::Data<AppState>,
    ctx: RequestCtx,
    path: web::Path<i64>,
    q: Query<ShowQuery>,
) -> AppResult<HttpResponse> {
    let data = show_data(&state, &ctx, path.into_inner(), &q).await?;
    state.page(&ctx, "messaging/template", data)
}

async fn update(
    state: web::Data<AppState>,
    ctx: RequestCtx,
    path: web::Path<i64>,
    form: web::Form<TemplateForm>,
) -> AppResult<HttpResponse> {
    let actor = ctx.actor()?;
    actor.require_map_editor()?;
    let id = path.into_inner();
    let result = match form.draft() {
        Ok(d) => service::update(&state.db, actor, id, &d).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(t) => Ok(see_other(&format!(
            "/templates/{}?notice=template-saved",
            t.id
        ))),
        Err(AppError::Invalid(errors)) => {
            let data = show_data(
                &state,
                &ctx,
                id,
                &ShowQuery {
                    version: None,
                    guardian: None,
                },
            )
            .await?;
            invalid_form(&state, &ctx, "messaging/template", data, &form, &errors)
        }
        Err(e) => Err(e),
    }
}
