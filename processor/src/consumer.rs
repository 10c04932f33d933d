//! The consume → write → commit loop.
//!
//! One batch at a time: read messages until the batch is full by rows or bytes or its
//! time is up; parse them; send unusable ones to the dead-letter topic (and wait for
//! the broker); drop those ClickHouse already holds; insert the rest in one `INSERT`,
//! retrying with capped backoff while ClickHouse is unreachable; and only then store
//! the offsets, which the consumer commits. No write is in flight while the consumer
//! polls, so a rebalance never hands a partition over with a write of ours pending.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono_tz::Tz;
use rdkafka::consumer::{Consumer, ConsumerContext, Rebalance, StreamConsumer};
use rdkafka::message::{Message, OwnedMessage};
use rdkafka::{ClientContext, TopicPartitionList};
use tokio::sync::watch;
use tokio::time::Instant;

use luister_schema::Event;
use luister_store::{Store, StoreError};

use crate::config::ProcessorConfig;
use crate::dead_letter::DeadLetters;
use crate::metrics::ProcessorMetrics;
use crate::taxonomy::LiveTaxonomy;
use crate::writer::{self, EventRow, Origin, Watermarks};

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

/// The consumer and what it writes with.
pub struct Pipeline {
    consumer: StreamConsumer<ConsumerEvents>,
    store: Store,
    dead_letters: DeadLetters,
    metrics: ProcessorMetrics,
    config: ProcessorConfig,
    tz: Tz,
    taxonomy: LiveTaxonomy,
    watermarks: Watermarks,
    seen_rebalances: u64,
    /// Messages fetched while waiting for ClickHouse, for the next batch.
    carried: Vec<OwnedMessage>,
}

impl Pipeline {
    /// Creates the consumer and subscribes to the events topic.
    pub fn new(
        config: ProcessorConfig,
        store: Store,
        metrics: ProcessorMetrics,
        taxonomy: LiveTaxonomy,
    ) -> anyhow::Result<Self> {
        let consumer: StreamConsumer<ConsumerEvents> = config
            .kafka
            .client_config()
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
            // Prefetch about two batches, not librdkafka's default of 64 MB: the
            // processor's memory stays small and batches still fill from memory.
            .set("queued.max.messages.kbytes", "32768")
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
        Ok(Self {
            consumer,
            store,
            dead_letters,
            metrics,
            config,
            tz,
            taxonomy,
            watermarks: Watermarks::default(),
            seen_rebalances: 0,
            carried: Vec::new(),
        })
    }

    /// Runs until `shutdown` turns true; the batch in hand is finished first.
    pub async fn run(mut self, mut shutdown: watch::Receiver<bool>) -> anyhow::Result<()> {
        loop {
            let batch = tokio::select! {
                batch = self.next_batch() => batch,
                _ = shutdown.wait_for(|stop| *stop) => break,
            };
            if let Err(e) = self.process(batch, &mut shutdown).await {
                if !*shutdown.borrow() {
                    return Err(e);
                }
                tracing::warn!(error = %e, "stopped mid-batch");
            }
            if *shutdown.borrow() {
                break;
            }
        }
        if let Err(e) = self
            .consumer
            .commit_consumer_state(rdkafka::consumer::CommitMode::Sync)
        {
            tracing::warn!(error = %e, "final offset commit failed; the next start skips the replay through ClickHouse's watermarks");
        }
        Ok(())
    }

    /// Waits for the first message, then gathers more until full or timed out.
    async fn next_batch(&mut self) -> Vec<OwnedMessage> {
        let c = &self.config.consumer;
        let mut batch = std::mem::take(&mut self.carried);
        let mut bytes: usize = batch
            .iter()
            .map(|m| m.payload().map_or(0, <[u8]>::len))
            .sum();
        let mut deadline: Option<Instant> = (!batch.is_empty())
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
        batch
    }

    async fn process(
        &mut self,
        mut batch: Vec<OwnedMessage>,
        shutdown: &mut watch::Receiver<bool>,
    ) -> anyhow::Result<()> {
        self.metrics.consumed.inc_by(batch.len() as u64);
        if let Some(owned) = self.owned_after_rebalance() {
            batch.retain(|m| owned.find_partition(m.topic(), m.partition()).is_some());
        }
        if batch.is_empty() {
            return Ok(());
        }
        let mut rows: Vec<EventRow> = Vec::with_capacity(batch.len());
        let matcher = self.taxonomy.matcher();
        let ctx = writer::RowContext {
            tz: self.tz,
            matcher: &matcher,
            partners: &self.config.channels.partners,
        };
        let mut rejects: Vec<(&OwnedMessage, String, &'static str)> = Vec::new();
        for m in &batch {
            let origin = Origin {
                topic: m.topic().to_owned(),
                partition: m.partition(),
                offset: m.offset(),
            };
            match Event::from_json(m.payload().unwrap_or_default()) {
                Ok(event) => rows.push(writer::to_row(&event, &origin, &ctx)),
                Err(e) => {
                    let reason = match e {
                        luister_schema::SchemaError::UnsupportedVersion { .. } => {
                            "unsupported_version"
                        }
                        _ => "invalid_event",
                    };
                    rejects.push((m, e.to_string(), reason));
                }
            }
        }
        // Dead letters first: once the events after them are in ClickHouse, a replay
        // would skip them.
        self.dead_letters.send_all(&rejects, shutdown).await?;
        self.write(rows, shutdown).await?;
        for m in &batch {
            if let Err(e) = self
                .consumer
                .store_offset(m.topic(), m.partition(), m.offset())
            {
                tracing::warn!(error = %e, partition = m.partition(), offset = m.offset(), "cannot store offset");
            }
        }
        Ok(())
    }

    /// Waits `backoff` with every assigned partition paused while still polling the
    /// consumer, so the group keeps this member (no `max.poll.interval.ms` expiry during
    /// a long ClickHouse outage) and rebalances are served. Messages that were already
    /// fetched are kept for the next batch.
    async fn wait_keeping_membership(
        &mut self,
        backoff: Duration,
        shutdown: &mut watch::Receiver<bool>,
    ) -> anyhow::Result<()> {
        let assigned = self.consumer.assignment().ok();
        if let Some(a) = &assigned {
            if let Err(e) = self.consumer.pause(a) {
                tracing::warn!(error = %e, "cannot pause partitions");
            }
        }
        let deadline = Instant::now() + backoff;
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

    /// When a rebalance happened since the last call: forgets the cached watermarks
    /// (another consumer may have written meanwhile) and returns the partitions this
    /// consumer owns now. Messages or rows of other partitions must not be written:
    /// their new owner reads them from the committed offset.
    fn owned_after_rebalance(&mut self) -> Option<TopicPartitionList> {
        let now = self.consumer.context().rebalances.load(Ordering::SeqCst);
        if now == self.seen_rebalances {
            return None;
        }
        self.seen_rebalances = now;
        self.watermarks.clear();
        match self.consumer.assignment() {
            Ok(owned) => Some(owned),
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the assignment");
                None
            }
        }
    }

    /// Inserts the rows ClickHouse does not hold yet; retries until it succeeds or
    /// the error is not worth retrying, in which case the rows are dead-lettered.
    async fn write(
        &mut self,
        mut rows: Vec<EventRow>,
        shutdown: &mut watch::Receiver<bool>,
    ) -> anyhow::Result<()> {
        let topic = self.config.kafka.topic.clone();
        let mut backoff = Duration::from_millis(200);
        let max_backoff = Duration::from_secs(self.config.consumer.retry_backoff_max_s.max(1));
        loop {
            let attempt: Result<usize, StoreError> = async {
                self.watermarks.ensure_loaded(&self.store, &topic).await?;
                // Rows ClickHouse holds already (a replay) are dropped for good: the
                // watermarks only grow, so a retry would drop them again.
                let before = rows.len();
                rows.retain(|r| {
                    !self
                        .watermarks
                        .already_written(r.kafka_partition as i32, r.kafka_offset as i64)
                });
                self.metrics.duplicates.inc_by((before - rows.len()) as u64);
                let start = std::time::Instant::now();
                writer::insert(&self.store, &rows).await?;
                if !rows.is_empty() {
                    self.metrics
                        .insert_seconds
                        .observe(start.elapsed().as_secs_f64());
                    self.metrics.batch_rows.observe(rows.len() as f64);
                }
                for r in &rows {
                    self.watermarks
                        .advance(r.kafka_partition as i32, r.kafka_offset as i64);
                    self.metrics.count_row(r, &self.config.metrics.sites);
                }
                Ok(rows.len())
            }
            .await;
            match attempt {
                Ok(n) => {
                    self.metrics.written.inc_by(n as u64);
                    return Ok(());
                }
                Err(e) if e.is_retryable() => {
                    self.metrics.retries.inc();
                    tracing::warn!(error = %e, retry_in_ms = backoff.as_millis() as u64, rows = rows.len(), "ClickHouse write failed; retrying");
                    // Part of the insert may have landed: re-read the watermarks.
                    self.watermarks.clear();
                    self.wait_keeping_membership(backoff, shutdown).await?;
                    // Partitions taken away meanwhile belong to another processor now,
                    // which reads them from the committed offset: do not write them.
                    if let Some(owned) = self.owned_after_rebalance() {
                        rows.retain(|r| {
                            owned
                                .find_partition(&r.kafka_topic, r.kafka_partition as i32)
                                .is_some()
                        });
                        tracing::info!(rows = rows.len(), "rebalanced while waiting for ClickHouse; kept the rows of partitions still owned");
                    }
                    backoff = (backoff * 2).min(max_backoff);
                }
                Err(e) => {
                    tracing::error!(error = %e, rows = rows.len(), "ClickHouse refused the batch; sending it to the dead-letter topic");
                    let reason = format!("ClickHouse refused the batch: {e}");
                    self.dead_letters
                        .send_rows(&rows, &reason, shutdown)
                        .await?;
                    self.watermarks.clear();
                    return Ok(());
                }
            }
        }
    }
}
