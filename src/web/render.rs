//! Handlebars pages: the registry, its helpers (translations, dates, numbers, asset URLs) and
//! the common context every page gets (language, user, CSRF token, navigation).
use std::sync::Arc;

use actix_web::http::header;
use actix_web::HttpResponse;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use handlebars::{
    BlockContext, Context, Handlebars, Helper, HelperDef, HelperResult, Output, RenderContext,
    RenderError, RenderErrorReason, Renderable, ScopedJson, StringOutput,
};
use serde_json::{json, Map, Value};

use super::assets::{self, Templates};
use super::context::RequestCtx;
use super::i18n::{I18n, Lang};
use crate::auth::actor::Role;
use crate::error::{AppError, AppResult, FieldErrors};

fn lang_of(ctx: &Context) -> Lang {
    ctx.data()
        .get("lang")
        .and_then(Value::as_str)
        .and_then(Lang::parse)
        .unwrap_or_default()
}

fn param_str<'a>(h: &'a Helper, i: usize) -> Option<&'a Value> {
    h.param(i).map(|p| p.value())
}

/// `{{t "key" name=value}}`: the translation of key in the page's language.
struct TranslateHelper(Arc<I18n>);

impl HelperDef for TranslateHelper {
    fn call_inner<'reg: 'rc, 'rc>(
        &self,
        h: &Helper<'rc>,
        _: &'reg Handlebars<'reg>,
        ctx: &'rc Context,
        _: &mut RenderContext<'reg, 'rc>,
    ) -> Result<ScopedJson<'rc>, RenderError> {
        let key = param_str(h, 0)
            .and_then(Value::as_str)
            .ok_or_else(|| RenderErrorReason::ParamNotFoundForIndex("t", 0))?;
        let args: Vec<(&str, String)> = h
            .hash()
            .iter()
            .map(|(k, v)| {
                let s = match v.value() {
                    Value::String(s) => s.clone(),
                    Value::Null => String::new(),
                    other => other.to_string(),
                };
                (*k, s)
            })
            .collect();
        // The value is escaped where it is written out, like any other value.
        Ok(ScopedJson::Derived(Value::String(self.0.text(
            lang_of(ctx),
            key,
            &args,
        ))))
    }
}

/// `{{date value}}` / `{{datetime value}}`: an RFC 3339 time as dd/mm/yyyy [HH:MM] in the
/// configured zone; empty for null.
struct DateHelper {
    tz: Tz,
    with_time: bool,
}

impl HelperDef for DateHelper {
    fn call_inner<'reg: 'rc, 'rc>(
        &self,
        h: &Helper<'rc>,
        _: &'reg Handlebars<'reg>,
        _: &'rc Context,
        _: &mut RenderContext<'reg, 'rc>,
    ) -> Result<ScopedJson<'rc>, RenderError> {
        let Some(raw) = param_str(h, 0).and_then(Value::as_str) else {
            return Ok(ScopedJson::Derived(Value::String(String::new())));
        };
        let at: DateTime<Utc> = raw.parse().map_err(|_| {
            RenderError::from(RenderErrorReason::Other(format!("not a date: {raw}")))
        })?;
        let text = if self.with_time {
            super::format::datetime(at, self.tz)
        } else {
            super::format::date(at, self.tz)
        };
        Ok(ScopedJson::Derived(Value::String(text)))
    }
}

/// `{{num value}}`: a whole number with thousands grouped for the page's language.
struct NumHelper;

impl HelperDef for NumHelper {
    fn call_inner<'reg: 'rc, 'rc>(
        &self,
        h: &Helper<'rc>,
        _: &'reg Handlebars<'reg>,
        ctx: &'rc Context,
        _: &mut RenderContext<'reg, 'rc>,
    ) -> Result<ScopedJson<'rc>, RenderError> {
        let text = param_str(h, 0)
            .and_then(Value::as_i64)
            .map(|n| super::format::number(n, lang_of(ctx)))
            .unwrap_or_default();
        Ok(ScopedJson::Derived(Value::String(text)))
    }
}

handlebars::handlebars_helper!(day_helper: |raw: Json| match raw.as_str().and_then(|s| chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()) {
    Some(d) => d.format("%d/%m/%Y").to_string(),
    None => String::new(),
});
handlebars::handlebars_helper!(add_helper: |a: i64, b: i64| a + b);
// A percentage or percentage points with one decimal.
handlebars::handlebars_helper!(pct_helper: |x: f64| format!("{x:.1}"));
// A p-value: three decimals, "< 0.001" below that.
handlebars::handlebars_helper!(pvalue_helper: |x: f64| if x < 0.001 { "< 0.001".to_string() } else { format!("{x:.3}") });
handlebars::handlebars_helper!(sub_helper: |a: i64, b: i64| a - b);
// The pager's context, `{"page": {page, pages, total_exact}}`, from a list page: handing the pager
// partial the list itself as a named value would copy the page's data into its context.
handlebars::handlebars_helper!(paging_helper: |list: Json| serde_json::json!({"page": {
    "page": list.get("page"), "pages": list.get("pages"), "total_exact": list.get("total_exact"),
}}));
handlebars::handlebars_helper!(asset_helper: |path: str| assets::url(path));
handlebars::handlebars_helper!(concat_helper: |*args| args.iter().map(|v| match v {
    Value::String(s) => s.clone(),
    Value::Null => String::new(),
    other => other.to_string(),
}).collect::<String>());

/// `{{#layout}}…{{/layout}}`: the page inside the site's frame (`layouts/base`). The page is
/// rendered first, as it is, then the frame around it, given the page as `@body` and the page's
/// `title` inline partial, rendered, as `@title`.
///
/// The frame as a partial block (`{{#> layouts/base}}`) cost a copy of the page's data: a
/// partial gets its own copy of its context, and every value the page looked up inside it was
/// copied again (handlebars hands out copies of values under a partial's context, references
/// only under the render's own).
struct LayoutHelper;

impl HelperDef for LayoutHelper {
    fn call<'reg: 'rc, 'rc>(
        &self,
        h: &Helper<'rc>,
        r: &'reg Handlebars<'reg>,
        ctx: &'rc Context,
        rc: &mut RenderContext<'reg, 'rc>,
        out: &mut dyn Output,
    ) -> HelperResult {
        let mut body = StringOutput::new();
        if let Some(page) = h.template() {
            page.render(r, ctx, rc, &mut body)?;
        }
        // The page's `{{#*inline "title"}}` is now known to the render.
        let title = match rc.get_partial("title") {
            Some(t) => {
                let mut title = StringOutput::new();
                t.render(r, ctx, rc, &mut title)?;
                Value::String(title.into_string()?)
            }
            None => Value::Null,
        };
        let frame = r
            .get_template("layouts/base")
            .ok_or_else(|| RenderErrorReason::TemplateNotFound("layouts/base".into()))?;
        let mut block = BlockContext::new();
        block.set_local_var("body", Value::String(body.into_string()?));
        block.set_local_var("title", title);
        rc.push_block(block);
        let framed = frame.render(r, ctx, rc, out);
        rc.pop_block();
        framed
    }
}

/// `{{query base key=value …}}`: a URL with the query parameters that are not empty, for
/// pagination links that keep the filters.
struct QueryHelper;

impl HelperDef for QueryHelper {
    fn call_inner<'reg: 'rc, 'rc>(
        &self,
        h: &Helper<'rc>,
        _: &'reg Handlebars<'reg>,
        _: &'rc Context,
        _: &mut RenderContext<'reg, 'rc>,
    ) -> Result<ScopedJson<'rc>, RenderError> {
        let base = param_str(h, 0).and_then(Value::as_str).unwrap_or("");
        let mut ser = url::form_urlencoded::Serializer::new(String::new());
        let mut pairs: Vec<_> = h.hash().iter().collect();
        pairs.sort_by_key(|(k, _)| **k);
        for (k, v) in pairs {
            let s = match v.value() {
                Value::String(s) => s.clone(),
                Value::Null => continue,
                other => other.to_string(),
            };
            if !s.is_empty() {
                ser.append_pair(k, &s);
            }
        }
        let q = ser.finish();
        let url = if q.is_empty() {
            base.to_string()
        } else {
            format!("{base}?{q}")
        };
        Ok(ScopedJson::Derived(Value::String(url)))
    }
}

/// Builds the registry: every template under `templates/` compiled at start-up, so a broken
/// template stops the server from starting rather than failing a page later.
pub fn registry(i18n: Arc<I18n>, tz: Tz) -> anyhow::Result<Handlebars<'static>> {
    let mut hbs = Handlebars::new();
    hbs.set_strict_mode(false);
    for name in Templates::iter() {
        let file =
            Templates::get(&name).ok_or_else(|| anyhow::anyhow!("template {name} vanished"))?;
        let source = std::str::from_utf8(&file.data)?;
        let id = name.trim_end_matches(".hbs");
        hbs.register_template_string(id, source)
            .map_err(|e| anyhow::anyhow!("template {name}: {e}"))?;
    }
    hbs.register_helper("t", Box::new(TranslateHelper(i18n)));
    hbs.register_helper(
        "date",
        Box::new(DateHelper {
            tz,
            with_time: false,
        }),
    );
    hbs.register_helper(
        "datetime",
        Box::new(DateHelper {
            tz,
            with_time: true,
        }),
    );
    hbs.register_helper("num", Box::new(NumHelper));
    hbs.register_helper("day", Box::new(day_helper));
    hbs.register_helper("asset", Box::new(asset_helper));
    hbs.register_helper("concat", Box::new(concat_helper));
    hbs.register_helper("add", Box::new(add_helper));
    hbs.register_helper("pct", Box::new(pct_helper));
    hbs.register_helper("pvalue", Box::new(pvalue_helper));
    hbs.register_helper("sub", Box::new(sub_helper));
    hbs.register_helper("paging", Box::new(paging_helper));
    hbs.register_helper("query", Box::new(QueryHelper));
    hbs.register_helper("layout", Box::new(LayoutHelper));
    Ok(hbs)
}

/// Field errors translated, keyed by field name, for `errors.<field>` in templates.
pub fn field_errors(i18n: &I18n, lang: Lang, errors: &FieldErrors) -> Value {
    let mut map = Map::new();
    for e in &errors.0 {
        map.entry(e.field.clone())
            .or_insert_with(|| Value::String(i18n.msg(lang, &e.msg)));
    }
    Value::Object(map)
}

/// `?notice=user-saved` after a redirect names a confirmation message (`notice-user-saved`).
fn notice_key(path_and_query: &str) -> Option<String> {
    let (_, query) = path_and_query.split_once('?')?;
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "notice")
        .map(|(_, v)| v.into_owned())
        .filter(|v| {
            !v.is_empty() && v.len() <= 40 && v.chars().all(|c| c.is_ascii_lowercase() || c == '-')
        })
        .map(|v| format!("notice-{v}"))
}

/// The context every page shares, merged under the page's own data.
pub fn base_context(ctx: &RequestCtx) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("lang".into(), json!(ctx.lang.code()));
    m.insert(
        "other_lang".into(),
        json!(match ctx.lang {
            Lang::Vi => "en",
            Lang::En => "vi",
        }),
    );
    m.insert("csrf".into(), json!(ctx.csrf_token));
    m.insert("path".into(), json!(ctx.path_and_query));
    if let Some(notice) = notice_key(&ctx.path_and_query) {
        m.insert("notice_key".into(), json!(notice));
    }
    if let Some(a) = &ctx.actor {
        m.insert(
            "me".into(),
            json!({
                "id": a.user_id,
                "name": a.display_name,
                "role": a.role.as_str(),
                "is_admin": a.role == Role::Admin,
                "is_staff": a.role == Role::Staff,
                "is_liaison": a.role == Role::Liaison,
                "can_edit_map": a.role != Role::Liaison,
            }),
        );
    }
    m
}

pub fn render(
    hbs: &Handlebars<'static>,
    ctx: &RequestCtx,
    template: &str,
    data: Value,
) -> AppResult<String> {
    let mut context = base_context(ctx);
    if let Value::Object(page) = data {
        context.extend(page);
    }
    // Handed over as a Context: `render` would first copy the whole page's data into one.
    hbs.render_with_context(template, &handlebars::Context::from(Value::Object(context)))
        .map_err(|e| AppError::Internal(anyhow::anyhow!("rendering {template}: {e}")))
}

pub fn html(body: String) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/html; charset=utf-8"))
        .body(body)
}

/// A 303 redirect after a successful form post.
pub fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location.to_string()))
        .finish()
}
