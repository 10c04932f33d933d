//! The processor's configuration (`processor.toml`, overrides `LUISTER_<SECTION>__<KEY>`).

use serde::{Deserialize, Serialize};

use luister_service::config::{InvalidSetting, ServiceConfig};
use luister_service::kafka::KafkaConfig;
use luister_service::telemetry::LogConfig;
use luister_store::ClickHouseConfig;

/// Everything `luister-processor` reads at start.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProcessorConfig {
    /// The listener for `/metrics`, `/healthz` and `/readyz`.
    pub http: HttpConfig,
    /// The broker and topics.
    pub kafka: KafkaConfig,
    /// Consumer group and batching.
    pub consumer: ConsumerConfig,
    /// Where events are written.
    pub clickhouse: ClickHouseConfig,
    /// How events are turned into rows.
    pub processing: ProcessingConfig,
    /// The theme taxonomy.
    pub taxonomy: TaxonomyConfig,
    /// How channels are told apart.
    pub channels: ChannelsConfig,
    /// Prometheus labels.
    pub metrics: MetricsConfig,
    /// How long raw events are kept.
    pub retention: RetentionConfig,
    /// How visits are formed.
    pub sessions: SessionsConfig,
    /// What counts as a contact, per site (`site = "*"` for all).
    pub goals: Vec<GoalConfig>,
    /// Logging.
    pub log: LogConfig,
}

/// The `[http]` section.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Address of the metrics and health listener. Default `127.0.0.1:9102`.
    pub listen: String,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:9102".into(),
        }
    }
}

/// The `[consumer]` section.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConsumerConfig {
    /// Consumer group; processors in one group share the partitions.
    /// Default `luister-processor`.
    pub group_id: String,
    /// Most events written in one ClickHouse insert. Default 100000: each insert makes
    /// parts in `events` and in every view's table that ClickHouse merges again later,
    /// so larger inserts cost it less per event (`docs/benchmarks.md`). A batch holds
    /// its rows encoded (about 450 bytes a page view, see [`crate::batch`]).
    pub batch_max_rows: usize,
    /// Most message bytes in one batch. Default 40 MiB.
    pub batch_max_bytes: usize,
    /// Longest a batch waits to fill before it is written. Default 1000 ms.
    pub batch_max_wait_ms: u64,
    /// Kafka consumer session timeout. Default 30000 ms.
    pub session_timeout_ms: u64,
    /// Longest pause between retries of a failed write. Default 30 s.
    pub retry_backoff_max_s: u64,
    /// Kafka's `max.poll.interval.ms`: a member that does not poll this long leaves the
    /// group (the processor keeps polling while it waits for ClickHouse). Default 300000.
    pub max_poll_interval_ms: u64,
}

impl Default for ConsumerConfig {
    fn default() -> Self {
        Self {
            group_id: "luister-processor".into(),
            batch_max_rows: 100_000,
            batch_max_bytes: 40 * 1024 * 1024,
            batch_max_wait_ms: 1000,
            session_timeout_ms: 30_000,
            retry_backoff_max_s: 30,
            max_poll_interval_ms: 300_000,
        }
    }
}

/// The `[processing]` section.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProcessingConfig {
    /// Time zone whose calendar days the `day` column uses. Default `Europe/Amsterdam`.
    pub timezone: String,
}

impl Default for ProcessingConfig {
    fn default() -> Self {
        Self {
            timezone: "Europe/Amsterdam".into(),
        }
    }
}

impl Default for ProcessorConfig {
    fn default() -> Self {
        Self {
            http: HttpConfig::default(),
            kafka: KafkaConfig::default(),
            consumer: ConsumerConfig::default(),
            clickhouse: ClickHouseConfig::default(),
            processing: ProcessingConfig::default(),
            taxonomy: TaxonomyConfig::default(),
            channels: ChannelsConfig::default(),
            metrics: MetricsConfig::default(),
            retention: RetentionConfig::default(),
            sessions: SessionsConfig::default(),
            goals: vec![GoalConfig::default()],
            log: LogConfig::default(),
        }
    }
}

/// The `[sessions]` section.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SessionsConfig {
    /// A visit ends after this long without an event. Default 1800 s.
    pub inactivity_gap_s: u32,
    /// How often sessions of recently active visitors are recomputed. Default 60 s.
    pub interval_s: u64,
    /// A run with more new events than this is split into passes over disjoint sets
    /// of sites, days and visitors, which bounds the sessionizer's memory (about 1 KB
    /// per event).
    /// Default 100,000.
    pub events_per_pass: u64,
    /// While the consumer catches up on a backlog (its batches keep filling up), a run
    /// waits for it, but no longer than this after the previous run: during a replay
    /// every run would recompute visits the next events change again. 0: never wait.
    /// Default 300 s.
    pub max_defer_s: u64,
}

impl Default for SessionsConfig {
    fn default() -> Self {
        Self {
            inactivity_gap_s: 1800,
            interval_s: 60,
            events_per_pass: 100_000,
            max_defer_s: 300,
        }
    }
}

/// One `[[goals]]` entry: what counts as a contact.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GoalConfig {
    /// Site id, or `*` for every site.
    pub site: String,
    /// Action-name prefixes that are contacts, compared without case (`goal:3` for a
    /// Matomo goal, or an action the collector's `action_rules` name). Default
    /// `["contact:"]`.
    #[serde(default = "default_goal_actions")]
    pub actions: Vec<String>,
    /// Regular expressions on the page path of confirmation pages
    /// (e.g. `^/contact/bedankt`). Default none.
    #[serde(default)]
    pub url_patterns: Vec<String>,
    /// Hosts of partner organisations (e.g. `geldfit.nl`; its subdomains count too)
    /// whose outlinks and downloads are contacts: a referral to debt help is an early
    /// contact as much as a call. Default none.
    #[serde(default)]
    pub outlink_hosts: Vec<String>,
}

fn default_goal_actions() -> Vec<String> {
    vec!["contact:".into()]
}

impl Default for GoalConfig {
    fn default() -> Self {
        Self {
            site: "*".into(),
            actions: default_goal_actions(),
            url_patterns: Vec::new(),
            outlink_hosts: Vec::new(),
        }
    }
}

/// The `[retention]` section.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionConfig {
    /// Raw events are kept at least this many days, then dropped by whole months;
    /// aggregates are kept. 0 keeps them forever. Default 400.
    pub raw_events_days: u32,
    /// How often retention is checked. Default 3600 s.
    pub check_interval_s: u64,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        Self {
            raw_events_days: 400,
            check_interval_s: 3600,
        }
    }
}

/// The `[metrics]` section.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// Sites that get their own `site` label on the per-theme counters; others are
    /// counted as `other`, so a label value never comes from event data alone.
    pub sites: Vec<String>,
}

/// The `[channels]` section.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct ChannelsConfig {
    /// Hostnames of the municipality's partner organisations (social partners, debt
    /// help organisations, libraries …); their referrals and `utm_source` count as
    /// channel `partner`. Default empty.
    pub partners: Vec<String>,
}

/// The `[taxonomy]` section.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TaxonomyConfig {
    /// A taxonomy TOML file; empty (default) uses the built-in Dutch municipal
    /// taxonomy (`processor/taxonomy/default.toml`).
    pub file: String,
    /// How often the file is checked for changes; it is reloaded without a restart.
    /// Default 5 s.
    pub reload_check_s: u64,
}

impl Default for TaxonomyConfig {
    fn default() -> Self {
        Self {
            file: String::new(),
            reload_check_s: 5,
        }
    }
}

impl ServiceConfig for ProcessorConfig {
    fn log(&self) -> &LogConfig {
        &self.log
    }

    fn listen(&self) -> &str {
        &self.http.listen
    }

    /// Checks the configuration before any traffic arrives.
    fn validate(&self) -> Result<(), InvalidSetting> {
        self.kafka.validate()?;
        self.clickhouse.validate().map_err(|e| e.to_string())?;
        if self.processing.timezone.parse::<chrono_tz::Tz>().is_err() {
            return Err(format!(
                "processing.timezone {:?} is not an IANA time zone such as Europe/Amsterdam",
                self.processing.timezone
            )
            .into());
        }
        // One insert must stay one ClickHouse block (max_insert_block_size, 1048576
        // rows by default) so that it lands whole or not at all.
        if self.consumer.batch_max_rows == 0 || self.consumer.batch_max_rows > 500_000 {
            return Err("consumer.batch_max_rows must be between 1 and 500000".into());
        }
        // A batch addresses its encoded rows with 32-bit positions (crate::batch).
        if self.consumer.batch_max_bytes == 0 || self.consumer.batch_max_bytes > 1 << 30 {
            return Err("consumer.batch_max_bytes must be between 1 and 1073741824 (1 GiB)".into());
        }
        for g in &self.goals {
            for p in &g.url_patterns {
                if let Err(e) = regex::Regex::new(p) {
                    return Err(format!(
                        "goals (site {}): url pattern {p:?} is not a valid regular expression: {e}",
                        g.site
                    )
                    .into());
                }
            }
            for h in &g.outlink_hosts {
                let bare = h.trim().trim_end_matches('.');
                let is_host = !bare.is_empty()
                    && bare
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
                if !is_host {
                    return Err(format!(
                        "goals (site {}): outlink host {h:?} is not a host name such as geldfit.nl \
                         (no scheme, path or port)",
                        g.site
                    )
                    .into());
                }
            }
        }
        if self.sessions.inactivity_gap_s == 0 {
            return Err("sessions.inactivity_gap_s must be at least 1".into());
        }
        if self.sessions.events_per_pass == 0 {
            return Err("sessions.events_per_pass must be at least 1".into());
        }
        if self.consumer.max_poll_interval_ms < self.consumer.session_timeout_ms {
            return Err(
                "consumer.max_poll_interval_ms must be at least consumer.session_timeout_ms".into(),
            );
        }
        if self.consumer.group_id.is_empty() {
            return Err("consumer.group_id is empty".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_limits_out_of_range_are_refused_with_their_name() {
        let mut c = ProcessorConfig::default();
        c.kafka.brokers = "127.0.0.1:9092".into();
        c.clickhouse.url = "http://127.0.0.1:8123".into();
        assert_eq!(c.validate(), Ok(()));
        c.consumer.batch_max_bytes = 2 << 30;
        assert!(c
            .validate()
            .unwrap_err()
            .0
            .contains("consumer.batch_max_bytes"));
        c.consumer.batch_max_bytes = 40 << 20;
        c.consumer.batch_max_rows = 0;
        assert!(c
            .validate()
            .unwrap_err()
            .0
            .contains("consumer.batch_max_rows"));
    }

    #[test]
    fn a_goal_s_bad_pattern_or_outlink_host_is_refused_with_what_is_wrong() {
        let mut c = ProcessorConfig::default();
        c.kafka.brokers = "127.0.0.1:9092".into();
        c.clickhouse.url = "http://127.0.0.1:8123".into();
        c.goals[0].outlink_hosts = vec!["geldfit.nl".into(), "www.nibud.nl.".into()];
        assert_eq!(c.validate(), Ok(()));
        c.goals[0].outlink_hosts = vec!["https://geldfit.nl/".into()];
        let e = c.validate().unwrap_err().0;
        assert!(e.contains("outlink host \"https://geldfit.nl/\""), "{e}");
        c.goals[0].outlink_hosts.clear();
        c.goals[0].url_patterns = vec!["(".into()];
        let e = c.validate().unwrap_err().0;
        assert!(
            e.contains("url pattern \"(\" is not a valid regular expression"),
            "{e}"
        );
    }
}
