//! Events as the collector writes them, for tests: one typed builder, serialised by
//! the schema crate's own code, instead of the event's shape written out per test.
//!
//! ```
//! use luister_testkit::events::event;
//! let e = event("demo", 7, 1_764_000_000_000).path("/zoeken").search("bijstand", 3).build();
//! assert_eq!(e.url, "http://localhost/zoeken");
//! ```

use luister_schema::{Device, Event, EventData, SiteId, VisitorKey, SCHEMA_VERSION};

/// A page view of `http://localhost/` on `site` by `visitor` at `ts_ms`, with what an
/// event leaves out at the schema's defaults (device `unknown`, browser `other`, no
/// language): change what a test is about.
pub fn event(site: &str, visitor: u64, ts_ms: i64) -> EventBuilder {
    EventBuilder {
        host: "localhost".into(),
        path: "/".into(),
        event: Event {
            v: SCHEMA_VERSION,
            site: SiteId::parse(site).unwrap_or_else(|e| panic!("test site {site:?}: {e}")),
            ts_ms,
            client_ts_ms: None,
            visitor: VisitorKey::from_u64(visitor),
            url: String::new(),
            referrer: None,
            device: Device::Unknown,
            browser: "other".into(),
            screen_width: None,
            language: None,
            not_found: false,
            data: EventData::Pageview { title: None },
        },
    }
}

/// See [`event`].
#[derive(Debug, Clone)]
pub struct EventBuilder {
    host: String,
    path: String,
    event: Event,
}

impl EventBuilder {
    /// The page's host (default `localhost`).
    pub fn host(mut self, host: &str) -> Self {
        self.host = host.into();
        self
    }

    /// The page's path with any query (default `/`).
    pub fn path(mut self, path: &str) -> Self {
        self.path = path.into();
        self
    }

    /// The referrer.
    pub fn referrer(mut self, referrer: &str) -> Self {
        self.event.referrer = Some(referrer.into());
        self
    }

    /// The device class.
    pub fn device(mut self, device: Device) -> Self {
        self.event.device = device;
        self
    }

    /// The browser family and language.
    pub fn browser(mut self, browser: &str, language: Option<&str>) -> Self {
        self.event.browser = browser.into();
        self.event.language = language.map(str::to_owned);
        self
    }

    /// What happened.
    pub fn data(mut self, data: EventData) -> Self {
        self.event.data = data;
        self
    }

    /// A site search of `query` with `results` results.
    pub fn search(self, query: &str, results: u32) -> Self {
        self.data(EventData::Search {
            query: query.into(),
            result_count: Some(results),
            category: None,
        })
    }

    /// The action `name` (`contact:phone`).
    pub fn action(self, name: &str) -> Self {
        self.data(EventData::Action {
            name: name.into(),
            target: None,
            label: None,
        })
    }

    /// The event.
    pub fn build(mut self) -> Event {
        self.event.url = format!("http://{}{}", self.host, self.path);
        self.event
    }

    /// The event as the message value on the topic.
    pub fn json(self) -> String {
        String::from_utf8(self.build().to_json()).unwrap_or_default()
    }
}
