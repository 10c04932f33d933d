//! One visitor's events of one day become session rows: the visits, their searches and
//! what followed each, the themes touched and the first contact after each touch.

use std::collections::{HashMap, HashSet};

use regex::Regex;
use serde::{Deserialize, Serialize};

use crate::channel::Campaign;
use crate::config::GoalConfig;

/// An event as [`build`] takes it.
#[derive(Debug, Clone)]
pub struct SessionEvent {
    /// Site.
    pub site: String,
    /// Day (days since the epoch).
    pub day: u16,
    /// Visitor key.
    pub visitor: String,
    /// Time, seconds.
    pub ts: u32,
    /// Event type.
    pub kind: String,
    /// URL path.
    pub path: String,
    /// Themes with ancestors.
    pub themes: Vec<String>,
    /// Channel.
    pub channel: String,
    /// Device class.
    pub device: String,
    /// Action name.
    pub action_name: String,
    /// Normalised search term.
    pub search_term: String,
    /// Search result count, -1 when unknown.
    pub search_results: i64,
    /// An action's target ('' for other events).
    pub action_target: String,
    /// The referrer's host ('' when none).
    pub referrer_host: String,
    /// The page URL when it carries UTM parameters, '' otherwise.
    pub utm_url: String,
}

/// One session summary row.
#[derive(Debug, Clone, Default, PartialEq, Eq, clickhouse::Row, Serialize, Deserialize)]
pub struct SessionRow {
    /// Site.
    pub site: String,
    /// Day.
    pub day: u16,
    /// Visitor key.
    pub visitor: String,
    /// `visitor-start_ts`.
    pub session_id: String,
    /// First event.
    pub start_ts: u32,
    /// Last event.
    pub end_ts: u32,
    /// end − start.
    pub duration_s: u32,
    /// Path of the first page.
    pub entry_path: String,
    /// First theme of the first event ('' if none).
    pub entry_theme: String,
    /// Channel of the first event.
    pub channel: String,
    /// Device of the first event.
    pub device: String,
    /// Page views.
    pub pageviews: u32,
    /// Site searches.
    pub searches: u32,
    /// Contacts (goal completions).
    pub contacts: u32,
    /// Time of the first contact, 0 when none.
    pub first_contact_ts: u32,
    /// Themes touched.
    pub themes: Vec<String>,
    /// First touch per theme.
    pub theme_first_ts: Vec<u32>,
    /// First contact at or after the first touch per theme, 0 when none.
    pub theme_contact_ts: Vec<u32>,
    /// 1 for a session that no longer exists (merged by a late event).
    pub deleted: u8,
    /// Newer wins.
    pub version: u64,
    /// Normalised term of each site search, in order.
    pub search_terms: Vec<String>,
    /// First top-level theme of each search ('' for none).
    pub search_themes: Vec<String>,
    /// Result count of each search (-1 unknown).
    pub search_results: Vec<i64>,
    /// What followed each search: `refined`, `clicked` or `left`.
    pub search_next: Vec<String>,
    /// Each distinct path viewed, in the order of its first view.
    pub page_paths: Vec<String>,
    /// The first view of each of `page_paths`.
    pub page_first_ts: Vec<u32>,
    /// Path of the last page view ('' when none).
    pub exit_path: String,
    /// Time of the last contact, 0 when none.
    pub last_contact_ts: u32,
    /// The host of the first event's referrer ('' when none): never its path or query.
    pub referrer_host: String,
    /// The first event's `utm_source` (see [`Campaign`]).
    pub utm_source: String,
    /// Its `utm_medium`.
    pub utm_medium: String,
    /// Its `utm_campaign`.
    pub utm_campaign: String,
    /// Its `utm_content`.
    pub utm_content: String,
    /// Its `utm_term`.
    pub utm_term: String,
    /// The visit's path, step by step (see [`step`]): `page`, `search`, `out` or
    /// `contact`; the same step twice in a row is kept once.
    pub step_kinds: Vec<String>,
    /// Each step's value: a path, a search term, a host or a contact's name.
    pub step_values: Vec<String>,
    /// Each step's first top-level theme ('' for none): the page groups of a path.
    pub step_themes: Vec<String>,
}

/// A site's goals, compiled.
pub struct Goals {
    rules: Vec<Goal>,
}

/// One `[[goals]]` entry, compiled.
struct Goal {
    /// Site id, or `*`.
    site: String,
    /// Action-name prefixes, lowercase.
    actions: Vec<String>,
    /// Patterns on the paths of confirmation pages.
    url_patterns: Vec<Regex>,
    /// Hosts (with their subdomains) whose outlinks and downloads are contacts,
    /// lowercase.
    outlink_hosts: Vec<String>,
}

impl Goals {
    /// Compiles the configured goals (checked by the configuration's validation).
    pub fn new(goals: &[GoalConfig]) -> Result<Self, regex::Error> {
        let mut rules = Vec::new();
        for g in goals {
            let patterns = g
                .url_patterns
                .iter()
                .map(|p| Regex::new(p))
                .collect::<Result<_, _>>()?;
            rules.push(Goal {
                site: g.site.clone(),
                // Action names are stored lowercase: so are the prefixes matched on them.
                actions: g.actions.iter().map(|a| a.to_lowercase()).collect(),
                url_patterns: patterns,
                outlink_hosts: g
                    .outlink_hosts
                    .iter()
                    .map(|h| h.trim().trim_end_matches('.').to_lowercase())
                    .collect(),
            });
        }
        Ok(Self { rules })
    }

    /// Whether `e` completes a goal of its site.
    pub fn is_contact(&self, e: &SessionEvent) -> bool {
        let click_out =
            e.kind == "action" && matches!(e.action_name.as_str(), "outlink" | "download");
        let mut target_host = None;
        self.rules
            .iter()
            .filter(|g| g.site == "*" || g.site == e.site)
            .any(|g| {
                (e.kind == "action"
                    && g.actions
                        .iter()
                        .any(|a| e.action_name.starts_with(a.as_str())))
                    || (e.kind == "pageview" && g.url_patterns.iter().any(|p| p.is_match(&e.path)))
                    || (click_out && !g.outlink_hosts.is_empty() && {
                        let host: &Option<String> = target_host.get_or_insert_with(|| {
                            url::Url::parse(&e.action_target)
                                .ok()
                                .and_then(|u| u.host_str().map(str::to_lowercase))
                        });
                        host.as_deref().is_some_and(|h| {
                            g.outlink_hosts
                                .iter()
                                .any(|o| crate::channel::is_within(h, o))
                        })
                    })
            })
    }
}

/// The first top-level theme of an event ('' when none).
fn top_theme(e: &SessionEvent) -> String {
    e.themes
        .iter()
        .find(|t| !t.contains('/'))
        .cloned()
        .unwrap_or_default()
}

/// The most steps a visit keeps (a visit of more is cut there; 200 covers every visit a
/// person makes, not a crawler's).
pub const MAX_STEPS: usize = 200;

/// An event as a step of the visit's path: a page (`page`, its path), a site search
/// (`search`, its term), a click out (`out`, the target's host) or a contact
/// (`contact`: the action's name, the confirmation page's path, or the partner host of
/// a click out that is a contact). Other actions are no step.
fn step(e: &SessionEvent, contact: bool) -> Option<(&'static str, String)> {
    let click_out = e.kind == "action" && matches!(e.action_name.as_str(), "outlink" | "download");
    let host = || {
        url::Url::parse(&e.action_target)
            .ok()
            .and_then(|u| u.host_str().map(str::to_lowercase))
            .unwrap_or_default()
    };
    if contact {
        // A referral to a partner host is a contact named by that host.
        let value = match e.kind.as_str() {
            _ if click_out => host(),
            "action" => e.action_name.clone(),
            _ => e.path.clone(),
        };
        return Some(("contact", value));
    }
    match e.kind.as_str() {
        "pageview" => Some(("page", e.path.clone())),
        "search" => Some(("search", e.search_term.clone())),
        _ if click_out => Some(("out", host())),
        _ => None,
    }
}

/// Splits one visitor's events of one day (sorted by time) into sessions.
///
/// Engagement reports, content impressions or clicks and Plausible's not-found
/// reports are not something the resident did on their own but what the tracker
/// reports of a page view: they never
/// start a visit (a page left open for hours reports its engagement when it is
/// closed), never answer a search ("left" stays "left"), and only lengthen the visit
/// they fall within.
pub fn build(events: &[SessionEvent], gap_s: u32, goals: &Goals, version: u64) -> Vec<SessionRow> {
    let mut out: Vec<SessionRow> = Vec::new();
    let mut theme_index: HashMap<String, usize> = HashMap::new();
    let mut pages_seen: HashSet<String> = HashSet::new();
    for e in events {
        // Plausible's `404` event (the collector's action `not-found`) reports on the
        // page view before it, as engagement does.
        let about_a_page_view = matches!(e.kind.as_str(), "engagement" | "content")
            || (e.kind == "action" && e.action_name == "not-found");
        if about_a_page_view {
            if let Some(s) = out.last_mut() {
                if e.ts.saturating_sub(s.end_ts) <= gap_s {
                    s.end_ts = s.end_ts.max(e.ts);
                    s.duration_s = s.end_ts - s.start_ts;
                }
            }
            continue;
        }
        let new_session = out
            .last()
            .is_none_or(|s| e.ts.saturating_sub(s.end_ts) > gap_s);
        if new_session {
            theme_index.clear();
            let campaign = Campaign::of(&e.utm_url);
            out.push(SessionRow {
                site: e.site.clone(),
                day: e.day,
                visitor: e.visitor.clone(),
                session_id: format!("{}-{}", e.visitor, e.ts),
                start_ts: e.ts,
                end_ts: e.ts,
                duration_s: 0,
                entry_path: e.path.clone(),
                entry_theme: e.themes.first().cloned().unwrap_or_default(),
                channel: e.channel.clone(),
                device: e.device.clone(),
                pageviews: 0,
                searches: 0,
                contacts: 0,
                first_contact_ts: 0,
                themes: Vec::new(),
                theme_first_ts: Vec::new(),
                theme_contact_ts: Vec::new(),
                deleted: 0,
                version,
                search_terms: Vec::new(),
                search_themes: Vec::new(),
                search_results: Vec::new(),
                search_next: Vec::new(),
                page_paths: Vec::new(),
                page_first_ts: Vec::new(),
                exit_path: String::new(),
                last_contact_ts: 0,
                referrer_host: e.referrer_host.clone(),
                utm_source: campaign.source,
                utm_medium: campaign.medium,
                utm_campaign: campaign.campaign,
                utm_content: campaign.content,
                utm_term: campaign.term,
                step_kinds: Vec::new(),
                step_values: Vec::new(),
                step_themes: Vec::new(),
            });
            pages_seen.clear();
        }
        let Some(s) = out.last_mut() else { continue };
        // The previous search of this visit learns what came after it.
        if let Some(last) = s.search_next.last_mut() {
            if last == "left" {
                *last = if e.kind == "search" {
                    "refined"
                } else {
                    "clicked"
                }
                .to_owned();
            }
        }
        if e.kind == "search" {
            s.search_terms.push(e.search_term.clone());
            s.search_themes.push(top_theme(e));
            s.search_results.push(e.search_results);
            s.search_next.push("left".to_owned());
        }
        s.end_ts = s.end_ts.max(e.ts);
        s.duration_s = s.end_ts - s.start_ts;
        if e.kind == "pageview" {
            if pages_seen.insert(e.path.clone()) {
                s.page_paths.push(e.path.clone());
                s.page_first_ts.push(e.ts);
            }
            s.exit_path.clone_from(&e.path);
        }
        match e.kind.as_str() {
            "pageview" => s.pageviews += 1,
            "search" => s.searches += 1,
            _ => {}
        }
        for t in &e.themes {
            if !theme_index.contains_key(t) {
                theme_index.insert(t.clone(), s.themes.len());
                s.themes.push(t.clone());
                s.theme_first_ts.push(e.ts);
                s.theme_contact_ts.push(0);
            }
        }
        let contact = goals.is_contact(e);
        if let Some((kind, value)) = step(e, contact) {
            let repeat = s.step_kinds.last().map(String::as_str) == Some(kind)
                && s.step_values.last() == Some(&value);
            if !repeat && s.step_kinds.len() < MAX_STEPS {
                s.step_kinds.push(kind.to_owned());
                s.step_values.push(value);
                s.step_themes.push(top_theme(e));
            }
        }
        if contact {
            s.contacts += 1;
            s.last_contact_ts = e.ts;
            if s.first_contact_ts == 0 {
                s.first_contact_ts = e.ts;
            }
            for c in s.theme_contact_ts.iter_mut() {
                if *c == 0 {
                    *c = e.ts;
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(ts: u32, kind: &str, path: &str, themes: &[&str], action: &str) -> SessionEvent {
        SessionEvent {
            site: "demo".into(),
            day: 1,
            visitor: "v".into(),
            ts,
            kind: kind.into(),
            path: path.into(),
            themes: themes.iter().map(|t| (*t).to_owned()).collect(),
            channel: if ts == 0 {
                "search".into()
            } else {
                "internal".into()
            },
            device: "mobile".into(),
            action_name: action.into(),
            search_term: if kind == "search" {
                path.trim_start_matches('/').into()
            } else {
                String::new()
            },
            search_results: if kind == "search" { 0 } else { -1 },
            action_target: String::new(),
            referrer_host: String::new(),
            utm_url: String::new(),
        }
    }

    fn goals() -> Goals {
        Goals::new(&[GoalConfig {
            site: "*".into(),
            actions: vec!["contact:".into()],
            url_patterns: vec!["^/contact/bedankt".into()],
            outlink_hosts: vec!["geldfit.nl".into()],
        }])
        .unwrap()
    }

    #[test]
    fn a_visit_with_a_contact_after_touching_debt_help() {
        let events = [
            ev(0, "pageview", "/", &[], ""),
            ev(
                60,
                "search",
                "/zoeken",
                &["schulden/schuldhulpverlening", "schulden"],
                "",
            ),
            ev(120, "pageview", "/schulden", &["schulden"], ""),
            ev(300, "action", "/schulden", &["schulden"], "contact:phone"),
            ev(400, "pageview", "/afval", &["afval"], ""),
        ];
        let s = build(&events, 1800, &goals(), 7);
        assert_eq!(s.len(), 1);
        let s = &s[0];
        assert_eq!((s.start_ts, s.end_ts, s.duration_s), (0, 400, 400));
        assert_eq!(
            (s.pageviews, s.searches, s.contacts, s.first_contact_ts),
            (3, 1, 1, 300)
        );
        assert_eq!(
            (
                s.entry_path.as_str(),
                s.entry_theme.as_str(),
                s.channel.as_str()
            ),
            ("/", "", "search")
        );
        assert_eq!(
            s.themes,
            vec!["schulden/schuldhulpverlening", "schulden", "afval"]
        );
        assert_eq!(s.theme_first_ts, vec![60, 60, 400]);
        assert_eq!(
            s.theme_contact_ts,
            vec![300, 300, 0],
            "afval was touched after the contact"
        );
    }

    #[test]
    fn what_follows_each_search_is_recorded() {
        let events = [
            ev(0, "search", "/bijstnd", &[], ""),
            ev(
                10,
                "search",
                "/bijstand",
                &["inkomen/bijstand", "inkomen"],
                "",
            ),
            ev(
                20,
                "pageview",
                "/bijstand",
                &["inkomen/bijstand", "inkomen"],
                "",
            ),
            ev(
                30,
                "search",
                "/kwijtschelding",
                &["armoede/kwijtschelding", "armoede"],
                "",
            ),
        ];
        let s = &build(&events, 1800, &goals(), 1)[0];
        assert_eq!(
            s.search_terms,
            vec!["bijstnd", "bijstand", "kwijtschelding"]
        );
        assert_eq!(s.search_themes, vec!["", "inkomen", "armoede"]);
        assert_eq!(s.search_next, vec!["refined", "clicked", "left"]);
    }

    #[test]
    fn engagement_content_and_not_found_reports_never_start_a_visit_or_answer_a_search() {
        let events = [
            ev(0, "search", "/bijstnd", &[], ""),
            ev(5, "content", "/zoeken", &[], ""),
            ev(6, "action", "/zoeken", &[], "not-found"),
            ev(40, "engagement", "/zoeken", &[], ""),
            // The tab is closed hours later: its engagement report starts no visit.
            ev(9000, "engagement", "/zoeken", &[], ""),
        ];
        let s = build(&events, 1800, &goals(), 1);
        assert_eq!(s.len(), 1, "{s:?}");
        assert_eq!(s[0].search_next, vec!["left"]);
        assert_eq!((s[0].duration_s, s[0].pageviews), (40, 0));
        let only = build(&[ev(7, "engagement", "/", &[], "")], 1800, &goals(), 1);
        assert!(only.is_empty());
        let only = build(
            &[ev(7, "action", "/oud", &[], "not-found")],
            1800,
            &goals(),
            1,
        );
        assert!(only.is_empty());
    }

    #[test]
    fn inactivity_splits_sessions_and_confirmation_pages_count_as_contact() {
        let events = [
            ev(
                0,
                "pageview",
                "/bijstand",
                &["inkomen/bijstand", "inkomen"],
                "",
            ),
            ev(1000, "pageview", "/contact/bedankt", &[], ""),
            ev(
                1000 + 1801,
                "pageview",
                "/bijstand",
                &["inkomen/bijstand", "inkomen"],
                "",
            ),
        ];
        let s = build(&events, 1800, &goals(), 1);
        assert_eq!(s.len(), 2);
        assert_eq!(
            (s[0].contacts, s[0].theme_contact_ts.clone()),
            (1, vec![1000, 1000])
        );
        assert_eq!((s[1].contacts, s[1].session_id.as_str()), (0, "v-2801"));
    }

    #[test]
    fn a_visit_keeps_its_pages_in_first_view_order_its_exit_and_its_last_contact() {
        let events = [
            ev(0, "pageview", "/", &[], ""),
            ev(30, "pageview", "/schulden", &["schulden"], ""),
            ev(60, "pageview", "/", &[], ""),
            ev(90, "action", "/", &[], "contact:phone"),
            ev(120, "pageview", "/schulden", &["schulden"], ""),
            ev(150, "action", "/schulden", &["schulden"], "contact:form"),
            ev(180, "pageview", "/afval", &["afval"], ""),
        ];
        let rows = build(&events, 1800, &goals(), 1);
        assert_eq!(rows.len(), 1);
        let s = &rows[0];
        assert_eq!(s.page_paths, ["/", "/schulden", "/afval"]);
        assert_eq!(s.page_first_ts, [0, 30, 180]);
        assert_eq!(s.exit_path, "/afval");
        assert_eq!((s.first_contact_ts, s.last_contact_ts), (90, 150));
        // A visit without page views has no pages and no exit.
        let only_action = build(
            &[ev(5, "action", "/", &[], "contact:phone")],
            1800,
            &goals(),
            1,
        );
        assert!(only_action[0].page_paths.is_empty());
        assert_eq!(only_action[0].exit_path, "");
    }

    #[test]
    fn a_visit_keeps_its_entry_s_campaign_and_referrer_host() {
        let mut first = ev(0, "pageview", "/schulden", &["schulden"], "");
        first.utm_url =
            "https://www.gemeente.nl/schulden?utm_source=Brief&utm_campaign=najaar".into();
        first.referrer_host = "www.google.nl".into();
        let mut later = ev(30, "pageview", "/bijstand", &[], "");
        later.utm_url = "https://www.gemeente.nl/bijstand?utm_source=ander".into();
        later.referrer_host = "www.gemeente.nl".into();
        let s = &build(&[first, later], 1800, &goals(), 1)[0];
        assert_eq!(
            (
                s.utm_source.as_str(),
                s.utm_campaign.as_str(),
                s.utm_medium.as_str()
            ),
            ("brief", "najaar", "")
        );
        assert_eq!(s.referrer_host, "www.google.nl");
    }

    #[test]
    fn a_click_out_to_a_partner_host_is_a_contact_and_one_elsewhere_is_not() {
        let click = |ts: u32, name: &str, target: &str| {
            let mut e = ev(ts, "action", "/schulden", &["schulden"], name);
            e.action_target = target.into();
            e
        };
        let events = [
            ev(0, "pageview", "/schulden", &["schulden"], ""),
            click(10, "outlink", "https://www.nibud.nl/"),
            click(20, "download", "https://www.gemeente.nl/formulier.pdf"),
            click(30, "outlink", "https://zelftest.GELDFIT.nl/start"),
            click(40, "outlink", "https://geldfit.nl.evil.example/"),
        ];
        let s = &build(&events, 1800, &goals(), 1)[0];
        assert_eq!((s.contacts, s.first_contact_ts), (1, 30));
        assert_eq!(s.theme_contact_ts, [30]);
        assert_eq!(s.step_kinds, ["page", "out", "out", "contact", "out"]);
        assert_eq!(
            s.step_values[3], "zelftest.geldfit.nl",
            "a referral is named by its host"
        );
        // Another site's goals do not apply.
        let other = Goals::new(&[GoalConfig {
            site: "elders".into(),
            actions: vec![],
            url_patterns: vec![],
            outlink_hosts: vec!["geldfit.nl".into()],
        }])
        .unwrap();
        assert_eq!(build(&events, 1800, &other, 1)[0].contacts, 0);
    }

    #[test]
    fn a_visit_keeps_its_steps_with_repeats_folded() {
        let mut out = ev(50, "action", "/schulden", &["schulden"], "outlink");
        out.action_target = "https://www.Nibud.nl/geldzaken".into();
        let events = [
            ev(0, "pageview", "/", &[], ""),
            ev(10, "search", "/schulden", &[], ""),
            ev(20, "pageview", "/schulden", &["schulden"], ""),
            // A reload is the same step.
            ev(25, "pageview", "/schulden", &["schulden"], ""),
            ev(30, "engagement", "/schulden", &[], ""),
            ev(40, "action", "/schulden", &[], "print"),
            out,
            ev(60, "action", "/schulden", &["schulden"], "contact:phone"),
            ev(70, "pageview", "/contact/bedankt", &[], ""),
        ];
        let s = &build(&events, 1800, &goals(), 1)[0];
        assert_eq!(
            s.step_kinds,
            ["page", "search", "page", "out", "contact", "contact"]
        );
        assert_eq!(
            s.step_values,
            [
                "/",
                "schulden",
                "/schulden",
                "www.nibud.nl",
                "contact:phone",
                "/contact/bedankt"
            ]
        );
    }
}
