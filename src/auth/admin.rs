//! Admin pages: create, edit, deactivate users, assign scope, reset passwords, see tokens.
use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Value};

use super::actor::Role;
use super::tokens;
use super::users::{self, UserDraft, UserFilter, UserView};
use crate::error::{AppError, AppResult, FieldErrors};
use crate::fields::NewPassword;
use crate::org;
use crate::web::context::RequestCtx;
use crate::web::extract::Query;
use crate::web::paging::{PageParams, PageQuery};
use crate::web::render::see_other;
use crate::web::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/admin/users", web::get().to(list))
        .route("/admin/users/new", web::get().to(new_form))
        .route("/admin/users/new", web::post().to(create))
        .route("/admin/users/{id}", web::get().to(edit_form))
        .route("/admin/users/{id}", web::post().to(update))
        .route("/admin/users/{id}/password", web::post().to(reset_password))
        .route(
            "/admin/users/{id}/sessions/end",
            web::post().to(end_sessions),
        );
}

/// The user form as the browser sends it.
#[derive(Debug, Default, Deserialize)]
pub struct UserForm {
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub display_name: String,
    #[serde(default)]
    pub role: String,
    #[serde(default)]
    pub province_code: String,
    /// School codes separated by spaces, commas or new lines.
    #[serde(default)]
    pub school_codes: String,
    #[serde(default)]
    pub language: String,
    pub active: Option<String>,
    #[serde(default)]
    pub password: String,
}

impl UserForm {
    fn draft(&self) -> UserDraft {
        UserDraft {
            email: self.email.clone(),
            display_name: self.display_name.clone(),
            role: self.role.clone(),
            province_code: Some(self.province_code.clone()),
            school_codes: self
                .school_codes
                .split(|c: char| c.is_whitespace() || c == ',' || c == ';')
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect(),
            language: Some(self.language.clone()),
            active: self.active.is_some(),
        }
    }

    fn echo(&self) -> Value {
        json!({
            "email": self.email,
            "display_name": self.display_name,
            "role": self.role,
            "province_code": self.province_code,
            "school_codes": self.school_codes,
            "language": self.language,
            "active": self.active.is_some(),
        })
    }

    fn from_view(u: &UserView) -> Value {
        json!({
            "email": u.email,
            "display_name": u.display_name,
            "role": u.role.as_str(),
            "province_code": u.province.as_ref().map(|p| p.code.clone()).unwrap_or_default(),
            "school_codes": u.schools.iter().map(|s| s.code.clone()).collect::<Vec<_>>().join("\n"),
            "language": u.language,
            "active": u.active,
        })
    }
}

async fn form_options(state: &AppState) -> AppResult<Value> {
    let provinces = org::service::all_provinces(&state.db).await?;
    Ok(json!({
        "roles": Role::ALL.iter().map(|r| r.as_str()).collect::<Vec<_>>(),
        "provinces": provinces,
    }))
}

async fn list(
    state: web::Data<AppState>,
    ctx: RequestCtx,
    filter: Query<UserFilter>,
    paging: Query<PageQuery>,
) -> AppResult<HttpResponse> {
    let actor = ctx.actor()?;
    actor.require_admin()?;
    let page = users::list(&state.db, actor, &filter, PageParams::try_from(&*paging)?).await?;
    state.page(
        &ctx,
        "admin/users",
        json!({"users": page, "filter": &*filter}),
    )
}

async fn new_form(state: web::Data<AppState>, ctx: RequestCtx) -> AppResult<HttpResponse> {
    ctx.actor()?.require_admin()?;
    let mut data = form_options(&state).await?;
    data["form"] = json!({"role": "liaison", "language": "vi", "active": true});
    state.page(&ctx, "admin/user_new", data)
}

async fn create(
    state: web::Data<AppState>,
    ctx: RequestCtx,
    form: web::Form<UserForm>,
) -> AppResult<HttpResponse> {
    let actor = ctx.actor()?;
    actor.require_admin()?;
    let result = async {
        let mut errors = FieldErrors::new();
        let password = errors.take("password", NewPassword::parse(&form.password));
        let input = match users::validate(&state.db.conn, &form.draft()).await {
            Ok(input) => Some(input),
            Err(AppError::Invalid(e)) => {
                errors.0.extend(e.0);
                None
            }
            Err(e) => return Err(e),
        };
        errors.into_result()?;
        users::create(
            &state.db,
            actor,
            input.expect("checked"),
            password.expect("checked"),
        )
        .await
    }
    .await;
    match result {
        Ok(user) => Ok(see_other(&format!(
            "/admin/users/{}?notice=user-created",
            user.id
        ))),
        Err(AppError::Invalid(errors)) => {
            let mut data = form_options(&state).await?;
            data["form"] = form.echo();
            state.form_errors(&ctx, "admin/user_new", data, &errors)
        }
        Err(e) => Err(e),
    }
}

async fn edit_data(
    state: &AppState,
    ctx: &RequestCtx,
    id: i64,
    form: Option<Value>,
) -> AppResult<Value> {
    let actor = ctx.actor()?;
    let user = users::get(&state.db, actor, id).await?;
    let mut data = form_options(state).await?;
    data["form"] = form.unwrap_or_else(|| UserForm::from_view(&user));
    data["tokens"] = json!(tokens::list_for_user(&state.db, actor, id).await?);
    data["sessions"] = json!(users::live_sessions(&state.db, actor, id).await?);
    data["user"] = json!(user);
    data["is_self"] = json!(actor.user_id == Some(id));
    Ok(data)
}

async fn edit_form(
    state: web::Data<AppState>,
    ctx: RequestCtx,
    path: web::Path<i64>,
) -> AppResult<HttpResponse> {
    ctx.actor()?.require_admin()?;
    let data = edit_data(&state, &ctx, path.into_inner(), None).await?;
    state.page(&ctx, "admin/user_edit", data)
}

async fn update(
    state: web::Data<AppState>,
    ctx: RequestCtx,
    path: web::Path<i64>,
    form: web::Form<UserForm>,
) -> AppResult<HttpResponse> {
    let actor = ctx.actor()?;
    actor.require_admin()?;
    let id = path.into_inner();
    let result = async {
        let input = users::validate(&state.db.conn, &form.draft()).await?;
        users::update(&state.db, actor, id, input).await
    }
    .await;
    match result {
        Ok(_) => Ok(see_other(&format!("/admin/users/{id}?notice=user-saved"))),
        Err(AppError::Invalid(errors)) => {
            let data = edit_data(&state, &ctx, id, Some(form.echo())).await?;
            state.form_errors(&ctx, "admin/user_edit", data, &errors)
        }
        Err(e) => Err(e),
    }
}

#[derive(Debug, Deserialize)]
pub struct ResetForm {
    #[serde(default)]
    pub password: String,
}

async fn reset_password(
    state: web::Data<AppState>,
    ctx: RequestCtx,
    path: web::Path<i64>,
    form: web::Form<ResetForm>,
) -> AppResult<HttpResponse> {
    let actor = ctx.actor()?;
    actor.require_admin()?;
    let id = path.into_inner();
    match NewPassword::parse(&form.password) {
        Ok(p) => {
            users::reset_password(&state.db, actor, id, p).await?;
            Ok(see_other(&format!(
                "/admin/users/{id}?notice=password-reset"
            )))
        }
        Err(msg) => {
            let data = edit_data(&state, &ctx, id, None).await?;
            state.form_errors(
                &ctx,
                "admin/user_edit",
                data,
                &FieldErrors::single("password", msg),
            )
        }
    }
}

async fn end_sessions(
    state: web::Data<AppState>,
    ctx: RequestCtx,
    path: web::Path<i64>,
) -> AppResult<HttpResponse> {
    let actor = ctx.actor()?;
    let id = path.into_inner();
    users::end_sessions(&state.db, actor, id).await?;
    Ok(see_other(&format!(
        "/admin/users/{id}?notice=sessions-ended"
    )))
}
