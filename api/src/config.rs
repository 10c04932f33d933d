//! The API's configuration (`api.toml`, overrides `LUISTER_<SECTION>__<KEY>`).

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use luister_schema::SiteId;
use luister_service::config::{InvalidSetting, ServiceConfig};
use luister_service::telemetry::LogConfig;
use luister_store::ClickHouseConfig;

use crate::domain::savings::ContactCost;

/// Everything `luister-api` reads at start.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApiConfig {
    /// The HTTP listener.
    pub http: HttpConfig,
    /// Where the data is.
    pub clickhouse: ClickHouseConfig,
    /// Limits on what may be asked.
    pub limits: LimitsConfig,
    /// How figures are reported.
    pub reporting: ReportingConfig,
    /// The administrator's tokens.
    pub auth: AuthConfig,
    /// How actions are written.
    pub actions: ActionsConfig,
    /// The sites this API answers for; others get 404.
    pub sites: Vec<SiteConfig>,
    /// The municipalities (tenants) and the sites each may read.
    pub tenants: Vec<TenantConfig>,
    /// Cost and staff time of a contact per channel (the euros and hours of a channel
    /// shift). Default: orders of magnitude from Dutch channel-cost studies.
    pub contact_costs: Vec<ContactCost>,
    /// Logging.
    pub log: LogConfig,
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            http: HttpConfig::default(),
            clickhouse: ClickHouseConfig::default(),
            limits: LimitsConfig::default(),
            reporting: ReportingConfig::default(),
            auth: AuthConfig::default(),
            actions: ActionsConfig::default(),
            sites: Vec::new(),
            tenants: Vec::new(),
            contact_costs: crate::domain::savings::default_costs(),
            log: LogConfig::default(),
        }
    }
}

/// The `[http]` section.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Address to listen on. Default `127.0.0.1:8081`.
    pub listen: String,
    /// Connection limits and timeouts (`[http.connections]`).
    pub connections: luister_service::http::ConnectionLimits,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8081".into(),
            connections: luister_service::http::ConnectionLimits::default(),
        }
    }
}

/// The `[limits]` section.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Longest period one request may cover, in days. Default 400.
    pub max_period_days: u32,
    /// Longest period an hourly time series may cover, in days. Default 31.
    pub max_hourly_days: u32,
    /// Most rows a list (search terms) may return. Default 200.
    pub max_rows: u32,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            max_period_days: 400,
            max_hourly_days: 31,
            max_rows: 200,
        }
    }
}

/// The `[reporting]` section.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReportingConfig {
    /// Time zone of days, hours and weeks; must be the processor's
    /// `processing.timezone`. Default `Europe/Amsterdam`.
    pub timezone: String,
    /// A search term is shown only when at least this many distinct visitors searched
    /// it in the period asked. Default 5.
    pub min_visitors_per_term: u32,
    /// Themes the weekly report shows in its early-contact section. Default
    /// `["schulden", "armoede"]`.
    pub early_contact_themes: Vec<String>,
}

impl Default for ReportingConfig {
    fn default() -> Self {
        Self {
            timezone: "Europe/Amsterdam".into(),
            min_visitors_per_term: 5,
            early_contact_themes: vec!["schulden".into(), "armoede".into()],
        }
    }
}

/// The `[auth]` section.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// SHA-256 (hex) of the administrator tokens, which may read every site: one
    /// string or a list. Create one with `luister-api new-token`.
    #[serde(deserialize_with = "one_or_many")]
    pub admin_token_sha256: Vec<String>,
}

/// The `[actions]` section: the actions register is the API's only write. By default
/// it uses the `[clickhouse]` user; with `user` set, that user instead (one allowed to
/// insert into `actions` only), so that the API's own user can stay read-only.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct ActionsConfig {
    /// ClickHouse user for writing actions; empty: the `[clickhouse]` user.
    pub user: String,
    /// Its password.
    pub password: String,
}

/// One `[[sites]]` entry.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiteConfig {
    /// The site id, as the collector writes it.
    pub id: SiteId,
}

/// One `[[tenants]]` entry: a municipality with its tokens and sites.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantConfig {
    /// A short name, used in logs (`utrecht`).
    pub id: String,
    /// SHA-256 (hex) of the tenant's tokens: one string or a list (several, so a token
    /// can be rotated).
    #[serde(deserialize_with = "one_or_many")]
    pub token_sha256: Vec<String>,
    /// The sites the tenant may read; each must be in `[[sites]]`.
    pub sites: Vec<SiteId>,
}

/// One string or a list of strings, so that a single hash can also come from an
/// environment variable (`LUISTER_AUTH__ADMIN_TOKEN_SHA256=ab12…`).
fn one_or_many<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(s) => vec![s],
        OneOrMany::Many(v) => v,
    })
}

impl ServiceConfig for ApiConfig {
    fn log(&self) -> &LogConfig {
        &self.log
    }

    fn listen(&self) -> &str {
        &self.http.listen
    }

    /// Checks the configuration before any traffic arrives.
    fn validate(&self) -> Result<(), InvalidSetting> {
        self.clickhouse.validate().map_err(|e| e.to_string())?;
        self.http.connections.validate()?;
        let l = &self.limits;
        if l.max_period_days == 0 || l.max_hourly_days == 0 || l.max_rows == 0 {
            return Err(
                "limits.max_period_days, max_hourly_days and max_rows must be at least 1".into(),
            );
        }
        if self.reporting.timezone.parse::<chrono_tz::Tz>().is_err() {
            return Err(format!(
                "reporting.timezone {:?} is not an IANA time zone such as Europe/Amsterdam",
                self.reporting.timezone
            )
            .into());
        }
        crate::domain::savings::validate(&self.contact_costs)?;
        if self.reporting.min_visitors_per_term == 0 {
            return Err("reporting.min_visitors_per_term must be at least 1".into());
        }
        for theme in &self.reporting.early_contact_themes {
            crate::params::check_theme(theme)
                .map_err(|e| format!("reporting.early_contact_themes: {e}"))?;
        }
        let sites: HashSet<&SiteId> = self.sites.iter().map(|s| &s.id).collect();
        let mut hashes = HashSet::new();
        let mut check_hash = |owner: &str, h: &str| -> Result<(), InvalidSetting> {
            if h.len() != 64 || !h.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(format!(
                    "{owner}: {h:?} is not a SHA-256 in hex (64 characters); \
                     `luister-api new-token` makes a token and its hash"
                )
                .into());
            }
            if !hashes.insert(h.to_ascii_lowercase()) {
                return Err(format!("{owner}: the token hash {h} is used twice").into());
            }
            Ok(())
        };
        for h in &self.auth.admin_token_sha256 {
            check_hash("auth.admin_token_sha256", h)?;
        }
        let mut ids = HashSet::new();
        for t in &self.tenants {
            if t.id.is_empty() || !ids.insert(t.id.as_str()) {
                return Err(format!("tenants: the id {:?} is empty or used twice", t.id).into());
            }
            for h in &t.token_sha256 {
                check_hash(&format!("tenants {:?}", t.id), h)?;
            }
            for s in &t.sites {
                if !sites.contains(s) {
                    return Err(
                        format!("tenants {:?}: site \"{s}\" is not in [[sites]]", t.id).into(),
                    );
                }
            }
        }
        if hashes.is_empty() {
            return Err(
                "no token is configured: set auth.admin_token_sha256 or a tenant's \
                 token_sha256 (`luister-api new-token` makes a token and its hash)"
                    .into(),
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> ApiConfig {
        ApiConfig {
            auth: AuthConfig {
                admin_token_sha256: vec!["a".repeat(64)],
            },
            sites: vec![SiteConfig {
                id: SiteId::parse("demo").unwrap_or_else(|e| panic!("{e}")),
            }],
            ..Default::default()
        }
    }

    #[test]
    fn a_config_with_an_admin_token_is_valid() {
        assert_eq!(config().validate(), Ok(()));
    }

    #[test]
    fn a_token_hash_may_be_one_string_or_a_list() {
        let one: ApiConfig = toml::from_str(&format!(
            "[auth]\nadmin_token_sha256 = \"{}\"\n[[tenants]]\nid = \"t\"\ntoken_sha256 = [\"{}\", \"{}\"]\nsites = []",
            "a".repeat(64),
            "b".repeat(64),
            "c".repeat(64)
        ))
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(one.auth.admin_token_sha256, vec!["a".repeat(64)]);
        assert_eq!(one.tenants[0].token_sha256.len(), 2);
    }

    type Change = Box<dyn Fn(&mut ApiConfig)>;

    #[test]
    fn bad_configs_say_what_is_wrong() {
        let cases: Vec<(Change, &str)> = vec![
            (
                Box::new(|c| c.auth.admin_token_sha256.clear()),
                "no token is configured",
            ),
            (
                Box::new(|c| c.auth.admin_token_sha256 = vec!["secret".into()]),
                "is not a SHA-256",
            ),
            (
                Box::new(|c| {
                    c.tenants.push(TenantConfig {
                        id: "utrecht".into(),
                        token_sha256: vec!["a".repeat(64)],
                        sites: vec![],
                    })
                }),
                "used twice",
            ),
            (
                Box::new(|c| {
                    c.tenants.push(TenantConfig {
                        id: "utrecht".into(),
                        token_sha256: vec!["b".repeat(64)],
                        sites: vec![SiteId::parse("elders").unwrap_or_else(|e| panic!("{e}"))],
                    })
                }),
                "site \"elders\" is not in [[sites]]",
            ),
            (
                Box::new(|c| c.reporting.timezone = "Amsterdam".into()),
                "not an IANA time zone",
            ),
            (
                Box::new(|c| c.reporting.min_visitors_per_term = 0),
                "min_visitors_per_term",
            ),
            (
                Box::new(|c| c.reporting.early_contact_themes = vec!["Schulden!".into()]),
                "early_contact_themes",
            ),
        ];
        for (change, msg) in cases {
            let mut c = config();
            change(&mut c);
            let e = c.validate().unwrap_err();
            assert!(e.0.contains(msg), "{e} should contain {msg}");
        }
    }
}
