//! `luister-ingest`, the collector: the HTTP front door of Luister.
//!
//! A request in any of the supported protocols ([`protocol`]) is parsed into raw events,
//! which are checked against the site registry, scrubbed of personal data ([`scrub`])
//! and completed ([`collect`]); the visitor is reduced to a daily-salted keyed hash
//! ([`visitor`]) and a coarse device and browser ([`agent`]); and the event goes to
//! Kafka ([`sink`]). The answer is 202 only after the broker acknowledged the event, and 503
//! with `Retry-After` when it cannot, so nothing a client was told is accepted is lost.
//!
//! - [`config`]: the `ingest.toml` structure.
//! - [`routes`]: `POST /v1/events`, `/matomo.php`, `/piwik.php`, `POST /api/event`.
//! - [`limiter`]: the per-visitor rate limit.
//! - [`names`]: the site's rules that turn the event names trackers send into actions.
//! - [`salt`]: the daily visitor salt shared through Kafka and destroyed after its day.
//! - [`error`]: every rejection and its HTTP status.
//! - [`refusals`]: the rate-limited log of refusals, for site builders.
//! - [`metrics`]: Prometheus metric names and handles.
//!
//! A new protocol or vendor parameter: a parser in [`protocol`] that makes raw events
//! (no checking there: [`collect`] checks and scrubs every protocol's events once), a
//! route in [`routes`], a row in `docs/protocols.md`, and an [`error`] variant for
//! what it refuses.

pub mod agent;
pub mod collect;
pub mod config;
pub mod error;
pub mod limiter;
pub mod metrics;
pub mod names;
pub mod protocol;
pub mod refusals;
pub mod repeats;
pub mod routes;
pub mod salt;
pub mod scrub;
pub mod sink;
pub mod visitor;

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use axum::Router;
use prometheus::Registry;

use luister_service::config::ServiceConfig;
use luister_service::ops::{HttpMetrics, ReadyCheck};

use crate::collect::Collector;
use crate::config::IngestConfig;
use crate::limiter::VisitorLimiter;
use crate::metrics::IngestMetrics;
use crate::sink::{EventSink, KafkaSink};
use crate::visitor::Salter;

/// What every request handler shares.
pub struct App {
    /// The configuration the service started with.
    pub config: IngestConfig,
    /// The site registry and the event pipeline up to Kafka.
    pub collector: Collector,
    /// The per-visitor rate limit, unless turned off.
    pub limiter: Option<VisitorLimiter>,
    /// Where accepted events go.
    pub sink: Arc<dyn EventSink>,
    /// The Matomo requests taken lately, to recognise a tracker's repeat of one.
    pub repeats: repeats::Repeats,
    /// The collector's metrics.
    pub metrics: IngestMetrics,
    /// The rate-limited log of refusals (see [`refusals`]).
    pub refusals: refusals::RefusalLog,
}

/// The most Matomo requests remembered per window of `limits.repeat_window_s` (about
/// 20 MB of hashes in each of the two windows kept).
const REMEMBERED_REQUESTS: usize = 1_000_000;

impl App {
    /// Builds the shared state.
    pub fn new(
        config: IngestConfig,
        sink: Arc<dyn EventSink>,
        metrics: IngestMetrics,
    ) -> Arc<Self> {
        let salter = if config.privacy.shared_salt {
            Salter::shared()
        } else {
            Salter::local()
        };
        Arc::new(Self {
            collector: Collector::new(&config.sites, config.limits.clone(), salter),
            limiter: VisitorLimiter::new(config.limits.visitor_events_per_minute),
            repeats: repeats::Repeats::new(
                Duration::from_secs(config.limits.repeat_window_s),
                REMEMBERED_REQUESTS,
                std::time::Instant::now(),
            ),
            refusals: refusals::RefusalLog::new(
                i64::try_from(config.limits.refusal_log_interval_s.saturating_mul(1000))
                    .unwrap_or(i64::MAX),
                collector_id(),
            ),
            metrics,
            sink,
            config,
        })
    }
}

/// A random name for this process in its refusal records.
fn collector_id() -> String {
    let mut b = [0u8; 8];
    // Without randomness every replica is "0000…": records of two replicas in one
    // minute may then merge, nothing worse.
    let _ = getrandom::fill(&mut b);
    hex::encode(b)
}

/// Runs the collector on `listener` until `shutdown` resolves, then delivers what is
/// still queued.
pub async fn serve(
    config: IngestConfig,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    config.validate()?;
    let registry = Registry::new();
    let http_metrics = HttpMetrics::new(&registry)?;
    let metrics = IngestMetrics::new(&registry)?;
    let kafka_sink = Arc::new(
        KafkaSink::new(&config.kafka, &config.producer, metrics.clone())
            .context("cannot create the Kafka producer")?,
    );
    let topic_ready = Arc::new(AtomicBool::new(false));
    tokio::spawn(create_topic(config.kafka.clone(), topic_ready.clone()));
    let salts = if config.privacy.shared_salt {
        let key =
            salt::seal::SaltKey::from_file(std::path::Path::new(&config.privacy.salt_key_file))?;
        Some(salt::KafkaSalts::new(
            &config.kafka,
            key,
            metrics.salt_rejected.clone(),
        )?)
    } else {
        None
    };

    let app = App::new(config, kafka_sink.clone(), metrics);
    tokio::spawn(forget_idle_visitors(app.clone()));
    tokio::spawn(watch_broker(kafka_sink.clone()));
    if let Some(salts) = salts {
        tokio::spawn(maintain_salts(salts, app.clone()));
    }
    let ready: ReadyCheck = {
        let sink = kafka_sink.clone();
        let app = app.clone();
        Arc::new(move || {
            let sink = sink.clone();
            let topic_ready = topic_ready.clone();
            let app = app.clone();
            Box::pin(async move {
                if !topic_ready.load(Ordering::SeqCst) {
                    return Err("the events topic has not been created yet".to_owned());
                }
                if !app.collector.salter().can_key(salt::day_of(now_ms())) {
                    return Err("today's visitor salt is not loaded yet".to_owned());
                }
                sink.check().await.map_err(|e| e.to_string())
            })
        })
    };
    let limits = app.config.http.connections.clone();
    let router: Router = routes::service(app).merge(luister_service::ops::router(registry, ready));
    let router = http_metrics.layer(router);
    luister_service::http::serve(listener, router, &limits, shutdown)
        .await
        .context("HTTP server failed")?;
    tracing::info!("draining the producer queue");
    tokio::task::spawn_blocking(move || kafka_sink.flush(Duration::from_secs(10))).await?;
    Ok(())
}

/// Keeps today's shared salt loaded, prepares tomorrow's in the last ten minutes of
/// the day, and destroys older ones once per day, checking every 20 seconds.
async fn maintain_salts(salts: salt::KafkaSalts, app: Arc<App>) {
    let salter = app.collector.salter();
    let mut topic_ready = false;
    // The day whose older salts were last destroyed: reading the topic for that is
    // needed once a day, not on every check.
    let mut destroyed_before: Option<i64> = None;
    loop {
        let now = now_ms();
        let today = salt::day_of(now);
        let result: Result<(), salt::SaltError> = async {
            if !topic_ready {
                salts.ensure_topic().await?;
                topic_ready = true;
            }
            if !salter.has(today) {
                salter.install(today, salts.salt_for(today).await?);
                tracing::info!(day = today, "visitor salt of today loaded");
            }
            salter.retain_from(today);
            if now.rem_euclid(salt::DAY_MS) > salt::DAY_MS - 10 * 60_000 && !salter.has(today + 1) {
                salter.install(today + 1, salts.salt_for(today + 1).await?);
            }
            if destroyed_before != Some(today) {
                salts.destroy_before(today).await?;
                destroyed_before = Some(today);
            }
            Ok(())
        }
        .await;
        if let Err(e) = result {
            tracing::warn!(error = %e, "visitor salt upkeep failed; retrying");
        }
        let wait = if salter.has(today) { 20_000 } else { 1_000 };
        tokio::time::sleep(Duration::from_millis(wait)).await;
    }
}

/// Milliseconds since the Unix epoch, by the server clock.
pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Keeps `luister_ingest_broker_up` current between scrapes: checks every 10 s.
async fn watch_broker(sink: Arc<KafkaSink>) {
    loop {
        let _ = sink.check().await;
        tokio::time::sleep(Duration::from_secs(10)).await;
    }
}

/// Drops rate-limit state of visitors who went quiet, every five seconds. A visitor's
/// bucket is full again half a second after one event (at the default 120 a minute),
/// so the state holds about the last five seconds' visitors; sweeping less often let
/// the map grow until a sweep stalled requests (figures in `docs/benchmarks.md`).
async fn forget_idle_visitors(app: Arc<App>) {
    let mut tick = tokio::time::interval(Duration::from_secs(5));
    loop {
        tick.tick().await;
        if let Some(l) = &app.limiter {
            l.forget_idle();
        }
    }
}

/// Creates the events topic when missing, retrying until the broker answers.
async fn create_topic(kafka: luister_service::kafka::KafkaConfig, done: Arc<AtomicBool>) {
    let topic = kafka.topic.clone();
    loop {
        match luister_service::kafka::ensure_topics(&kafka, &[&topic]).await {
            Ok(()) => {
                done.store(true, Ordering::SeqCst);
                return;
            }
            Err(e) => {
                tracing::warn!(error = %e, topic, "cannot create the events topic yet; retrying");
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
        }
    }
}
