//! The collector's configuration (`ingest.toml`, overrides `LUISTER_<SECTION>__<KEY>`).

use serde::{Deserialize, Serialize};

use luister_schema::SiteId;
use luister_service::kafka::KafkaConfig;
use luister_service::telemetry::LogConfig;

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
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            max_body_bytes: 64 * 1024,
            client_ip_header: String::new(),
        }
    }
}

/// The `[producer]` section.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProducerConfig {
    /// How long the producer tries to deliver an event before the request gets 503.
    /// Default 5000 ms.
    pub delivery_timeout_ms: u64,
    /// How long the producer waits to batch events. Default 5 ms.
    pub linger_ms: u64,
    /// Most events waiting in the local queue; when full, requests get 503.
    /// Default 100000.
    pub queue_max_messages: u32,
    /// Compression codec: `lz4` (default), `gzip`, `snappy` or `none`.
    pub compression: String,
    /// Seconds a client is told to wait (`Retry-After`) when the broker is
    /// unavailable. Default 5.
    pub retry_after_s: u64,
}

impl Default for ProducerConfig {
    fn default() -> Self {
        Self {
            delivery_timeout_ms: 5000,
            linger_ms: 5,
            queue_max_messages: 100_000,
            compression: "lz4".into(),
            retry_after_s: 5,
        }
    }
}

/// One `[[sites]]` entry.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiteConfig {
    /// The site id events carry (`demo`, `gemeente-utrecht`).
    pub id: SiteId,
    /// Hostnames whose pages belong to the site (`www.utrecht.nl`, `localhost`).
    pub hostnames: Vec<String>,
    /// The site-search query parameter kept in URLs. Default `q`.
    #[serde(default = "default_search_param")]
    pub search_param: String,
}

fn default_search_param() -> String {
    "q".into()
}

impl IngestConfig {
    /// Checks the configuration before any traffic arrives.
    pub fn validate(&self) -> Result<(), String> {
        self.kafka.validate()?;
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
            ));
        }
        if self.sites.is_empty() {
            return Err("no [[sites]] configured: the collector would reject every event".into());
        }
        let mut seen = std::collections::HashSet::new();
        for s in &self.sites {
            if !seen.insert(s.id.as_str()) {
                return Err(format!("site {} is configured twice", s.id));
            }
            if s.hostnames.is_empty() {
                return Err(format!("site {} has no hostnames", s.id));
            }
        }
        Ok(())
    }
}
