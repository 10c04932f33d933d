//! ClickHouse for Luister: connection settings, the client, and schema migrations.
//!
//! Both the processor and the API call [`Store::connect`] at start; it creates the
//! database when missing and applies the versioned `.sql` files in `migrations/` in
//! order (see [`migrations`]). Every statement in them is written for both ClickHouse
//! 18.16 (Debian's package, used locally and in CI) and current releases.
//!
//! - [`ClickHouseConfig`]: URL, database, user, timeouts (the `[clickhouse]` section of
//!   each service's configuration file).
//! - [`aggregates`]: the tables derived from the raw events, one owner module each.
//! - [`Store`]: a connected client bound to the configured database.
//! - [`StoreError`]: what can go wrong, classified as retryable or not.
//!
//! A new derived table is a module in [`aggregates`] (its columns, rewrite and read
//! fragment) and a migration with its DDL; a new column of the raw events is a
//! migration here and a field of the processor's row.

pub mod aggregates;
pub mod migrations;

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The `[clickhouse]` section of a service configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClickHouseConfig {
    /// HTTP endpoint of the server. Default `http://127.0.0.1:8123`.
    pub url: String,
    /// Database holding Luister's tables; created when missing. Default `luister`.
    pub database: String,
    /// User name. Default `default`.
    pub user: String,
    /// Password. Default empty.
    pub password: String,
    /// How long migrations wait for another service holding the migration lock.
    /// Default 60 s.
    pub migration_lock_wait_s: u64,
    /// A migration lock older than this is considered left behind by a crashed
    /// process and is broken. Default 300 s.
    pub migration_lock_stale_s: u64,
    /// Create the database and apply pending migrations at start. Default `true`.
    /// `false` for a read-only ClickHouse user (the API in production): the service
    /// then only checks that every migration it needs is applied, and waits for a
    /// service that migrates (`luister-processor`) while one is missing.
    pub migrate: bool,
}

impl Default for ClickHouseConfig {
    fn default() -> Self {
        Self {
            url: "http://127.0.0.1:8123".into(),
            database: "luister".into(),
            user: "default".into(),
            password: String::new(),
            migration_lock_wait_s: 60,
            migration_lock_stale_s: 300,
            migrate: true,
        }
    }
}

impl ClickHouseConfig {
    /// Checks the settings before any traffic arrives.
    pub fn validate(&self) -> Result<(), StoreError> {
        if !(self.url.starts_with("http://") || self.url.starts_with("https://")) {
            return Err(StoreError::Config(format!(
                "clickhouse.url {:?} must start with http:// or https://",
                self.url
            )));
        }
        if self.url.starts_with("https://") {
            return Err(StoreError::Config(
                "clickhouse.url uses https://, but this build has no TLS support; \
                 put a TLS-terminating proxy on loopback or use http://"
                    .into(),
            ));
        }
        if !is_identifier(&self.database) {
            return Err(StoreError::Config(format!(
                "clickhouse.database {:?} must be a plain identifier (letters, digits, '_', not starting with a digit)",
                self.database
            )));
        }
        Ok(())
    }
}

/// True for names that are safe ClickHouse identifiers without quoting.
pub fn is_identifier(s: &str) -> bool {
    let mut bytes = s.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && s.len() <= 64
}

/// Errors talking to ClickHouse.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The configuration is unusable.
    #[error("invalid ClickHouse configuration: {0}")]
    Config(String),
    /// The server could not be reached or did not answer in time: worth retrying.
    #[error("ClickHouse is unreachable: {0}")]
    Unavailable(String),
    /// The server answered with an error.
    #[error("ClickHouse error (code {code}): {message}")]
    Server {
        /// ClickHouse's numeric error code (0 when the answer carried none).
        code: u32,
        /// The server's message.
        message: String,
    },
    /// An applied migration differs from the file this build carries.
    #[error("migration {version} ({name}) was applied with checksum {applied}, but this build carries {expected}; migrations must never be edited once applied, add a new one instead")]
    MigrationChanged {
        /// Migration number.
        version: u32,
        /// File name.
        name: String,
        /// Checksum recorded in the database.
        applied: String,
        /// Checksum of the file in this build.
        expected: String,
    },
    /// A migration this build needs is not applied and this service may not apply it
    /// (`clickhouse.migrate = false`): worth waiting for a service that migrates.
    #[error("{0}")]
    NotMigrated(String),
    /// Another process held the migration lock for too long.
    #[error("timed out after {0:?} waiting for the migration lock held by another Luister service; if none is running, DROP TABLE schema_migrations_lock")]
    LockTimeout(Duration),
}

impl StoreError {
    /// Whether trying the same request again later may succeed (network errors,
    /// timeouts, server overload) rather than being a mistake in what was sent.
    pub fn is_retryable(&self) -> bool {
        match self {
            StoreError::Unavailable(_)
            | StoreError::LockTimeout(_)
            | StoreError::NotMigrated(_) => true,
            // TIMEOUT_EXCEEDED, TOO_MANY_SIMULTANEOUS_QUERIES, TOO_MANY_PARTS,
            // MEMORY_LIMIT_EXCEEDED, NETWORK_ERROR, SOCKET_TIMEOUT, ALL_CONNECTION_TRIES_FAILED,
            // TABLE_IS_READ_ONLY, KEEPER_EXCEPTION, ABORTED.
            StoreError::Server { code, .. } => {
                matches!(
                    code,
                    159 | 202 | 252 | 241 | 210 | 209 | 279 | 242 | 999 | 236
                )
            }
            StoreError::Config(_) | StoreError::MigrationChanged { .. } => false,
        }
    }
}

impl From<clickhouse::error::Error> for StoreError {
    fn from(e: clickhouse::error::Error) -> Self {
        use clickhouse::error::Error as E;
        match e {
            E::Network(_) | E::TimedOut => StoreError::Unavailable(e.to_string()),
            E::BadResponse(message) => StoreError::Server {
                code: error_code(&message),
                message,
            },
            other => StoreError::Server {
                code: 0,
                message: other.to_string(),
            },
        }
    }
}

/// Extracts N from ClickHouse's "Code: N. DB::Exception: ..." message.
fn error_code(message: &str) -> u32 {
    message
        .find("Code: ")
        .map(|i| &message[i + 6..])
        .and_then(|rest| {
            let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
            digits.parse().ok()
        })
        .unwrap_or(0)
}

/// A ClickHouse client bound to Luister's database.
#[derive(Clone)]
pub struct Store {
    client: clickhouse::Client,
    database: String,
}

impl Store {
    /// Connects, creates the database when missing and applies pending migrations (with
    /// `migrate = false`: checks that none is pending).
    pub async fn connect(config: &ClickHouseConfig) -> Result<Self, StoreError> {
        config.validate()?;
        let server = clickhouse::Client::default()
            .with_url(&config.url)
            .with_user(&config.user)
            .with_password(&config.password)
            .with_validation(false);
        if !config.migrate {
            let store = Self {
                client: server.with_database(&config.database),
                database: config.database.clone(),
            };
            migrations::check(&store).await?;
            return Ok(store);
        }
        // The database name is an identifier checked by `validate`; ClickHouse cannot
        // bind identifiers in DDL on 18.16.
        server
            .query(&format!(
                "CREATE DATABASE IF NOT EXISTS {}",
                config.database
            ))
            .execute()
            .await?;
        let store = Self {
            client: server.with_database(&config.database),
            database: config.database.clone(),
        };
        migrations::run(&store, config).await?;
        Ok(store)
    }

    /// Like [`Store::connect`], but waits and retries (with capped backoff) while
    /// ClickHouse is unreachable, so a service started before its database catches up
    /// instead of exiting. Errors that retrying cannot fix are returned.
    pub async fn connect_retrying(config: &ClickHouseConfig) -> Result<Self, StoreError> {
        let mut backoff = Duration::from_millis(250);
        loop {
            match Self::connect(config).await {
                Err(e) if e.is_retryable() => {
                    tracing::warn!(error = %e, url = %config.url, retry_in_ms = backoff.as_millis() as u64, "ClickHouse not reachable yet");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
                other => return other,
            }
        }
    }

    /// A client that has not contacted the server: for code paths that fail before
    /// any query (unit tests of request validation).
    pub fn unconnected(config: &ClickHouseConfig) -> Self {
        Self {
            client: clickhouse::Client::default()
                .with_url(&config.url)
                .with_database(&config.database)
                .with_validation(false),
            database: config.database.clone(),
        }
    }

    /// The same store whose queries run at ClickHouse priority `priority` (1 is the
    /// highest): while a query of a higher priority runs, the server pauses queries of
    /// a lower one between blocks. The processor writes events at priority 1 and runs
    /// its background work (sessions, retention) lower, so a sessionizer run over a busy
    /// day does not hold back the next batch of events (end-to-end freshness).
    pub fn with_priority(&self, priority: u8) -> Self {
        Self {
            client: self
                .client
                .clone()
                .with_setting("priority", priority.to_string()),
            database: self.database.clone(),
        }
    }

    /// The client, bound to the database: unqualified table names resolve there.
    pub fn client(&self) -> &clickhouse::Client {
        &self.client
    }

    /// The database name.
    pub fn database(&self) -> &str {
        &self.database
    }

    /// Answers whether the server is reachable (for `/readyz`).
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.client.query("SELECT 1").execute().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_code_is_read_from_server_message() {
        assert_eq!(
            error_code("Code: 57, e.displayText() = DB::Exception: Table x already exists"),
            57
        );
        assert_eq!(error_code("Code: 241. DB::Exception: Memory limit"), 241);
        assert_eq!(error_code("something else"), 0);
    }

    #[test]
    fn database_name_must_be_an_identifier() {
        let mut c = ClickHouseConfig::default();
        assert!(c.validate().is_ok());
        c.database = "luister; DROP DATABASE x".into();
        let e = c.validate().unwrap_err().to_string();
        assert!(e.contains("plain identifier"), "{e}");
    }

    #[test]
    fn retryable_errors_are_network_and_overload_not_syntax() {
        assert!(StoreError::Unavailable("refused".into()).is_retryable());
        assert!(StoreError::Server {
            code: 252,
            message: "Too many parts".into()
        }
        .is_retryable());
        assert!(!StoreError::Server {
            code: 62,
            message: "Syntax error".into()
        }
        .is_retryable());
    }
}
