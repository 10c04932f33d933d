//! The parts every Luister service shares, so each `main.rs` stays a few lines:
//!
//! - [`config`]: read a service's TOML file with `LUISTER_<SECTION>__<KEY>` environment
//!   overrides into its typed, `deny_unknown_fields` config struct, check it, and start
//!   ([`config::load_checked`], [`config::start`]).
//! - [`telemetry`]: `tracing` to stderr, readable text locally or JSON in production.
//! - [`kafka`]: the `[kafka]` section and topic creation.
//! - [`http`]: the HTTP server loop with its connection limits and timeouts.
//! - [`ops`]: the `/healthz`, `/readyz` and `/metrics` routes.
//! - [`shutdown_signal`]: a future that resolves on SIGINT or SIGTERM.
//!
//! A setting every service shares (a Kafka option, an HTTP limit) goes here with its
//! check in `validate`; one service's own setting goes into that service's
//! `config.rs`.

pub mod config;
pub mod http;
pub mod kafka;
pub mod ops;
pub mod telemetry;

/// Resolves when the process receives SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutdown signal received");
}
