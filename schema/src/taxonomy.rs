//! The theme taxonomy: what a taxonomy file (TOML) holds, parsed and checked.
//!
//! ```toml
//! [[theme]]
//! id = "schulden"
//! label = "Schulden"
//!
//! [[theme]]
//! id = "schulden/schuldhulpverlening"
//! label = "Schuldhulpverlening"
//! priority = 10                       # higher first when several themes match
//! keywords = ["schuldhulp", "schuldsanering"]   # single words: stemmed, compounds, small typos
//! synonyms = ["budgetcoach"]           # like keywords
//! phrases = ["hulp bij schulden"]      # word sequences, stemmed
//! exclude = ["studieschuld"]           # a match here cancels the theme
//! patterns = ["^/schuldhulp"]          # regular expressions on the lowercased text
//! fields = ["path", "title", "query"]  # where the rules apply (default: all)
//! ```
//!
//! [`Taxonomy::parse`] reports every problem with the line it is on: TOML syntax,
//! unknown keys, duplicate ids, a child whose parent is missing, a bad regular
//! expression, an empty rule.

use std::collections::HashSet;

use serde::Deserialize;

/// Where a theme's rules look.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Field {
    /// The URL path, split on `/`, `-`, `_` and `.`.
    Path,
    /// The page title.
    Title,
    /// A site-search query.
    Query,
}

/// One theme, as written in the file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Theme {
    /// Hierarchical id: lowercase segments separated by `/`.
    pub id: String,
    /// Name shown to people.
    pub label: String,
    /// Ordering among matched themes (higher first). Default 0.
    #[serde(default)]
    pub priority: i32,
    /// Single words.
    #[serde(default)]
    pub keywords: Vec<String>,
    /// More single words, kept apart for the editors' overview.
    #[serde(default)]
    pub synonyms: Vec<String>,
    /// Word sequences.
    #[serde(default)]
    pub phrases: Vec<String>,
    /// Words or phrases that cancel the theme.
    #[serde(default)]
    pub exclude: Vec<String>,
    /// Regular expressions (Rust `regex` syntax) on the lowercased, accent-free text.
    #[serde(default)]
    pub patterns: Vec<String>,
    /// Where the rules apply; empty means everywhere.
    #[serde(default)]
    pub fields: Vec<Field>,
}

impl Theme {
    /// The first segment of the id (`schulden` for `schulden/beslag`).
    pub fn top_level(&self) -> &str {
        top_level(&self.id)
    }

    /// Whether the rules look at `field`.
    pub fn applies_to(&self, field: Field) -> bool {
        self.fields.is_empty() || self.fields.contains(&field)
    }
}

/// The first segment of a theme id.
pub fn top_level(id: &str) -> &str {
    id.split('/').next().unwrap_or(id)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    theme: Vec<toml::Spanned<Theme>>,
}

/// A checked taxonomy.
#[derive(Debug, Clone)]
pub struct Taxonomy {
    /// The themes in file order.
    pub themes: Vec<Theme>,
}

/// A problem in a taxonomy file, with its line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct TaxonomyError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

impl Taxonomy {
    /// Parses and checks a taxonomy file's text.
    pub fn parse(text: &str) -> Result<Self, TaxonomyError> {
        let line_of = |offset: usize| text[..offset.min(text.len())].matches('\n').count() + 1;
        let file: File = toml::from_str(text).map_err(|e| TaxonomyError {
            line: e.span().map(|s| line_of(s.start)).unwrap_or(1),
            message: e.message().to_owned(),
        })?;
        let mut seen = HashSet::new();
        let ids: HashSet<String> = file.theme.iter().map(|t| t.get_ref().id.clone()).collect();
        let mut themes = Vec::with_capacity(file.theme.len());
        for spanned in file.theme {
            let line = line_of(spanned.span().start);
            let err = |message: String| TaxonomyError { line, message };
            let t = spanned.into_inner();
            let valid_id = !t.id.is_empty()
                && t.id.split('/').all(|seg| {
                    !seg.is_empty()
                        && seg.bytes().all(|b| {
                            b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_'
                        })
                });
            if !valid_id {
                return Err(err(format!(
                    "theme id {:?} must be lowercase segments of a-z, 0-9, '-', '_' separated by '/'",
                    t.id
                )));
            }
            if !seen.insert(t.id.clone()) {
                return Err(err(format!("theme {:?} is defined twice", t.id)));
            }
            if let Some((parent, _)) = t.id.rsplit_once('/') {
                if !ids.contains(parent) {
                    return Err(err(format!(
                        "theme {:?} has no parent theme {parent:?} in the file",
                        t.id
                    )));
                }
            }
            if t.label.trim().is_empty() {
                return Err(err(format!("theme {:?} has an empty label", t.id)));
            }
            for (kind, list) in [
                ("keywords", &t.keywords),
                ("synonyms", &t.synonyms),
                ("phrases", &t.phrases),
                ("exclude", &t.exclude),
            ] {
                if let Some(bad) = list.iter().find(|w| w.trim().is_empty()) {
                    return Err(err(format!(
                        "theme {:?}: {kind} contains an empty entry {bad:?}",
                        t.id
                    )));
                }
            }
            for p in &t.patterns {
                if let Err(e) = regex::Regex::new(p) {
                    return Err(err(format!(
                        "theme {:?}: pattern {p:?} is not a valid regular expression: {e}",
                        t.id
                    )));
                }
            }
            themes.push(t);
        }
        if themes.is_empty() {
            return Err(TaxonomyError {
                line: 1,
                message: "the taxonomy defines no [[theme]]".into(),
            });
        }
        Ok(Self { themes })
    }

    /// The ids of the top-level themes, in file order.
    pub fn top_levels(&self) -> Vec<&str> {
        self.themes
            .iter()
            .filter(|t| !t.id.contains('/'))
            .map(|t| t.id.as_str())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_small_taxonomy_parses() {
        let t = Taxonomy::parse(
            "[[theme]]\nid = \"schulden\"\nlabel = \"Schulden\"\n\n[[theme]]\nid = \"schulden/beslag\"\nlabel = \"Beslag\"\nkeywords = [\"beslag\"]\nfields = [\"query\"]\n",
        )
        .unwrap();
        assert_eq!(t.themes.len(), 2);
        assert_eq!(t.themes[1].top_level(), "schulden");
        assert!(t.themes[1].applies_to(Field::Query) && !t.themes[1].applies_to(Field::Path));
        assert_eq!(t.top_levels(), vec!["schulden"]);
    }

    #[test]
    fn errors_point_at_the_line() {
        let cases = [
            (
                "[[theme]]\nid = \"a\"\nlabel = \"A\"\n\n[[theme]]\nid = \"a\"\nlabel = \"A2\"\n",
                5,
                "defined twice",
            ),
            (
                "[[theme]]\nid = \"a\"\nlabel = \"A\"\n[[theme]]\nid = \"b/c\"\nlabel = \"C\"\n",
                4,
                "no parent theme \"b\"",
            ),
            (
                "[[theme]]\nid = \"a\"\nlabel = \"A\"\nkeywordz = [\"x\"]\n",
                4,
                "unknown field `keywordz`",
            ),
            (
                "[[theme]]\nid = \"a\"\nlabel = \"A\"\npatterns = [\"(\"]\n",
                1,
                "not a valid regular expression",
            ),
            (
                "[[theme]]\nid = \"A B\"\nlabel = \"A\"\n",
                1,
                "lowercase segments",
            ),
            ("\n\n[[theme]\nid = 1\n", 3, ""),
            ("", 1, "no [[theme]]"),
        ];
        for (text, line, msg) in cases {
            let e = Taxonomy::parse(text).unwrap_err();
            assert_eq!(e.line, line, "{text:?}: {e}");
            assert!(e.message.contains(msg), "{text:?}: {e}");
        }
    }
}
