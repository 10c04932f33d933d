//! The collector's configuration (`ingest.toml`, overrides `LUISTER_<SECTION>__<KEY>`).

use serde::{Deserialize, Serialize};

use luister_schema::SiteId;
use luister_service::config::{InvalidSetting, ServiceConfig};
use luister_service::http::ConnectionLimits;
use luister_service::kafka::KafkaConfig;
use luister_service::telemetry::LogConfig;

use crate::names::{ActionRule, ActionRules};

/// Everything `luister-ingest` reads at start.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct IngestConfig {
    /// The HTTP listener and request limits.
    pub http: HttpConfig,
    /// The broker and topic events are produced to.
    pub kafka: KafkaConfig,
    /// How events are delivered to the broker.
    pub producer: ProducerConfig,
    /// Request and field limits.
    pub limits: LimitsConfig,
    /// How visitors are kept apart without personal data.
    pub privacy: PrivacyConfig,
    /// The site registry: which sites may send, from which hostnames.
    pub sites: Vec<SiteConfig>,
    /// Logging.
    pub log: LogConfig,
}

/// The `[http]` section.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Address to listen on. Default `127.0.0.1:8080`.
    pub listen: String,
    /// Largest request body accepted; larger gets 413. Default 65536 bytes.
    pub max_body_bytes: usize,
    /// Header carrying the client address when behind a reverse proxy (for example
    /// `x-forwarded-for` or `x-real-ip`); the last address in it is used, the one the
    /// nearest proxy wrote. Empty (default): the TCP peer address.
    pub client_ip_header: String,
    /// Connection limits and timeouts (`[http.connections]`).
    pub connections: ConnectionLimits,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            max_body_bytes: 64 * 1024,
            client_ip_header: String::new(),
            connections: ConnectionLimits::default(),
        }
    }
}

/// The `[producer]` section.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProducerConfig {
    /// The longest a request waits for the broker to acknowledge its events before it
    /// is answered 503 (librdkafka is told to give up a second earlier). Default 5000 ms.
    pub delivery_timeout_ms: u64,
    /// How long the producer waits to batch events. Every request waits for its
    /// events' acknowledgement, so this adds to its latency. Default 1 ms.
    pub linger_ms: u64,
    /// Most events waiting in the local queue; when full, requests get 503.
    /// Default 100000.
    pub queue_max_messages: u32,
    /// Compression codec: `lz4` (default), `gzip`, `snappy` or `none`.
    pub compression: String,
    /// Seconds a client is told to wait (`Retry-After`) when the broker is
    /// unavailable. Default 5.
    pub retry_after_s: u64,
    /// How events are spread over the topic's partitions (every message keeps the
    /// visitor key as its key either way): `sticky` (default) or `visitor`.
    pub partitioning: Partitioning,
}

/// `producer.partitioning`: which partition an event goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Partitioning {
    /// All events of a short window (10 ms, or twice `linger_ms` if that is longer)
    /// go to one partition, and the next window to the next partition. librdkafka
    /// sends one produce request per partition, so spreading each millisecond's
    /// events over every partition made many small requests: the broker's CPU per
    /// event is about a third with this. Nothing in Luister needs one visitor's
    /// events in one partition (sessions are computed in ClickHouse).
    Sticky,
    /// Each visitor's events go to the partition of its key (librdkafka's
    /// `consistent_random`), for other consumers of the topic that need a visitor's
    /// events in order in one partition.
    Visitor,
}

impl Default for ProducerConfig {
    fn default() -> Self {
        Self {
            delivery_timeout_ms: 5000,
            linger_ms: 1,
            queue_max_messages: 100_000,
            compression: "lz4".into(),
            retry_after_s: 5,
            partitioning: Partitioning::Sticky,
        }
    }
}

/// The `[privacy]` section.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PrivacyConfig {
    /// Share the daily visitor salt between collector replicas through the Kafka
    /// topic `kafka.salt_topic` (default `true`). With `false` each process makes its
    /// own salt: fine for a single collector.
    pub shared_salt: bool,
    /// With `shared_salt`: a file of 64 hexadecimal digits, the collectors' own key
    /// that seals the salt in the topic, readable by its owner only (`chmod 600`).
    /// Every collector replica has the same file; nothing else may (make one with
    /// `luister-ingest new-salt-key`). Required with `shared_salt = true`.
    pub salt_key_file: String,
}

impl Default for PrivacyConfig {
    fn default() -> Self {
        Self {
            shared_salt: true,
            salt_key_file: String::new(),
        }
    }
}

/// The `[limits]` section.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Most events in one request (native array, Matomo bulk); more gets 413.
    /// Default 100.
    pub max_events_per_request: usize,
    /// Events one visitor may send per minute before getting 429; 0 turns the limit
    /// off. Default 120.
    pub visitor_events_per_minute: u32,
    /// A client timestamp further than this from the server clock is not kept.
    /// Default 300 s.
    pub max_clock_skew_s: u64,
    /// How long a Matomo request is remembered to recognise the tracker's own repeat
    /// of it (an XMLHttpRequest POST it believes failed, sent again as a beacon or a GET
    /// image): the repeat is answered as a success and not stored again. 0 turns this
    /// off. Default 60 s. See `ingest/src/repeats.rs`.
    pub repeat_window_s: u64,
    /// Refusals of one site and reason are logged (info) and recorded for the API at
    /// most once per this many seconds, with the count of those left out. Default 60.
    pub refusal_log_interval_s: u64,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            max_events_per_request: 100,
            visitor_events_per_minute: 120,
            max_clock_skew_s: 300,
            repeat_window_s: 60,
            refusal_log_interval_s: 60,
        }
    }
}

/// What a site wants done with Do-Not-Track (`DNT: 1`) and Global Privacy Control
/// (`Sec-GPC: 1`) signals.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum DntPolicy {
    /// Count the visit anyway: Luister keeps no personal data (default).
    #[default]
    Ignore,
    /// Drop events from browsers that send either signal (counted in metrics only).
    Respect,
}

/// One `[[sites]]` entry.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiteConfig {
    /// The site id events carry (`demo`, `gemeente-utrecht`).
    pub id: SiteId,
    /// Hostnames whose pages belong to the site (`www.utrecht.nl`, `localhost`).
    pub hostnames: Vec<String>,
    /// The Matomo `idsite` that Matomo trackers of this site send.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matomo_idsite: Option<String>,
    /// The domain (`d`) that Plausible trackers of this site send.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plausible_domain: Option<String>,
    /// The site-search query parameter kept in URLs and read by the tracker.
    /// Default `q`.
    #[serde(default = "default_search_param")]
    pub search_param: String,
    /// Further query parameters kept in URLs (besides `utm_*` and `search_param`).
    #[serde(default)]
    pub allowed_query_params: Vec<String>,
    /// CSS selectors whose clicks the tracker reports as `contact:*` actions, as
    /// `{ selector = "…", action = "contact:chat" }`.
    #[serde(default)]
    pub contact_selectors: Vec<ContactSelector>,
    /// IANA time zone of the site's audience. Default `Europe/Amsterdam`.
    #[serde(default = "default_timezone")]
    pub timezone: String,
    /// Do-Not-Track / Global Privacy Control handling. Default `ignore`.
    #[serde(default)]
    pub dnt: DntPolicy,
    /// Rules that turn the event names this site's trackers send (Matomo events,
    /// Plausible custom events, goals) into Luister's actions, first match first
    /// (`[[sites.action_rules]]`, see `ingest/src/names.rs`). Default none: an action
    /// is the name as sent, lowercased.
    #[serde(default)]
    pub action_rules: Vec<ActionRule>,
}

/// A configured contact element for the tracker.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ContactSelector {
    /// CSS selector, e.g. `#chat-start` or `a.afspraak`.
    pub selector: String,
    /// Action name reported on click, e.g. `contact:chat`.
    pub action: String,
}

fn default_search_param() -> String {
    "q".into()
}

fn default_timezone() -> String {
    "Europe/Amsterdam".into()
}

impl SiteConfig {
    /// A site with the defaults for everything but its id and hostnames.
    pub fn new(id: SiteId, hostnames: &[&str]) -> Self {
        Self {
            id,
            hostnames: hostnames.iter().map(|h| (*h).to_owned()).collect(),
            matomo_idsite: None,
            plausible_domain: None,
            search_param: default_search_param(),
            allowed_query_params: Vec::new(),
            contact_selectors: Vec::new(),
            timezone: default_timezone(),
            dnt: DntPolicy::Ignore,
            action_rules: Vec::new(),
        }
    }
}

impl ServiceConfig for IngestConfig {
    fn log(&self) -> &LogConfig {
        &self.log
    }

    fn listen(&self) -> &str {
        &self.http.listen
    }

    /// Checks the configuration before any traffic arrives.
    fn validate(&self) -> Result<(), InvalidSetting> {
        self.kafka.validate()?;
        self.http.connections.validate()?;
        if self.privacy.shared_salt && self.privacy.salt_key_file.is_empty() {
            return Err("privacy.shared_salt = true needs privacy.salt_key_file: the key that seals the salt in Kafka \
                        (make one with `luister-ingest new-salt-key > FILE; chmod 600 FILE`), or set shared_salt = false \
                        for a single collector"
                .into());
        }
        if self.http.max_body_bytes < 1024 {
            return Err("http.max_body_bytes must be at least 1024".into());
        }
        if !matches!(
            self.producer.compression.as_str(),
            "lz4" | "gzip" | "snappy" | "none"
        ) {
            return Err(format!(
                "producer.compression {:?} is not one of lz4, gzip, snappy, none",
                self.producer.compression
            )
            .into());
        }
        if self.sites.is_empty() {
            return Err("no [[sites]] configured: the collector would reject every event".into());
        }
        if self.limits.max_events_per_request == 0 {
            return Err("limits.max_events_per_request must be at least 1".into());
        }
        let mut ids = std::collections::HashSet::new();
        let mut matomo = std::collections::HashSet::new();
        let mut plausible = std::collections::HashSet::new();
        for s in &self.sites {
            if !ids.insert(s.id.as_str()) {
                return Err(format!("site {} is configured twice", s.id).into());
            }
            if s.hostnames.is_empty() {
                return Err(format!("site {} has no hostnames", s.id).into());
            }
            if let Some(m) = &s.matomo_idsite {
                if !matomo.insert(m.as_str()) {
                    return Err(format!("matomo_idsite {m:?} is used by two sites").into());
                }
            }
            if let Some(p) = &s.plausible_domain {
                if !plausible.insert(p.to_ascii_lowercase()) {
                    return Err(format!("plausible_domain {p:?} is used by two sites").into());
                }
            }
            if s.timezone.parse::<chrono_tz::Tz>().is_err() {
                return Err(format!(
                    "site {}: timezone {:?} is not an IANA time zone",
                    s.id, s.timezone
                )
                .into());
            }
            if s.search_param.is_empty() {
                return Err(format!("site {}: search_param is empty", s.id).into());
            }
            ActionRules::compile(&s.action_rules).map_err(|e| format!("site {}: {e}", s.id))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitioning_is_sticky_unless_visitor_is_asked_for() {
        let parse = |json: &str| serde_json::from_str::<ProducerConfig>(json);
        assert_eq!(parse("{}").unwrap().partitioning, Partitioning::Sticky);
        let visitor = parse(r#"{"partitioning": "visitor"}"#).unwrap();
        assert_eq!(visitor.partitioning, Partitioning::Visitor);
        let e = parse(r#"{"partitioning": "random"}"#)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("random") && e.contains("sticky") && e.contains("visitor"),
            "{e}"
        );
    }
}
