//! Luister's own JSON events, described by the JSON Schema
//! `schema/json/collector-event.v1.schema.json` (a unit test keeps the two in step).
//!
//! ```json
//! {"site":"demo","type":"pageview","url":"https://www.gemeente.nl/bijstand","referrer":"https://www.google.com/","title":"Bijstand","screen_width":1280,"language":"nl"}
//! {"site":"demo","type":"search","url":"https://www.gemeente.nl/zoeken?q=kwijtschelding","query":"kwijtschelding","result_count":0}
//! {"site":"demo","type":"action","url":"https://www.gemeente.nl/contact","name":"contact:phone","target":"tel:14030"}
//! ```

use serde::Deserialize;

use crate::collect::{RawEvent, RawKind, SiteRef};
use crate::error::IngestError;

/// One event as a site sends it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Native {
    site: String,
    #[serde(rename = "type")]
    kind: String,
    url: String,
    #[serde(default)]
    referrer: Option<String>,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    screen_width: Option<u32>,
    #[serde(default)]
    language: Option<String>,
    /// The client's clock, milliseconds since the epoch.
    #[serde(default)]
    ts: Option<i64>,
    #[serde(default)]
    query: Option<String>,
    #[serde(default)]
    result_count: Option<u32>,
    #[serde(default)]
    category: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    target: Option<String>,
    /// A page view of a page that does not exist (the site's 404 page).
    #[serde(default)]
    not_found: Option<bool>,
}

/// Parses a body holding one event object or an array of them.
pub fn parse(body: &[u8], max_events: usize) -> Result<Vec<RawEvent>, IngestError> {
    let text = std::str::from_utf8(body)
        .map_err(|e| IngestError::BadRequest(format!("body is not valid UTF-8: {e}")))?;
    let trimmed = text.trim_start();
    let events: Vec<Native> = if trimmed.starts_with('[') {
        let v: Vec<Native> = serde_json::from_str(trimmed).map_err(|e| {
            IngestError::BadRequest(format!("body is not a valid array of events: {e}"))
        })?;
        if v.is_empty() {
            return Err(IngestError::BadRequest(
                "the array of events is empty".into(),
            ));
        }
        if v.len() > max_events {
            return Err(IngestError::TooManyEvents {
                count: v.len(),
                limit: max_events,
            });
        }
        v
    } else {
        vec![serde_json::from_str(trimmed)
            .map_err(|e| IngestError::BadRequest(format!("body is not a valid event: {e}")))?]
    };
    events
        .into_iter()
        .enumerate()
        .map(|(i, n)| raw(n).map_err(|e| e.at_index(i)))
        .collect()
}

fn raw(n: Native) -> Result<RawEvent, IngestError> {
    let kind = match n.kind.as_str() {
        "pageview" => RawKind::Pageview { title: n.title },
        "search" => RawKind::Search {
            query: n
                .query
                .ok_or_else(|| IngestError::BadRequest("a search event needs \"query\"".into()))?,
            result_count: n.result_count,
            category: n.category,
        },
        "action" => RawKind::Action {
            name: n.name.ok_or_else(|| {
                IngestError::BadRequest(
                    "an action event needs \"name\", e.g. \"contact:phone\"".into(),
                )
            })?,
            target: n.target,
        },
        other => {
            return Err(IngestError::BadRequest(format!(
                "type {:?} is not one of \"pageview\", \"search\", \"action\"",
                crate::collect::truncate(other, 40)
            )))
        }
    };
    Ok(RawEvent {
        site: SiteRef::Id(n.site),
        url: n.url,
        referrer: n.referrer,
        screen_width: n.screen_width,
        language: n.language,
        client_ts_ms: n.ts,
        user_agent: None,
        not_found: n.not_found == Some(true) && n.kind == "pageview",
        kind,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_event_or_an_array() {
        let one = parse(
            br#"{"site":"demo","type":"pageview","url":"http://localhost/x","title":"X"}"#,
            10,
        )
        .unwrap();
        assert_eq!(one.len(), 1);
        assert_eq!(
            one[0].kind,
            RawKind::Pageview {
                title: Some("X".into())
            }
        );
        let many = parse(
            br#" [{"site":"demo","type":"search","url":"http://localhost/z","query":"bijstand","result_count":0},
                 {"site":"demo","type":"action","url":"http://localhost/c","name":"contact:phone","target":"tel:14030","ts":5}]"#,
            10,
        )
        .unwrap();
        assert_eq!(
            many[0].kind,
            RawKind::Search {
                query: "bijstand".into(),
                result_count: Some(0),
                category: None
            }
        );
        assert_eq!(many[1].client_ts_ms, Some(5));
    }

    const SCHEMA: &str = include_str!("../../../schema/json/collector-event.v1.schema.json");

    #[test]
    fn the_json_schema_examples_parse_and_its_fields_are_the_accepted_ones() {
        let schema: serde_json::Value = serde_json::from_str(SCHEMA).unwrap();
        for example in schema["examples"].as_array().unwrap() {
            let body = serde_json::to_vec(example).unwrap();
            assert!(parse(&body, 10).is_ok(), "{example}");
        }
        let props = schema["$defs"]["event"]["properties"].as_object().unwrap();
        let mut all = serde_json::Map::new();
        for name in props.keys() {
            all.insert(name.clone(), serde_json::Value::Null);
        }
        for (k, v) in [
            ("site", "demo"),
            ("type", "action"),
            ("url", "http://x/"),
            ("name", "download"),
            ("query", "q"),
        ] {
            all.insert(k.into(), v.into());
        }
        let body = serde_json::to_vec(&all).unwrap();
        assert!(
            parse(&body, 10).is_ok(),
            "every schema property is accepted"
        );
        let mut extra = all.clone();
        extra.insert("not_in_schema".into(), 1.into());
        assert!(
            parse(&serde_json::to_vec(&extra).unwrap(), 10).is_err(),
            "no field beyond the schema"
        );
    }

    #[test]
    fn a_page_view_can_say_its_page_was_not_found() {
        let e = parse(
            br#"{"site":"demo","type":"pageview","url":"http://x/oud","not_found":true}"#,
            1,
        )
        .unwrap();
        assert!(e[0].not_found);
        let a = parse(
            br#"{"site":"demo","type":"action","name":"x","url":"http://x/","not_found":true}"#,
            1,
        )
        .unwrap();
        assert!(!a[0].not_found, "only a page view is a not-found page");
        let n = parse(
            br#"{"site":"demo","type":"pageview","url":"http://x/","not_found":null}"#,
            1,
        )
        .unwrap();
        assert!(!n[0].not_found);
    }

    #[test]
    fn malformed_bodies_say_what_is_wrong() {
        let cases: &[(&[u8], &str)] = &[
            (b"{", "not a valid event"),
            (b"\xff\xfe", "not valid UTF-8"),
            (b"[]", "array of events is empty"),
            (b"[1,2]", "not a valid array of events"),
            (br#"{"site":"demo","type":"pageview"}"#, "missing field `url`"),
            (br#"{"site":"demo","type":"pageview","url":5}"#, "invalid type"),
            (br#"{"site":"demo","type":"pageview","url":"x","ip":"1.2.3.4"}"#, "unknown field `ip`"),
            (br#"{"site":"demo","type":"pageview","url":"x","screen_width":-3}"#, "invalid value"),
            (br#"{"site":"demo","type":"teleport","url":"x"}"#, "\"teleport\" is not one of"),
            (br#"{"site":"demo","type":"search","url":"x"}"#, "needs \"query\""),
            (br#"[{"site":"demo","type":"pageview","url":"x"},{"site":"demo","type":"action","url":"x"}]"#, "event 1: an action event needs \"name\""),
        ];
        for (body, msg) in cases {
            let e = parse(body, 10).unwrap_err().to_string();
            assert!(e.contains(msg), "{} -> {e}", String::from_utf8_lossy(body));
        }
        let many = format!(
            "[{}]",
            [r#"{"site":"demo","type":"pageview","url":"x"}"#; 11].join(",")
        );
        assert!(matches!(
            parse(many.as_bytes(), 10),
            Err(IngestError::TooManyEvents {
                count: 11,
                limit: 10
            })
        ));
    }
}
