//! `luister-api`: the read side of Luister over ClickHouse, safe for several
//! municipalities (tenants) on one installation.
//!
//! Layers, each importing only those below it:
//!
//! 1. [`routes`]: the endpoints and their OpenAPI document (`/openapi.json`): each
//!    handler extracts its parameters, calls the layers below and responds.
//! 2. [`report`]: the printable weekly report (HTML with inline SVG), over the domain
//!    answers.
//! 3. [`app`]: the state every handler shares (sites, clients, tokens, limits).
//! 4. [`domain`]: the queries and their typed answers, knowing nothing of HTTP, one
//!    module per question (reach, series, searches, visits, engagement, refusals,
//!    actions and their effect, savings). A route module often has the name of the
//!    domain module it serves: `routes::actions` is the HTTP face of
//!    `domain::actions`.
//! 5. Below them: [`config`] (`api.toml`), [`auth`] (tokens, stored as SHA-256, and
//!    who may read which site), [`params`] (checked request parameters), [`sql`] (read
//!    fragments the domain modules share), [`table`] (JSON or CSV for Dutch Excel),
//!    [`error`] (errors and their HTTP statuses).
//!
//! A new endpoint: its query and answer type in a `domain` module (or a new one), its
//! handler in the `routes` module of its tag, registered in `routes::endpoints`.

pub mod app;
pub mod auth;
pub mod config;
pub mod domain;
pub mod error;
pub mod params;
pub mod report;
pub mod routes;
pub mod sql;
pub mod table;

use std::future::Future;
use std::sync::Arc;

use anyhow::Context;
use prometheus::Registry;

use luister_service::config::ServiceConfig;
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
    config.validate()?;
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
    let writer = if config.actions.user.is_empty() {
        store.client().clone()
    } else {
        store
            .client()
            .clone()
            .with_user(&config.actions.user)
            .with_password(&config.actions.password)
    };
    let app = Arc::new(app::App {
        sites: config.sites.iter().map(|s| s.id.clone()).collect(),
        store,
        writer,
        tokens: auth::Tokens::from_config(&config),
        limits: config.limits.clone(),
        tz: config
            .reporting
            .timezone
            .parse()
            .map_err(|_| anyhow::anyhow!("reporting.timezone is not a time zone"))?,
        min_visitors_per_term: config.reporting.min_visitors_per_term,
        early_contact_themes: config.reporting.early_contact_themes.clone(),
        contact_costs: config.contact_costs.clone(),
    });
    let router = routes::router(app).merge(luister_service::ops::router(registry, ready));
    luister_service::http::serve(
        listener,
        http_metrics.layer(router),
        &config.http.connections,
        shutdown,
    )
    .await
    .context("HTTP server failed")
}
