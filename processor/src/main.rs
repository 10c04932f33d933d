//! `luister-processor [--config FILE]`: consumes events and writes them to ClickHouse.
//! `luister-processor classify [--taxonomy FILE]`: reads lines (search queries, URLs or
//! page titles) on stdin and prints `{"input": …, "themes": […]}` per line.
//! `luister-processor evaluate [--taxonomy FILE] LABELLED.tsv`: precision and recall of
//! the taxonomy on a labelled set.
//! `luister-processor --config FILE check-config`: loads and checks the configuration.
//! `luister-processor --config FILE rebuild FROM TO`: rewrites every daily aggregate of
//! the days FROM to TO (`YYYY-MM-DD`) from the raw events and the sessions.

use std::io::{BufRead, Write};

use anyhow::Context;
use luister_processor::attribution::{evaluate, Input, Matcher};
use luister_processor::config::ProcessorConfig;
use luister_processor::taxonomy::load_taxonomy;
use luister_service::config::{check_config, load_checked, start, Args};

/// Parsing, attribution and the sessionizer allocate many small values per event, and
/// glibc's allocator took a large share of the processor's CPU (`docs/benchmarks.md`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const USAGE: &str = "usage: luister-processor [--config FILE]\n       luister-processor classify [--taxonomy FILE] < lines\n       luister-processor evaluate [--taxonomy FILE] LABELLED.tsv\n       luister-processor [--config FILE] check-config\n       luister-processor [--config FILE] rebuild FROM TO   (days as YYYY-MM-DD)";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut raw: Vec<String> = std::env::args().skip(1).collect();
    let taxonomy = take_option(&mut raw, "--taxonomy")?;
    let Some(args) = Args::parse_or_usage(raw, USAGE)? else {
        return Ok(());
    };
    match args.rest.first().map(String::as_str) {
        None => {}
        Some("classify") => return classify(taxonomy.as_deref()),
        Some("check-config") => return Ok(check_config::<ProcessorConfig>(&args)?),
        Some("rebuild") => {
            let config: ProcessorConfig = load_checked(args.config.as_deref())?;
            return rebuild(&config, &args.rest[1..]).await;
        }
        Some("evaluate") => {
            let file = args.rest.get(1).context(USAGE)?;
            return evaluate_file(taxonomy.as_deref(), file);
        }
        Some(other) => anyhow::bail!("unknown argument {other:?}\n{USAGE}"),
    }
    if taxonomy.is_some() {
        anyhow::bail!("--taxonomy goes with classify or evaluate; the service reads [taxonomy] file from its configuration");
    }
    let config: ProcessorConfig = load_checked(args.config.as_deref())?;
    let listener = start("luister-processor metrics", &config).await?;
    luister_processor::serve(config, listener, luister_service::shutdown_signal()).await
}

/// Rewrites every aggregate of the days named in `days` (first and last).
async fn rebuild(config: &ProcessorConfig, days: &[String]) -> anyhow::Result<()> {
    let [first, last] = days else {
        anyhow::bail!("rebuild needs two days, FROM and TO\n{USAGE}");
    };
    let day = |d: &str| {
        chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d")
            .with_context(|| format!("{d:?} is not a day as YYYY-MM-DD"))
    };
    let (first, last) = (day(first)?, day(last)?);
    anyhow::ensure!(first <= last, "rebuild: {first} is after {last}");
    let store = luister_store::Store::connect(&config.clickhouse)
        .await
        .context("ClickHouse")?;
    let version = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_millis() as u64;
    let tz: chrono_tz::Tz = config
        .processing
        .timezone
        .parse()
        .map_err(|_| anyhow::anyhow!("processing.timezone is not a time zone"))?;
    let today = chrono::Utc::now().with_timezone(&tz).date_naive();
    luister_store::aggregates::rewrite_every(
        store.client(),
        &luister_store::aggregates::Scope::Days { first, last },
        today,
        version,
    )
    .await?;
    println!("rewrote every daily aggregate of {first} to {last} as version {version}");
    Ok(())
}

fn take_option(args: &mut Vec<String>, name: &str) -> anyhow::Result<Option<String>> {
    let Some(i) = args.iter().position(|a| a == name) else {
        return Ok(None);
    };
    let value = args
        .get(i + 1)
        .cloned()
        .with_context(|| format!("{name} needs a file name"))?;
    args.drain(i..=i + 1);
    Ok(Some(value))
}

fn matcher(file: Option<&str>) -> anyhow::Result<Matcher> {
    let taxonomy = load_taxonomy(file.map(std::path::Path::new))?;
    Matcher::new(&taxonomy).context("compiling the taxonomy")
}

fn classify(file: Option<&str>) -> anyhow::Result<()> {
    let m = matcher(file)?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for line in std::io::stdin().lock().lines() {
        let line = line.context("stdin is not valid UTF-8 text")?;
        let trimmed = line.trim();
        let input = if trimmed.starts_with('/')
            || trimmed.starts_with("http://")
            || trimmed.starts_with("https://")
        {
            Input {
                path: Some(trimmed),
                ..Input::default()
            }
        } else {
            Input {
                query: Some(trimmed),
                title: Some(trimmed),
                ..Input::default()
            }
        };
        let themes = m.classify(&input);
        writeln!(
            out,
            "{}",
            serde_json::json!({ "input": line, "themes": themes })
        )?;
    }
    out.flush()?;
    Ok(())
}

fn evaluate_file(file: Option<&str>, labelled: &str) -> anyhow::Result<()> {
    let m = matcher(file)?;
    let text =
        std::fs::read_to_string(labelled).with_context(|| format!("cannot read {labelled}"))?;
    let report = evaluate::evaluate(&m, &text)?;
    print!("{}", report.table());
    for (input, want, got) in &report.misses {
        println!("miss: {input:?} expected {want}, got {got}");
    }
    Ok(())
}
