//! `luister-api [--config FILE]`: the read API.

use anyhow::Context;
use luister_api::config::ApiConfig;
use luister_service::config::{load, Args};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse(std::env::args().skip(1))?;
    if let Some(extra) = args.rest.first() {
        anyhow::bail!("unknown argument {extra:?}; usage: luister-api [--config FILE]");
    }
    let config: ApiConfig = load(args.config.as_deref())?;
    config.validate().map_err(anyhow::Error::msg)?;
    luister_service::telemetry::init(&config.log);
    let listener = tokio::net::TcpListener::bind(&config.http.listen)
        .await
        .with_context(|| format!("cannot listen on {} (http.listen)", config.http.listen))?;
    tracing::info!(addr = %listener.local_addr()?, "luister-api listening");
    luister_api::serve(config, listener, luister_service::shutdown_signal()).await
}
