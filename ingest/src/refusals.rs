//! Refusals a site builder can see: every refused request is counted
//! (`luister_ingest_events_rejected_total`); the first one of each site and reason in
//! every interval (a minute by default) is also logged at info level — site, reason
//! and what was wrong, scrubbed — and sent to the refusals topic, which the processor
//! stores for the API (`/v1/sites/{site}/refusals`). Each line and record says how
//! many refusals of that site and reason were left out since the one before it, so a
//! snippet that sends garbage a thousand times a second costs a line a minute.
//!
//! The log holds at most [`MAX_KEYS`] (site, reason) pairs; when full, the pairs not
//! seen for an interval are forgotten first, and if none is, the whole log (a site
//! name is whatever a request says, so an attacker could fill it).

use std::collections::HashMap;
use std::sync::Mutex;

use luister_schema::{Refusal, SiteId};
use serde_json::Value;

use crate::collect::{Collector, SiteRef};
use crate::scrub::scrub_text;

/// Most (site, reason) pairs remembered.
pub const MAX_KEYS: usize = 10_000;

/// Longest message kept, in characters.
const MAX_MESSAGE_CHARS: usize = 300;

#[derive(Debug, Clone, Copy)]
struct Seen {
    /// When the last recorded refusal of the pair was, ms.
    recorded_ms: i64,
    /// Refusals of the pair since then that were left out.
    left_out: u64,
}

/// The rate-limited log of refusals.
pub struct RefusalLog {
    interval_ms: i64,
    collector: String,
    seen: Mutex<HashMap<(String, &'static str), Seen>>,
}

impl RefusalLog {
    /// A log that records one refusal per site and reason every `interval_ms`;
    /// `collector` names this process in the records.
    pub fn new(interval_ms: i64, collector: String) -> Self {
        Self {
            interval_ms: interval_ms.max(1),
            collector,
            seen: Mutex::new(HashMap::new()),
        }
    }

    /// Notes one refusal of `site` (`""` for none) for `reason` with `message`: logs
    /// it and returns the record to send when it is the first of its pair in the
    /// interval, else counts it as left out.
    pub fn note(
        &self,
        site: &str,
        reason: &'static str,
        message: &str,
        now_ms: i64,
    ) -> Option<Refusal> {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        let key = (site.to_owned(), reason);
        let left_out = match seen.get_mut(&key) {
            Some(s) if now_ms - s.recorded_ms < self.interval_ms => {
                s.left_out += 1;
                return None;
            }
            Some(s) => std::mem::take(&mut s.left_out),
            None => 0,
        };
        if seen.len() >= MAX_KEYS && !seen.contains_key(&key) {
            let interval = self.interval_ms;
            seen.retain(|_, s| now_ms - s.recorded_ms < interval);
            if seen.len() >= MAX_KEYS {
                seen.clear();
            }
        }
        seen.insert(
            key,
            Seen {
                recorded_ms: now_ms,
                left_out: 0,
            },
        );
        drop(seen);
        let message = scrub_text(&cut(message));
        tracing::info!(
            site = if site.is_empty() { "-" } else { site },
            reason,
            left_out,
            detail = %message,
            "refused a tracking request"
        );
        Some(Refusal {
            site: site.to_owned(),
            ts_ms: now_ms,
            reason: reason.to_owned(),
            message,
            count: left_out + 1,
            collector: self.collector.clone(),
        })
    }
}

/// The registered site a refused request belongs to, as far as it can be told from
/// what was read of it: the site it names (native `site`, Matomo `idsite`, Plausible
/// `d`, in the query, a form body, a JSON body or a Matomo bulk's first request), else
/// the site of its page URL's host (`url`, `u`), else that of its `Origin`. Only
/// registered sites: a request cannot put its refusals on a site that is not.
pub fn site_hint(
    c: &Collector,
    query: &str,
    body: &[u8],
    origin_host: Option<&str>,
) -> Option<SiteId> {
    let named = |r: SiteRef| c.site_named(&r).cloned();
    let host = |u: &str| {
        url::Url::parse(u)
            .ok()
            .and_then(|u| u.host_str().and_then(|h| c.site_of_host(h)).cloned())
    };
    let from_params = |q: &str| {
        let p: HashMap<String, String> =
            url::form_urlencoded::parse(q.trim_start_matches('?').as_bytes())
                .into_owned()
                .collect();
        p.get("idsite")
            .and_then(|i| named(SiteRef::Matomo(i.clone())))
            .or_else(|| p.get("url").and_then(|u| host(u)))
    };
    let from_json = |v: &Value| {
        let v = match v {
            Value::Array(a) => a.first()?,
            v => v,
        };
        let text = |k: &str| v.get(k).and_then(Value::as_str);
        text("site")
            .and_then(|s| named(SiteRef::Id(s.to_owned())))
            .or_else(|| {
                text("d")
                    .or_else(|| text("domain"))
                    .and_then(|d| named(SiteRef::Plausible(d.to_owned())))
            })
            .or_else(|| text("u").or_else(|| text("url")).and_then(host))
            .or_else(|| {
                v.get("requests")
                    .and_then(|r| r.get(0))
                    .and_then(Value::as_str)
                    .and_then(from_params)
            })
    };
    let body_text = std::str::from_utf8(body).ok().map(str::trim).unwrap_or("");
    from_params(query)
        .or_else(|| match serde_json::from_str::<Value>(body_text) {
            Ok(v) => from_json(&v),
            Err(_) if !body_text.is_empty() => from_params(body_text),
            Err(_) => None,
        })
        .or_else(|| origin_host.and_then(|h| c.site_of_host(h)).cloned())
}

fn cut(message: &str) -> String {
    match message.char_indices().nth(MAX_MESSAGE_CHARS) {
        Some((i, _)) => format!("{}…", &message[..i]),
        None => message.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_record_per_site_and_reason_per_interval_counting_those_left_out() {
        let log = RefusalLog::new(60_000, "c1".into());
        let first = log
            .note("demo", "bad_request", "url \"x\" is not a valid URL", 0)
            .unwrap();
        assert_eq!((first.count, first.site.as_str()), (1, "demo"));
        assert!(log.note("demo", "bad_request", "again", 1_000).is_none());
        assert!(log.note("demo", "bad_request", "again", 2_000).is_none());
        // Another reason, another site, no site: recorded at once.
        assert!(log.note("demo", "foreign_host", "h", 2_000).is_some());
        assert!(log.note("zwolle", "bad_request", "b", 2_000).is_some());
        assert!(log.note("", "unknown_site", "s", 2_000).is_some());
        let next = log.note("demo", "bad_request", "later", 60_000).unwrap();
        assert_eq!(next.count, 3, "itself and the two left out");
        assert_eq!(
            log.note("demo", "bad_request", "much later", 200_000)
                .unwrap()
                .count,
            1
        );
    }

    #[test]
    fn a_refusal_belongs_to_the_registered_site_the_request_names_or_comes_from() {
        use crate::config::{LimitsConfig, SiteConfig};
        let mut site = SiteConfig::new(SiteId::parse("demo").unwrap(), &["www.gemeente.nl"]);
        site.matomo_idsite = Some("3".into());
        site.plausible_domain = Some("gemeente.nl".into());
        let c = Collector::new(
            &[site],
            LimitsConfig::default(),
            crate::visitor::Salter::local(),
        );
        let hint = |q: &str, b: &str, o: Option<&str>| {
            site_hint(&c, q, b.as_bytes(), o).map(|s| s.to_string())
        };
        let demo = Some("demo".to_owned());
        assert_eq!(hint("idsite=3&rec=1&url=bad", "", None), demo);
        assert_eq!(hint("rec=1&url=https://WWW.gemeente.nl/x", "", None), demo);
        assert_eq!(hint("", "idsite=3&rec=1", None), demo);
        assert_eq!(hint("", r#"{"requests":["?idsite=3&rec=1"]}"#, None), demo);
        assert_eq!(hint("", r#"[{"site":"demo","type":"nope"}]"#, None), demo);
        assert_eq!(
            hint("", r#"{"n":"pageview","d":"gemeente.nl"}"#, None),
            demo
        );
        assert_eq!(
            hint("", r#"{"n":"x","u":"https://www.gemeente.nl/"}"#, None),
            demo
        );
        assert_eq!(hint("", "not json {", Some("www.gemeente.nl")), demo);
        assert_eq!(hint("idsite=99&rec=1", "", None), None);
        assert_eq!(hint("", r#"{"site":"elders"}"#, None), None);
    }

    #[test]
    fn messages_are_scrubbed_and_cut() {
        let log = RefusalLog::new(60_000, "c1".into());
        let r = log
            .note(
                "demo",
                "bad_request",
                "url \"https://x.nl/?mail=jan@example.nl\" is not on the site",
                0,
            )
            .unwrap();
        assert!(!r.message.contains("jan@example.nl"), "{}", r.message);
        let long = log.note("demo", "x", &"a".repeat(1000), 0).unwrap();
        assert_eq!(long.message.chars().count(), MAX_MESSAGE_CHARS + 1);
    }

    #[test]
    fn a_full_log_forgets_pairs_not_seen_for_an_interval_first() {
        let log = RefusalLog::new(1_000, "c1".into());
        for i in 0..MAX_KEYS {
            assert!(log.note(&format!("s{i}"), "r", "m", 0).is_some());
        }
        // Refusals of a known pair in its interval stay left out when the log is full.
        assert!(log.note("s1", "r", "m", 500).is_none());
        assert!(log.note("new", "r", "m", 5_000).is_some());
        let size = log.seen.lock().unwrap().len();
        assert_eq!(size, 1, "the stale pairs were forgotten");
    }
}
