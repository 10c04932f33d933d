//! `luister-processor [--config FILE]`: consumes events and writes them to ClickHouse.

use anyhow::Context;
use luister_processor::config::ProcessorConfig;
use luister_service::config::{load, Args};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse(std::env::args().skip(1))?;
    if let Some(extra) = args.rest.first() {
        anyhow::bail!("unknown argument {extra:?}; usage: luister-processor [--config FILE]");
    }
    let config: ProcessorConfig = load(args.config.as_deref())?;
    config.validate().map_err(anyhow::Error::msg)?;
    luister_service::telemetry::init(&config.log);
    let listener = tokio::net::TcpListener::bind(&config.http.listen)
        .await
        .with_context(|| format!("cannot listen on {} (http.listen)", config.http.listen))?;
    tracing::info!(addr = %listener.local_addr()?, "luister-processor metrics listening");
    luister_processor::serve(config, listener, luister_service::shutdown_signal()).await
}
