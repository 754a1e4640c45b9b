//! What a template says, per channel, and the checks made when it is saved: the handlebars
//! must compile, every variable must be one of the declared set (in the right scope), and only
//! the plain helpers are allowed. Problems name the field and the line.
use std::collections::BTreeMap;

use handlebars::template::{HelperTemplate, Parameter, Template, TemplateElement};
use handlebars::Path;
use serde::{Deserialize, Serialize};

use crate::contacts::fields::Channel;
use crate::error::{FieldErrors, Msg};

/// A template's content. Which fields exist depends on the channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "channel", rename_all = "snake_case")]
pub enum Content {
    Email {
        subject: String,
        html: String,
        text: String,
    },
    Sms {
        text: String,
    },
    /// A Zalo Notification Service template is designed and approved on Zalo's side; we send
    /// its id and fill its parameters from our variables.
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

impl Content {
    pub fn channel(&self) -> Channel {
        match self {
            Content::Email { .. } => Channel::Email,
            Content::Sms { .. } => Channel::Sms,
            Content::Zalo { .. } => Channel::Zalo,
            Content::Push { .. } => Channel::Push,
        }
    }

    /// The templated fields: (field name, source, whether the output is HTML).
    pub fn parts(&self) -> Vec<(String, &str, bool)> {
        match self {
            Content::Email {
                subject,
                html,
                text,
            } => vec![
                ("subject".into(), subject.as_str(), false),
                ("html".into(), html.as_str(), true),
                ("text".into(), text.as_str(), false),
            ],
            Content::Sms { text } => vec![("text".into(), text.as_str(), false)],
            Content::Zalo { params, .. } => params
                .iter()
                .map(|(k, v)| (format!("params.{k}"), v.as_str(), false))
                .collect(),
            Content::Push { title, body, link } => vec![
                ("title".into(), title.as_str(), false),
                ("body".into(), body.as_str(), false),
                ("link".into(), link.as_str(), false),
            ],
        }
    }
}

/// The shape of the variables a template may use.
#[derive(Debug, Clone)]
enum Shape {
    Value,
    Object(Vec<(&'static str, Shape)>),
    List(Box<Shape>),
}

impl Shape {
    fn field(&self, name: &str) -> Option<&Shape> {
        match self {
            Shape::Object(fields) => fields.iter().find(|(n, _)| *n == name).map(|(_, s)| s),
            _ => None,
        }
    }
}

/// The declared variables. Keep in step with `render::Variables`.
fn variables() -> Shape {
    let v = || Shape::Value;
    Shape::Object(vec![
        ("guardian_name", v()),
        (
            "students",
            Shape::List(Box::new(Shape::Object(vec![
                ("name", v()),
                ("school", v()),
                ("class", v()),
                ("hi_status", v()),
            ]))),
        ),
        ("student_names", v()),
        ("school", v()),
        ("province", v()),
        ("deadline", v()),
        ("premium", v()),
        ("state_support", v()),
        ("how_to_pay", v()),
        ("unsubscribe_url", v()),
        ("links", Shape::Object(vec![("pay", v()), ("info", v())])),
        (
            "session",
            Shape::Object(vec![
                ("date", v()),
                ("time", v()),
                ("location", v()),
                ("school", v()),
            ]),
        ),
    ])
}

/// The names templates may use, for the editor's help text.
pub fn variable_names() -> Vec<&'static str> {
    vec![
        "guardian_name",
        "students (each: name, school, class, hi_status)",
        "student_names",
        "school",
        "province",
        "deadline",
        "premium",
        "state_support",
        "how_to_pay",
        "unsubscribe_url",
        "links.pay",
        "links.info",
        "session.date",
        "session.time",
        "session.location",
        "session.school",
    ]
}

const BLOCK_HELPERS: &[&str] = &["if", "unless", "each", "with"];
const HELPERS: &[&str] = &["eq", "ne", "gt", "lt", "and", "or", "not", "len"];

struct Checker<'a> {
    field: &'a str,
    errors: &'a mut FieldErrors,
}

impl Checker<'_> {
    fn fail(&mut self, line: usize, msg: Msg) {
        self.errors.add(self.field, msg.arg("line", line));
    }

    /// Resolves a path against the scope stack (innermost last). `in_each` says whether
    /// `@index` and friends exist here.
    fn path(&mut self, path: &Path, scopes: &[Shape], in_each: bool, line: usize) -> Option<Shape> {
        match path {
            Path::Local((_, name, raw)) => {
                let known = matches!(name.as_str(), "index" | "first" | "last" | "key");
                if !(known && in_each) {
                    self.fail(line, Msg::new("error-template-unknown").arg("name", raw));
                }
                Some(Shape::Value)
            }
            Path::Relative((_, raw)) => {
                let mut rest = raw.as_str();
                let mut depth = scopes.len() - 1;
                if let Some(r) = rest
                    .strip_prefix("@root")
                    .map(|r| r.trim_start_matches(['.', '/']))
                {
                    depth = 0;
                    rest = r;
                }
                while let Some(r) = rest.strip_prefix("../") {
                    if depth == 0 {
                        self.fail(line, Msg::new("error-template-unknown").arg("name", raw));
                        return None;
                    }
                    depth -= 1;
                    rest = r;
                }
                for prefix in ["this.", "this/", "./"] {
                    if let Some(r) = rest.strip_prefix(prefix) {
                        rest = r;
                    }
                }
                let mut shape = scopes[depth].clone();
                if rest.is_empty() || rest == "this" {
                    return Some(shape);
                }
                for seg in rest.split(['.', '/']) {
                    let seg = seg.trim_start_matches('[').trim_end_matches(']');
                    let next = match &shape {
                        Shape::List(inner) if seg.parse::<usize>().is_ok() => {
                            Some((**inner).clone())
                        }
                        other => other.field(seg).cloned(),
                    };
                    match next {
                        Some(s) => shape = s,
                        None => {
                            let msg = if depth > 0 && variables().field(rest).is_some() {
                                Msg::new("error-template-outer").arg("name", raw)
                            } else {
                                Msg::new("error-template-unknown").arg("name", raw)
                            };
                            self.fail(line, msg);
                            return None;
                        }
                    }
                }
                Some(shape)
            }
        }
    }

    fn param(
        &mut self,
        p: &Parameter,
        scopes: &[Shape],
        in_each: bool,
        line: usize,
    ) -> Option<Shape> {
        match p {
            Parameter::Path(path) => self.path(path, scopes, in_each, line),
            Parameter::Name(name) => self.path(
                &Path::Relative((vec![], name.clone())),
                scopes,
                in_each,
                line,
            ),
            Parameter::Literal(_) => Some(Shape::Value),
            Parameter::Subexpression(sub) => {
                match sub.element.as_ref() {
                    TemplateElement::Expression(h) | TemplateElement::HtmlExpression(h) => {
                        self.call(h, scopes, in_each, line);
                    }
                    _ => self.fail(line, Msg::new("error-template-construct")),
                }
                Some(Shape::Value)
            }
            _ => {
                self.fail(line, Msg::new("error-template-construct"));
                None
            }
        }
    }

    /// A helper call `{{helper a b}}` or `(helper a b)`.
    fn call(&mut self, h: &HelperTemplate, scopes: &[Shape], in_each: bool, line: usize) {
        let name = match &h.name {
            Parameter::Name(n) => n.clone(),
            Parameter::Path(Path::Relative((_, raw))) => raw.clone(),
            _ => String::new(),
        };
        if !HELPERS.contains(&name.as_str()) {
            self.fail(line, Msg::new("error-template-helper").arg("name", name));
            return;
        }
        for p in h.params.iter().chain(h.hash.values()) {
            self.param(p, scopes, in_each, line);
        }
    }

    fn template(&mut self, t: &Template, scopes: &mut Vec<Shape>, in_each: bool) {
        for (i, element) in t.elements.iter().enumerate() {
            let line = t.mapping.get(i).map(|m| m.0).unwrap_or(0);
            match element {
                TemplateElement::RawString(_) | TemplateElement::Comment(_) => {}
                TemplateElement::Expression(h) | TemplateElement::HtmlExpression(h) => {
                    if h.params.is_empty() && h.hash.is_empty() {
                        // A list or group printed as is would reach the parent as "[object]".
                        if let Some(Shape::List(_) | Shape::Object(_)) =
                            self.param(&h.name, scopes, in_each, line)
                        {
                            self.fail(line, Msg::new("error-template-not-value"));
                        }
                    } else {
                        self.call(h, scopes, in_each, line);
                    }
                }
                TemplateElement::HelperBlock(h) => self.block(h, scopes, in_each, line),
                _ => self.fail(line, Msg::new("error-template-construct")),
            }
        }
    }

    fn block(&mut self, h: &HelperTemplate, scopes: &mut Vec<Shape>, in_each: bool, line: usize) {
        let name = h.name.as_name().unwrap_or_default().to_string();
        if !BLOCK_HELPERS.contains(&name.as_str()) {
            self.fail(line, Msg::new("error-template-helper").arg("name", name));
            return;
        }
        if h.params.len() != 1 {
            self.fail(line, Msg::new("error-template-block-arg").arg("name", name));
            return;
        }
        let arg = self.param(&h.params[0], scopes, in_each, line);
        let inner = match (name.as_str(), arg) {
            ("each", Some(Shape::List(item))) => Some((*item, true)),
            ("each", Some(_)) => {
                self.fail(line, Msg::new("error-template-not-list"));
                None
            }
            ("with", Some(shape @ Shape::Object(_))) => Some((shape, in_each)),
            ("with", Some(_)) => {
                self.fail(line, Msg::new("error-template-not-object"));
                None
            }
            _ => None,
        };
        if let Some(body) = &h.template {
            match inner {
                Some((shape, each)) => {
                    scopes.push(shape);
                    self.template(body, scopes, each);
                    scopes.pop();
                }
                None if matches!(name.as_str(), "if" | "unless") => {
                    self.template(body, scopes, in_each)
                }
                None => {}
            }
        }
        if let Some(inverse) = &h.inverse {
            self.template(inverse, scopes, in_each);
        }
    }
}

/// Checks one templated field.
pub fn check_source(field: &str, source: &str, errors: &mut FieldErrors) {
    match Template::compile(source) {
        Err(e) => {
            let line = e.pos().map(|p| p.0).unwrap_or(1);
            errors.add(field, Msg::new("error-template-syntax").arg("line", line));
        }
        Ok(t) => {
            let mut checker = Checker { field, errors };
            checker.template(&t, &mut vec![variables()], false);
        }
    }
}

pub const MAX_SMS_CHARS: usize = 612;

/// Checks a whole content: the channel's required fields and every template in it.
pub fn validate(content: &Content) -> Result<(), FieldErrors> {
    let mut errors = FieldErrors::new();
    let required = |errors: &mut FieldErrors, field: &str, value: &str, max: usize| {
        if value.trim().is_empty() {
            errors.add(field, Msg::new("error-required"));
        } else if value.chars().count() > max {
            errors.add(field, Msg::new("error-too-long").arg("max", max));
        }
    };
    match content {
        Content::Email {
            subject,
            html,
            text,
        } => {
            required(&mut errors, "subject", subject, 200);
            required(&mut errors, "html", html, 20_000);
            required(&mut errors, "text", text, 20_000);
        }
        Content::Sms { text } => required(&mut errors, "text", text, MAX_SMS_CHARS),
        Content::Zalo {
            template_id,
            params,
        } => {
            required(&mut errors, "template_id", template_id, 64);
            if !template_id.chars().all(|c| c.is_ascii_alphanumeric()) {
                errors.add("template_id", Msg::new("error-code-chars"));
            }
            if params.is_empty() {
                errors.add("params", Msg::new("error-required"));
            }
            for name in params.keys() {
                if name.is_empty()
                    || name.len() > 64
                    || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                {
                    errors.add(
                        "params",
                        Msg::new("error-zalo-param-name").arg("name", name),
                    );
                }
            }
        }
        Content::Push { title, body, link } => {
            required(&mut errors, "title", title, 100);
            required(&mut errors, "body", body, 500);
            if link.chars().count() > 500 {
                errors.add("link", Msg::new("error-too-long").arg("max", 500));
            }
        }
    }
    for (field, source, _) in content.parts() {
        check_source(&field, source, &mut errors);
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sms(text: &str) -> Result<(), FieldErrors> {
        validate(&Content::Sms { text: text.into() })
    }

    fn keys(r: Result<(), FieldErrors>) -> Vec<(String, &'static str, String)> {
        r.unwrap_err()
            .0
            .into_iter()
            .map(|e| {
                let line = e
                    .msg
                    .args
                    .iter()
                    .find(|(k, _)| *k == "line")
                    .map(|(_, v)| v.clone())
                    .unwrap_or_default();
                (e.field, e.msg.key, line)
            })
            .collect()
    }

    #[test]
    fn accepts_the_declared_variables_in_their_scopes() {
        assert!(sms("Chào {{guardian_name}}, hạn {{deadline}}: {{#each students}}{{name}} ({{class}}, {{../school}}){{#unless @last}}, {{/unless}}{{/each}}. {{links.pay}}").is_ok());
        assert!(sms("{{#if (eq students.[0].hi_status \"uninsured\")}}x{{else}}y{{/if}} {{@root.province}} {{#with session}}{{date}} {{time}}{{/with}}").is_ok());
    }

    #[test]
    fn unknown_variables_and_helpers_are_named_with_their_line() {
        assert_eq!(
            keys(sms("Chào {{guardian}}")),
            vec![("text".into(), "error-template-unknown", "1".into())]
        );
        assert_eq!(
            keys(sms(
                "dòng 1\n{{#each students}}\n{{guardian_name}}{{/each}}"
            )),
            vec![("text".into(), "error-template-outer", "3".into())]
        );
        assert_eq!(
            keys(sms("{{lookup students 0}}")),
            vec![("text".into(), "error-template-helper", "1".into())]
        );
        assert_eq!(
            keys(sms("{{> footer}}")),
            vec![("text".into(), "error-template-construct", "1".into())]
        );
        assert_eq!(
            keys(sms("{{#each guardian_name}}x{{/each}}")),
            vec![("text".into(), "error-template-not-list", "1".into())]
        );
        assert_eq!(
            keys(sms("{{@index}}")),
            vec![("text".into(), "error-template-unknown", "1".into())]
        );
        assert_eq!(
            keys(sms("{{students}}")),
            vec![("text".into(), "error-template-not-value", "1".into())]
        );
        assert_eq!(
            keys(sms("{{#each students}}{{this}}{{/each}}")),
            vec![("text".into(), "error-template-not-value", "1".into())]
        );
    }

    #[test]
    fn unbalanced_blocks_are_syntax_errors_with_the_line() {
        assert_eq!(
            keys(sms("a\n{{#if deadline}}b")),
            vec![("text".into(), "error-template-syntax", "2".into())]
        );
        assert_eq!(
            keys(sms("a\nb\n{{#each students}}{{/if}}"))
                .first()
                .map(|k| k.1),
            Some("error-template-syntax")
        );
    }

    #[test]
    fn channel_fields() {
        let e = validate(&Content::Email {
            subject: "".into(),
            html: "<p>{{guardian_name}}</p>".into(),
            text: "{{nope}}".into(),
        });
        assert_eq!(
            keys(e)
                .iter()
                .map(|k| (k.0.as_str(), k.1))
                .collect::<Vec<_>>(),
            [
                ("subject", "error-required"),
                ("text", "error-template-unknown")
            ]
        );
        let mut params = BTreeMap::new();
        params.insert("customer_name".to_string(), "{{guardian_name}}".to_string());
        params.insert("bad name".to_string(), "{{deadline}}".to_string());
        let z = validate(&Content::Zalo {
            template_id: "231456".into(),
            params,
        });
        assert_eq!(
            keys(z).iter().map(|k| k.1).collect::<Vec<_>>(),
            ["error-zalo-param-name"]
        );
    }
}
