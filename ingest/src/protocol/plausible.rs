//! The Plausible events API (`POST /api/event`), so a site running Plausible's script
//! can point it at Luister.
//!
//! Read: `n` (event name), `u` (URL), `d` (domain, comma-separated for several; without
//! it the URL's host), `r` (referrer), `w` (screen width) and `p`/`props`/`m`/`meta`
//! (properties, an object or a JSON string). `pageview` is a page view; `Outbound Link: Click` and `File Download`
//! become `outlink` and `download` with the property `url` as target; `search` with
//! properties `query`, `results` and `category` is a site search; `engagement` (sent
//! when a page is left or hidden, with `e` the engaged time in ms and `sd` the scroll
//! depth in percent) is the engagement of that page view, not an action; `404` (its
//! 404-page tracking, sent after the missing page's page view) is the action
//! `not-found` marking that page as not found; any other
//! name is an action of that name (as sent; the site's action rules name it).

use serde::Deserialize;
use serde_json::Value;

use crate::collect::{RawEvent, RawKind, SiteRef, NOT_FOUND_ACTION};
use crate::error::IngestError;

#[derive(Debug, Deserialize)]
struct Plausible {
    #[serde(alias = "name")]
    n: String,
    #[serde(alias = "url")]
    u: String,
    #[serde(default, alias = "domain")]
    d: Option<String>,
    #[serde(default, alias = "referrer")]
    r: Option<String>,
    #[serde(default, alias = "screen_width")]
    w: Option<u32>,
    #[serde(default, alias = "props", alias = "m", alias = "meta")]
    p: Option<Value>,
    /// Engagement: the deepest scroll, percent.
    #[serde(default)]
    sd: Option<Value>,
    /// Engagement: the engaged time, ms.
    #[serde(default)]
    e: Option<Value>,
}

/// A JSON number or numeric string as a whole number (Plausible's scripts send
/// numbers; its server accepts either).
fn whole(v: Option<&Value>) -> Option<i64> {
    match v? {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f.round() as i64)),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Parses a Plausible event body.
pub fn parse(body: &[u8]) -> Result<RawEvent, IngestError> {
    let e: Plausible = serde_json::from_slice(body)
        .map_err(|err| IngestError::BadRequest(format!("body is not a Plausible event: {err}")))?;
    let props = match e.p {
        Some(Value::String(s)) => serde_json::from_str(&s).unwrap_or(Value::Null),
        Some(v) => v,
        None => Value::Null,
    };
    let prop = |k: &str| match props.get(k) {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    let kind = match e.n.as_str() {
        "pageview" => RawKind::Pageview { title: None },
        "engagement" => RawKind::Engagement {
            engaged_ms: whole(e.e.as_ref())
                .and_then(|ms| u64::try_from(ms).ok())
                .ok_or_else(|| {
                    IngestError::BadRequest(
                        "an engagement event needs \"e\", the engaged time in ms".into(),
                    )
                })?,
            scroll_depth: whole(e.sd.as_ref()),
        },
        "Outbound Link: Click" => RawKind::Action {
            name: "outlink".into(),
            target: prop("url"),
        },
        "File Download" => RawKind::Action {
            name: "download".into(),
            target: prop("url"),
        },
        // Plausible's 404 tracking sends `404` after the page view of the missing page.
        "404" => RawKind::Action {
            name: NOT_FOUND_ACTION.into(),
            target: None,
        },
        "search" | "Search" => RawKind::Search {
            query: prop("query").ok_or_else(|| {
                IngestError::BadRequest("a search event needs the property \"query\"".into())
            })?,
            result_count: prop("results").and_then(|r| r.parse().ok()),
            category: prop("category"),
        },
        other => RawKind::Action {
            // Plausible's server takes long names: a long one is cut, not lost.
            name: crate::collect::cut_chars(other.trim(), crate::collect::MAX_ACTION_NAME),
            target: prop("url").or_else(|| prop("target")),
        },
    };
    Ok(RawEvent {
        site: SiteRef::Plausible(match e.d {
            Some(d) => d,
            None => url::Url::parse(&e.u)
                .ok()
                .and_then(|u| u.host_str().map(str::to_owned))
                .unwrap_or_default(),
        }),
        url: e.u,
        referrer: e.r,
        screen_width: e.w,
        language: None,
        client_ts_ms: None,
        user_agent: None,
        not_found: e.n == "404",
        kind,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plausible_s_404_event_marks_its_page_not_found() {
        let e = parse(br#"{"n":"404","u":"https://www.gemeente.nl/oud","d":"gemeente.nl","p":{"path":"/oud"}}"#).unwrap();
        assert!(e.not_found);
        assert_eq!(
            e.kind,
            RawKind::Action {
                name: "not-found".into(),
                target: None
            }
        );
        let pv = parse(br#"{"n":"pageview","u":"https://www.gemeente.nl/oud","d":"gemeente.nl"}"#)
            .unwrap();
        assert!(!pv.not_found);
    }

    #[test]
    fn the_script_s_bodies_parse() {
        let pv = parse(br#"{"n":"pageview","u":"https://www.gemeente.nl/bijstand","d":"gemeente.nl","r":null,"w":1280}"#).unwrap();
        assert_eq!(pv.site, SiteRef::Plausible("gemeente.nl".into()));
        assert_eq!(pv.kind, RawKind::Pageview { title: None });
        assert_eq!(pv.screen_width, Some(1280));
        let out = parse(br#"{"n":"Outbound Link: Click","u":"https://www.gemeente.nl/","d":"gemeente.nl","p":"{\"url\":\"https://www.nibud.nl/\"}"}"#).unwrap();
        assert_eq!(
            out.kind,
            RawKind::Action {
                name: "outlink".into(),
                target: Some("https://www.nibud.nl/".into())
            }
        );
        let s = parse(br#"{"name":"search","url":"https://www.gemeente.nl/zoeken","domain":"gemeente.nl","props":{"query":"voedselbank","results":0}}"#).unwrap();
        assert_eq!(
            s.kind,
            RawKind::Search {
                query: "voedselbank".into(),
                result_count: Some(0),
                category: None
            }
        );
        let no_domain =
            parse(br#"{"n":"pageview","u":"https://www.gemeente.nl/bijstand","meta":{"a":"b"}}"#)
                .unwrap();
        assert_eq!(no_domain.site, SiteRef::Plausible("www.gemeente.nl".into()));
        let c = parse(br#"{"n":"contact:chat","u":"https://www.gemeente.nl/","d":"gemeente.nl"}"#)
            .unwrap();
        assert_eq!(
            c.kind,
            RawKind::Action {
                name: "contact:chat".into(),
                target: None
            }
        );
    }

    #[test]
    fn engagement_is_time_and_scroll_depth_not_an_action() {
        let e = parse(br#"{"n":"engagement","u":"https://www.gemeente.nl/bijstand","d":"gemeente.nl","r":null,"sd":85,"e":41250,"p":{}}"#).unwrap();
        assert_eq!(
            e.kind,
            RawKind::Engagement {
                engaged_ms: 41_250,
                scroll_depth: Some(85)
            }
        );
        let e = parse(br#"{"n":"engagement","u":"https://x.nl/","d":"x.nl","sd":"12","e":900.4}"#)
            .unwrap();
        assert_eq!(
            e.kind,
            RawKind::Engagement {
                engaged_ms: 900,
                scroll_depth: Some(12)
            }
        );
        let err = parse(br#"{"n":"engagement","u":"https://x.nl/","d":"x.nl","sd":10}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("engaged time"), "{err}");
    }

    #[test]
    fn bad_bodies_say_what_is_wrong() {
        for (b, msg) in [
            (&b"nope"[..], "not a Plausible event"),
            (br#"{"n":"pageview","d":"x"}"#, "missing field `u`"),
            (
                br#"{"n":"search","u":"https://x/","d":"x"}"#,
                "property \"query\"",
            ),
            (
                br#"{"n":"pageview","u":"https://x/","d":"x","w":"wide"}"#,
                "invalid type",
            ),
        ] {
            let e = parse(b).unwrap_err().to_string();
            assert!(e.contains(msg), "{e}");
        }
    }
}
