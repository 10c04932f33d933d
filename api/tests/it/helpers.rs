//! The whole pipeline in-process: collector, processor and API on one scratch topic
//! and database, against the real broker and ClickHouse; and a known set of events.

use std::time::Duration;

use chrono::{Datelike, Days, NaiveDate, Utc};
use luister_api::auth::token_hash;
use luister_api::config::{ApiConfig, AuthConfig, SiteConfig, TenantConfig};
use luister_schema::{Device, Event, EventData, SiteId};
use luister_store::ClickHouseConfig;
use luister_testkit::{clickhouse_url, produce_many, Running, Scratch};

/// The administrator's token.
pub const ADMIN: &str = "admin-token-for-tests";
/// The token of the tenant that owns site `demo`.
pub const DEMO: &str = "demo-tenant-token";
/// The token of the tenant that owns site `zwolle`.
pub const ZWOLLE: &str = "zwolle-tenant-token";

/// The three services, started in data-flow order.
pub struct Pipeline {
    pub ingest: Running,
    pub processor: Running,
    pub api: Running,
    client: reqwest::Client,
    /// The API's OpenAPI document, against which every JSON answer is checked.
    openapi: serde_json::Value,
}

/// A Matomo tracking request's query with `params` (after `idsite=1&rec=1`).
pub fn matomo_query(params: &[(&str, &str)]) -> String {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    s.append_pair("idsite", "1").append_pair("rec", "1");
    for (k, v) in params {
        s.append_pair(k, v);
    }
    s.finish()
}

/// A browser's user agent, for requests sent as a tracker would.
pub const FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0";

fn clickhouse(scratch: &Scratch) -> ClickHouseConfig {
    ClickHouseConfig {
        url: clickhouse_url(),
        database: scratch.database.clone(),
        ..ClickHouseConfig::default()
    }
}

fn site(s: &str) -> SiteId {
    SiteId::parse(s).unwrap()
}

impl Pipeline {
    pub async fn start(scratch: &Scratch) -> Self {
        Self::start_with(scratch, |_| {}).await
    }

    /// [`Pipeline::start`] with `adjust` applied to the processor's configuration.
    pub async fn start_with(
        scratch: &Scratch,
        adjust: impl FnOnce(&mut luister_processor::config::ProcessorConfig),
    ) -> Self {
        let mut processor = luister_processor::config::ProcessorConfig {
            kafka: scratch.kafka(),
            clickhouse: clickhouse(scratch),
            ..Default::default()
        };
        processor.consumer.batch_max_wait_ms = 200;
        processor.sessions.interval_s = 1;
        adjust(&mut processor);
        let processor = Running::start(move |l, s| luister_processor::serve(processor, l, s)).await;
        processor.wait_ready(Duration::from_secs(60)).await;

        let mut ingest = luister_ingest::config::IngestConfig {
            kafka: scratch.kafka(),
            sites: vec![
                luister_ingest::config::SiteConfig {
                    matomo_idsite: Some("1".into()),
                    plausible_domain: Some("localhost".into()),
                    ..luister_ingest::config::SiteConfig::new(site("demo"), &["localhost"])
                },
                luister_ingest::config::SiteConfig::new(site("zwolle"), &["zwolle.example"]),
            ],
            ..Default::default()
        };
        // Tests that send many events set their own client address.
        ingest.http.client_ip_header = "x-forwarded-for".into();
        ingest.privacy.salt_key_file = luister_testkit::salt_key_file();
        let ingest = Running::start(move |l, s| luister_ingest::serve(ingest, l, s)).await;
        ingest.wait_ready(Duration::from_secs(30)).await;

        let api = ApiConfig {
            clickhouse: clickhouse(scratch),
            auth: AuthConfig {
                admin_token_sha256: vec![token_hash(ADMIN)],
            },
            sites: vec![
                SiteConfig { id: site("demo") },
                SiteConfig { id: site("zwolle") },
            ],
            tenants: vec![
                TenantConfig {
                    id: "demo".into(),
                    token_sha256: vec![token_hash(DEMO)],
                    sites: vec![site("demo")],
                },
                TenantConfig {
                    id: "zwolle".into(),
                    token_sha256: vec![token_hash(ZWOLLE)],
                    sites: vec![site("zwolle")],
                },
            ],
            ..Default::default()
        };
        let api = Running::start(move |l, s| luister_api::serve(api, l, s)).await;
        api.wait_ready(Duration::from_secs(30)).await;
        let client = reqwest::Client::new();
        let openapi = client
            .get(api.url("/openapi.json"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        Self {
            ingest,
            processor,
            api,
            client,
            openapi,
        }
    }

    /// GET an API path with a token.
    pub async fn get(&self, token: &str, path: &str) -> reqwest::Response {
        self.client
            .get(self.api.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    /// GET an API path's CSV with a token: the text after the byte-order mark (panics on
    /// non-200 or a CSV without the BOM that Dutch Excel needs).
    pub async fn csv(&self, token: &str, path: &str) -> String {
        let r = self.get(token, path).await;
        let status = r.status();
        let body = r.text().await.unwrap();
        assert_eq!(status, 200, "{path}: {body}");
        body.strip_prefix('\u{feff}')
            .unwrap_or_else(|| panic!("{path}: no byte-order mark: {body}"))
            .to_owned()
    }

    /// GET an API path with a token and parse the JSON answer (panics on non-200, and
    /// when the answer does not match the schema the OpenAPI document gives for it, as
    /// a client generated from that document would expect).
    pub async fn json(&self, token: &str, path: &str) -> serde_json::Value {
        let r = self.get(token, path).await;
        let status = r.status();
        let body = r.text().await.unwrap();
        assert_eq!(status, 200, "{path}: {body}");
        let value: serde_json::Value = serde_json::from_str(&body).unwrap();
        conforms(&self.openapi, "get", 200, path, &value);
        value
    }

    /// Sends a tracker's request to the collector as visitor `visitor` would (its own
    /// client address, a browser's user agent) and asserts that it was taken.
    pub async fn track(&self, visitor: u32, method: reqwest::Method, path: &str, body: String) {
        let r = self
            .client
            .request(method, self.ingest.url(path))
            .header("user-agent", FIREFOX)
            .header(
                "x-forwarded-for",
                format!("10.7.{}.{}", visitor / 250, visitor % 250 + 1),
            )
            .body(body)
            .send()
            .await
            .unwrap();
        let status = r.status();
        assert!(
            status.is_success(),
            "{path}: {status} {}",
            r.text().await.unwrap_or_default()
        );
    }

    /// The API's OpenAPI document.
    pub fn openapi(&self) -> &serde_json::Value {
        &self.openapi
    }

    pub async fn stop(self) {
        self.ingest.stop().await.unwrap();
        self.processor.stop().await.unwrap();
        self.api.stop().await.unwrap();
    }
}

/// The weeks of the known data set: the last complete ISO week is the one reported on.
#[derive(Debug, Clone, Copy)]
pub struct Weeks {
    /// Monday of the reported week.
    pub monday: NaiveDate,
}

impl Weeks {
    pub fn now() -> Self {
        let today = Utc::now().date_naive();
        let this_monday = today - Days::new(u64::from(today.weekday().num_days_from_monday()));
        Self {
            monday: this_monday - Days::new(7),
        }
    }
    /// `YYYY-Www` of the reported week.
    pub fn iso(&self) -> String {
        let w = self.monday.iso_week();
        format!("{}-W{:02}", w.year(), w.week())
    }
    pub fn sunday(&self) -> NaiveDate {
        self.monday + Days::new(6)
    }
    /// `from=…&to=…` of the reported week.
    pub fn period(&self) -> String {
        format!("from={}&to={}", self.monday, self.sunday())
    }
}

/// Events of one visitor, built in time order.
struct Visit {
    site: &'static str,
    visitor: u64,
    ts_ms: i64,
    device: Device,
    out: Vec<Event>,
}

impl Visit {
    fn new(site: &'static str, visitor: u64, day: NaiveDate, device: Device) -> Self {
        let noon_utc = day
            .and_hms_opt(12, 0, 0)
            .unwrap()
            .and_utc()
            .timestamp_millis();
        Self {
            site,
            visitor,
            ts_ms: noon_utc,
            device,
            out: Vec::new(),
        }
    }
    fn event(
        &mut self,
        after_s: i64,
        path: &str,
        referrer: Option<&str>,
        data: EventData,
    ) -> &mut Self {
        let host = if self.site == "demo" {
            "localhost"
        } else {
            "zwolle.example"
        };
        let mut e =
            luister_testkit::events::event(self.site, self.visitor, self.ts_ms + after_s * 1000)
                .host(host)
                .path(path)
                .device(self.device)
                .browser("Firefox", Some("nl"))
                .data(data);
        if let Some(r) = referrer {
            e = e.referrer(r);
        }
        self.out.push(e.build());
        self
    }
    fn page(&mut self, after_s: i64, path: &str) -> &mut Self {
        self.event(after_s, path, None, EventData::Pageview { title: None })
    }
    fn search(&mut self, after_s: i64, query: &str, results: u32) -> &mut Self {
        self.event(
            after_s,
            "/zoeken",
            None,
            EventData::Search {
                query: query.into(),
                result_count: Some(results),
                category: None,
            },
        )
    }
    fn action(&mut self, after_s: i64, path: &str, name: &str) -> &mut Self {
        self.event(
            after_s,
            path,
            None,
            EventData::Action {
                name: name.into(),
                target: None,
                label: None,
            },
        )
    }
}

const DEBT_PAGE: &str = "/schulden/schuldhulpverlening";

/// The known data set (see the expectations in main.rs):
///
/// Site `demo`, reported week, Tuesday 12:00 UTC: visitors 1–6 view the debt-help page
/// and search "schuldhulp" (3 results); 1–3 phone 300 s after the page view (a
/// contact); 1–5 search "kwijtschelding" (0 results) and "zwembad" (2 results, no
/// theme); visitor 6 searches "xyzzy" five times (0 results: one visitor, below k).
/// Visitors 1–2 arrive from Google, 1–4 on mobile. Wednesday: visitor 7 views /afval
/// on a desktop. The week before: visitors 8–9 view the debt page and search
/// "schuldhulp". 52 weeks before: visitor 10 views the debt page.
///
/// Site `zwolle`, reported week: visitors 101–105 view /afval and search "geheimterm".
pub fn known_events(w: Weeks) -> Vec<Event> {
    let tuesday = w.monday + Days::new(1);
    let wednesday = w.monday + Days::new(2);
    let mut visits = Vec::new();
    for v in 1..=6u64 {
        let device = if v <= 4 {
            Device::Mobile
        } else {
            Device::Desktop
        };
        let mut visit = Visit::new("demo", v, tuesday, device);
        let referrer = (v <= 2).then_some("https://www.google.com/");
        visit.event(0, DEBT_PAGE, referrer, EventData::Pageview { title: None });
        visit.search(60, "schuldhulp", 3);
        if v <= 5 {
            visit
                .search(120, "kwijtschelding", 0)
                .search(180, "zwembad", 2);
        } else {
            for i in 0..5 {
                visit.search(130 + i * 10, "xyzzy", 0);
            }
        }
        if v <= 3 {
            visit.action(300, DEBT_PAGE, "contact:phone");
        }
        visits.push(visit);
    }
    let mut v7 = Visit::new("demo", 7, wednesday, Device::Desktop);
    v7.page(0, "/afval");
    visits.push(v7);
    for v in 8..=9u64 {
        let mut visit = Visit::new("demo", v, tuesday - Days::new(7), Device::Desktop);
        visit.page(0, DEBT_PAGE).search(60, "schuldhulp", 3);
        visits.push(visit);
    }
    let mut v10 = Visit::new("demo", 10, tuesday - Days::new(364), Device::Desktop);
    v10.page(0, DEBT_PAGE);
    visits.push(v10);
    for v in 101..=105u64 {
        let mut visit = Visit::new("zwolle", v, tuesday, Device::Desktop);
        visit.page(0, "/afval").search(30, "geheimterm", 1);
        visits.push(visit);
    }
    visits.into_iter().flat_map(|v| v.out).collect()
}

/// A page view of `path` on `site` by `visitor` at `ts_ms`, as the collector writes it.
pub fn pageview_at(site: &'static str, visitor: u64, ts_ms: i64, path: &str) -> Event {
    let mut v = Visit::new(site, visitor, Utc::now().date_naive(), Device::Desktop);
    v.ts_ms = ts_ms;
    v.page(0, path);
    v.out.remove(0)
}

/// An event of `visitor` on site demo, `after_s` seconds into its visit at noon
/// `days_ago` days ago (each visitor's visit ten minutes after the one before).
pub fn at_noon(days_ago: u64, visitor: u64, after_s: i64, path: &str, data: EventData) -> Event {
    let noon = (Utc::now().date_naive() - Days::new(days_ago))
        .and_hms_opt(12, 0, 0)
        .unwrap()
        .and_utc()
        .timestamp_millis();
    luister_testkit::events::event(
        "demo",
        visitor,
        noon + (visitor as i64) * 600_000 + after_s * 1000,
    )
    .path(path)
    .data(data)
    .build()
}

/// Produces events to the pipeline's topic, as the collector would.
pub async fn load(topic: &str, events: &[Event]) {
    let messages: Vec<(String, String)> = events
        .iter()
        .map(|e| {
            (
                e.visitor.to_string(),
                String::from_utf8(e.to_json()).unwrap(),
            )
        })
        .collect();
    produce_many(topic, &messages).await;
}

/// The OpenAPI path template of a concrete path (`/v1/sites/demo/reach?…` →
/// `/v1/sites/{site}/reach`).
fn template(path: &str) -> String {
    let path = path.split('?').next().unwrap_or(path);
    let parts: Vec<&str> = path.split('/').collect();
    parts
        .iter()
        .enumerate()
        .map(|(i, p)| match (i, parts.get(2)) {
            (3, Some(&"sites")) => "{site}",
            (3, Some(&"actions")) => "{id}",
            _ => p,
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Panics unless `value` matches the JSON schema the OpenAPI document gives for
/// `method` (`get`, `post`, …) on `path` answering `status`.
pub fn conforms(
    openapi: &serde_json::Value,
    method: &str,
    status: u16,
    path: &str,
    value: &serde_json::Value,
) {
    let t = template(path);
    let schema = &openapi["paths"][&t][method]["responses"][status.to_string()]["content"]
        ["application/json"]["schema"];
    assert!(
        !schema.is_null(),
        "{method} {t} {status}: no JSON schema in the OpenAPI document"
    );
    // The OpenAPI 3.1 document is a JSON Schema 2020-12 resource: validate against it
    // with the answer's schema as root, so that #/components/... references resolve.
    let mut root = openapi.clone();
    root.as_object_mut()
        .unwrap()
        .insert("$ref".into(), schema["$ref"].clone());
    if schema.get("$ref").is_none() {
        root = schema.clone();
    }
    let validator = jsonschema::validator_for(&root).unwrap_or_else(|e| panic!("{t}: {e}"));
    let errors: Vec<String> = validator
        .iter_errors(value)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{t}: the answer does not match the OpenAPI document: {errors:?}\n{value}"
    );
}

#[test]
fn paths_map_to_their_openapi_templates() {
    assert_eq!(
        template("/v1/sites/demo/reach?from=x"),
        "/v1/sites/{site}/reach"
    );
    assert_eq!(
        template("/v1/actions/abc/effect"),
        "/v1/actions/{id}/effect"
    );
    assert_eq!(template("/v1/freshness"), "/v1/freshness");
}

#[test]
fn an_answer_that_differs_from_the_document_is_caught() {
    let doc: serde_json::Value =
        serde_json::from_str(&luister_api::routes::openapi_json()).unwrap();
    let wrong = serde_json::json!({"site": 7, "figures": "none"});
    let caught = std::panic::catch_unwind(|| {
        conforms(&doc, "get", 200, "/v1/sites/demo/reach", &wrong);
    });
    assert!(caught.is_err(), "a wrong answer passed the OpenAPI check");
}
