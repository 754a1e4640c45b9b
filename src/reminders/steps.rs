//! The channels a wave or a rule tries, in fallback order: each step is a template (its version
//! pinned when the wave or rule is saved) and, optionally, the same message in English for
//! parents who read English.
use sea_orm::{ConnectionTrait, EntityTrait};
use serde::{Deserialize, Serialize};

use crate::contacts::fields::Channel;
use crate::delivery::outbox::FallbackStep;
use crate::error::{AppResult, FieldErrors, Msg};
use crate::messaging::entity::template;
use crate::web::i18n::Lang;

/// One channel of a wave or rule, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Step {
    pub channel: Channel,
    pub template_id: i64,
    pub template_version: i32,
    /// The template's language.
    #[schema(value_type = String)]
    pub language: Lang,
    /// The same message for parents whose language is English.
    #[serde(default)]
    pub template_en_id: Option<i64>,
    #[serde(default)]
    pub template_en_version: Option<i32>,
}

/// One channel as a form or the API sends it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct StepDraft {
    pub template_id: Option<i64>,
    /// Optional: an English template on the same channel.
    pub template_en_id: Option<i64>,
}

impl Step {
    /// The template (and version, language) a guardian reading `lang` gets.
    pub fn for_language(&self, lang: Lang) -> (i64, i32, Lang) {
        match (lang, self.template_en_id, self.template_en_version) {
            (Lang::En, Some(id), Some(v)) => (id, v, Lang::En),
            _ => (self.template_id, self.template_version, self.language),
        }
    }

    /// Whether parents reading English get another template than the others.
    pub fn has_english(&self) -> bool {
        self.template_en_id.is_some() && self.template_en_version.is_some()
    }
}

/// The fallback plan of a message sent on `steps[i]`: the later steps, for a reader of `lang`.
pub fn fallback_after(steps: &[Step], i: usize, lang: Lang) -> Vec<FallbackStep> {
    steps
        .iter()
        .skip(i + 1)
        .map(|s| {
            let (template_id, template_version, _) = s.for_language(lang);
            FallbackStep {
                channel: s.channel,
                template_id,
                template_version,
            }
        })
        .collect()
}

pub fn to_json(steps: &[Step]) -> String {
    serde_json::to_string(steps).unwrap_or_else(|_| "[]".into())
}

pub fn from_json(raw: &str) -> Vec<Step> {
    serde_json::from_str(raw).unwrap_or_default()
}

/// Checks the drafts and pins each template's current version. Errors name `steps[i]`.
/// Every step needs a live template; channels appear once; an English template must be on the
/// same channel and in English.
pub async fn validate<C: ConnectionTrait>(
    conn: &C,
    drafts: &[StepDraft],
    errors: &mut FieldErrors,
) -> AppResult<Vec<Step>> {
    let drafts: Vec<&StepDraft> = drafts
        .iter()
        .filter(|d| d.template_id.is_some() || d.template_en_id.is_some())
        .collect();
    if drafts.is_empty() {
        errors.add("steps", Msg::new("error-required"));
        return Ok(Vec::new());
    }
    if drafts.len() > Channel::ALL.len() {
        errors.add(
            "steps",
            Msg::new("error-too-many-steps").arg("max", Channel::ALL.len()),
        );
        return Ok(Vec::new());
    }
    let mut out: Vec<Step> = Vec::new();
    for (i, d) in drafts.iter().enumerate() {
        let field = format!("steps[{i}].template_id");
        let Some(id) = d.template_id else {
            errors.add(&field, Msg::new("error-required"));
            continue;
        };
        let Some(t) = live_template(conn, id).await? else {
            errors.add(&field, Msg::new("error-unknown-template"));
            continue;
        };
        let Ok(channel) = Channel::parse(&t.channel) else {
            errors.add(&field, Msg::new("error-unknown-template"));
            continue;
        };
        if out.iter().any(|s| s.channel == channel) {
            errors.add(
                &field,
                Msg::new("error-channel-repeated").arg("channel", channel.code()),
            );
            continue;
        }
        let mut step = Step {
            channel,
            template_id: t.id,
            template_version: t.current_version,
            language: Lang::parse(&t.language).unwrap_or_default(),
            template_en_id: None,
            template_en_version: None,
        };
        if let Some(en_id) = d.template_en_id {
            let en_field = format!("steps[{i}].template_en_id");
            match live_template(conn, en_id).await? {
                Some(en) if en.channel == t.channel && en.language == Lang::En.code() => {
                    step.template_en_id = Some(en.id);
                    step.template_en_version = Some(en.current_version);
                }
                Some(_) => errors.add(
                    &en_field,
                    Msg::new("error-template-english-same-channel").arg("channel", channel.code()),
                ),
                None => errors.add(&en_field, Msg::new("error-unknown-template")),
            }
        }
        out.push(step);
    }
    Ok(out)
}

async fn live_template<C: ConnectionTrait>(
    conn: &C,
    id: i64,
) -> AppResult<Option<template::Model>> {
    Ok(template::Entity::find_by_id(id)
        .one(conn)
        .await?
        .filter(|t| !t.archived))
}

/// The drafts that reproduce stored steps (for editing forms).
pub fn drafts_of(steps: &[Step]) -> Vec<StepDraft> {
    steps
        .iter()
        .map(|s| StepDraft {
            template_id: Some(s.template_id),
            template_en_id: s.template_en_id,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(channel: Channel, id: i64, en: Option<i64>) -> Step {
        Step {
            channel,
            template_id: id,
            template_version: 2,
            language: Lang::Vi,
            template_en_id: en,
            template_en_version: en.map(|_| 5),
        }
    }

    #[test]
    fn fallback_plans_follow_the_order_and_the_language() {
        let steps = [
            step(Channel::Zalo, 1, None),
            step(Channel::Sms, 2, Some(3)),
            step(Channel::Email, 4, None),
        ];
        let vi = fallback_after(&steps, 0, Lang::Vi);
        assert_eq!(
            vi.iter()
                .map(|f| (f.channel, f.template_id, f.template_version))
                .collect::<Vec<_>>(),
            vec![(Channel::Sms, 2, 2), (Channel::Email, 4, 2)]
        );
        let en = fallback_after(&steps, 0, Lang::En);
        assert_eq!(en[0].template_id, 3);
        assert_eq!(en[0].template_version, 5);
        assert!(fallback_after(&steps, 2, Lang::Vi).is_empty());
        assert_eq!(from_json(&to_json(&steps)), steps.to_vec());
    }
}
