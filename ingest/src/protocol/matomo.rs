//! The Matomo Tracking API, so a site that runs a Matomo tracker can point it at
//! Luister unchanged.
//!
//! Read: `idsite`, `rec` (must be 1), `url`, `action_name` (title), `urlref`,
//! `search`/`search_cat`/`search_count` (site search), `e_c`/`e_a`/`e_n` (events: named
//! `e_c:e_a` as sent, the site's action rules make it an action; the target is `e_n`;
//! `e_v` is ignored), `link` (outlink),
//! `download`, `res` (`1280x720`), `lang`, `ua` (user agent of a server-side tracker),
//! `cdt` (client time: Unix seconds or `YYYY-MM-DD HH:MM:SS` UTC) and `send_image`.
//! A page view titled by Matomo's 404 convention (`404/URL = …/From = …`) is a page
//! view of a page not found, without that title (it holds a URL and a referrer).
//! A goal conversion (`idgoal=N`, `trackGoal`) is the action `goal:N` unless an action
//! rule (`matomo_goal = N`) names it, e.g. `contact:form`; content tracking (`c_n`
//! name, `c_p` piece, `c_t` target, `c_i` interaction) is a content event of its own:
//! an impression, or an interaction with `c_i`. Never
//! stored, on purpose, and never a page view: `ping=1` heartbeats, ecommerce orders
//! (`idgoal=0`), media analytics (`ma_id`) and any other `ca=1` request (performance
//! timings, form or crash analytics). Matomo's visitor ids (`_id`, `cid`, `uid`) and
//! all other parameters are ignored: identity stays cookieless. docs/protocols.md has
//! the whole table.
//!
//! Bulk requests are `{"requests": ["?idsite=1&rec=1&url=…", …]}`.

use std::collections::HashMap;

use serde::Deserialize;

use crate::collect::{truncate, RawEvent, RawKind, SiteRef};
use crate::error::IngestError;

/// One parsed Matomo request: an event, or one that carries none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// A tracked event.
    Event(Box<RawEvent>),
    /// `ping=1`: nothing to store.
    Ping,
    /// A request kind Luister does not store, on purpose (see the module doc): answered
    /// as Matomo does, never counted as a page view.
    Unstored(&'static str),
}

/// Whether the tracker wants the 1×1 GIF (default) or an empty 204.
pub fn wants_image(query: &str) -> bool {
    params(query).get("send_image").map(String::as_str) != Some("0")
}

fn params(query: &str) -> HashMap<String, String> {
    let query = query.strip_prefix('?').unwrap_or(query);
    let mut out = HashMap::new();
    for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
        out.entry(k.into_owned()).or_insert_with(|| v.into_owned());
    }
    out
}

/// Parses one request's parameters (a query string or form body).
pub fn parse(query: &str, accept_language: Option<&str>) -> Result<Request, IngestError> {
    let p = params(query);
    let get = |k: &str| {
        p.get(k)
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    };
    if get("rec").as_deref() != Some("1") {
        return Err(IngestError::BadRequest(
            "rec=1 is missing: Matomo tracking requests must carry rec=1".into(),
        ));
    }
    let idsite =
        get("idsite").ok_or_else(|| IngestError::BadRequest("idsite is missing".into()))?;
    if get("ping").as_deref() == Some("1") {
        return Ok(Request::Ping);
    }
    let url = get("url").ok_or_else(|| IngestError::BadRequest("url is missing".into()))?;
    let custom_action = get("ca").as_deref() == Some("1");
    let kind = if let Some(query) = get("search") {
        RawKind::Search {
            query,
            category: get("search_cat"),
            result_count: match get("search_count") {
                None => None,
                Some(c) => Some(c.parse::<u32>().map_err(|_| {
                    IngestError::BadRequest(format!(
                        "search_count {:?} is not a whole number",
                        truncate(&c, 20)
                    ))
                })?),
            },
        }
    } else if let Some(category) = get("e_c") {
        RawKind::MatomoEvent {
            category,
            action: get("e_a"),
            name: get("e_n"),
        }
    } else if let Some(link) = get("link") {
        RawKind::Action {
            name: "outlink".into(),
            target: Some(link),
        }
    } else if let Some(file) = get("download") {
        RawKind::Action {
            name: "download".into(),
            target: Some(file),
        }
    } else if let Some(goal) = get("idgoal") {
        // `idgoal=0` is Matomo's ecommerce order; any other a goal of the site.
        if goal == "0" {
            return Ok(Request::Unstored("ecommerce"));
        }
        let id = goal
            .parse::<u32>()
            .ok()
            .filter(|_| goal.len() <= 9)
            .ok_or_else(|| {
                IngestError::BadRequest(format!(
                    "idgoal {:?} is not a goal number",
                    truncate(&goal, 20)
                ))
            })?;
        RawKind::Goal { id }
    } else if let Some(name) = get("c_n") {
        // Content tracking: an interaction (`c_i`, e.g. "click") or an impression.
        RawKind::Content {
            name,
            piece: get("c_p"),
            target: get("c_t"),
            interaction: get("c_i"),
        }
    } else if get("ma_id").is_some() {
        return Ok(Request::Unstored("media"));
    } else if custom_action {
        // `ca=1` without an event, content or goal: performance timings, crash or form
        // analytics of Matomo plugins. Never a page view.
        return Ok(Request::Unstored("custom_action"));
    } else {
        RawKind::Pageview {
            title: get("action_name"),
        }
    };
    // Matomo's 404 convention: the missing page's view is titled `404/URL = <path>/From
    // = <referrer>`. The title carries a URL and a whole referrer: it is not kept; the
    // referrer is taken from it when `urlref` is missing.
    let not_found_from = match &kind {
        RawKind::Pageview { title: Some(t) } if is_not_found_title(t) => Some(
            t.split_once("/From = ")
                .map(|(_, from)| percent_decoded(from.trim()))
                .filter(|f| !f.is_empty()),
        ),
        _ => None,
    };
    let not_found = not_found_from.is_some();
    let kind = if not_found {
        RawKind::Pageview { title: None }
    } else {
        kind
    };
    let screen_width = match get("res") {
        None => None,
        Some(res) => Some(
            res.split(['x', 'X'])
                .next()
                .and_then(|w| w.trim().parse::<u32>().ok())
                .ok_or_else(|| {
                    IngestError::BadRequest(format!(
                        "res {:?} is not WIDTHxHEIGHT",
                        truncate(&res, 20)
                    ))
                })?,
        ),
    };
    Ok(Request::Event(Box::new(RawEvent {
        site: SiteRef::Matomo(idsite),
        url,
        referrer: get("urlref").or(not_found_from.flatten()),
        screen_width,
        language: get("lang").or_else(|| accept_language.map(str::to_owned)),
        client_ts_ms: get("cdt").and_then(|c| client_time(&c)),
        user_agent: get("ua"),
        not_found,
        kind,
    })))
}

/// Whether a page title follows Matomo's 404 convention (`404/URL = …`).
fn is_not_found_title(title: &str) -> bool {
    title
        .trim_start()
        .strip_prefix("404")
        .is_some_and(|rest| rest.trim_start().starts_with('/'))
}

fn percent_decoded(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={s}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

fn client_time(cdt: &str) -> Option<i64> {
    if let Ok(secs) = cdt.parse::<i64>() {
        return secs.checked_mul(1000);
    }
    chrono::NaiveDateTime::parse_from_str(cdt, "%Y-%m-%d %H:%M:%S")
        .ok()
        .map(|t| t.and_utc().timestamp_millis())
}

#[derive(Debug, Deserialize)]
struct Bulk {
    requests: Vec<String>,
}

/// Parses a bulk body into the individual request query strings.
pub fn parse_bulk(body: &[u8], max_events: usize) -> Result<Vec<String>, IngestError> {
    let bulk: Bulk = serde_json::from_slice(body).map_err(|e| {
        IngestError::BadRequest(format!(
            "bulk body is not {{\"requests\": [\"?idsite=…\", …]}}: {e}"
        ))
    })?;
    if bulk.requests.len() > max_events {
        return Err(IngestError::TooManyEvents {
            count: bulk.requests.len(),
            limit: max_events,
        });
    }
    Ok(bulk
        .requests
        .into_iter()
        .map(|r| match r.split_once('?') {
            Some((_, q)) => q.to_owned(),
            None => r,
        })
        .collect())
}

/// True when a POST body is a bulk request rather than form parameters.
pub fn is_bulk(body: &[u8]) -> bool {
    body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(q: &str) -> RawEvent {
        match parse(q, None).unwrap() {
            Request::Event(e) => *e,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_page_titled_by_matomo_s_404_convention_is_not_found_without_its_title() {
        // As Matomo's FAQ has sites write it: the path and the referrer encoded into the title.
        let title = "404/URL = %2Fschulden%2Foud%3Fa%3D1/From = https%3A%2F%2Fwww.nibud.nl%2Fhulp";
        let q = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("idsite", "1")
            .append_pair("rec", "1")
            .append_pair("url", "https://www.gemeente.nl/schulden/oud?a=1")
            .append_pair("action_name", title)
            .finish();
        let e = event(&q);
        assert!(e.not_found);
        assert_eq!(e.kind, RawKind::Pageview { title: None });
        assert_eq!(e.referrer.as_deref(), Some("https://www.nibud.nl/hulp"));
        // urlref wins over the title's From; an ordinary title is no 404.
        let e = event(&format!("{q}&urlref=https%3A%2F%2Fwww.google.nl%2F"));
        assert_eq!(e.referrer.as_deref(), Some("https://www.google.nl/"));
        let e = event("idsite=1&rec=1&url=http://x/&action_name=404%20Pagina%20niet%20gevonden");
        assert!(!e.not_found, "only the convention's 404/… marks it");
        let e = event("idsite=1&rec=1&url=http://x/&action_name=404/URL%20=%20%2Fx");
        assert!(e.not_found);
        assert_eq!(e.referrer, None);
    }

    #[test]
    fn pageview_with_the_parameters_a_tracker_sends() {
        let e = event("idsite=1&rec=1&action_name=Bijzondere%20bijstand&url=https%3A%2F%2Fwww.gemeente.nl%2Fbijstand&urlref=https%3A%2F%2Fwww.google.com%2F&_id=abcdef0123456789&uid=jan&res=1920x1080&lang=nl&h=14&m=3&s=20&ua=Mozilla%2F5.0&cdt=1764000000&send_image=0");
        assert_eq!(e.site, SiteRef::Matomo("1".into()));
        assert_eq!(e.url, "https://www.gemeente.nl/bijstand");
        assert_eq!(e.referrer.as_deref(), Some("https://www.google.com/"));
        assert_eq!(
            e.kind,
            RawKind::Pageview {
                title: Some("Bijzondere bijstand".into())
            }
        );
        assert_eq!(e.screen_width, Some(1920));
        assert_eq!(e.language.as_deref(), Some("nl"));
        assert_eq!(e.user_agent.as_deref(), Some("Mozilla/5.0"));
        assert_eq!(e.client_ts_ms, Some(1_764_000_000_000));
        assert!(!wants_image("idsite=1&send_image=0"));
        assert!(wants_image("idsite=1"));
    }

    #[test]
    fn search_events_outlinks_and_downloads() {
        let s = event("?idsite=1&rec=1&url=http://x/&search=kwijtschelding&search_cat=belastingen&search_count=0");
        assert_eq!(
            s.kind,
            RawKind::Search {
                query: "kwijtschelding".into(),
                category: Some("belastingen".into()),
                result_count: Some(0)
            }
        );
        let ev = event("idsite=1&rec=1&url=http://x/&e_c=contact&e_a=phone&e_n=tel:14030&e_v=1");
        assert_eq!(
            ev.kind,
            RawKind::MatomoEvent {
                category: "contact".into(),
                action: Some("phone".into()),
                name: Some("tel:14030".into())
            }
        );
        let out = event("idsite=1&rec=1&url=http://x/&link=https://www.nibud.nl/");
        assert_eq!(
            out.kind,
            RawKind::Action {
                name: "outlink".into(),
                target: Some("https://www.nibud.nl/".into())
            }
        );
        let dl = event("idsite=1&rec=1&url=http://x/&download=http://x/formulier.pdf");
        assert_eq!(
            dl.kind,
            RawKind::Action {
                name: "download".into(),
                target: Some("http://x/formulier.pdf".into())
            }
        );
        assert_eq!(parse("idsite=1&rec=1&ping=1", None).unwrap(), Request::Ping);
        assert_eq!(event("idsite=1&rec=1&url=http://x/").language, None);
        assert!(matches!(
            parse("idsite=1&rec=1&url=http://x/", Some("nl-NL")).unwrap(),
            Request::Event(e) if e.language.as_deref() == Some("nl-NL")
        ));
    }

    #[test]
    fn goals_and_content_are_their_own_kinds_and_other_kinds_are_never_page_views() {
        let goal = event("idsite=1&rec=1&url=http://x/bedankt&idgoal=3&revenue=0");
        assert_eq!(goal.kind, RawKind::Goal { id: 3 });
        let seen = event("idsite=1&rec=1&url=http://x/&c_n=Banner%20schuldhulp&c_p=hulp.png&c_t=http://x/schulden");
        assert_eq!(
            seen.kind,
            RawKind::Content {
                name: "Banner schuldhulp".into(),
                piece: Some("hulp.png".into()),
                target: Some("http://x/schulden".into()),
                interaction: None
            }
        );
        let clicked = event(
            "idsite=1&rec=1&url=http://x/&ca=1&c_i=click&c_n=Banner%20schuldhulp&c_p=hulp.png",
        );
        assert_eq!(
            clicked.kind,
            RawKind::Content {
                name: "Banner schuldhulp".into(),
                piece: Some("hulp.png".into()),
                target: None,
                interaction: Some("click".into())
            }
        );
        let ev = event("idsite=1&rec=1&url=http://x/&ca=1&e_c=Formulier&e_a=Aanvraag%20gestart%20(stap%201%2F3)");
        assert_eq!(
            ev.kind,
            RawKind::MatomoEvent {
                category: "Formulier".into(),
                action: Some("Aanvraag gestart (stap 1/3)".into()),
                name: None
            }
        );
        for (q, kind) in [
            (
                "idsite=1&rec=1&url=http://x/&idgoal=0&revenue=12",
                "ecommerce",
            ),
            (
                "idsite=1&rec=1&url=http://x/&ma_id=abc&ma_ti=Uitleg&ma_st=30",
                "media",
            ),
            (
                "idsite=1&rec=1&url=http://x/&ca=1&pf_net=10&pf_srv=20",
                "custom_action",
            ),
            ("idsite=1&rec=1&url=http://x/&ca=1", "custom_action"),
        ] {
            assert_eq!(parse(q, None).unwrap(), Request::Unstored(kind), "{q}");
        }
        assert!(parse("idsite=1&rec=1&url=http://x/&idgoal=drie", None)
            .unwrap_err()
            .to_string()
            .contains("idgoal"));
    }

    #[test]
    fn garbage_parameters_get_a_message() {
        for (q, msg) in [
            ("", "rec=1 is missing"),
            ("idsite=1&url=http://x/", "rec=1 is missing"),
            ("rec=1&url=http://x/", "idsite is missing"),
            ("idsite=1&rec=1", "url is missing"),
            (
                "idsite=1&rec=1&url=http://x/&search=a&search_count=many",
                "search_count \"many\"",
            ),
            ("idsite=1&rec=1&url=http://x/&res=big", "res \"big\""),
            ("idsite=%FF%FE&rec=1&url=%E0%A4%A", "url"),
        ] {
            match parse(q, None) {
                Err(e) => assert!(e.to_string().contains(msg), "{q} -> {e}"),
                Ok(r) => assert!(msg == "url" && matches!(r, Request::Event(_)), "{q} parsed"),
            }
        }
    }

    #[test]
    fn bulk_bodies_split_into_requests() {
        let body = br#"{"requests":["?idsite=1&rec=1&url=http://x/a","idsite=1&rec=1&url=http://x/b","https://stats.example/matomo.php?idsite=1&rec=1&url=http://x/c"],"token_auth":"x"}"#;
        assert!(is_bulk(body));
        let reqs = parse_bulk(body, 10).unwrap();
        assert_eq!(reqs.len(), 3);
        assert!(reqs.iter().all(|r| r.starts_with("idsite=1")));
        assert!(parse_bulk(br#"{"requests":"x"}"#, 10)
            .unwrap_err()
            .to_string()
            .contains("bulk body"));
        assert!(matches!(
            parse_bulk(body, 2),
            Err(IngestError::TooManyEvents { count: 3, limit: 2 })
        ));
        assert!(!is_bulk(b"idsite=1&rec=1"));
    }
}
