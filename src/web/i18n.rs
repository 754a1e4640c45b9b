//! Translations with Fluent. Vietnamese is the default; English is the switch.
//! Files: `assets/locales/{vi,en}/main.ftl`, embedded in the binary.
use fluent_bundle::concurrent::FluentBundle;
use fluent_bundle::{FluentArgs, FluentResource, FluentValue};
use serde::{Deserialize, Serialize};
use unic_langid::langid;

use crate::error::Msg;
use crate::web::assets::Assets;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    #[default]
    Vi,
    En,
}

impl Lang {
    pub const ALL: [Lang; 2] = [Lang::Vi, Lang::En];

    pub fn code(self) -> &'static str {
        match self {
            Lang::Vi => "vi",
            Lang::En => "en",
        }
    }

    pub fn parse(s: &str) -> Option<Lang> {
        match s.trim().to_ascii_lowercase().as_str() {
            "vi" => Some(Lang::Vi),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    /// The first supported language in an `Accept-Language` header.
    pub fn from_accept_language(header: &str) -> Option<Lang> {
        header
            .split(',')
            .filter_map(|part| part.split(';').next())
            .filter_map(|tag| Lang::parse(tag.split('-').next().unwrap_or_default()))
            .next()
    }
}

pub struct I18n {
    vi: FluentBundle<FluentResource>,
    en: FluentBundle<FluentResource>,
}

fn bundle(lang: Lang) -> anyhow::Result<FluentBundle<FluentResource>> {
    let path = format!("locales/{}/main.ftl", lang.code());
    let file = Assets::get(&path).ok_or_else(|| anyhow::anyhow!("missing {path}"))?;
    let source = String::from_utf8(file.data.into_owned())?;
    let resource = FluentResource::try_new(source)
        .map_err(|(_, errors)| anyhow::anyhow!("{path}: {errors:?}"))?;
    let id = match lang {
        Lang::Vi => langid!("vi"),
        Lang::En => langid!("en"),
    };
    let mut bundle = FluentBundle::new_concurrent(vec![id]);
    // Unicode isolation marks would show up inside HTML attributes and CSV; our arguments are
    // short and left-to-right.
    bundle.set_use_isolating(false);
    bundle
        .add_resource(resource)
        .map_err(|errors| anyhow::anyhow!("{path}: {errors:?}"))?;
    Ok(bundle)
}

impl I18n {
    pub fn load() -> anyhow::Result<Self> {
        Ok(Self {
            vi: bundle(Lang::Vi)?,
            en: bundle(Lang::En)?,
        })
    }

    fn bundle(&self, lang: Lang) -> &FluentBundle<FluentResource> {
        match lang {
            Lang::Vi => &self.vi,
            Lang::En => &self.en,
        }
    }

    pub fn has(&self, lang: Lang, key: &str) -> bool {
        self.bundle(lang).has_message(key)
    }

    /// The text of `key`; falls back to Vietnamese, then to the key itself.
    pub fn text<S: AsRef<str>>(&self, lang: Lang, key: &str, args: &[(&str, S)]) -> String {
        let bundle = if self.has(lang, key) {
            self.bundle(lang)
        } else if self.has(Lang::Vi, key) {
            self.bundle(Lang::Vi)
        } else {
            return key.to_string();
        };
        let Some(pattern) = bundle.get_message(key).and_then(|m| m.value()) else {
            return key.to_string();
        };
        let mut fargs = FluentArgs::new();
        for (name, value) in args {
            let value = value.as_ref();
            // Numbers go in as numbers so plural selectors work.
            match value.parse::<f64>() {
                Ok(n) if !value.is_empty() && !value.starts_with('+') => {
                    fargs.set(*name, FluentValue::from(n))
                }
                _ => fargs.set(*name, FluentValue::from(value.to_string())),
            }
        }
        let mut errors = Vec::new();
        bundle
            .format_pattern(pattern, Some(&fargs), &mut errors)
            .into_owned()
    }

    pub fn msg(&self, lang: Lang, msg: &Msg) -> String {
        self.text(lang, msg.key, &msg.args)
    }

    /// Every message id in a language's file (for consistency checks).
    pub fn keys(lang: Lang) -> Vec<String> {
        let path = format!("locales/{}/main.ftl", lang.code());
        let data = Assets::get(&path)
            .map(|f| f.data.into_owned())
            .unwrap_or_default();
        String::from_utf8_lossy(&data)
            .lines()
            .filter_map(|line| {
                let (id, _) = line.split_once(" =")?;
                let first = id.chars().next()?;
                (first.is_ascii_lowercase() && !id.contains(' ')).then(|| id.to_string())
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn both_languages_have_the_same_messages() {
        let vi: BTreeSet<_> = I18n::keys(Lang::Vi).into_iter().collect();
        let en: BTreeSet<_> = I18n::keys(Lang::En).into_iter().collect();
        assert!(vi.len() > 50, "too few messages: {}", vi.len());
        let only_vi: Vec<_> = vi.difference(&en).collect();
        let only_en: Vec<_> = en.difference(&vi).collect();
        assert!(
            only_vi.is_empty() && only_en.is_empty(),
            "vi only: {only_vi:?}; en only: {only_en:?}"
        );
    }

    #[test]
    fn translates_with_arguments_and_diacritics() {
        let i18n = I18n::load().unwrap();
        assert_eq!(
            i18n.text::<&str>(Lang::Vi, "nav-schools", &[]),
            "Trường học"
        );
        assert_eq!(i18n.text::<&str>(Lang::En, "nav-schools", &[]), "Schools");
        let s = i18n.text(Lang::Vi, "error-too-long", &[("max", "10")]);
        assert!(s.contains("10"), "{s}");
        assert_eq!(
            i18n.text::<&str>(Lang::En, "no-such-key", &[]),
            "no-such-key"
        );
    }

    #[test]
    fn accept_language() {
        assert_eq!(Lang::from_accept_language("en-US,en;q=0.9"), Some(Lang::En));
        assert_eq!(Lang::from_accept_language("fr, vi;q=0.5"), Some(Lang::Vi));
        assert_eq!(Lang::from_accept_language("fr"), None);
    }
}
