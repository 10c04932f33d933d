//! Sending hits: to a collector over HTTP in one of its protocols, paced at a rate, or
//! straight to the Kafka topic as v1 events.

use std::time::{Duration, Instant};

use anyhow::Context;
use rdkafka::producer::{FutureProducer, FutureRecord};

use crate::model::Hit;
use crate::protocol::{self, Site};

/// A collector protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// `POST /v1/events`.
    Native,
    /// `GET /matomo.php`.
    Matomo,
    /// `POST /api/event`.
    Plausible,
}

impl std::str::FromStr for Protocol {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> anyhow::Result<Self> {
        match s {
            "native" => Ok(Self::Native),
            "matomo" => Ok(Self::Matomo),
            "plausible" => Ok(Self::Plausible),
            other => anyhow::bail!("--protocol {other:?} is not one of native, matomo, plausible"),
        }
    }
}

/// What a run sent.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Sent {
    /// Hits the collector or broker accepted.
    pub accepted: u64,
    /// Hits refused (non-2xx, or a failed delivery).
    pub refused: u64,
}

/// A made-up client address per visitor, for collectors configured to read it from
/// `X-Forwarded-For` (`http.client_ip_header`).
fn address(visitor: u64) -> String {
    format!(
        "10.{}.{}.{}",
        (visitor >> 16) & 255,
        (visitor >> 8) & 255,
        visitor & 255
    )
}

/// Sends `hits` to the collector at `base` (e.g. `http://127.0.0.1:8080`), at most
/// `rate` requests a second (0: as fast as it answers), `concurrency` at a time.
pub async fn http(
    base: &str,
    protocol: Protocol,
    sites: &[Site],
    hits: &[Hit],
    rate: u32,
    concurrency: usize,
) -> anyhow::Result<Sent> {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .build()?;
    let start = Instant::now();
    let mut sent = Sent::default();
    for (chunk_no, chunk) in hits.chunks(concurrency.max(1)).enumerate() {
        let requests = chunk.iter().map(|hit| {
            let site = &sites[hit.site % sites.len()];
            let req = match protocol {
                Protocol::Native => client
                    .post(format!("{base}/v1/events"))
                    .header("content-type", "application/json")
                    .body(protocol::native(site, hit).to_string()),
                Protocol::Matomo => {
                    client.get(format!("{base}/matomo.php?{}", protocol::matomo(site, hit)))
                }
                Protocol::Plausible => client
                    .post(format!("{base}/api/event"))
                    .header("content-type", "application/json")
                    .body(protocol::plausible(site, hit).to_string()),
            };
            req.header("user-agent", &hit.user_agent)
                .header("x-forwarded-for", address(hit.visitor))
                .header("origin", format!("https://{}", site.host))
                .send()
        });
        for r in join_all(requests).await {
            match r {
                Ok(r) if r.status().is_success() => sent.accepted += 1,
                _ => sent.refused += 1,
            }
        }
        if rate > 0 {
            let due =
                Duration::from_secs_f64(((chunk_no + 1) * chunk.len()) as f64 / f64::from(rate));
            if let Some(wait) = due.checked_sub(start.elapsed()) {
                tokio::time::sleep(wait).await;
            }
        }
    }
    Ok(sent)
}

async fn join_all<F, T>(futures: impl Iterator<Item = F>) -> Vec<T>
where
    F: std::future::Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let handles: Vec<_> = futures.map(tokio::spawn).collect();
    let mut out = Vec::with_capacity(handles.len());
    for h in handles {
        if let Ok(v) = h.await {
            out.push(v);
        }
    }
    out
}

/// Produces `hits` straight to the topic as v1 events (keyed by visitor), as the
/// collector would have.
pub async fn kafka(
    kafka: &luister_service::kafka::KafkaConfig,
    topic: &str,
    sites: &[Site],
    hits: &[Hit],
) -> anyhow::Result<Sent> {
    let producer: FutureProducer = kafka
        .client_config()
        .set("acks", "all")
        .set("enable.idempotence", "true")
        .set("linger.ms", "20")
        .set("compression.type", "lz4")
        .create()
        .context("cannot create the Kafka producer")?;
    let mut sent = Sent::default();
    for chunk in hits.chunks(10_000) {
        let mut pending = Vec::with_capacity(chunk.len());
        for hit in chunk {
            let e = protocol::event(&sites[hit.site % sites.len()], hit)?;
            let key = e.visitor.to_string();
            let payload = e.to_json();
            let record = FutureRecord::to(topic).key(&key).payload(&payload);
            pending.push(luister_service::kafka::enqueue(&producer, record).await?);
        }
        for d in pending {
            match d.await {
                Ok(Ok(_)) => sent.accepted += 1,
                _ => sent.refused += 1,
            }
        }
    }
    Ok(sent)
}
