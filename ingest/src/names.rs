//! Action names: the rules a site sets (`[[sites.action_rules]]`) that turn the names
//! trackers send — Matomo events (`e_c`/`e_a`), Plausible custom events, goals — into
//! Luister's actions (`contact:form`, `selfservice:aanvraag`), which goals, contact
//! channels and reports count.
//!
//! A rule matches on one thing: a `prefix` of the name as sent (compared without
//! case), a regular expression `pattern` on it, a Matomo event's `matomo_category`
//! (and optionally the start of its `matomo_action`, both without case), or a Matomo
//! goal number `matomo_goal`. The first rule that matches gives the action; with none,
//! the action is the name lowercased. Prefix and pattern see the name after scrubbing
//! (personal data is never what a rule is about). The name as sent, scrubbed, in its
//! own case, is kept beside the action as its label.

use regex::Regex;
use serde::{Deserialize, Serialize};

/// Longest action name, in characters (Matomo's event category and action together,
/// a Plausible event name).
pub const MAX_ACTION_NAME: usize = 500;

/// One `[[sites.action_rules]]` entry.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ActionRule {
    /// The name as sent starts with this, compared without case (`Formulier:`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// A regular expression the name as sent matches (`(?i)^aanvraag .* verzonden$`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
    /// A Matomo event's category (`e_c`), compared without case.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matomo_category: Option<String>,
    /// With `matomo_category`: the start of the event's action (`e_a`), without case.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matomo_action: Option<String>,
    /// A Matomo goal number (`trackGoal(3)`, sent as `idgoal=3`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matomo_goal: Option<u32>,
    /// The action it becomes, e.g. `contact:form` (stored lowercase).
    pub action: String,
}

/// What a name was sent as, for the rules.
#[derive(Debug, Clone, Copy)]
pub struct Sent<'a> {
    /// The name as sent, scrubbed: `Formulier:Aanvraag gestart`, `goal:3`.
    pub name: &'a str,
    /// A Matomo event's category and action, as sent.
    pub matomo_event: Option<(&'a str, Option<&'a str>)>,
    /// A Matomo goal's number.
    pub matomo_goal: Option<u32>,
}

#[derive(Debug, Clone)]
enum Match {
    Prefix(String),
    Pattern(Regex),
    Matomo {
        category: String,
        action: Option<String>,
    },
    Goal(u32),
}

/// Which of a site's action rules is wrong (counted from 1), and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("action rule {rule}: {problem}")]
pub struct RuleError {
    /// The rule's number in the site's list.
    pub rule: usize,
    /// What is wrong with it.
    pub problem: String,
}

/// A site's rules, compiled.
#[derive(Debug, Clone, Default)]
pub struct ActionRules {
    rules: Vec<(Match, String)>,
}

impl ActionRules {
    /// Compiles the rules, or says which one is wrong and why.
    pub fn compile(rules: &[ActionRule]) -> Result<Self, RuleError> {
        let mut out = Vec::with_capacity(rules.len());
        for (i, r) in rules.iter().enumerate() {
            let bad = |problem: String| RuleError {
                rule: i + 1,
                problem,
            };
            let chosen = [
                r.prefix.is_some(),
                r.pattern.is_some(),
                r.matomo_category.is_some(),
                r.matomo_goal.is_some(),
            ]
            .into_iter()
            .filter(|b| *b)
            .count();
            if chosen != 1 {
                return Err(bad(
                    "set exactly one of prefix, pattern, matomo_category, matomo_goal".into(),
                ));
            }
            if r.matomo_action.is_some() && r.matomo_category.is_none() {
                return Err(bad("matomo_action needs matomo_category".into()));
            }
            let action = r.action.trim().to_lowercase();
            if action.is_empty()
                || action.chars().count() > MAX_ACTION_NAME
                || action.chars().any(char::is_control)
            {
                return Err(bad(format!(
                    "action {:?} must be 1-{MAX_ACTION_NAME} characters without control characters",
                    r.action
                )));
            }
            let m =
                if let Some(p) = &r.prefix {
                    Match::Prefix(p.trim().to_lowercase())
                } else if let Some(p) = &r.pattern {
                    Match::Pattern(Regex::new(p).map_err(|e| {
                        bad(format!("pattern {p:?} is not a regular expression: {e}"))
                    })?)
                } else if let Some(c) = &r.matomo_category {
                    Match::Matomo {
                        category: c.trim().to_lowercase(),
                        action: r.matomo_action.as_deref().map(|a| a.trim().to_lowercase()),
                    }
                } else {
                    Match::Goal(r.matomo_goal.unwrap_or_default())
                };
            out.push((m, action));
        }
        Ok(Self { rules: out })
    }

    /// The action a name becomes: the first matching rule's, or the name lowercased.
    pub fn action(&self, sent: Sent<'_>) -> String {
        let lower = sent.name.to_lowercase();
        // A Matomo event's category and action, compared without case, once per event.
        let event = sent
            .matomo_event
            .map(|(c, a)| (c.trim().to_lowercase(), a.map(|a| a.trim().to_lowercase())));
        for (m, action) in &self.rules {
            let hit = match m {
                Match::Prefix(p) => lower.starts_with(p.as_str()),
                Match::Pattern(re) => re.is_match(sent.name),
                Match::Matomo { category, action } => event.as_ref().is_some_and(|(c, a)| {
                    c == category
                        && action.as_ref().is_none_or(|want| {
                            a.as_ref().is_some_and(|a| a.starts_with(want.as_str()))
                        })
                }),
                Match::Goal(g) => sent.matomo_goal == Some(*g),
            };
            if hit {
                return action.clone();
            }
        }
        lower
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(toml_like: &[(&str, &str)], action: &str) -> ActionRule {
        let mut r = ActionRule {
            prefix: None,
            pattern: None,
            matomo_category: None,
            matomo_action: None,
            matomo_goal: None,
            action: action.into(),
        };
        for (k, v) in toml_like {
            match *k {
                "prefix" => r.prefix = Some((*v).into()),
                "pattern" => r.pattern = Some((*v).into()),
                "matomo_category" => r.matomo_category = Some((*v).into()),
                "matomo_action" => r.matomo_action = Some((*v).into()),
                "matomo_goal" => r.matomo_goal = Some(v.parse().unwrap()),
                _ => unreachable!("{k}"),
            }
        }
        r
    }

    fn named(name: &str) -> Sent<'_> {
        Sent {
            name,
            matomo_event: None,
            matomo_goal: None,
        }
    }

    #[test]
    fn the_first_matching_rule_names_the_action_and_without_one_the_name_is_lowercased() {
        let rules = ActionRules::compile(&[
            rule(
                &[
                    ("matomo_category", "formulier"),
                    ("matomo_action", "Aanvraag verzonden"),
                ],
                "selfservice:aanvraag",
            ),
            rule(&[("matomo_category", "Formulier")], "contact:form"),
            rule(&[("prefix", "Formulier: stap 3")], "selfservice:aanvraag"),
            rule(&[("pattern", r"(?i)^bel(len)? ")], "Contact:Phone"),
            rule(&[("matomo_goal", "3")], "contact:appointment"),
        ])
        .unwrap();
        let matomo = |c, a| Sent {
            name: "x",
            matomo_event: Some((c, a)),
            matomo_goal: None,
        };
        assert_eq!(
            rules.action(matomo("Formulier", Some("Aanvraag verzonden (stap 3/3)"))),
            "selfservice:aanvraag"
        );
        assert_eq!(
            rules.action(matomo("FORMULIER", Some("Aanvraag gestart (stap 1/3)"))),
            "contact:form"
        );
        assert_eq!(rules.action(matomo("Formulier", None)), "contact:form");
        assert_eq!(
            rules.action(named("formulier: Stap 3/3 verzonden")),
            "selfservice:aanvraag"
        );
        assert_eq!(
            rules.action(named("Bellen met de gemeente")),
            "contact:phone"
        );
        assert_eq!(
            rules.action(Sent {
                name: "goal:3",
                matomo_event: None,
                matomo_goal: Some(3)
            }),
            "contact:appointment"
        );
        assert_eq!(
            rules.action(Sent {
                name: "goal:30",
                matomo_event: None,
                matomo_goal: Some(30)
            }),
            "goal:30"
        );
        assert_eq!(
            rules.action(named("Nieuwsbrief: Aanmelding")),
            "nieuwsbrief: aanmelding"
        );
    }

    #[test]
    fn a_wrong_rule_says_which_and_why() {
        for (r, msg) in [
            (rule(&[], "contact:form"), "rule 1: set exactly one"),
            (
                rule(&[("prefix", "a"), ("pattern", "b")], "contact:form"),
                "exactly one",
            ),
            (
                rule(&[("matomo_action", "Verzonden"), ("prefix", "a")], "x"),
                "matomo_action needs matomo_category",
            ),
            (
                rule(&[("pattern", "(unclosed")], "x"),
                "pattern \"(unclosed\" is not a regular expression",
            ),
            (rule(&[("prefix", "a")], "  "), "action \"  \" must be"),
        ] {
            let e = ActionRules::compile(&[r]).unwrap_err();
            assert_eq!(e.rule, 1);
            assert!(e.to_string().contains(msg), "{e}");
        }
    }
}
