//! Kafka settings and topic creation shared by the collector and the processor.
//!
//! Brokers may have automatic topic creation off, so each service creates the topics
//! it writes to when they are missing ([`ensure_topics`]), with the configured number
//! of partitions and replication factor.

use std::collections::BTreeMap;
use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaErrorCode;
use serde::{Deserialize, Serialize};

/// The `[kafka]` section shared by the collector and the processor.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KafkaConfig {
    /// Bootstrap brokers, comma separated. Default `127.0.0.1:9092`.
    pub brokers: String,
    /// The events topic. Default `luister.events.v1`.
    pub topic: String,
    /// The dead-letter topic. Default `luister.events.dlq.v1`.
    pub dead_letter_topic: String,
    /// The topic of the collectors' refusal records (what was refused and why, per
    /// site, rate-limited). Default `luister.events.refusals.v1`.
    pub refusals_topic: String,
    /// The topic holding the collectors' shared daily visitor salt (one partition,
    /// records older than the current day deleted). Default `luister.salts.v1`.
    pub salt_topic: String,
    /// Partitions for topics this service creates. Default 6.
    pub partitions: i32,
    /// Replication factor for topics this service creates. Default 1 (use 3 in
    /// production clusters).
    pub replication_factor: i32,
    /// How the service connects: `plaintext` (default), `sasl_plaintext`, `ssl` or
    /// `sasl_ssl`. With SASL, the broker knows which service it talks to, and its ACLs
    /// decide what that service may read and write (docs/operations.md).
    pub security_protocol: String,
    /// The SASL mechanism: `PLAIN` (default), `SCRAM-SHA-256` or `SCRAM-SHA-512`.
    pub sasl_mechanism: String,
    /// The SASL user name (with a `sasl_*` protocol).
    pub sasl_username: String,
    /// Its password; set it from the environment (`LUISTER_KAFKA__SASL_PASSWORD`)
    /// rather than in the file.
    pub sasl_password: String,
    /// Extra librdkafka properties (for example `security.protocol`, `sasl.*`). They
    /// replace a service's tuning defaults (such as the processor's fetch sizes), not
    /// the settings it depends on (acknowledgements, idempotence, offset handling).
    pub properties: BTreeMap<String, String>,
}

impl Default for KafkaConfig {
    fn default() -> Self {
        Self {
            brokers: "127.0.0.1:9092".into(),
            topic: luister_schema::EVENTS_TOPIC.into(),
            dead_letter_topic: luister_schema::DEAD_LETTER_TOPIC.into(),
            refusals_topic: luister_schema::REFUSALS_TOPIC.into(),
            salt_topic: "luister.salts.v1".into(),
            partitions: 6,
            replication_factor: 1,
            security_protocol: "plaintext".into(),
            sasl_mechanism: "PLAIN".into(),
            sasl_username: String::new(),
            sasl_password: String::new(),
            properties: BTreeMap::new(),
        }
    }
}

impl KafkaConfig {
    /// `self` with the `LUISTER_KAFKA__<KEY>` environment overrides the services read
    /// too (`LUISTER_KAFKA__SASL_PASSWORD`, …), for tools without a configuration file.
    pub fn with_environment(self) -> Result<Self, crate::config::ConfigError> {
        use figment::providers::{Env, Serialized};
        figment::Figment::from(Serialized::defaults(self))
            .merge(Env::prefixed("LUISTER_KAFKA__"))
            .extract()
            .map_err(|e| crate::config::ConfigError::Invalid(e.to_string()))
    }

    /// Checks the settings before any traffic arrives.
    pub fn validate(&self) -> Result<(), crate::config::InvalidSetting> {
        if self.brokers.trim().is_empty() {
            return Err("kafka.brokers is empty".into());
        }
        for (name, topic) in [
            ("kafka.topic", &self.topic),
            ("kafka.dead_letter_topic", &self.dead_letter_topic),
            ("kafka.refusals_topic", &self.refusals_topic),
        ] {
            let ok = !topic.is_empty()
                && topic.len() <= 249
                && topic
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
            if !ok {
                return Err(format!("{name} {topic:?} is not a valid Kafka topic name").into());
            }
        }
        if self.partitions < 1 || self.replication_factor < 1 {
            return Err("kafka.partitions and kafka.replication_factor must be at least 1".into());
        }
        let protocol = self.security_protocol.to_ascii_lowercase();
        if !matches!(
            protocol.as_str(),
            "plaintext" | "sasl_plaintext" | "ssl" | "sasl_ssl"
        ) {
            return Err(format!(
                "kafka.security_protocol {:?} is not one of plaintext, sasl_plaintext, ssl, sasl_ssl",
                self.security_protocol
            ).into());
        }
        if protocol.starts_with("sasl") {
            if !matches!(
                self.sasl_mechanism.as_str(),
                "PLAIN" | "SCRAM-SHA-256" | "SCRAM-SHA-512"
            ) {
                return Err(format!(
                    "kafka.sasl_mechanism {:?} is not one of PLAIN, SCRAM-SHA-256, SCRAM-SHA-512",
                    self.sasl_mechanism
                )
                .into());
            }
            if self.sasl_username.is_empty() || self.sasl_password.is_empty() {
                return Err(format!(
                    "kafka.security_protocol = {protocol:?} needs kafka.sasl_username and kafka.sasl_password \
                     (the password best from LUISTER_KAFKA__SASL_PASSWORD)"
                ).into());
            }
        } else if !self.sasl_username.is_empty() {
            return Err(format!(
                "kafka.sasl_username is set but kafka.security_protocol is {protocol:?}: use sasl_plaintext or sasl_ssl"
            ).into());
        }
        Ok(())
    }

    /// A librdkafka configuration with the brokers and the extra properties.
    pub fn client_config(&self) -> ClientConfig {
        self.client_config_with(&[])
    }

    /// [`Self::client_config`] with a service's tuning `defaults` set before the extra
    /// properties, so `kafka.properties` can change them.
    pub fn client_config_with(&self, defaults: &[(&str, &str)]) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.brokers)
            .set("client.id", "luister")
            .set("log_level", "4");
        for (k, v) in defaults {
            c.set(*k, *v);
        }
        let protocol = self.security_protocol.to_ascii_lowercase();
        if protocol != "plaintext" {
            c.set("security.protocol", &protocol);
        }
        if protocol.starts_with("sasl") {
            c.set("sasl.mechanism", &self.sasl_mechanism)
                .set("sasl.username", &self.sasl_username)
                .set("sasl.password", &self.sasl_password);
        }
        for (k, v) in &self.properties {
            c.set(k, v);
        }
        c
    }
}

/// A Kafka call that failed, with what it was for ("cannot create the salt reader").
/// Its message holds librdkafka's (so it is not repeated as a source).
#[derive(Debug, thiserror::Error)]
#[error("{doing}: {error}")]
pub struct KafkaStepError {
    /// What the call was for.
    pub doing: String,
    /// What librdkafka or the broker said.
    pub error: KafkaError,
}

/// Names what a Kafka call was for when it fails: `.doing("creating topics")`.
pub trait Doing<T> {
    /// The result, its error wrapped in a [`KafkaStepError`] saying `what`.
    fn doing(self, what: impl Into<String>) -> Result<T, KafkaStepError>;
}

impl<T> Doing<T> for Result<T, KafkaError> {
    fn doing(self, what: impl Into<String>) -> Result<T, KafkaStepError> {
        self.map_err(|error| KafkaStepError {
            doing: what.into(),
            error,
        })
    }
}

/// Creates the named topics when they do not exist yet, with `kafka.partitions`.
pub async fn ensure_topics(config: &KafkaConfig, topics: &[&str]) -> Result<(), KafkaStepError> {
    let specs: Vec<TopicSpec<'_>> = topics
        .iter()
        .map(|t| TopicSpec {
            name: t,
            partitions: config.partitions,
            settings: &[],
        })
        .collect();
    ensure_topic_specs(config, &specs).await
}

/// A topic to create: name, partitions and topic-level settings.
#[derive(Debug, Clone, Copy)]
pub struct TopicSpec<'a> {
    /// Topic name.
    pub name: &'a str,
    /// Number of partitions.
    pub partitions: i32,
    /// Topic settings such as `("retention.ms", "172800000")`.
    pub settings: &'a [(&'a str, &'a str)],
}

/// Creates the topics when they do not exist yet (existing topics are left as they are).
pub async fn ensure_topic_specs(
    config: &KafkaConfig,
    topics: &[TopicSpec<'_>],
) -> Result<(), KafkaStepError> {
    let admin: AdminClient<DefaultClientContext> = config
        .client_config()
        .create()
        .doing("cannot create Kafka admin client")?;
    let new: Vec<NewTopic<'_>> = topics
        .iter()
        .map(|t| {
            let mut n = NewTopic::new(
                t.name,
                t.partitions,
                TopicReplication::Fixed(config.replication_factor),
            );
            for (k, v) in t.settings {
                n = n.set(k, v);
            }
            n
        })
        .collect();
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    let results = admin
        .create_topics(&new, &opts)
        .await
        .doing("creating topics failed")?;
    for r in results {
        match r {
            Ok(topic) => {
                tracing::info!(topic, "created Kafka topic")
            }
            Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((topic, code)) => {
                return Err(KafkaStepError {
                    doing: format!("creating topic {topic} failed"),
                    error: KafkaError::AdminOp(code),
                })
            }
        }
    }
    Ok(())
}

/// Enqueues `record` with `producer`, waiting while the producer's local queue is full,
/// and returns the future of its delivery: awaiting those later keeps many messages in
/// flight (bulk loads, the load generator, tests). Other errors are returned.
pub async fn enqueue<K, P>(
    producer: &rdkafka::producer::FutureProducer,
    mut record: rdkafka::producer::FutureRecord<'_, K, P>,
) -> Result<rdkafka::producer::DeliveryFuture, rdkafka::error::KafkaError>
where
    K: rdkafka::message::ToBytes + ?Sized,
    P: rdkafka::message::ToBytes + ?Sized,
{
    loop {
        match producer.send_result(record) {
            Ok(delivery) => return Ok(delivery),
            Err((
                rdkafka::error::KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull),
                r,
            )) => {
                record = r;
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            Err((e, _)) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_names_are_checked() {
        let mut c = KafkaConfig::default();
        assert!(c.validate().is_ok());
        c.topic = "bad topic".into();
        assert!(c.validate().unwrap_err().0.contains("kafka.topic"));
    }

    #[test]
    fn sasl_needs_its_credentials_and_sets_librdkafkas_properties() {
        let mut c = KafkaConfig {
            security_protocol: "sasl_plaintext".into(),
            ..KafkaConfig::default()
        };
        assert!(c.validate().unwrap_err().0.contains("sasl_username"));
        c.sasl_username = "collector".into();
        c.sasl_password = "secret".into();
        assert!(c.validate().is_ok());
        let rd = c.client_config();
        assert_eq!(rd.get("security.protocol"), Some("sasl_plaintext"));
        assert_eq!(rd.get("sasl.username"), Some("collector"));
        assert_eq!(rd.get("sasl.mechanism"), Some("PLAIN"));
        c.sasl_mechanism = "GSSAPI".into();
        assert!(c.validate().unwrap_err().0.contains("sasl_mechanism"));
        let plain = KafkaConfig {
            sasl_username: "x".into(),
            ..KafkaConfig::default()
        };
        assert!(plain.validate().unwrap_err().0.contains("sasl_plaintext"));
        assert_eq!(
            KafkaConfig::default()
                .client_config()
                .get("security.protocol"),
            None
        );
    }

    #[test]
    fn extra_properties_replace_a_services_tuning_defaults() {
        let mut c = KafkaConfig::default();
        c.properties
            .insert("fetch.wait.max.ms".into(), "500".into());
        let tuned =
            c.client_config_with(&[("fetch.wait.max.ms", "100"), ("fetch.min.bytes", "65536")]);
        assert_eq!(tuned.get("fetch.wait.max.ms"), Some("500"));
        assert_eq!(tuned.get("fetch.min.bytes"), Some("65536"));
        assert_eq!(tuned.get("bootstrap.servers"), Some("127.0.0.1:9092"));
    }
}
