//! `luister-ingest [--config FILE]`: the HTTP collector.
//! `luister-ingest scrub`: reads lines on stdin and prints each one scrubbed of
//! personal data, so a privacy officer can try the scrubber on their own examples.
//! `luister-ingest --config FILE check-config`: loads and checks the configuration.
//! `luister-ingest new-salt-key`: prints a new key for `privacy.salt_key_file`.

use std::io::{BufRead, Write};

use anyhow::Context;
use luister_ingest::config::IngestConfig;
use luister_service::config::{check_config, load_checked, start, Args};

/// Many small allocations per event on both worker threads, where glibc's allocator
/// spent much of the collector's time in its locks (`docs/benchmarks.md`, profiling).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const USAGE: &str = "usage: luister-ingest [--config FILE]   (run the collector)\n       luister-ingest scrub              (scrub lines from stdin)\n       luister-ingest new-salt-key       (print a key for privacy.salt_key_file)\n       luister-ingest [--config FILE] check-config";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let Some(args) = Args::parse_or_usage(std::env::args().skip(1), USAGE)? else {
        return Ok(());
    };
    match args.rest.first().map(String::as_str) {
        None => {}
        Some("scrub") => return scrub_stdin(),
        Some("new-salt-key") => {
            let key = luister_ingest::salt::seal::SaltKey::generate_hex()?;
            println!("{key}");
            return Ok(());
        }
        Some("check-config") => return Ok(check_config::<IngestConfig>(&args)?),
        Some(other) => anyhow::bail!("unknown argument {other:?}\n{USAGE}"),
    }
    let config: IngestConfig = load_checked(args.config.as_deref())?;
    let listener = start("luister-ingest", &config).await?;
    luister_ingest::serve(config, listener, luister_service::shutdown_signal()).await
}

fn scrub_stdin() -> anyhow::Result<()> {
    let stdin = std::io::stdin();
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for line in stdin.lock().lines() {
        let line = line.context("stdin is not valid UTF-8 text")?;
        writeln!(out, "{}", luister_ingest::scrub::scrub_text(&line))?;
    }
    out.flush()?;
    Ok(())
}
