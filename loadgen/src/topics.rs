//! Removing the topics a benchmark or demo run left behind.

use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions};
use rdkafka::client::DefaultClientContext;

use luister_service::kafka::KafkaConfig;

/// Deletes every topic whose name starts with `prefix` (which must not be empty) and
/// returns their names.
pub async fn delete_with_prefix(config: &KafkaConfig, prefix: &str) -> anyhow::Result<Vec<String>> {
    anyhow::ensure!(
        !prefix.is_empty(),
        "a prefix is required: every topic starting with it is deleted"
    );
    config.validate().map_err(anyhow::Error::msg)?;
    let brokers = &config.brokers;
    let admin: AdminClient<DefaultClientContext> = config.client_config().create()?;
    let metadata = admin
        .inner()
        .fetch_metadata(None, Duration::from_secs(10))
        .map_err(|e| anyhow::anyhow!("cannot list the topics at {brokers}: {e}"))?;
    let names: Vec<String> = metadata
        .topics()
        .iter()
        .map(|t| t.name().to_string())
        .filter(|n| n.starts_with(prefix))
        .collect();
    if names.is_empty() {
        return Ok(names);
    }
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    for r in admin.delete_topics(&refs, &opts).await? {
        if let Err((topic, code)) = r {
            anyhow::bail!("deleting topic {topic} failed: {code}");
        }
    }
    Ok(names)
}
