//! Retention of raw events: whole monthly partitions of `events` older than
//! `retention.raw_events_days` are dropped (ClickHouse 18.16 has no TTL). Aggregate
//! tables and `kafka_offsets` are kept. A month is dropped only when its last day is
//! older than the cut-off, so raw events are kept at least that many days.

use std::time::Duration;

use chrono::{Datelike, NaiveDate};
use serde::Deserialize;

use luister_store::{Store, StoreError};

#[derive(Debug, clickhouse::Row, Deserialize)]
struct Part {
    partition: String,
}

/// The `YYYYMM` partitions whose every day is before `today - days`.
pub fn partitions_to_drop(partitions: &[u32], today: NaiveDate, days: u32) -> Vec<u32> {
    let Some(cutoff) = today.checked_sub_days(chrono::Days::new(u64::from(days))) else {
        return Vec::new();
    };
    partitions
        .iter()
        .copied()
        .filter(|p| {
            let (y, m) = ((p / 100) as i32, p % 100);
            let first_of_next = if m == 12 {
                NaiveDate::from_ymd_opt(y + 1, 1, 1)
            } else {
                NaiveDate::from_ymd_opt(y, m + 1, 1)
            };
            first_of_next.is_some_and(|next| next <= cutoff)
        })
        .collect()
}

/// Drops what is due now; returns the partitions dropped.
pub async fn run_once(store: &Store, days: u32, today: NaiveDate) -> Result<Vec<u32>, StoreError> {
    let parts: Vec<Part> = store
        .client()
        .query(
            "SELECT DISTINCT partition FROM system.parts \
             WHERE database = currentDatabase() AND table = 'events' AND active",
        )
        .fetch_all()
        .await?;
    let months: Vec<u32> = parts
        .iter()
        .filter_map(|p| p.partition.trim_matches('\'').parse().ok())
        .filter(|m: &u32| (190001..=999912).contains(m) && (1..=12).contains(&(m % 100)))
        .collect();
    let due = partitions_to_drop(&months, today, days);
    for p in &due {
        // A partition id is a number checked above; DDL cannot take it as a parameter.
        store
            .client()
            .query(&format!("ALTER TABLE events DROP PARTITION {p}"))
            .execute()
            .await?;
        tracing::info!(partition = p, "dropped raw events past retention");
    }
    Ok(due)
}

/// Runs [`run_once`] every `every`, logging failures.
pub async fn run(store: Store, days: u32, every: Duration) {
    loop {
        let today = chrono::Utc::now().date_naive();
        if let Err(e) = run_once(&store, days, today).await {
            tracing::warn!(error = %e, "retention check failed; trying again later");
        }
        tokio::time::sleep(every).await;
    }
}

/// The month key of a date, as the `events` table partitions it.
pub fn month_of(d: NaiveDate) -> u32 {
    d.year() as u32 * 100 + d.month()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_months_entirely_past_the_cutoff_are_dropped() {
        let today = NaiveDate::from_ymd_opt(2026, 11, 24).unwrap();
        let parts = [202401, 202510, 202511, 202512, 202611];
        // cutoff 2025-11-24: October 2025 ended before it, November 2025 did not.
        assert_eq!(partitions_to_drop(&parts, today, 365), vec![202401, 202510]);
        assert_eq!(partitions_to_drop(&parts, today, 10_000), Vec::<u32>::new());
        assert_eq!(month_of(today), 202611);
    }
}
