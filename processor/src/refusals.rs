//! The collectors' refusal records (`kafka.refusals_topic`, see the collector's
//! `refusals` module) into the `refusals` table (migration 0016), for the API's
//! `/v1/sites/{site}/refusals`. A consumer of its own (group `<group_id>-refusals`):
//! records are written in batches (at most [`BATCH`] or a second's worth), and the
//! offsets committed once ClickHouse has them. A crash between the two writes a batch
//! again; the table keeps one row per (site, time, collector, reason), so it is not
//! counted twice. Records older than [`KEEP_DAYS`] days are deleted once a day.

use std::time::Duration;

use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::Message;
use serde::Serialize;
use tokio::sync::watch;

use luister_schema::Refusal;
use luister_service::kafka::KafkaConfig;
use luister_store::Store;

/// Most records written at once.
pub const BATCH: usize = 500;
/// Days a refusal is kept.
pub const KEEP_DAYS: i64 = 30;

/// A row of the `refusals` table.
#[derive(Debug, Clone, PartialEq, Eq, clickhouse::Row, Serialize)]
pub struct RefusalRow {
    site: String,
    ts_ms: u64,
    reason: String,
    message: String,
    count: u64,
    collector: String,
}

/// The row of a record, or `None` for one that is not a refusal record.
pub fn row_of(payload: &[u8]) -> Option<RefusalRow> {
    let r: Refusal = serde_json::from_slice(payload).ok()?;
    Some(RefusalRow {
        site: r.site,
        ts_ms: u64::try_from(r.ts_ms).ok()?,
        reason: r.reason,
        message: r.message,
        count: r.count,
        collector: r.collector,
    })
}

/// Consumes the refusals topic until `shutdown`; failures are logged and retried.
pub async fn run(
    kafka: KafkaConfig,
    group_id: String,
    store: Store,
    mut shutdown: watch::Receiver<bool>,
) {
    let consumer: StreamConsumer = match kafka
        .client_config()
        .set("group.id", format!("{group_id}-refusals"))
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .create()
    {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "cannot create the refusals consumer");
            return;
        }
    };
    if let Err(e) = consumer.subscribe(&[&kafka.refusals_topic]) {
        tracing::error!(error = %e, "cannot subscribe to the refusals topic");
        return;
    }
    let mut last_cleanup: Option<std::time::Instant> = None;
    loop {
        let mut rows = Vec::new();
        let window = tokio::time::sleep(Duration::from_secs(1));
        tokio::pin!(window);
        while rows.len() < BATCH {
            // The message is borrowed from the consumer: used up before any await.
            let failed = tokio::select! {
                m = consumer.recv() => match m {
                    Ok(m) => {
                        match m.payload().and_then(row_of) {
                            Some(row) => rows.push(row),
                            None => tracing::warn!(offset = m.offset(), "a record on the refusals topic is not a refusal; skipped"),
                        }
                        false
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "reading refusals failed; retrying");
                        true
                    }
                },
                () = &mut window => break,
                _ = shutdown.wait_for(|s| *s) => return,
            };
            if failed {
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
        if !rows.is_empty() {
            // Until ClickHouse has them, they are written again (the offsets stay).
            while let Err(e) = write(&store, &rows).await {
                tracing::warn!(error = %e, "writing refusals failed; retrying");
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_secs(2)) => {},
                    _ = shutdown.wait_for(|s| *s) => return,
                }
            }
            if let Err(e) = consumer.commit_consumer_state(CommitMode::Async) {
                tracing::warn!(error = %e, "committing the refusals' offsets failed");
            }
        }
        if last_cleanup.is_none_or(|t| t.elapsed() > Duration::from_secs(86_400)) {
            match cleanup(&store).await {
                Ok(()) => last_cleanup = Some(std::time::Instant::now()),
                Err(e) => tracing::warn!(error = %e, "deleting old refusals failed"),
            }
        }
    }
}

async fn write(store: &Store, rows: &[RefusalRow]) -> Result<(), clickhouse::error::Error> {
    let mut insert = store.client().insert::<RefusalRow>("refusals").await?;
    for r in rows {
        insert.write(r).await?;
    }
    insert.end().await
}

async fn cleanup(store: &Store) -> Result<(), clickhouse::error::Error> {
    let cutoff = chrono::Utc::now().timestamp_millis() - KEEP_DAYS * 86_400_000;
    let cutoff = u64::try_from(cutoff).unwrap_or(0);
    let old: u64 = store
        .client()
        .query("SELECT count() FROM refusals WHERE ts_ms < ?")
        .bind(cutoff)
        .fetch_one()
        .await?;
    if old > 0 {
        store
            .client()
            .query("ALTER TABLE refusals DELETE WHERE ts_ms < ?")
            .bind(cutoff)
            .execute()
            .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_become_rows_and_anything_else_is_skipped() {
        let r = Refusal {
            site: "demo".into(),
            ts_ms: 1_764_000_000_000,
            reason: "bad_request".into(),
            message: "url is missing".into(),
            count: 4,
            collector: "ab12".into(),
        };
        let row = row_of(&serde_json::to_vec(&r).unwrap()).unwrap();
        assert_eq!(
            (row.site.as_str(), row.ts_ms, row.count),
            ("demo", 1_764_000_000_000, 4)
        );
        assert_eq!(row_of(b"{\"v\":1}"), None);
        assert_eq!(row_of(b"nope"), None);
    }
}
