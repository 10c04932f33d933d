//! The hits in each form Luister takes them: the collector's own JSON, the Matomo
//! Tracking API, the Plausible events API, and the v1 event on the Kafka topic.

use luister_schema::{Device, Event, EventData, SiteId, VisitorKey, SCHEMA_VERSION};
use serde_json::{json, Value};
use url::form_urlencoded;

use crate::model::{Hit, Kind};

/// A site as the load generator addresses it.
#[derive(Debug, Clone)]
pub struct Site {
    /// Site id.
    pub id: String,
    /// The host of its page URLs (one of the site's `hostnames`).
    pub host: String,
    /// Its Matomo `idsite`.
    pub matomo_idsite: String,
}

fn page_url(site: &Site, hit: &Hit) -> String {
    match &hit.kind {
        Kind::Search { query, .. } => {
            let q: String = form_urlencoded::byte_serialize(query.as_bytes()).collect();
            format!("https://{}/zoeken?q={q}", site.host)
        }
        _ => format!("https://{}{}", site.host, hit.path),
    }
}

/// The collector's native JSON (`POST /v1/events`).
pub fn native(site: &Site, hit: &Hit) -> Value {
    let mut v = json!({"site": site.id, "url": page_url(site, hit), "screen_width": hit.screen_width, "language": "nl-NL"});
    if let Some(r) = &hit.referrer {
        v["referrer"] = json!(r);
    }
    match &hit.kind {
        Kind::Pageview { title } => {
            v["type"] = json!("pageview");
            v["title"] = json!(title);
        }
        Kind::Search { query, results } => {
            v["type"] = json!("search");
            v["query"] = json!(query);
            v["result_count"] = json!(results);
        }
        Kind::Action { name } => {
            v["type"] = json!("action");
            v["name"] = json!(name);
        }
    }
    v
}

/// The Matomo Tracking API query string (`GET /matomo.php?…`).
pub fn matomo(site: &Site, hit: &Hit) -> String {
    let mut q = form_urlencoded::Serializer::new(String::new());
    q.append_pair("idsite", &site.matomo_idsite)
        .append_pair("rec", "1")
        .append_pair("url", &page_url(site, hit))
        .append_pair("res", &format!("{}x900", hit.screen_width))
        .append_pair("lang", "nl-NL")
        .append_pair("send_image", "0");
    if let Some(r) = &hit.referrer {
        q.append_pair("urlref", r);
    }
    match &hit.kind {
        Kind::Pageview { title } => {
            q.append_pair("action_name", title);
        }
        Kind::Search { query, results } => {
            q.append_pair("search", query)
                .append_pair("search_count", &results.to_string());
        }
        Kind::Action { name } => {
            let (category, action) = name.split_once(':').unwrap_or((name, ""));
            q.append_pair("e_c", category).append_pair("e_a", action);
        }
    }
    q.finish()
}

/// The Plausible events API body (`POST /api/event`).
pub fn plausible(site: &Site, hit: &Hit) -> Value {
    let mut v = json!({"u": page_url(site, hit), "d": site.host, "w": hit.screen_width});
    if let Some(r) = &hit.referrer {
        v["r"] = json!(r);
    }
    match &hit.kind {
        Kind::Pageview { .. } => v["n"] = json!("pageview"),
        Kind::Search { query, results } => {
            v["n"] = json!("search");
            v["p"] = json!({"query": query, "results": results});
        }
        Kind::Action { name } => v["n"] = json!(name),
    }
    v
}

/// The v1 event on the topic, as the collector would have written it.
pub fn event(site: &Site, hit: &Hit) -> anyhow::Result<Event> {
    Ok(Event {
        v: SCHEMA_VERSION,
        site: SiteId::parse(&site.id)?,
        ts_ms: hit.ts_ms,
        client_ts_ms: None,
        visitor: VisitorKey::from_u64(hit.visitor),
        url: page_url(site, hit),
        referrer: hit.referrer.clone(),
        device: match hit.device {
            "mobile" => Device::Mobile,
            "tablet" => Device::Tablet,
            _ => Device::Desktop,
        },
        browser: if hit.device == "tablet" {
            "Safari"
        } else {
            "Chrome"
        }
        .into(),
        screen_width: Some(hit.screen_width),
        language: Some("nl-nl".into()),
        not_found: false,
        data: match &hit.kind {
            Kind::Pageview { title } => EventData::Pageview {
                title: Some(title.clone()),
            },
            Kind::Search { query, results } => EventData::Search {
                query: query.clone(),
                result_count: Some(*results),
                category: None,
            },
            Kind::Action { name } => EventData::Action {
                name: name.clone(),
                target: None,
                label: None,
            },
        },
    })
}
