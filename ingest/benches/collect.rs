//! The collector's own work per event, on one core (issue 7, beside benchmark 2):
//! parsing a native batch, checking, scrubbing and completing its events
//! (`Collector::finish`: site, URL, visitor key, device and browser), and serialising
//! them as the v1 JSON the broker gets. No HTTP and no producer: what is left when
//! those are taken away, to compare with what kcat spends per message in the same run.
//! The batch is benchmark 2's (`bench/batch.json`). `bench/run.sh` reads the results.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use luister_ingest::collect::{Collector, RawEvent, Visit};
use luister_ingest::config::{LimitsConfig, SiteConfig};
use luister_ingest::protocol::native;
use luister_ingest::visitor::Salter;
use luister_schema::{Event, SiteId};

const BATCH: &[u8] = include_bytes!("../../bench/batch.json");
const FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0";

fn visit() -> Visit<'static> {
    Visit {
        ip: std::net::Ipv4Addr::new(10, 1, 2, 3).into(),
        user_agent: FIREFOX,
        do_not_track: false,
        prefetch: false,
        origin_host: Some("localhost".to_owned()),
        now_ms: 1_764_460_800_000,
    }
}

fn parse() -> Vec<RawEvent> {
    native::parse(BATCH, 1_000).unwrap_or_else(|e| panic!("bench/batch.json: {e}"))
}

fn finish(collector: &Collector, raws: Vec<RawEvent>, visit: &Visit<'_>) -> Vec<Event> {
    let mut keys = collector.request_keys(visit);
    raws.into_iter()
        .map(|r| match collector.finish(r, visit, &mut keys) {
            Ok(Ok(e)) => e,
            other => panic!("an event of bench/batch.json was not accepted: {other:?}"),
        })
        .collect()
}

fn serialise(events: &[Event]) -> Vec<(String, Vec<u8>)> {
    events
        .iter()
        .map(|e| (e.visitor.to_string(), e.to_json()))
        .collect()
}

fn collect(c: &mut Criterion) {
    let site = SiteConfig::new(
        SiteId::parse("demo").unwrap_or_else(|e| panic!("{e}")),
        &["localhost"],
    );
    let collector = Collector::new(&[site], LimitsConfig::default(), Salter::local());
    let visit = visit();
    let raws = parse();
    let events = finish(&collector, raws.clone(), &visit);

    let mut g = c.benchmark_group("collect");
    g.throughput(Throughput::Elements(raws.len() as u64));
    g.bench_function("parse", |b| b.iter(|| black_box(parse())));
    g.bench_function("finish", |b| {
        b.iter_batched(
            || raws.clone(),
            |r| black_box(finish(&collector, r, &visit)),
            BatchSize::SmallInput,
        )
    });
    g.bench_function("serialise", |b| b.iter(|| black_box(serialise(&events))));
    // The three in a row, as a request does them.
    g.bench_function("request", |b| {
        b.iter(|| black_box(serialise(&finish(&collector, parse(), &visit))))
    });
    g.finish();
}

#[allow(missing_docs)] // criterion_group! makes an undocumented function
mod group {
    use super::*;
    criterion_group!(benches, collect);
}
use group::benches;
criterion_main!(benches);
