//! The consume → write → commit loop.
//!
//! Per batch: read messages until the batch is full by rows or bytes or its time is
//! up; parse and attribute them; send unusable ones to the dead-letter topic (and wait
//! for the broker); write the rows exactly once ([`crate::writer`]: those ClickHouse
//! holds already are dropped, the rest inserted, retried with capped backoff while
//! ClickHouse is unreachable); and only then store the offsets, which the consumer
//! commits.
//!
//! When a batch filled up (the topic is ahead of us), it is held back while the next
//! batch is read; then its write and the parsing of the next one run side by side (the
//! parsing on a blocking thread), so neither waits for the other. A batch that did not
//! fill is written at once. No write is in flight while the consumer polls, so a
//! rebalance never hands a partition over with a write of ours pending; a batch read
//! before a rebalance keeps only the partitions still assigned when it is written.

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono_tz::Tz;
use rdkafka::consumer::{Consumer, ConsumerContext, Rebalance, StreamConsumer};
use rdkafka::message::{Message, OwnedMessage};
use rdkafka::ClientContext;
use tokio::sync::watch;
use tokio::time::Instant;

use luister_schema::Event;
use luister_store::Store;

use crate::attribution::Matcher;
use crate::batch::{Batch, BatchBuilder};
use crate::config::ProcessorConfig;
use crate::dead_letter::{DeadLetters, Reject};
use crate::event_store::ClickHouseEvents;
use crate::metrics::ProcessorMetrics;
use crate::row::{self, EventRow, Origin};
use crate::taxonomy::LiveTaxonomy;
use crate::writer::{ConsumerSide, Writer, WriterConfig};

/// How the consumer fetches, unless `kafka.properties` says otherwise.
const FETCH_TUNING: [(&str, &str); 4] = [
    // Prefetch most of a batch, not librdkafka's default of 64 MB: the processor's
    // memory stays small and batches still fill quickly.
    ("queued.max.messages.kbytes", "32768"),
    // When that prefetch is full librdkafka pauses fetching for this long (default a
    // whole second, which left batches waiting for messages).
    ("fetch.queue.backoff.ms", "20"),
    // The broker answers a fetch once 64 KB are there or after 100 ms, instead of as
    // soon as one byte is (librdkafka's default), which under live traffic was a fetch
    // per collector produce request and cost the broker CPU (`docs/benchmarks.md`). A
    // batch waits up to a second anyway (consumer.batch_max_wait_ms).
    ("fetch.min.bytes", "65536"),
    ("fetch.wait.max.ms", "100"),
];

/// What the consumer reports back: rebalances (so the loop knows its cached
/// watermarks may be stale) and, from librdkafka's statistics, the lag per partition.
pub struct ConsumerEvents {
    rebalances: AtomicU64,
    lag: prometheus::IntGaugeVec,
    topic: String,
}

impl ClientContext for ConsumerEvents {
    fn stats(&self, statistics: rdkafka::Statistics) {
        if let Some(topic) = statistics.topics.get(&self.topic) {
            for (partition, p) in &topic.partitions {
                // librdkafka reports -1 for partitions this consumer does not fetch.
                if *partition >= 0 && p.consumer_lag >= 0 {
                    self.lag
                        .with_label_values(&[&partition.to_string()])
                        .set(p.consumer_lag);
                }
            }
        }
    }
}

impl ConsumerContext for ConsumerEvents {
    fn post_rebalance(
        &self,
        _consumer: &rdkafka::consumer::BaseConsumer<Self>,
        rebalance: &Rebalance<'_>,
    ) {
        match rebalance {
            Rebalance::Assign(tpl) => {
                tracing::info!(partitions = tpl.count(), "partitions assigned")
            }
            Rebalance::Revoke(tpl) => {
                tracing::info!(partitions = tpl.count(), "partitions revoked")
            }
            Rebalance::Error(e) => tracing::warn!(error = %e, "rebalance error"),
        }
        self.rebalances.fetch_add(1, Ordering::SeqCst);
    }
}

/// Whether the consumer is catching up on a backlog: its batches fill up (by rows or
/// bytes) instead of closing at their wait. Shared with the sessionizer, which then
/// waits for it (`sessions.max_defer_s`).
#[derive(Debug, Clone, Default)]
pub struct Backlog(Arc<Mutex<Option<std::time::Instant>>>);

impl Backlog {
    /// The consumer read a full batch.
    pub fn saw_full_batch(&self) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(std::time::Instant::now());
    }

    /// True while full batches keep coming: the last one within `window`.
    pub fn catching_up(&self, window: Duration) -> bool {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_some_and(|t| t.elapsed() < window)
    }
}

/// The consumer and what it writes with.
pub struct Pipeline {
    kafka: KafkaSide,
    writer: Writer<ClickHouseEvents>,
    metrics: ProcessorMetrics,
    batching: crate::config::ConsumerConfig,
    tz: Tz,
    taxonomy: LiveTaxonomy,
    /// `channels.partners` and `metrics.sites`, shared with the parsing thread.
    partners: Arc<[String]>,
    sites: Arc<[String]>,
    backlog: Backlog,
}

/// The Kafka side of the loop: the consumer, the dead-letter producer, and what it
/// remembers between batches. The writer reaches it through [`ConsumerSide`].
struct KafkaSide {
    consumer: StreamConsumer<ConsumerEvents>,
    dead_letters: DeadLetters,
    topic: String,
    shutdown: watch::Receiver<bool>,
    /// The rebalance count when this side last looked.
    seen_rebalances: u64,
    /// Messages fetched while waiting for ClickHouse, for the next batch.
    carried: Vec<OwnedMessage>,
    /// The rebalance count when the first of `carried` was fetched.
    carried_since: u64,
}

/// A batch read from the topic, parsed, attributed and encoded, waiting to be written.
struct Prepared {
    /// Per partition, the offset of its newest message in the batch.
    newest: BTreeMap<i32, i64>,
    /// The rows of the usable messages, in their order, encoded for the insert.
    batch: Batch,
    /// The unusable messages. The usable ones are dropped once parsed.
    rejects: Vec<Reject>,
    /// How the batch was read.
    read: Read,
}

/// How a batch was read.
#[derive(Debug, Clone, Copy)]
struct Read {
    /// The consumer's rebalance count when reading the batch began.
    rebalances: u64,
    /// The batch stopped at its row or byte limit rather than its wait.
    full: bool,
}

/// What parsing a batch needs besides its messages (CPU only, no I/O).
struct ParseContext {
    matcher: Arc<Matcher>,
    tz: Tz,
    /// Partner hostnames for the channel.
    partners: Arc<[String]>,
    /// The sites the metrics name.
    sites: Arc<[String]>,
}

/// Parses, attributes and encodes the messages of a batch.
fn prepare(messages: Vec<OwnedMessage>, ctx: &ParseContext, read: Read) -> Prepared {
    let rows = row::RowContext {
        tz: ctx.tz,
        matcher: &ctx.matcher,
        partners: &ctx.partners,
    };
    let mut batch = BatchBuilder::with_capacity(messages.len());
    let mut rejects = Vec::new();
    let mut newest: BTreeMap<i32, i64> = BTreeMap::new();
    for m in messages {
        let o = newest.entry(m.partition()).or_insert(m.offset());
        *o = (*o).max(m.offset());
        let origin = Origin {
            topic: m.topic().to_owned(),
            partition: m.partition(),
            offset: m.offset(),
        };
        match Event::from_json(m.payload().unwrap_or_default()) {
            Ok(event) => batch.push(&row::to_row(event, origin, &rows), &ctx.sites),
            Err(e) => {
                let reason = match e {
                    luister_schema::SchemaError::UnsupportedVersion { .. } => "unsupported_version",
                    _ => "invalid_event",
                };
                rejects.push(Reject {
                    message: m,
                    error: e.to_string(),
                    reason,
                });
            }
        }
    }
    Prepared {
        newest,
        batch: batch.finish(),
        rejects,
        read,
    }
}

impl Pipeline {
    /// Creates the consumer and subscribes to the events topic; `shutdown` turning
    /// true ends waits for ClickHouse or the broker.
    pub fn new(
        config: ProcessorConfig,
        store: Store,
        metrics: ProcessorMetrics,
        taxonomy: LiveTaxonomy,
        backlog: Backlog,
        shutdown: watch::Receiver<bool>,
    ) -> anyhow::Result<Self> {
        let consumer: StreamConsumer<ConsumerEvents> = config
            .kafka
            .client_config_with(&FETCH_TUNING)
            .set("group.id", &config.consumer.group_id)
            .set("enable.auto.commit", "true")
            .set("auto.commit.interval.ms", "1000")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "earliest")
            .set(
                "session.timeout.ms",
                config.consumer.session_timeout_ms.to_string(),
            )
            .set("enable.partition.eof", "false")
            .set("statistics.interval.ms", "10000")
            .create_with_context(ConsumerEvents {
                rebalances: AtomicU64::new(0),
                lag: metrics.lag.clone(),
                topic: config.kafka.topic.clone(),
            })?;
        consumer.subscribe(&[&config.kafka.topic])?;
        let tz: Tz = config
            .processing
            .timezone
            .parse()
            .map_err(|_| anyhow::anyhow!("processing.timezone is not a time zone"))?;
        let dead_letters = DeadLetters::new(&config.kafka, metrics.clone())?;
        let writer = Writer::new(
            ClickHouseEvents::new(store),
            WriterConfig {
                topic: config.kafka.topic.clone(),
                bound_margin: i64::try_from(config.consumer.batch_max_rows).unwrap_or(i64::MAX),
                max_backoff: Duration::from_secs(config.consumer.retry_backoff_max_s.max(1)),
            },
            metrics.clone(),
        );
        Ok(Self {
            kafka: KafkaSide {
                consumer,
                dead_letters,
                topic: config.kafka.topic.clone(),
                shutdown,
                seen_rebalances: 0,
                carried: Vec::new(),
                carried_since: 0,
            },
            writer,
            metrics,
            batching: config.consumer.clone(),
            tz,
            taxonomy,
            partners: config.channels.partners.clone().into(),
            sites: config.metrics.sites.clone().into(),
            backlog,
        })
    }

    /// Runs until shutdown; the batches in hand are finished first.
    pub async fn run(mut self) -> anyhow::Result<()> {
        let mut shutdown = self.kafka.shutdown.clone();
        let mut pending: Option<Prepared> = None;
        loop {
            let next = tokio::select! {
                batch = self.kafka.next_batch(&self.batching, pending.is_some()) => Some(batch),
                _ = shutdown.wait_for(|stop| *stop) => None,
            };
            let Some((batch, read)) = next else {
                if let Some(p) = pending.take() {
                    self.finish_or_stop(p).await?;
                }
                break;
            };
            self.metrics.consumed.inc_by(batch.len() as u64);
            if read.full {
                self.backlog.saw_full_batch();
            }
            let ctx = ParseContext {
                matcher: self.taxonomy.matcher(),
                tz: self.tz,
                partners: Arc::clone(&self.partners),
                sites: Arc::clone(&self.sites),
            };
            let parse = tokio::task::spawn_blocking(move || prepare(batch, &ctx, read));
            let prepared = match pending.take() {
                Some(p) => {
                    let (written, parsed) = tokio::join!(self.finish_or_stop(p), parse);
                    written?;
                    parsed?
                }
                None => parse.await?,
            };
            if prepared.read.full && !*shutdown.borrow() {
                pending = Some(prepared);
            } else {
                self.finish_or_stop(prepared).await?;
            }
            if *shutdown.borrow() && pending.is_none() {
                break;
            }
        }
        if let Err(e) = self
            .kafka
            .consumer
            .commit_consumer_state(rdkafka::consumer::CommitMode::Sync)
        {
            tracing::warn!(error = %e, "final offset commit failed; the next start skips the replay through ClickHouse");
        }
        Ok(())
    }

    /// [`Self::finish`]; an error while shutting down only ends the batch (it is read
    /// again at the next start), any other is returned.
    async fn finish_or_stop(&mut self, prepared: Prepared) -> anyhow::Result<()> {
        if let Err(e) = self.finish(prepared).await {
            if !*self.kafka.shutdown.borrow() {
                return Err(e);
            }
            tracing::warn!(error = %e, "stopped mid-batch");
        }
        Ok(())
    }

    /// Writes a prepared batch: dead letters, then rows, then the offsets.
    async fn finish(&mut self, prepared: Prepared) -> anyhow::Result<()> {
        let Prepared {
            mut newest,
            mut batch,
            rejects,
            read,
        } = prepared;
        let seen = self.kafka.seen_rebalances;
        let rebalanced = self.kafka.rebalanced();
        if self.kafka.seen_rebalances != seen {
            // Another processor may have written meanwhile.
            self.writer.forget();
        }
        // Partitions may have moved since the batch was read: keep the messages of those
        // still ours; their new owner reads the others from the committed offset.
        let owned = if self.kafka.seen_rebalances != read.rebalances {
            rebalanced.or_else(|| self.kafka.owned())
        } else {
            None
        };
        let ours = |partition: i32| owned.as_ref().is_none_or(|o| o.contains(&partition));
        batch.retain(|r| ours(r.partition));
        let rejects: Vec<&Reject> = rejects
            .iter()
            .filter(|r| ours(r.message.partition()))
            .collect();
        // The offset to store per partition: its newest message (all before it in the
        // batch are written, dead-lettered or already in ClickHouse by then).
        newest.retain(|partition, _| ours(*partition));
        if newest.is_empty() {
            return Ok(());
        }
        // Dead letters first: once the events after them are in ClickHouse, a replay
        // would skip them.
        self.kafka
            .dead_letters
            .send_all(&rejects, &mut self.kafka.shutdown)
            .await?;
        self.writer.write(batch, &mut self.kafka).await?;
        for (partition, offset) in newest {
            if let Err(e) = self
                .kafka
                .consumer
                .store_offset(&self.kafka.topic, partition, offset)
            {
                tracing::warn!(error = %e, partition, offset, "cannot store offset");
            }
        }
        Ok(())
    }
}

impl KafkaSide {
    /// Waits for the first message, then gathers more until full or timed out; with a
    /// batch held back (`holding`), the time runs from the start, so that batch is not
    /// kept waiting for a topic that has run dry.
    async fn next_batch(
        &mut self,
        c: &crate::config::ConsumerConfig,
        holding: bool,
    ) -> (Vec<OwnedMessage>, Read) {
        let mut rebalances = self.consumer.context().rebalances.load(Ordering::SeqCst);
        let mut batch = std::mem::take(&mut self.carried);
        if !batch.is_empty() {
            rebalances = self.carried_since;
        }
        let mut bytes: usize = batch
            .iter()
            .map(|m| m.payload().map_or(0, <[u8]>::len))
            .sum();
        let mut deadline: Option<Instant> = (holding || !batch.is_empty())
            .then(|| Instant::now() + Duration::from_millis(c.batch_max_wait_ms));
        while batch.len() < c.batch_max_rows && bytes < c.batch_max_bytes {
            let next = match deadline {
                None => Ok(self.consumer.recv().await),
                Some(d) => tokio::time::timeout_at(d, self.consumer.recv()).await,
            };
            match next {
                Ok(Ok(m)) => {
                    bytes += m.payload_len();
                    batch.push(m.detach());
                    deadline.get_or_insert_with(|| {
                        Instant::now() + Duration::from_millis(c.batch_max_wait_ms)
                    });
                }
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "consumer error");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    if !batch.is_empty() {
                        break;
                    }
                }
                Err(_elapsed) => break,
            }
        }
        let full = batch.len() >= c.batch_max_rows || bytes >= c.batch_max_bytes;
        (batch, Read { rebalances, full })
    }

    /// The partitions of the events topic assigned to this consumer now.
    fn owned(&self) -> Option<HashSet<i32>> {
        match self.consumer.assignment() {
            Ok(tpl) => Some(
                tpl.elements_for_topic(&self.topic)
                    .iter()
                    .map(|e| e.partition())
                    .collect(),
            ),
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the assignment");
                None
            }
        }
    }
}

impl ConsumerSide for KafkaSide {
    /// Waits with every assigned partition paused while still polling the consumer, so
    /// the group keeps this member (no `max.poll.interval.ms` expiry during a long
    /// ClickHouse outage) and rebalances are served. Messages that were already fetched
    /// are kept for the next batch.
    async fn pause(&mut self, backoff: Duration) -> anyhow::Result<()> {
        let assigned = self.consumer.assignment().ok();
        if let Some(a) = &assigned {
            if let Err(e) = self.consumer.pause(a) {
                tracing::warn!(error = %e, "cannot pause partitions");
            }
        }
        if self.carried.is_empty() {
            self.carried_since = self.consumer.context().rebalances.load(Ordering::SeqCst);
        }
        let deadline = Instant::now() + backoff;
        let mut shutdown = self.shutdown.clone();
        let result = loop {
            tokio::select! {
                () = tokio::time::sleep_until(deadline) => break Ok(()),
                m = self.consumer.recv() => match m {
                    Ok(m) => self.carried.push(m.detach()),
                    Err(e) => tracing::debug!(error = %e, "consumer error while waiting for ClickHouse"),
                },
                _ = shutdown.wait_for(|stop| *stop) => {
                    break Err(anyhow::anyhow!("shutting down with a batch ClickHouse has not acknowledged; it is read again at the next start"));
                }
            }
        };
        if let Ok(now) = self.consumer.assignment() {
            if let Err(e) = self.consumer.resume(&now) {
                tracing::warn!(error = %e, "cannot resume partitions");
            }
        }
        result
    }

    /// When a rebalance happened since the last call: the partitions this consumer owns
    /// now. Messages or rows of other partitions must not be written: their new owner
    /// reads them from the committed offset.
    fn rebalanced(&mut self) -> Option<HashSet<i32>> {
        let now = self.consumer.context().rebalances.load(Ordering::SeqCst);
        if now == self.seen_rebalances {
            return None;
        }
        self.seen_rebalances = now;
        self.owned()
    }

    async fn dead_letter(&mut self, rows: &[EventRow], reason: &str) -> anyhow::Result<()> {
        self.dead_letters
            .send_rows(rows, reason, &mut self.shutdown)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_consumer_counts_as_catching_up_while_full_batches_keep_coming() {
        let backlog = Backlog::default();
        assert!(
            !backlog.catching_up(Duration::from_secs(5)),
            "nothing read yet"
        );
        let shared = backlog.clone();
        shared.saw_full_batch();
        assert!(backlog.catching_up(Duration::from_secs(5)));
        std::thread::sleep(Duration::from_millis(30));
        assert!(
            !backlog.catching_up(Duration::from_millis(20)),
            "no full batch within the window"
        );
    }
}
