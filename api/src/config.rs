//! The API's configuration (`api.toml`, overrides `LUISTER_<SECTION>__<KEY>`).

use serde::{Deserialize, Serialize};

use luister_schema::SiteId;
use luister_service::telemetry::LogConfig;
use luister_store::ClickHouseConfig;

/// Everything `luister-api` reads at start.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct ApiConfig {
    /// The HTTP listener.
    pub http: HttpConfig,
    /// Where the data is.
    pub clickhouse: ClickHouseConfig,
    /// Limits on what may be asked.
    pub limits: LimitsConfig,
    /// The sites this API answers for; others get 404.
    pub sites: Vec<SiteConfig>,
    /// Logging.
    pub log: LogConfig,
}

/// The `[http]` section.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Address to listen on. Default `127.0.0.1:8081`.
    pub listen: String,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8081".into(),
        }
    }
}

/// The `[limits]` section.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Longest period one request may cover, in days. Default 400.
    pub max_period_days: u32,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            max_period_days: 400,
        }
    }
}

/// One `[[sites]]` entry.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiteConfig {
    /// The site id, as the collector writes it.
    pub id: SiteId,
}

impl ApiConfig {
    /// Checks the configuration before any traffic arrives.
    pub fn validate(&self) -> Result<(), String> {
        self.clickhouse.validate().map_err(|e| e.to_string())?;
        if self.limits.max_period_days == 0 {
            return Err("limits.max_period_days must be at least 1".into());
        }
        Ok(())
    }
}
