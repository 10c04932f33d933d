//! Versioned schema migrations, applied in order at service start.
//!
//! The `.sql` files in `store/migrations/` are compiled into the binary. Each is
//! applied once and recorded with its checksum in `schema_migrations`; a file edited
//! after it was applied stops the service with [`StoreError::MigrationChanged`].
//!
//! ClickHouse has no transactions, so two services starting at once serialise through
//! a lock: `CREATE TABLE schema_migrations_lock` succeeds for exactly one of them and
//! fails with "already exists" for the other, which waits. The holder drops the table
//! when done; a lock older than `migration_lock_stale_s` (its creator crashed) is
//! broken. Statements are written to be idempotent as well (`IF NOT EXISTS`), so a
//! crash between two statements of one migration is repaired by running it again.
//!
//! Statements in a file are separated by a `;` at the end of a line; lines starting
//! with `--` are comments. A migration may also name a [`Backfill`]: code run after its
//! statements that fills a new aggregate with the statement its owner module uses
//! (see [`crate::aggregates`]), so that each aggregation is written once.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::aggregates::{self, Scope};
use crate::{ClickHouseConfig, Store, StoreError};

/// One migration file compiled into the binary.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    /// Its number, from the file name prefix; applied in increasing order.
    pub version: u32,
    /// The file name.
    pub name: &'static str,
    /// The file's text.
    pub sql: &'static str,
    /// Code run after the statements.
    pub backfill: Option<Backfill>,
}

/// A backfill of a migration, written in code by the owner of the table it fills.
/// Each run writes one new version of everything it fills, so a rerun after a crash
/// replaces whatever an interrupted one left.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backfill {
    /// `event_counts_daily` (migration 13): the days whose raw events are gone from
    /// `site_daily` and `theme_daily` (dropped by migration 14), every other day from
    /// the raw events.
    EventCounts,
}

/// Migration 13's copies of `site_daily` and `theme_daily` for the days without raw
/// events; bind the version.
const EVENT_COUNTS_FROM_OLD_TABLES: [&str; 2] = [
    "INSERT INTO event_counts_daily (site, theme, day, type, events, version)
SELECT site, '*' AS theme, day, type, sum(events) AS events, toUInt64(?) AS version
FROM site_daily
WHERE (site, day) NOT IN (SELECT site, day FROM events)
GROUP BY site, day, type",
    "INSERT INTO event_counts_daily (site, theme, day, type, events, version)
SELECT site, theme, day, type, sum(events) AS events, toUInt64(?) AS version
FROM theme_daily
WHERE (site, day) NOT IN (SELECT site, day FROM events)
GROUP BY site, theme, day, type",
];

impl Backfill {
    async fn run(self, store: &Store) -> Result<(), StoreError> {
        // Versions are milliseconds: any later sessionizer run writes a newer one.
        let version = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        let c = store.client();
        match self {
            Backfill::EventCounts => {
                for sql in EVENT_COUNTS_FROM_OLD_TABLES {
                    c.query(sql).bind(version).execute().await?;
                }
                aggregates::event_counts::rewrite(&Scope::All)
                    .run(c, version)
                    .await
            }
        }
    }
}

/// Every migration, in order. A unit test checks that this lists each file.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "0001_events.sql",
        sql: include_str!("../migrations/0001_events.sql"),
        backfill: None,
    },
    Migration {
        version: 2,
        name: "0002_event_details.sql",
        sql: include_str!("../migrations/0002_event_details.sql"),
        backfill: None,
    },
    Migration {
        version: 3,
        name: "0003_themes.sql",
        sql: include_str!("../migrations/0003_themes.sql"),
        backfill: None,
    },
    Migration {
        version: 4,
        name: "0004_channels_and_search.sql",
        sql: include_str!("../migrations/0004_channels_and_search.sql"),
        backfill: None,
    },
    Migration {
        version: 5,
        name: "0005_sessions.sql",
        sql: include_str!("../migrations/0005_sessions.sql"),
        backfill: None,
    },
    Migration {
        version: 6,
        name: "0006_search_outcomes.sql",
        sql: include_str!("../migrations/0006_search_outcomes.sql"),
        backfill: None,
    },
    Migration {
        version: 7,
        name: "0007_actions.sql",
        sql: include_str!("../migrations/0007_actions.sql"),
        backfill: None,
    },
    Migration {
        version: 8,
        name: "0008_visits_daily.sql",
        sql: include_str!("../migrations/0008_visits_daily.sql"),
        backfill: None,
    },
    Migration {
        version: 9,
        name: "0009_totals_and_contact_channels.sql",
        sql: include_str!("../migrations/0009_totals_and_contact_channels.sql"),
        backfill: None,
    },
    Migration {
        version: 10,
        name: "0010_drop_theme_channel_daily.sql",
        sql: include_str!("../migrations/0010_drop_theme_channel_daily.sql"),
        backfill: None,
    },
    Migration {
        version: 11,
        name: "0011_search_term_counts_daily.sql",
        sql: include_str!("../migrations/0011_search_term_counts_daily.sql"),
        backfill: None,
    },
    Migration {
        version: 12,
        name: "0012_drop_search_terms_daily.sql",
        sql: include_str!("../migrations/0012_drop_search_terms_daily.sql"),
        backfill: None,
    },
    Migration {
        version: 13,
        name: "0013_one_writer_per_table.sql",
        sql: include_str!("../migrations/0013_one_writer_per_table.sql"),
        backfill: Some(Backfill::EventCounts),
    },
    Migration {
        version: 14,
        name: "0014_drop_site_and_theme_daily.sql",
        sql: include_str!("../migrations/0014_drop_site_and_theme_daily.sql"),
        backfill: None,
    },
    Migration {
        version: 15,
        name: "0015_labels_content_engagement.sql",
        sql: include_str!("../migrations/0015_labels_content_engagement.sql"),
        backfill: None,
    },
    Migration {
        version: 16,
        name: "0016_refusals.sql",
        sql: include_str!("../migrations/0016_refusals.sql"),
        backfill: None,
    },
    Migration {
        version: 17,
        name: "0017_session_pages.sql",
        sql: include_str!("../migrations/0017_session_pages.sql"),
        backfill: None,
    },
    Migration {
        version: 18,
        name: "0018_session_campaigns.sql",
        sql: include_str!("../migrations/0018_session_campaigns.sql"),
        backfill: None,
    },
    Migration {
        version: 19,
        name: "0019_event_millis.sql",
        sql: include_str!("../migrations/0019_event_millis.sql"),
        backfill: None,
    },
    Migration {
        version: 20,
        name: "0020_not_found.sql",
        sql: include_str!("../migrations/0020_not_found.sql"),
        backfill: None,
    },
    Migration {
        version: 21,
        name: "0021_session_steps.sql",
        sql: include_str!("../migrations/0021_session_steps.sql"),
        backfill: None,
    },
];

const LOCK_TABLE: &str = "schema_migrations_lock";

impl Migration {
    /// The statements of the file, without comments.
    pub fn statements(&self) -> Vec<String> {
        split_statements(self.sql)
    }

    /// SHA-256 of the file's text, hex.
    pub fn checksum(&self) -> String {
        hex::encode(Sha256::digest(self.sql.as_bytes()))
    }
}

/// Splits a migration file into statements (see the module documentation).
pub fn split_statements(sql: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in sql.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with("--") || trimmed.is_empty() {
            continue;
        }
        current.push_str(line);
        current.push('\n');
        if trimmed.ends_with(';') {
            let stmt = current.trim().trim_end_matches(';').trim().to_owned();
            if !stmt.is_empty() {
                out.push(stmt);
            }
            current.clear();
        }
    }
    let rest = current.trim();
    if !rest.is_empty() {
        out.push(rest.to_owned());
    }
    out
}

#[derive(Debug, clickhouse::Row, Deserialize)]
struct Applied {
    version: u32,
    checksum: String,
}

/// Applies every pending migration (see the module documentation).
pub async fn run(store: &Store, config: &ClickHouseConfig) -> Result<(), StoreError> {
    let client = store.client();
    client
        .query(
            "CREATE TABLE IF NOT EXISTS schema_migrations \
             (version UInt32, name String, checksum String, applied_at DateTime) \
             ENGINE = MergeTree() ORDER BY version",
        )
        .execute()
        .await?;
    if pending(store).await?.is_empty() {
        return Ok(());
    }
    acquire_lock(store, config).await?;
    let result = apply_pending(store).await;
    let released = client
        .query(&format!("DROP TABLE IF EXISTS {LOCK_TABLE}"))
        .execute()
        .await;
    result?;
    released?;
    Ok(())
}

/// Checks, without changing anything, that every migration this build carries is
/// applied (for a service with a read-only user).
pub async fn check(store: &Store) -> Result<(), StoreError> {
    let waiting = |what: String| {
        StoreError::NotMigrated(format!(
            "{what} in database {}; this service does not migrate (clickhouse.migrate = false): \
             start a service that does (luister-processor)",
            store.database()
        ))
    };
    let todo = match pending(store).await {
        Ok(todo) => todo,
        // UNKNOWN_DATABASE, UNKNOWN_TABLE: nothing was ever migrated there.
        Err(StoreError::Server { code: 81 | 60, .. }) => {
            return Err(waiting("no migration is applied".into()))
        }
        Err(e) => return Err(e),
    };
    match todo.first() {
        None => Ok(()),
        Some(m) => Err(waiting(format!(
            "migration {} ({}) is not applied",
            m.version, m.name
        ))),
    }
}

/// Migrations this build carries that the database has not recorded, after checking
/// that the recorded ones are unchanged.
async fn pending(store: &Store) -> Result<Vec<Migration>, StoreError> {
    let applied: Vec<Applied> = store
        .client()
        .query("SELECT version, any(checksum) AS checksum FROM schema_migrations GROUP BY version ORDER BY version")
        .fetch_all()
        .await?;
    let mut todo = Vec::new();
    for m in MIGRATIONS {
        match applied.iter().find(|a| a.version == m.version) {
            Some(a) if a.checksum != m.checksum() => {
                return Err(StoreError::MigrationChanged {
                    version: m.version,
                    name: m.name.to_owned(),
                    applied: a.checksum.clone(),
                    expected: m.checksum(),
                })
            }
            Some(_) => {}
            None => todo.push(*m),
        }
    }
    Ok(todo)
}

async fn apply_pending(store: &Store) -> Result<(), StoreError> {
    // Re-read under the lock: another service may have applied them meanwhile.
    for m in pending(store).await? {
        tracing::info!(
            version = m.version,
            name = m.name,
            database = store.database(),
            "applying migration"
        );
        for stmt in m.statements() {
            match store
                .client()
                .query(&stmt)
                .execute()
                .await
                .map_err(StoreError::from)
            {
                Ok(()) => {}
                Err(e) if already_applied(&stmt, &e) => {
                    tracing::info!(
                        version = m.version,
                        "columns already added by an interrupted earlier run"
                    );
                }
                Err(e) => return Err(e),
            }
        }
        if let Some(backfill) = m.backfill {
            tracing::info!(
                version = m.version,
                ?backfill,
                "running the migration's backfill"
            );
            backfill.run(store).await?;
        }
        store
            .client()
            .query("INSERT INTO schema_migrations (version, name, checksum, applied_at) SELECT ?, ?, ?, now()")
            .bind(m.version)
            .bind(m.name)
            .bind(m.checksum())
            .execute()
            .await?;
    }
    Ok(())
}

async fn acquire_lock(store: &Store, config: &ClickHouseConfig) -> Result<(), StoreError> {
    let wait = Duration::from_secs(config.migration_lock_wait_s);
    let started = Instant::now();
    loop {
        let created = store
            .client()
            .query(&format!(
                "CREATE TABLE {LOCK_TABLE} (held UInt8) ENGINE = Memory"
            ))
            .execute()
            .await;
        match created {
            Ok(()) => return Ok(()),
            Err(e) => {
                let e = StoreError::from(e);
                if !lock_is_held(&e) {
                    return Err(e);
                }
            }
        }
        if lock_age_s(store).await? > config.migration_lock_stale_s {
            tracing::warn!(
                stale_after_s = config.migration_lock_stale_s,
                "breaking a migration lock left behind by a crashed process"
            );
            store
                .client()
                .query(&format!("DROP TABLE IF EXISTS {LOCK_TABLE}"))
                .execute()
                .await?;
            continue;
        }
        if started.elapsed() >= wait {
            return Err(StoreError::LockTimeout(wait));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// ClickHouse 18.16 has no `ADD COLUMN IF NOT EXISTS`: an `ALTER … ADD COLUMN` that
/// fails because the column exists was applied by an earlier, interrupted run.
fn already_applied(stmt: &str, e: &StoreError) -> bool {
    let adds = stmt.to_uppercase().contains("ADD COLUMN");
    matches!(e, StoreError::Server { code: 44 | 15, message } if adds && message.contains("already exists"))
}

/// "Table already exists" or "is creating or attaching right now".
fn lock_is_held(e: &StoreError) -> bool {
    match e {
        StoreError::Server { code, message } => {
            *code == 57 || message.contains("already exists") || message.contains("right now")
        }
        _ => false,
    }
}

/// Seconds since the lock table was created; 0 when it vanished meanwhile.
async fn lock_age_s(store: &Store) -> Result<u64, StoreError> {
    let ages: Vec<i64> = store
        .client()
        .query(
            "SELECT toInt64(now()) - toInt64(metadata_modification_time) FROM system.tables \
             WHERE database = currentDatabase() AND name = ?",
        )
        .bind(LOCK_TABLE)
        .fetch_all()
        .await?;
    Ok(ages.first().copied().unwrap_or(0).max(0) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_migration_file_is_listed_in_order() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/migrations");
        let mut files: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.ends_with(".sql"))
            .collect();
        files.sort();
        let listed: Vec<&str> = MIGRATIONS.iter().map(|m| m.name).collect();
        assert_eq!(files, listed);
        for (i, m) in MIGRATIONS.iter().enumerate() {
            assert_eq!(m.version as usize, i + 1, "{}", m.name);
            assert!(
                m.name.starts_with(&format!("{:04}_", m.version)),
                "{}",
                m.name
            );
        }
    }

    #[test]
    fn statements_split_on_line_end_semicolons_and_drop_comments() {
        let sql = "-- a comment; with a semicolon\nCREATE TABLE a (x UInt8)\nENGINE = Memory;\n\n-- next\nSELECT 'a;b';\nSELECT 2";
        assert_eq!(
            split_statements(sql),
            vec![
                "CREATE TABLE a (x UInt8)\nENGINE = Memory".to_owned(),
                "SELECT 'a;b'".to_owned(),
                "SELECT 2".to_owned()
            ]
        );
    }

    #[test]
    fn only_existing_columns_count_as_applied() {
        let exists = StoreError::Server {
            code: 44,
            message: "Cannot add column b: column with this name already exists".into(),
        };
        assert!(already_applied(
            "ALTER TABLE t ADD COLUMN b String",
            &exists
        ));
        assert!(!already_applied("CREATE TABLE t (b String)", &exists));
        let other = StoreError::Server {
            code: 62,
            message: "Syntax error".into(),
        };
        assert!(!already_applied(
            "ALTER TABLE t ADD COLUMN b String",
            &other
        ));
    }

    #[test]
    fn migrations_use_no_sql_that_clickhouse_18_16_lacks() {
        for m in MIGRATIONS {
            let upper = m.sql.to_uppercase();
            for banned in [
                " TTL ",
                "TOSTARTOFINTERVAL",
                "WITH FILL",
                "JSONEXTRACT",
                "CODEC(",
                "ADD COLUMN IF NOT EXISTS",
                "LOWCARDINALITY",
                "DATETIME64",
            ] {
                assert!(!upper.contains(banned), "{} uses {banned}", m.name);
            }
        }
    }
}
