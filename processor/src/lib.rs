//! `luister-processor`: reads events from Kafka and writes them to ClickHouse, each
//! exactly once.
//!
//! - [`attribution`]: which themes of the taxonomy an event is about.
//! - [`channel`]: where a visit came from (search, social, email, campaign, …).
//! - [`config`]: the `processor.toml` structure.
//! - [`consumer`]: the consume → write → commit loop.
//! - [`retention`]: dropping raw events past their retention.
//! - [`sessions`]: visits and early contact, derived from the raw events.
//! - [`taxonomy`]: the taxonomy in use, reloaded when its file changes.
//! - [`row`]: the row of the `events` table an event becomes, and its encoding.
//! - [`batch`]: a batch of rows encoded for ClickHouse, held compactly.
//! - [`writer`]: writing a batch exactly once, whatever fails during the write.
//! - [`positions`]: which Kafka positions ClickHouse holds, as far as the writer knows.
//! - [`event_store`]: what the writer needs of ClickHouse, behind a trait.
//! - [`dead_letter`]: the dead-letter topic.
//! - [`refusals`]: the collectors' refusal records into ClickHouse, for the API.
//! - [`metrics`]: Prometheus metric names and handles.
//!
//! The service answers `/healthz` at once; `/readyz` turns ready when ClickHouse and
//! the broker answer. While ClickHouse is down at start it waits and retries rather
//! than exit.
//!
//! A theme rule is data, not code: the taxonomy file (`taxonomy/default.toml` or a
//! municipality's own), matched as [`attribution`]'s module doc states; a new column
//! of the events is a field of [`row::EventRow`]; a derived table is an owner module in
//! `luister_store::aggregates`, rewritten by the sessionizer.

pub mod attribution;
pub mod batch;
pub mod channel;
pub mod config;
pub mod consumer;
pub mod dead_letter;
pub mod event_store;
pub mod metrics;
pub mod positions;
pub mod refusals;
pub mod retention;
pub mod row;
pub mod sessions;
pub mod taxonomy;
pub mod writer;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use prometheus::Registry;
use rdkafka::consumer::{BaseConsumer, Consumer};
use tokio::sync::{watch, OnceCell};

use luister_service::config::ServiceConfig;
use luister_service::ops::ReadyCheck;
use luister_store::Store;

use crate::config::ProcessorConfig;

/// ClickHouse priority of the event writes: the highest, so events show up first.
const EVENTS: u8 = 1;
/// ClickHouse priority of the sessionizer and retention: paused while events are written.
const BACKGROUND: u8 = 5;
use crate::metrics::ProcessorMetrics;

/// Runs the processor until `shutdown` resolves. `listener` serves `/metrics`,
/// `/healthz` and `/readyz`.
pub async fn serve(
    config: ProcessorConfig,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    config.validate()?;
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    });

    let registry = Registry::new();
    let metrics = ProcessorMetrics::new(&registry)?;
    let taxonomy_file =
        (!config.taxonomy.file.is_empty()).then(|| std::path::PathBuf::from(&config.taxonomy.file));
    let live = taxonomy::LiveTaxonomy::load(taxonomy_file.as_deref())?;
    if let Some(file) = taxonomy_file {
        let every = Duration::from_secs(config.taxonomy.reload_check_s.max(1));
        tokio::spawn(live.clone().watch(file, every, metrics.clone()));
    }
    let store_cell: Arc<OnceCell<Store>> = Arc::new(OnceCell::new());
    let ready = readiness(&config, store_cell.clone())?;
    let ops = luister_service::http::with_fallbacks(
        luister_service::ops::router(registry, ready),
        "GET /healthz, /readyz, /metrics",
    );
    let mut http_stop = stop_rx.clone();
    let http = tokio::spawn(async move {
        luister_service::http::serve(
            listener,
            ops,
            &luister_service::http::ConnectionLimits::default(),
            async move {
                let _ = http_stop.wait_for(|s| *s).await;
            },
        )
        .await
    });

    let mut stop = stop_rx.clone();
    let store = tokio::select! {
        s = Store::connect_retrying(&config.clickhouse) => s.context("ClickHouse set-up failed")?,
        _ = stop.wait_for(|s| *s) => return Ok(()),
    };
    let _ = store_cell.set(store.clone());
    let backlog = consumer::Backlog::default();
    {
        let goals = sessions::Goals::new(&config.goals).context("compiling the goals")?;
        let every = Duration::from_secs(config.sessions.interval_s.max(1));
        let tz = config
            .processing
            .timezone
            .parse()
            .map_err(|_| anyhow::anyhow!("processing.timezone is not a time zone"))?;
        let sessionizer = sessions::Sessionizer {
            store: store.with_priority(BACKGROUND),
            config: config.sessions.clone(),
            goals,
            every,
            metrics: metrics.clone(),
            backlog: backlog.clone(),
            tz,
        };
        tokio::spawn(sessionizer.run());
    }
    if config.retention.raw_events_days > 0 {
        let every = Duration::from_secs(config.retention.check_interval_s.max(60));
        tokio::spawn(retention::run(
            store.with_priority(BACKGROUND),
            config.retention.raw_events_days,
            every,
        ));
    }
    tokio::select! {
        () = create_topics(&config) => {},
        _ = stop.wait_for(|s| *s) => return Ok(()),
    }
    tokio::spawn(refusals::run(
        config.kafka.clone(),
        config.consumer.group_id.clone(),
        store.with_priority(BACKGROUND),
        stop_rx.clone(),
    ));

    let pipeline = consumer::Pipeline::new(
        config,
        store.with_priority(EVENTS),
        metrics,
        live,
        backlog,
        stop_rx,
    )
    .context("cannot create the Kafka consumer")?;
    let result = pipeline.run().await;
    http.await
        .context("metrics server task failed")?
        .context("metrics server failed")?;
    result
}

/// Creates the events, dead-letter and refusals topics, retrying until the broker
/// answers.
async fn create_topics(config: &ProcessorConfig) {
    let topics = [
        config.kafka.topic.as_str(),
        config.kafka.dead_letter_topic.as_str(),
        config.kafka.refusals_topic.as_str(),
    ];
    while let Err(e) = luister_service::kafka::ensure_topics(&config.kafka, &topics).await {
        tracing::warn!(error = %e, "cannot create topics yet; retrying");
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

/// Ready when ClickHouse is connected and migrated and the broker answers.
fn readiness(config: &ProcessorConfig, store: Arc<OnceCell<Store>>) -> anyhow::Result<ReadyCheck> {
    let probe: Arc<BaseConsumer> = Arc::new(config.kafka.client_config().create()?);
    let topic = config.kafka.topic.clone();
    Ok(Arc::new(move || {
        let store = store.clone();
        let probe = probe.clone();
        let topic = topic.clone();
        Box::pin(async move {
            let store = store.get().ok_or("ClickHouse is not connected yet")?;
            store.ping().await.map_err(|e| e.to_string())?;
            tokio::task::spawn_blocking(move || {
                probe
                    .fetch_metadata(Some(&topic), Duration::from_secs(2))
                    .map(|_| ())
                    .map_err(|e| format!("broker unreachable: {e}"))
            })
            .await
            .map_err(|e| e.to_string())?
        })
    }))
}
