//! `luister-loadgen`: deterministic municipal traffic for Luister.
//!
//! ```text
//! luister-loadgen http  [--collector URL] [--protocol native|matomo|plausible] [--rate N]
//!                       [--concurrency N] [--events N] [SITE OPTIONS]
//! luister-loadgen kafka [--brokers HOSTS] [--topic T] [--partitions N] [--days N]
//!                       [--until YYYY-MM-DD] [SITE OPTIONS]
//! luister-loadgen delete-topics --prefix P [--brokers HOSTS]
//!
//! SITE OPTIONS: --sites demo,zwolle  --hosts localhost,www.zwolle.nl  --matomo-idsites 1,2
//!               --visits-per-day N (first site; each next fewer)  --seed N
//! ```
//!
//! `http` sends today's traffic to a collector, paced; `kafka` produces the traffic of
//! `--days` days ending with `--until` (default today, which is sent as far as it has
//! come; days before it are whole) straight to the topic as v1 events, for history and
//! query benchmarks; it creates the topic with `--partitions` (default 6)
//! when it does not exist (`--days 0` only creates it). The same options give the same
//! traffic. `delete-topics` deletes every topic whose name starts with the prefix (the
//! benchmark's runs leave `bench.*` topics).

use std::collections::HashMap;

use anyhow::Context;
use chrono::{Days, NaiveDate, Utc};
use luister_loadgen::model::Model;
use luister_loadgen::protocol::Site;
use luister_loadgen::send::{self, Protocol};

const USAGE: &str =
    "usage: luister-loadgen http  [--collector URL] [--protocol native|matomo|plausible] [--rate N]
                             [--concurrency N] [--events N] [SITE OPTIONS]
       luister-loadgen kafka [--brokers HOSTS] [--topic T] [--partitions N] [--days N]
                             [--until YYYY-MM-DD] [SITE OPTIONS]
       luister-loadgen delete-topics --prefix P [--brokers HOSTS]
SITE OPTIONS: --sites demo,zwolle  --hosts localhost,www.zwolle.nl  --matomo-idsites 1,2
              --visits-per-day N (first site; each next fewer)  --seed N
A broker that wants SASL: LUISTER_KAFKA__SECURITY_PROTOCOL, __SASL_USERNAME, __SASL_PASSWORD.
Defaults and what each mode sends: README.md (Load generator), or cargo doc -p luister-loadgen.";

fn options(args: &[String]) -> anyhow::Result<HashMap<String, String>> {
    let mut out = HashMap::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let key = a
            .strip_prefix("--")
            .with_context(|| format!("unexpected argument {a:?}\n{USAGE}"))?;
        let value = it
            .next()
            .with_context(|| format!("--{key} needs a value\n{USAGE}"))?;
        out.insert(key.to_string(), value.clone());
    }
    Ok(out)
}

fn take<T: std::str::FromStr>(
    o: &mut HashMap<String, String>,
    key: &str,
    default: T,
) -> anyhow::Result<T>
where
    T::Err: std::fmt::Display,
{
    match o.remove(key) {
        None => Ok(default),
        Some(v) => v.parse().map_err(|e| anyhow::anyhow!("--{key} {v:?}: {e}")),
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().is_some_and(|a| a == "help") || args.iter().any(|a| a == "--help" || a == "-h")
    {
        println!("{USAGE}");
        return Ok(());
    }
    let (mode, rest) = args.split_first().context(USAGE)?;
    let mut o = options(rest)?;
    if mode == "delete-topics" {
        let brokers: String = take(&mut o, "brokers", "127.0.0.1:9092".to_string())?;
        let prefix: String = take(&mut o, "prefix", String::new())?;
        reject_unknown(&o)?;
        let config = luister_service::kafka::KafkaConfig {
            brokers: brokers.clone(),
            ..Default::default()
        }
        .with_environment()?;
        let deleted = luister_loadgen::topics::delete_with_prefix(&config, &prefix)
            .await
            .with_context(|| USAGE)?;
        println!(
            "deleted {} topics starting with {prefix:?} at {brokers}",
            deleted.len()
        );
        return Ok(());
    }
    let ids: String = take(&mut o, "sites", "demo".to_string())?;
    let ids: Vec<&str> = ids.split(',').collect();
    let hosts: String = take(&mut o, "hosts", String::new())?;
    let idsites: String = take(&mut o, "matomo-idsites", String::new())?;
    let sites: Vec<Site> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| Site {
            id: (*id).to_string(),
            host: hosts
                .split(',')
                .nth(i)
                .filter(|h| !h.is_empty())
                .map_or_else(|| format!("www.{id}.example"), str::to_string),
            matomo_idsite: idsites
                .split(',')
                .nth(i)
                .filter(|s| !s.is_empty())
                .map_or_else(|| (i + 1).to_string(), str::to_string),
        })
        .collect();
    let model = Model {
        seed: take(&mut o, "seed", 1)?,
        sites: sites.len(),
        visits_per_day: take(&mut o, "visits-per-day", 2000)?,
    };
    let tz = chrono_tz::Europe::Amsterdam;
    let today = Utc::now().with_timezone(&tz).date_naive();
    let started = std::time::Instant::now();
    let (sent, what) = match mode.as_str() {
        "http" => {
            let base: String = take(&mut o, "collector", "http://127.0.0.1:8080".to_string())?;
            let protocol: Protocol = take(&mut o, "protocol", Protocol::Native)?;
            let rate: u32 = take(&mut o, "rate", 200)?;
            let concurrency: usize = take(&mut o, "concurrency", 8)?;
            let events: usize = take(&mut o, "events", usize::MAX)?;
            reject_unknown(&o)?;
            let hits = model.day(today, tz);
            let hits = &hits[..events.min(hits.len())];
            (
                send::http(
                    base.trim_end_matches('/'),
                    protocol,
                    &sites,
                    hits,
                    rate,
                    concurrency,
                )
                .await?,
                format!("{} hits of today to {base} ({protocol:?})", hits.len()),
            )
        }
        "kafka" => {
            let brokers: String = take(&mut o, "brokers", "127.0.0.1:9092".to_string())?;
            let topic: String = take(&mut o, "topic", "luister.events.v1".to_string())?;
            let days: u64 = take(&mut o, "days", 1)?;
            let partitions: i32 = take(&mut o, "partitions", 6)?;
            let until: NaiveDate = take(&mut o, "until", today)?;
            reject_unknown(&o)?;
            if until > today {
                anyhow::bail!(
                    "--until {until} is after today ({today}): its traffic has not happened yet"
                );
            }
            let config = luister_service::kafka::KafkaConfig {
                brokers: brokers.clone(),
                partitions,
                ..Default::default()
            }
            .with_environment()?;
            config.validate().map_err(anyhow::Error::msg)?;
            luister_service::kafka::ensure_topics(&config, &[&topic])
                .await
                .map_err(anyhow::Error::msg)?;
            let mut hits = Vec::new();
            for d in (0..days).rev() {
                let mut day = model.day(until - Days::new(d), tz);
                let now = Utc::now().timestamp_millis();
                day.retain(|h| h.ts_ms <= now);
                hits.extend(day);
            }
            (
                send::kafka(&config, &topic, &sites, &hits).await?,
                format!(
                    "{} events of {days} days to {topic} at {brokers}",
                    hits.len()
                ),
            )
        }
        other => anyhow::bail!("unknown mode {other:?}\n{USAGE}"),
    };
    let secs = started.elapsed().as_secs_f64();
    println!(
        "sent {what}: {} accepted, {} refused in {secs:.1} s ({:.0}/s)",
        sent.accepted,
        sent.refused,
        (sent.accepted + sent.refused) as f64 / secs.max(0.001)
    );
    if sent.refused > 0 {
        anyhow::bail!("{} hits were refused", sent.refused);
    }
    Ok(())
}

fn reject_unknown(o: &HashMap<String, String>) -> anyhow::Result<()> {
    if let Some(k) = o.keys().next() {
        anyhow::bail!("unknown option --{k}\n{USAGE}");
    }
    Ok(())
}
