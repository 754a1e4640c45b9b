//! Pages of the organisation map: home overview, provinces, schools, school import.
use actix_multipart::Multipart;
use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Value};

use super::import;
use super::level::SchoolLevel;
use super::service::{self, SchoolDraft, SchoolFilter, SchoolView};
use crate::error::{AppError, AppResult, FieldErrors};
use crate::fields::int_in;
use crate::imports;
use crate::web::context::RequestCtx;
use crate::web::extract::Query;
use crate::web::paging::{PageParams, PageQuery};
use crate::web::render::see_other;
use crate::web::state::AppState;
use crate::web::upload::read_file_field;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/provinces", web::get().to(provinces))
        .route("/provinces/{code}", web::get().to(province))
        .route("/schools", web::get().to(schools))
        .route("/schools/new", web::get().to(new_form))
        .route("/schools/new", web::post().to(create))
        .route("/schools/import", web::get().to(import_form))
        .route("/schools/import", web::post().to(import_upload))
        .route("/schools/import/{id}/commit", web::post().to(import_commit))
        .route("/schools/{id}", web::get().to(school))
        .route("/schools/{id}/edit", web::get().to(edit_form))
        .route("/schools/{id}/edit", web::post().to(update));
}

fn levels() -> Vec<&'static str> {
    SchoolLevel::ALL.iter().map(|l| l.code()).collect()
}

pub async fn home(state: web::Data<AppState>, ctx: RequestCtx) -> AppResult<HttpResponse> {
    let actor = ctx.actor()?;
    // Computed in the background too: not on the connection this request holds.
    let (db, owner) = (state.db.pooled(), actor.clone());
    let overview = state
        .overview
        .get_or(&state.db, format!("{:?}", actor.scope()), move || {
            let (db, actor) = (db.clone(), owner.clone());
            async move { service::overview(&db, &actor).await }
        })
        .await?;
    let by_level: Vec<Value> = overview
        .by_level
        .iter()
        .map(|(level, n)| json!({"level": level, "schools": n}))
        .collect();
    state.page(
        &ctx,
        "home",
        json!({"overview": overview, "by_level": by_level}),
    )
}

async fn provinces(state: web::Data<AppState>, ctx: RequestCtx) -> AppResult<HttpResponse> {
    let list = service::list_provinces(&state.db, ctx.actor()?).await?;
    state.page(&ctx, "org/provinces", json!({"provinces": list}))
}

async fn province(
    state: web::Data<AppState>,
    ctx: RequestCtx,
    path: web::Path<String>,
) -> AppResult<HttpResponse> {
    let actor = ctx.actor()?;
    let code = path.into_inner();
    let p = service::get_province(&state.db, actor, &code).await?;
    let communes = service::list_communes(&state.db, actor, &code).await?;
    state.page(
        &ctx,
        "org/province",
        json!({"province": p, "communes": communes}),
    )
}

async fn schools(
    state: web::Data<AppState>,
    ctx: RequestCtx,
    filter: Query<SchoolFilter>,
    paging: Query<PageQuery>,
) -> AppResult<HttpResponse> {
    let actor = ctx.actor()?;
    let page =
        service::list_schools(&state.db, actor, &filter, PageParams::try_from(&*paging)?).await?;
    // The filter's choices only: counting each province's schools here read every school.
    let provinces = service::provinces_in_scope(&state.db, actor).await?;
    state.page(
        &ctx,
        "org/schools",
        json!({"schools": page, "filter": &*filter, "provinces": provinces, "levels": levels()}),
    )
}

async fn school(
    state: web::Data<AppState>,
    ctx: RequestCtx,
    path: web::Path<i64>,
) -> AppResult<HttpResponse> {
    let actor = ctx.actor()?;
    let s = service::get_school(&state.db, actor, path.into_inner()).await?;
    let deadlines = crate::reminders::rules::deadlines_of_school(&state.db.conn, s.id).await?;
    state.page(
        &ctx,
        "org/school",
        json!({
            "school": s, "deadlines": deadlines,
            "can_plan": crate::campaigns::service::require_planner(actor).is_ok(),
        }),
    )
}

/// The school form as the browser sends it.
#[derive(Debug, Default, Deserialize)]
pub struct SchoolForm {
    #[serde(default)]
    pub code: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub level: String,
    #[serde(default)]
    pub province_code: String,
    #[serde(default)]
    pub commune_code: String,
    #[serde(default)]
    pub enrolled_students: String,
    #[serde(default)]
    pub address: String,
}

impl SchoolForm {
    /// The draft, or the number error when the enrolment is not a number.
    fn draft(&self) -> (SchoolDraft, FieldErrors) {
        let mut errors = FieldErrors::new();
        let enrolled = if self.enrolled_students.trim().is_empty() {
            Some(0)
        } else {
            errors.take(
                "enrolled_students",
                int_in(&self.enrolled_students, 0, service::MAX_ENROLLED),
            )
        };
        let draft = SchoolDraft {
            code: self.code.clone(),
            name: self.name.clone(),
            level: self.level.clone(),
            province_code: self.province_code.clone(),
            commune_code: Some(self.commune_code.clone()),
            enrolled_students: Some(enrolled.unwrap_or(0)),
            address: Some(self.address.clone()),
        };
        (draft, errors)
    }

    fn from_view(s: &SchoolView) -> Value {
        json!({
            "code": s.code, "name": s.name, "level": s.level.code(),
            "province_code": s.province.code,
            "commune_code": s.commune.as_ref().map(|c| c.code.clone()).unwrap_or_default(),
            "enrolled_students": s.enrolled_students.to_string(),
            "address": s.address.clone().unwrap_or_default(),
        })
    }

    fn echo(&self) -> Value {
        json!({
            "code": self.code, "name": self.name, "level": self.level,
            "province_code": self.province_code, "commune_code": self.commune_code,
            "enrolled_students": self.enrolled_students, "address": self.address,
        })
    }
}

async fn form_data(state: &AppState, ctx: &RequestCtx, form: Value) -> AppResult<Value> {
    let provinces = service::provinces_in_scope(&state.db, ctx.actor()?).await?;
    Ok(json!({"form": form, "provinces": provinces, "levels": levels()}))
}

/// Runs a save; on invalid input renders the form again with the errors beside the fields.
async fn save(
    state: &AppState,
    ctx: &RequestCtx,
    form: &SchoolForm,
    template: &str,
    extra: Value,
    id: Option<i64>,
) -> AppResult<HttpResponse> {
    let actor = ctx.actor()?;
    let (draft, mut errors) = form.draft();
    let result = if errors.is_empty() {
        match id {
            Some(id) => service::update_school(&state.db, actor, id, &draft).await,
            None => service::create_school(&state.db, actor, &draft).await,
        }
    } else {
        // Report the other fields too, not only the number.
        let _ = draft.fields(&mut errors);
        Err(AppError::Invalid(errors))
    };
    match result {
        Ok(s) => {
            let notice = if id.is_some() {
                "school-saved"
            } else {
                "school-created"
            };
            Ok(see_other(&format!("/schools/{}?notice={notice}", s.id)))
        }
        Err(AppError::Invalid(errors)) => {
            let mut data = form_data(state, ctx, form.echo()).await?;
            if let (Value::Object(d), Value::Object(e)) = (&mut data, extra) {
                d.extend(e);
            }
            state.form_errors(ctx, template, data, &errors)
        }
        Err(e) => Err(e),
    }
}

async fn new_form(state: web::Data<AppState>, ctx: RequestCtx) -> AppResult<HttpResponse> {
    let actor = ctx.actor()?;
    actor.require_map_editor()?;
    let mut form = json!({"level": "primary", "enrolled_students": "0"});
    if let Some(code) = service::own_province_code(&state.db, actor).await? {
        form["province_code"] = json!(code);
    }
    let data = form_data(&state, &ctx, form).await?;
    state.page(&ctx, "org/school_new", data)
}

async fn create(
    state: web::Data<AppState>,
    ctx: RequestCtx,
    form: web::Form<SchoolForm>,
) -> AppResult<HttpResponse> {
    ctx.actor()?.require_map_editor()?;
    save(&state, &ctx, &form, "org/school_new", json!({}), None).await
}

async fn edit_form(
    state: web::Data<AppState>,
    ctx: RequestCtx,
    path: web::Path<i64>,
) -> AppResult<HttpResponse> {
    let actor = ctx.actor()?;
    let s = service::get_school(&state.db, actor, path.into_inner()).await?;
    actor.require_map_editor()?;
    let mut data = form_data(&state, &ctx, SchoolForm::from_view(&s)).await?;
    data["school"] = json!(s);
    state.page(&ctx, "org/school_edit", data)
}

async fn update(
    state: web::Data<AppState>,
    ctx: RequestCtx,
    path: web::Path<i64>,
    form: web::Form<SchoolForm>,
) -> AppResult<HttpResponse> {
    let actor = ctx.actor()?;
    let id = path.into_inner();
    let s = service::get_school(&state.db, actor, id).await?;
    actor.require_map_editor()?;
    save(
        &state,
        &ctx,
        &form,
        "org/school_edit",
        json!({"school": s}),
        Some(id),
    )
    .await
}

async fn import_form(state: web::Data<AppState>, ctx: RequestCtx) -> AppResult<HttpResponse> {
    ctx.actor()?.require_map_editor()?;
    state.page(&ctx, "org/import", json!({}))
}

async fn import_upload(
    state: web::Data<AppState>,
    ctx: RequestCtx,
    payload: Multipart,
) -> AppResult<HttpResponse> {
    let actor = ctx.actor()?;
    actor.require_map_editor()?;
    let upload = read_file_field(payload, "file", state.settings.max_upload_bytes).await?;
    let report = import::dry_run(&state.db, actor, &upload.content).await?;
    let pending = if report.errors.is_empty() {
        let stored = imports::store_pending(
            &state.db,
            actor,
            import::KIND,
            &upload.filename,
            upload.content,
            report.counts(0),
        )
        .await?;
        Some(stored.id)
    } else {
        None
    };
    let status = if pending.is_some() {
        "pending"
    } else {
        "rejected"
    };
    let view = report.view(&state.i18n, ctx.lang, status, pending);
    state.page(
        &ctx,
        "org/import",
        json!({"report": view, "filename": upload.filename}),
    )
}

async fn import_commit(
    state: web::Data<AppState>,
    ctx: RequestCtx,
    path: web::Path<i64>,
) -> AppResult<HttpResponse> {
    let actor = ctx.actor()?;
    actor.require_map_editor()?;
    let id = path.into_inner();
    let pending = imports::load_pending(&state.db.conn, actor, import::KIND, id).await?;
    let content = pending.content.clone().unwrap_or_default();
    let (report, committed) =
        import::commit(&state.db, actor, &pending.filename, content, Some(id)).await?;
    match committed {
        Some(_) => Ok(see_other(&format!(
            "/schools?notice=import-committed&imported={}",
            report.to_create + report.to_update
        ))),
        // The map changed since the dry run and some rows no longer fit.
        None => {
            let view = report.view(&state.i18n, ctx.lang, "rejected", None);
            state.page(
                &ctx,
                "org/import",
                json!({"report": view, "filename": pending.filename}),
            )
        }
    }
}
