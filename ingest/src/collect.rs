//! Turning a request body into an [`Event`]: parse it once at the edge, check it
//! against the site registry, and drop what must not travel (query parameters that are
//! not allow-listed, URL fragments and credentials).

use std::collections::HashMap;

use serde::Deserialize;
use url::Url;

use luister_schema::{Event, EventData, SiteId, VisitorKey, SCHEMA_VERSION};

use crate::config::SiteConfig;
use crate::error::IngestError;

/// Longest page URL accepted, in bytes.
pub const MAX_URL_BYTES: usize = 4096;

/// The JSON a site sends to `POST /v1/events`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Incoming {
    site: String,
    #[serde(rename = "type")]
    kind: String,
    url: String,
}

/// The registered sites, by id.
#[derive(Debug, Default)]
pub struct Sites {
    by_id: HashMap<SiteId, SiteConfig>,
}

impl Sites {
    /// Builds the registry from configuration; hostnames are compared lowercase.
    pub fn new(sites: &[SiteConfig]) -> Self {
        let by_id = sites
            .iter()
            .map(|s| {
                let mut s = s.clone();
                for h in &mut s.hostnames {
                    *h = h.to_ascii_lowercase();
                }
                (s.id.clone(), s)
            })
            .collect();
        Self { by_id }
    }

    fn get(&self, id: &str) -> Result<&SiteConfig, IngestError> {
        SiteId::parse(id)
            .ok()
            .and_then(|id| self.by_id.get(&id))
            .ok_or_else(|| IngestError::UnknownSite(truncate(id, 80)))
    }
}

/// What the request carried, checked and scrubbed, before the visitor key is known.
#[derive(Debug, PartialEq)]
pub struct Parsed {
    /// The registered site.
    pub site: SiteId,
    /// The event fields.
    pub data: EventData,
}

impl Parsed {
    /// The event as it goes to Kafka.
    pub fn into_event(self, visitor: VisitorKey, ts_ms: i64) -> Event {
        Event {
            v: SCHEMA_VERSION,
            site: self.site,
            ts_ms,
            visitor,
            data: self.data,
        }
    }
}

/// Parses and checks one JSON event.
pub fn parse(body: &[u8], sites: &Sites) -> Result<Parsed, IngestError> {
    let text = std::str::from_utf8(body)
        .map_err(|e| IngestError::BadRequest(format!("body is not valid UTF-8: {e}")))?;
    let incoming: Incoming = serde_json::from_str(text)
        .map_err(|e| IngestError::BadRequest(format!("body is not a valid event: {e}")))?;
    let site = sites.get(&incoming.site)?;
    match incoming.kind.as_str() {
        "pageview" => {}
        other => {
            return Err(IngestError::BadRequest(format!(
                "type {:?} is not supported; use \"pageview\"",
                truncate(other, 40)
            )))
        }
    }
    let url = page_url(&incoming.url, site)?;
    Ok(Parsed {
        site: site.id.clone(),
        data: EventData::Pageview { url },
    })
}

/// Checks that `raw` is an http(s) URL on one of the site's hostnames and removes what
/// must not be stored: credentials, the fragment, and query parameters other than
/// `utm_*` and the site-search parameter.
fn page_url(raw: &str, site: &SiteConfig) -> Result<String, IngestError> {
    if raw.len() > MAX_URL_BYTES {
        return Err(IngestError::BadRequest(format!(
            "url is {} bytes long; the limit is {MAX_URL_BYTES}",
            raw.len()
        )));
    }
    let mut url = Url::parse(raw).map_err(|e| {
        IngestError::BadRequest(format!(
            "url {:?} is not a valid URL: {e}",
            truncate(raw, 80)
        ))
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(IngestError::BadRequest(format!(
            "url must start with http:// or https://, not {}:",
            url.scheme()
        )));
    }
    let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
    if !site.hostnames.contains(&host) {
        return Err(IngestError::ForeignHost {
            site: site.id.to_string(),
            host: truncate(&host, 80),
        });
    }
    let kept: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| k.starts_with("utm_") || *k == site.search_param)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    url.set_fragment(None);
    // Setting empty credentials on an http(s) URL cannot fail.
    let _ = url.set_username("");
    let _ = url.set_password(None);
    if kept.is_empty() {
        url.set_query(None);
    } else {
        url.query_pairs_mut().clear().extend_pairs(kept);
    }
    Ok(url.into())
}

fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sites() -> Sites {
        Sites::new(&[SiteConfig {
            id: SiteId::parse("demo").unwrap(),
            hostnames: vec!["localhost".into(), "WWW.Gemeente.NL".into()],
            search_param: "q".into(),
        }])
    }

    fn url_of(body: &str) -> String {
        match parse(body.as_bytes(), &sites()).unwrap().data {
            EventData::Pageview { url } => url,
        }
    }

    #[test]
    fn pageview_on_registered_host_is_accepted() {
        let p = parse(
            br#"{"site":"demo","type":"pageview","url":"http://localhost/x"}"#,
            &sites(),
        )
        .unwrap();
        assert_eq!(p.site.as_str(), "demo");
        assert_eq!(
            p.data,
            EventData::Pageview {
                url: "http://localhost/x".into()
            }
        );
    }

    #[test]
    fn query_keeps_only_utm_and_search_parameter() {
        assert_eq!(
            url_of(
                r#"{"site":"demo","type":"pageview","url":"https://www.gemeente.nl/zoeken?q=schuldhulp&email=a%40b.nl&utm_source=nieuwsbrief&sessionid=9#top"}"#
            ),
            "https://www.gemeente.nl/zoeken?q=schuldhulp&utm_source=nieuwsbrief"
        );
        assert_eq!(
            url_of(
                r#"{"site":"demo","type":"pageview","url":"https://user:pw@www.gemeente.nl/a?bsn=123"}"#
            ),
            "https://www.gemeente.nl/a"
        );
    }

    #[test]
    fn errors_name_what_is_wrong() {
        let cases: &[(&[u8], &str)] = &[
            (b"{", "not a valid event"),
            (b"\xff\xfe", "not valid UTF-8"),
            (
                br#"{"site":"demo","type":"pageview"}"#,
                "missing field `url`",
            ),
            (
                br#"{"site":"demo","type":"pageview","url":5}"#,
                "invalid type",
            ),
            (
                br#"{"site":"demo","type":"pageview","url":"x","ip":"1.2.3.4"}"#,
                "unknown field `ip`",
            ),
            (
                br#"{"site":"demo","type":"teleport","url":"http://localhost/"}"#,
                "type \"teleport\" is not supported",
            ),
            (
                br#"{"site":"demo","type":"pageview","url":"not a url"}"#,
                "is not a valid URL",
            ),
            (
                br#"{"site":"demo","type":"pageview","url":"ftp://localhost/x"}"#,
                "must start with http",
            ),
            (
                br#"{"site":"nope","type":"pageview","url":"http://localhost/x"}"#,
                "site \"nope\" is not registered",
            ),
            (
                br#"{"site":"demo","type":"pageview","url":"http://evil.example/x"}"#,
                "host \"evil.example\" does not belong to site demo",
            ),
        ];
        for (body, expected) in cases {
            let e = parse(body, &sites()).unwrap_err().to_string();
            assert!(
                e.contains(expected),
                "{} -> {e}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn overlong_url_is_refused_with_the_limit() {
        let body = format!(
            r#"{{"site":"demo","type":"pageview","url":"http://localhost/{}"}}"#,
            "a".repeat(MAX_URL_BYTES)
        );
        let e = parse(body.as_bytes(), &sites()).unwrap_err().to_string();
        assert!(e.contains("the limit is 4096"), "{e}");
    }
}
