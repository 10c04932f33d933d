//! Writing a batch to ClickHouse exactly once, whatever fails during the write.
//!
//! For each batch, [`Writer::write`]:
//! 1. drops the rows ClickHouse holds already: replays of what this processor stored,
//!    second copies within the batch, and — looked up by their exact Kafka position —
//!    rows an earlier, interrupted write may have left behind ([`crate::positions`]);
//! 2. raises the partitions' bounds in `kafka_offsets` when its rows go past them, and
//!    only then
//! 3. inserts the rest in one `INSERT`.
//!
//! When ClickHouse cannot be reached (or its answer is lost), any part of the insert
//! may have landed: the writer forgets what it knew, waits with capped backoff while
//! the consumer keeps its group membership ([`ConsumerSide::pause`]), drops the rows of
//! partitions a rebalance took away meanwhile, and starts again at step 1, which finds
//! whatever landed. When ClickHouse refuses the rows (a type or schema error, which a
//! retry cannot mend), the rows it does not hold go to the dead-letter topic: every row
//! ends up in exactly one of the two.

use std::collections::{BTreeMap, HashSet};
use std::future::Future;
use std::time::{Duration, Instant};

use anyhow::Context;
use luister_store::StoreError;

use crate::batch::Batch;
use crate::event_store::EventStore;
use crate::metrics::ProcessorMetrics;
use crate::positions::Positions;
use crate::row::EventRow;

/// What the write loop needs of the consumer around it.
pub trait ConsumerSide {
    /// Waits `backoff` before the next attempt, keeping the consumer group membership;
    /// fails when the service is shutting down.
    fn pause(&mut self, backoff: Duration) -> impl Future<Output = anyhow::Result<()>>;

    /// When a rebalance happened since the last call: the partitions of the events
    /// topic this consumer owns now.
    fn rebalanced(&mut self) -> Option<HashSet<i32>>;

    /// Sends rows ClickHouse refused to the dead-letter topic, waiting for the broker.
    fn dead_letter(
        &mut self,
        rows: &[EventRow],
        reason: &str,
    ) -> impl Future<Output = anyhow::Result<()>>;
}

/// The write loop's settings.
#[derive(Debug, Clone)]
pub struct WriterConfig {
    /// The events topic (every row comes from it).
    pub topic: String,
    /// How far past a batch's highest offset a bound is raised, so that a steady stream
    /// records a bound about once per this many messages.
    pub bound_margin: i64,
    /// The longest wait between attempts.
    pub max_backoff: Duration,
}

/// See the module documentation.
pub struct Writer<S> {
    store: S,
    config: WriterConfig,
    positions: Positions,
    metrics: ProcessorMetrics,
}

/// The first wait after a failed attempt; it doubles up to `max_backoff`.
const FIRST_BACKOFF: Duration = Duration::from_millis(200);

impl<S: EventStore> Writer<S> {
    /// A writer to `store` that knows nothing yet.
    pub fn new(store: S, config: WriterConfig, metrics: ProcessorMetrics) -> Self {
        Self {
            store,
            config,
            positions: Positions::default(),
            metrics,
        }
    }

    /// The store it writes to.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// Forgets what it knows of ClickHouse (after a rebalance: another processor may
    /// have written meanwhile).
    pub fn forget(&mut self) {
        self.positions.forget();
    }

    /// Writes `batch` (see the module documentation). Fails only when the service is
    /// shutting down mid-write or ClickHouse cannot tell which rows of a refused batch
    /// it holds; the batch is then read again after a restart.
    pub async fn write(
        &mut self,
        mut batch: Batch,
        side: &mut impl ConsumerSide,
    ) -> anyhow::Result<()> {
        let mut handled = newest_per_partition(&batch);
        let mut backoff = FIRST_BACKOFF;
        loop {
            let error = match self.attempt(&mut batch).await {
                Ok(()) => {
                    for (partition, offset) in handled {
                        self.positions.stored_through(partition, offset);
                    }
                    return Ok(());
                }
                Err(e) => e,
            };
            // Any part of what was sent may have landed: ask ClickHouse again.
            self.positions.forget();
            if !error.is_retryable() {
                tracing::error!(error = %error, rows = batch.len(), "ClickHouse refused the batch; sending the rows it does not hold to the dead-letter topic");
                return self.dead_letter_rest(batch, &error, side).await;
            }
            self.metrics.retries.inc();
            tracing::warn!(error = %error, retry_in_ms = backoff.as_millis() as u64, rows = batch.len(), "ClickHouse write failed; retrying");
            if let Some(owned) = self.wait(backoff, side).await? {
                batch.retain(|r| owned.contains(&r.partition));
                handled.retain(|p, _| owned.contains(p));
                tracing::info!(
                    rows = batch.len(),
                    "rebalanced while waiting for ClickHouse; kept the rows of partitions still owned"
                );
            }
            backoff = (backoff * 2).min(self.config.max_backoff);
        }
    }

    /// Waits before the next attempt; returns the partitions still owned when a
    /// rebalance happened meanwhile (their new owner reads the others).
    async fn wait(
        &mut self,
        backoff: Duration,
        side: &mut impl ConsumerSide,
    ) -> anyhow::Result<Option<HashSet<i32>>> {
        side.pause(backoff).await?;
        let owned = side.rebalanced();
        if owned.is_some() {
            self.positions.forget();
        }
        Ok(owned)
    }

    /// One attempt at steps 1–3.
    async fn attempt(&mut self, batch: &mut Batch) -> Result<(), StoreError> {
        self.prune(batch).await?;
        let raise = self
            .positions
            .bounds_to_raise(batch, self.config.bound_margin);
        if !raise.is_empty() {
            self.store.raise_bounds(&self.config.topic, &raise).await?;
            self.positions.raised(&raise);
        }
        if batch.is_empty() {
            return Ok(());
        }
        let start = Instant::now();
        let body = batch.body();
        self.store.insert(batch.rows(), body).await?;
        self.metrics
            .insert_seconds
            .observe(start.elapsed().as_secs_f64());
        self.metrics.batch_rows.observe(batch.len() as f64);
        self.metrics.written.inc_by(batch.len() as u64);
        self.metrics.count_rows(batch);
        Ok(())
    }

    /// Step 1: drops the rows ClickHouse holds already, counted as duplicates.
    async fn prune(&mut self, batch: &mut Batch) -> Result<(), StoreError> {
        if !self.positions.is_loaded() {
            let bounds = self.store.bounds(&self.config.topic).await?;
            self.positions.load(bounds);
        }
        let before = batch.len();
        self.positions.drop_stored(batch);
        // A rebalance while the batch was read makes the consumer deliver messages
        // again from the committed offset, into the same batch.
        batch.keep_first_of_each_offset();
        if let Some(probe) = self.positions.probe(batch) {
            let present = self.store.present(&self.config.topic, &probe).await?;
            batch.retain(|r| !present.contains(&(r.partition, r.offset)));
        }
        self.metrics
            .duplicates
            .inc_by((before - batch.len()) as u64);
        Ok(())
    }

    /// After ClickHouse refused `batch`: finds which of its rows it holds anyway
    /// (retrying while it cannot be reached) and dead-letters the others.
    async fn dead_letter_rest(
        &mut self,
        mut batch: Batch,
        refusal: &StoreError,
        side: &mut impl ConsumerSide,
    ) -> anyhow::Result<()> {
        let mut backoff = FIRST_BACKOFF;
        loop {
            match self.prune(&mut batch).await {
                Ok(()) => break,
                Err(e) if e.is_retryable() => {
                    self.positions.forget();
                    if let Some(owned) = self.wait(backoff, side).await? {
                        batch.retain(|r| owned.contains(&r.partition));
                    }
                    backoff = (backoff * 2).min(self.config.max_backoff);
                }
                Err(e) => {
                    anyhow::bail!("cannot tell which rows of a batch ClickHouse refused ({refusal}) it holds: {e}")
                }
            }
        }
        let rows = batch.decode().context("decoding a refused batch")?;
        side.dead_letter(&rows, &format!("ClickHouse refused the batch: {refusal}"))
            .await?;
        // What this processor knows was dropped with the refusal; the next batch asks again.
        self.positions.forget();
        Ok(())
    }
}

/// Per partition, the offset of the newest row of `batch`.
fn newest_per_partition(batch: &Batch) -> BTreeMap<i32, i64> {
    let mut newest = BTreeMap::new();
    for r in batch.rows() {
        let n = newest.entry(r.partition).or_insert(r.offset);
        *n = (*n).max(r.offset);
    }
    newest
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::event_store::memory::{Failure, MemoryEvents};

    /// A consumer side that records what the writer asked of it; `rebalance_to` is
    /// handed out at the first `rebalanced` after a pause.
    #[derive(Default)]
    struct Side {
        pauses: usize,
        rebalance_to: Option<HashSet<i32>>,
        dead: Vec<(i32, i64)>,
        reasons: Vec<String>,
        stopping: bool,
    }

    impl ConsumerSide for Side {
        async fn pause(&mut self, _backoff: Duration) -> anyhow::Result<()> {
            self.pauses += 1;
            if self.stopping {
                anyhow::bail!("stopping");
            }
            Ok(())
        }

        fn rebalanced(&mut self) -> Option<HashSet<i32>> {
            self.rebalance_to.take()
        }

        async fn dead_letter(&mut self, rows: &[EventRow], reason: &str) -> anyhow::Result<()> {
            self.dead.extend(
                rows.iter()
                    .map(|r| (r.kafka_partition as i32, r.kafka_offset as i64)),
            );
            self.reasons.push(reason.to_owned());
            Ok(())
        }
    }

    fn writer() -> Writer<MemoryEvents> {
        writer_on(MemoryEvents::default())
    }

    fn writer_on(store: MemoryEvents) -> Writer<MemoryEvents> {
        let metrics = ProcessorMetrics::new(&prometheus::Registry::new()).unwrap();
        Writer::new(
            store,
            WriterConfig {
                topic: "events".into(),
                bound_margin: 100,
                max_backoff: Duration::from_millis(1),
            },
            metrics,
        )
    }

    fn batch(positions: &[(u32, u64)]) -> Batch {
        let rows: Vec<EventRow> = positions
            .iter()
            .map(|&(partition, offset)| EventRow {
                site: "demo".into(),
                day: 20_000,
                kind: "pageview".into(),
                visitor: format!("{offset:016x}"),
                kafka_topic: "events".into(),
                kafka_partition: partition,
                kafka_offset: offset,
                ..EventRow::default()
            })
            .collect();
        Batch::from_rows(&rows, &[])
    }

    fn range(partition: u32, offsets: std::ops::Range<u64>) -> Vec<(u32, u64)> {
        offsets.map(|o| (partition, o)).collect()
    }

    fn unavailable() -> StoreError {
        StoreError::Unavailable("connection reset".into())
    }

    fn calls(w: &Writer<MemoryEvents>) -> Vec<String> {
        std::mem::take(&mut *w.store.calls.lock().unwrap())
    }

    #[tokio::test]
    async fn the_bound_is_raised_before_rows_past_it_are_inserted_and_a_steady_stream_is_not_looked_up(
    ) {
        let mut w = writer();
        let mut side = Side::default();
        w.write(batch(&range(0, 0..10)), &mut side).await.unwrap();
        assert_eq!(calls(&w), ["bounds", "raise 0:109", "insert 10"]);
        // The next batches fit under the bound and follow what this writer stored.
        w.write(batch(&range(0, 10..50)), &mut side).await.unwrap();
        assert_eq!(calls(&w), ["insert 40"]);
        w.write(batch(&range(0, 50..120)), &mut side).await.unwrap();
        assert_eq!(calls(&w), ["raise 0:219", "insert 70"]);
        assert_eq!(w.store.stored(0), (0..120).collect::<Vec<_>>());
        assert_eq!(side.pauses, 0);
    }

    #[tokio::test]
    async fn a_replay_of_what_this_writer_stored_is_dropped_without_asking() {
        let mut w = writer();
        let mut side = Side::default();
        w.write(batch(&range(0, 0..10)), &mut side).await.unwrap();
        calls(&w);
        // A rebalance redelivers from the committed offset; a copy within the batch too.
        let mut again = range(0, 5..15);
        again.push((0, 12));
        w.write(batch(&again), &mut side).await.unwrap();
        assert_eq!(calls(&w), ["insert 5"]);
        assert!(w.store.doubled().is_empty());
        assert_eq!(w.metrics.duplicates.get(), 6);
    }

    #[tokio::test]
    async fn after_a_restart_whatever_an_earlier_write_left_behind_is_found_and_not_written_again()
    {
        let first = {
            let mut w = writer();
            w.write(batch(&range(0, 0..10)), &mut Side::default())
                .await
                .unwrap();
            w
        };
        // A new processor, with the same ClickHouse, starting from an older offset.
        let mut w = writer_on(first.store);
        calls(&w);
        w.write(batch(&range(0, 4..14)), &mut Side::default())
            .await
            .unwrap();
        assert_eq!(calls(&w), ["bounds", "present 0:4-13", "insert 4"]);
        assert_eq!(w.store.stored(0), (0..14).collect::<Vec<_>>());
        assert!(w.store.doubled().is_empty());
    }

    #[tokio::test]
    async fn an_insert_cut_off_after_any_part_of_it_landed_is_completed_without_doubles() {
        let mut w = writer();
        // Every other row lands, in two partitions, then the connection breaks.
        w.store.insert_failures.lock().unwrap().push_back(Failure {
            lands: |_, o| o % 2 == 1,
            error: unavailable(),
        });
        let mut rows = range(0, 0..20);
        rows.extend(range(1, 0..20));
        let mut side = Side::default();
        w.write(batch(&rows), &mut side).await.unwrap();
        assert_eq!(
            calls(&w),
            [
                "bounds",
                "raise 0:119,1:119",
                "insert 40",
                "bounds",
                "present 0:0-19,1:0-19",
                "insert 20"
            ]
        );
        assert_eq!(w.store.stored(0), (0..20).collect::<Vec<_>>());
        assert_eq!(w.store.stored(1), (0..20).collect::<Vec<_>>());
        assert!(w.store.doubled().is_empty());
        assert_eq!((side.pauses, w.metrics.retries.get()), (1, 1));
    }

    #[tokio::test]
    async fn nothing_is_inserted_while_the_bound_cannot_be_recorded() {
        let mut w = writer();
        w.store
            .bound_failures
            .lock()
            .unwrap()
            .extend([unavailable(), unavailable()]);
        let mut side = Side::default();
        w.write(batch(&range(0, 0..5)), &mut side).await.unwrap();
        assert_eq!(
            calls(&w),
            [
                "bounds",
                "raise 0:104",
                "bounds",
                "raise 0:104",
                "bounds",
                "raise 0:104",
                "insert 5"
            ]
        );
        assert_eq!(side.pauses, 2);
        assert_eq!(w.store.stored(0), (0..5).collect::<Vec<_>>());
    }

    #[tokio::test]
    async fn rows_of_partitions_a_rebalance_took_away_while_waiting_are_not_written() {
        let mut w = writer();
        w.store.insert_failures.lock().unwrap().push_back(Failure {
            lands: |_, _| false,
            error: unavailable(),
        });
        let mut side = Side {
            rebalance_to: Some(HashSet::from([1])),
            ..Side::default()
        };
        let mut rows = range(0, 0..5);
        rows.extend(range(1, 0..5));
        w.write(batch(&rows), &mut side).await.unwrap();
        assert!(w.store.stored(0).is_empty(), "partition 0 has a new owner");
        assert_eq!(w.store.stored(1), (0..5).collect::<Vec<_>>());
    }

    #[tokio::test]
    async fn a_refused_batch_goes_to_the_dead_letter_topic_except_what_clickhouse_kept() {
        let mut w = writer();
        w.store.insert_failures.lock().unwrap().push_back(Failure {
            lands: |_, o| o < 3,
            error: StoreError::Server {
                code: 53,
                message: "Type mismatch".into(),
            },
        });
        let mut side = Side::default();
        w.write(batch(&range(0, 0..8)), &mut side).await.unwrap();
        assert_eq!(w.store.stored(0), vec![0, 1, 2]);
        assert_eq!(
            side.dead,
            range(0, 3..8)
                .iter()
                .map(|&(p, o)| (p as i32, o as i64))
                .collect::<Vec<_>>()
        );
        assert!(
            side.reasons[0].contains("Type mismatch"),
            "{:?}",
            side.reasons
        );
        assert_eq!(side.pauses, 0, "a refusal is not retried");
        // The next batch asks ClickHouse again rather than trusting what was known.
        w.write(batch(&range(0, 8..10)), &mut side).await.unwrap();
        assert_eq!(calls(&w).last().map(String::as_str), Some("insert 2"));
    }

    #[tokio::test]
    async fn shutting_down_while_waiting_ends_the_write_without_storing_anything_more() {
        let mut w = writer();
        w.store.insert_failures.lock().unwrap().push_back(Failure {
            lands: |_, _| false,
            error: unavailable(),
        });
        let mut side = Side {
            stopping: true,
            ..Side::default()
        };
        assert!(w.write(batch(&range(0, 0..3)), &mut side).await.is_err());
        assert!(w.store.stored(0).is_empty());
        // After a restart the bound is there, so the rows are looked up, found missing
        // and written.
        let bounds: HashMap<i32, i64> = w.store.bounds.lock().unwrap().clone();
        assert_eq!(bounds, HashMap::from([(0, 102)]));
        w.forget();
        w.write(batch(&range(0, 0..3)), &mut Side::default())
            .await
            .unwrap();
        assert_eq!(w.store.stored(0), vec![0, 1, 2]);
    }
}
