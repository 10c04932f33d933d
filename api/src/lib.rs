//! `luister-api`: the read side of Luister over ClickHouse.
//!
//! - [`config`]: the `api.toml` structure.
//! - [`routes`]: the endpoints (`/v1/sites/{site}/reach`).
//! - [`period`]: checked reporting periods.
//! - [`error`]: errors and their HTTP statuses.

pub mod config;
pub mod error;
pub mod period;
pub mod routes;

use std::future::Future;
use std::sync::Arc;

use anyhow::Context;
use prometheus::Registry;

use luister_service::ops::{HttpMetrics, ReadyCheck};
use luister_store::Store;

use crate::config::ApiConfig;

/// Runs the API on `listener` until `shutdown` resolves. ClickHouse must be reachable
/// at start (it is retried for a while) so that migrations are in place.
pub async fn serve(
    config: ApiConfig,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    config.validate().map_err(anyhow::Error::msg)?;
    let store = Store::connect_retrying(&config.clickhouse)
        .await
        .context("ClickHouse set-up failed")?;
    let registry = Registry::new();
    let http_metrics = HttpMetrics::new(&registry)?;
    let ready: ReadyCheck = {
        let store = store.clone();
        Arc::new(move || {
            let store = store.clone();
            Box::pin(async move { store.ping().await.map_err(|e| e.to_string()) })
        })
    };
    let app = Arc::new(routes::App {
        sites: config.sites.iter().map(|s| s.id.clone()).collect(),
        store,
        max_period_days: config.limits.max_period_days,
    });
    let router = routes::router(app).merge(luister_service::ops::router(registry, ready));
    axum::serve(listener, http_metrics.layer(router))
        .with_graceful_shutdown(shutdown)
        .await
        .context("HTTP server failed")
}
