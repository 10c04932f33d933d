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
//! with `--` are comments.

use std::time::{Duration, Instant};

use chrono::NaiveDate;
use serde::Deserialize;
use sha2::{Digest, Sha256};

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
}

/// Every migration, in order. A unit test checks that this lists each file.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "0001_events.sql",
        sql: include_str!("../migrations/0001_events.sql"),
    },
    Migration {
        version: 2,
        name: "0002_event_details.sql",
        sql: include_str!("../migrations/0002_event_details.sql"),
    },
    Migration {
        version: 3,
        name: "0003_themes.sql",
        sql: include_str!("../migrations/0003_themes.sql"),
    },
    Migration {
        version: 4,
        name: "0004_channels_and_search.sql",
        sql: include_str!("../migrations/0004_channels_and_search.sql"),
    },
    Migration {
        version: 5,
        name: "0005_sessions.sql",
        sql: include_str!("../migrations/0005_sessions.sql"),
    },
    Migration {
        version: 6,
        name: "0006_search_outcomes.sql",
        sql: include_str!("../migrations/0006_search_outcomes.sql"),
    },
    Migration {
        version: 7,
        name: "0007_actions.sql",
        sql: include_str!("../migrations/0007_actions.sql"),
    },
    Migration {
        version: 8,
        name: "0008_visits_daily.sql",
        sql: include_str!("../migrations/0008_visits_daily.sql"),
    },
    Migration {
        version: 9,
        name: "0009_totals_and_contact_channels.sql",
        sql: include_str!("../migrations/0009_totals_and_contact_channels.sql"),
    },
    Migration {
        version: 10,
        name: "0010_drop_theme_channel_daily.sql",
        sql: include_str!("../migrations/0010_drop_theme_channel_daily.sql"),
    },
    Migration {
        version: 11,
        name: "0011_search_term_counts_daily.sql",
        sql: include_str!("../migrations/0011_search_term_counts_daily.sql"),
    },
    Migration {
        version: 12,
        name: "0012_drop_search_terms_daily.sql",
        sql: include_str!("../migrations/0012_drop_search_terms_daily.sql"),
    },
];

const LOCK_TABLE: &str = "schema_migrations_lock";

/// Migration 0008's aggregation of the visits (`visits_daily`: per theme, '' for all
/// visits, the visits, contacts, zero-result searches, visitors and time to contact by
/// channel, by device and in total), in two steps: migration 0008's rows of each visit
/// and theme are aggregated per (site, day, theme, channel, device) first, with
/// partial states of the visitors and the times to contact, and the three cells are
/// built from those few rows. Migration 0008 spreads every visit's theme rows over the
/// three cells before it aggregates: three times the rows, each hashed into a set of
/// visitors and an array of times; this takes about half of ClickHouse's time for the
/// same rows (1.7 million visits of three days: 4.4 s → 2.3 s). Reads
/// `(SELECT * FROM sessions FINAL)`; binds the version.
pub fn visits_refresh() -> String {
    let backfill = backfill(8, "INSERT INTO visits_daily");
    let theme_rows = backfill
        .split_once("FROM\n(\n")
        .and_then(|(_, rest)| rest.split_once("\n)\nARRAY JOIN [(ch"))
        .map_or("", |(rows, _)| rows);
    format!(
        "INSERT INTO visits_daily
SELECT site, day, theme, cell.1 AS channel, cell.2 AS device, sum(n) AS visits,
       sum(n_contact) AS contacts, sum(n_zero) AS zero_results, uniqMerge(visitor_set) AS visitors,
       quantilesExactIfMergeState(0.5, 0.9)(ttc) AS time_to_contact, toUInt64(?) AS version
FROM
(
    SELECT site, day, theme, ch, dev, count() AS n, countIf(contact_ts > 0) AS n_contact,
           sum(zero) AS n_zero, uniqState(visitor) AS visitor_set,
           quantilesExactIfState(0.5, 0.9)(toInt64(contact_ts) - toInt64(first_ts), contact_ts > 0) AS ttc
    FROM
    (
{theme_rows}
    )
    GROUP BY site, day, theme, ch, dev
)
ARRAY JOIN [(ch, '*'), ('*', dev), ('*', '*')] AS cell
GROUP BY site, day, theme, channel, device"
    )
}

/// The sessionizer's rewrite of the daily aggregates after each run: for every (site,
/// day) from `first` to `last` that got events since a time, a new version of
/// `visits_daily` (migration 0008), its total rows copied to `visit_totals_daily` (run
/// it after the first: it copies the version just written), the contacts per
/// channel in `contact_channels_daily` (migration 0009) and the searches per theme
/// and term in `search_term_counts_daily` (migration 0011). `first`
/// and `last` are the days of the new events: they bound every scan to the days that
/// can have changed (the tables are partitioned and ordered by day; `inserted_at` is
/// not). Built from the migrations' backfill statements, so that each aggregation is
/// defined once; the visits in two steps ([`visits_refresh`]: migration 0008's rows in
/// half the time, a test holds the two to the same rows). Each statement binds the
/// version first, then (where it has one) the time in seconds.
pub fn sessionizer_refresh(first: NaiveDate, last: NaiveDate) -> [String; 4] {
    let days = days_between(first, last);
    let touched =
        format!("(SELECT site, day FROM events WHERE {days} AND inserted_at >= toDateTime(?))");
    let visits = visits_refresh().replace(
        "FROM (SELECT * FROM sessions FINAL)",
        &format!("FROM (SELECT * FROM sessions FINAL WHERE {days} AND (site, day) IN {touched})"),
    );
    // The totals of the version just written: the backfill's columns, this version.
    let totals = backfill(9, "INSERT INTO visit_totals_daily");
    let totals = format!(
        "{} WHERE channel = '*' AND device = '*' AND {days} AND version = ?",
        totals
            .split_once("WHERE")
            .map_or("", |(head, _)| head)
            .replace("toUInt64(0)", "version")
            .trim_end()
    );
    let contacts = backfill(9, "INSERT INTO contact_channels_daily")
        .replace(
            "(site, day) NOT IN (SELECT site, day FROM contact_channels_daily)",
            &format!("{days} AND (site, day) IN {touched}"),
        )
        .replace("toUInt64(0) AS version", "toUInt64(?) AS version");
    let searches = backfill(11, "INSERT INTO search_term_counts_daily")
        .replace(
            "(site, day) NOT IN (SELECT site, day FROM search_term_counts_daily)",
            &format!("{days} AND (site, day) IN {touched}"),
        )
        .replace("toUInt64(0) AS version", "toUInt64(?) AS version");
    [visits, totals, contacts, searches]
}

/// The SQL condition on `day` for the days from `first` to `last`, as date literals
/// (they are dates, never request text), so that it prunes partitions and key ranges.
pub fn days_between(first: NaiveDate, last: NaiveDate) -> String {
    format!("day >= toDate('{first}') AND day <= toDate('{last}')")
}

/// The statement of migration `version` that starts with `start`.
fn backfill(version: u32, start: &str) -> String {
    MIGRATIONS
        .iter()
        .filter(|m| m.version == version)
        .flat_map(|m| m.statements())
        .find(|s| s.starts_with(start))
        .unwrap_or_default()
}

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
    fn the_sessionizer_refreshes_the_aggregates_with_the_migrations_statements() {
        let day = |d| NaiveDate::from_ymd_opt(2026, 11, d).unwrap();
        let [visits, totals, contacts, searches] = sessionizer_refresh(day(28), day(29));
        let days = "day >= toDate('2026-11-28') AND day <= toDate('2026-11-29')";
        let touched = format!(
            "(site, day) IN (SELECT site, day FROM events WHERE {days} AND inserted_at >= toDateTime(?))"
        );
        assert!(visits.starts_with("INSERT INTO visits_daily"), "{visits}");
        assert!(visits.contains("toUInt64(?) AS version"), "{visits}");
        assert!(
            visits.contains(&format!(
                "FROM (SELECT * FROM sessions FINAL WHERE {days} AND {touched})"
            )),
            "{visits}"
        );
        assert_eq!(visits.matches('?').count(), 2, "{visits}");
        // Migration 0008's rows of each visit and theme, aggregated in two steps.
        assert!(
            visits.contains("ARRAY JOIN all_themes AS theme, all_first AS first_ts"),
            "{visits}"
        );
        assert!(visits.contains("uniqMerge(visitor_set)"), "{visits}");

        assert!(
            totals.starts_with("INSERT INTO visit_totals_daily\nSELECT site, theme, day,"),
            "{totals}"
        );
        assert!(
            totals.ends_with(&format!(", version\nFROM visits_daily WHERE channel = '*' AND device = '*' AND {days} AND version = ?")),
            "{totals}"
        );
        assert_eq!(totals.matches('?').count(), 1, "{totals}");

        assert!(
            contacts.starts_with("INSERT INTO contact_channels_daily"),
            "{contacts}"
        );
        assert!(contacts.contains("toUInt64(?) AS version"), "{contacts}");
        assert!(
            contacts.contains(&format!("{days} AND {touched}")),
            "{contacts}"
        );
        assert!(!contacts.contains("NOT IN"), "{contacts}");
        assert_eq!(contacts.matches('?').count(), 2, "{contacts}");

        assert!(
            searches.starts_with("INSERT INTO search_term_counts_daily"),
            "{searches}"
        );
        assert!(searches.contains("toUInt64(?) AS version"), "{searches}");
        assert!(
            searches.contains(&format!("{days} AND {touched}")),
            "{searches}"
        );
        assert!(!searches.contains("NOT IN"), "{searches}");
        assert_eq!(searches.matches('?').count(), 2, "{searches}");
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
