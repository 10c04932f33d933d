//! Benchmark 4 of issue 7: theme attribution with the default taxonomy, for page views
//! (URL and title) and for search queries, on realistic municipal traffic from
//! `luister-loadgen` (fixed seed). `bench/run.sh` reads the results.
//!
//! The baseline in the same run is the text normalisation alone (lowercase, accents
//! off: `normalize::fold`), the least any attribution must do per input: the ratio says
//! what the matching adds on top. `pageviews` runs with the words of earlier batches
//! remembered (the steady state of a running processor), `pageviews_first_sight` with a
//! new matcher for every batch.

use std::hint::black_box;

use chrono::NaiveDate;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use luister_loadgen::model::{Kind, Model};
use luister_processor::attribution::{Input, Matcher};
use luister_processor::taxonomy::load_taxonomy;

fn traffic() -> (Vec<(String, String)>, Vec<String>) {
    let model = Model {
        seed: 42,
        sites: 1,
        visits_per_day: 20_000,
    };
    let hits = model.day(
        NaiveDate::from_ymd_opt(2026, 11, 24).unwrap_or_default(),
        chrono_tz::Europe::Amsterdam,
    );
    let mut pages = Vec::new();
    let mut searches = Vec::new();
    for h in hits {
        match h.kind {
            Kind::Pageview { title } => {
                pages.push((format!("https://www.gemeente.example{}", h.path), title))
            }
            Kind::Search { query, .. } => searches.push(query),
            Kind::Action { .. } => {}
        }
    }
    pages.truncate(20_000);
    searches.truncate(5_000);
    (pages, searches)
}

fn attribution(c: &mut Criterion) {
    let taxonomy = load_taxonomy(None).unwrap_or_else(|e| panic!("{e}"));
    let matcher = Matcher::new(&taxonomy).unwrap_or_else(|e| panic!("{e}"));
    let (pages, searches) = traffic();

    let mut g = c.benchmark_group("attribution");
    g.throughput(Throughput::Elements(pages.len() as u64));
    g.bench_function("pageviews", |b| {
        b.iter(|| {
            for (url, title) in &pages {
                black_box(matcher.classify(&Input {
                    path: Some(url),
                    title: Some(title),
                    query: None,
                }));
            }
        })
    });
    // A new matcher remembers no words: every word is analysed the first time it occurs
    // in the batch (as after a start or a taxonomy reload).
    g.bench_function("pageviews_first_sight", |b| {
        b.iter_batched(
            || Matcher::new(&taxonomy).unwrap_or_else(|e| panic!("{e}")),
            |fresh| {
                for (url, title) in &pages {
                    black_box(fresh.classify(&Input {
                        path: Some(url),
                        title: Some(title),
                        query: None,
                    }));
                }
                fresh
            },
            BatchSize::LargeInput,
        )
    });
    g.bench_function("pageviews_normalise_only", |b| {
        b.iter(|| {
            for (url, title) in &pages {
                black_box(luister_processor::attribution::normalize::fold(url));
                black_box(luister_processor::attribution::normalize::fold(title));
            }
        })
    });
    g.throughput(Throughput::Elements(searches.len() as u64));
    g.bench_function("searches", |b| {
        b.iter(|| {
            for q in &searches {
                black_box(matcher.classify(&Input {
                    path: None,
                    title: None,
                    query: Some(q),
                }));
            }
        })
    });
    g.finish();
}

#[allow(missing_docs)] // criterion_group! makes an undocumented function
mod group {
    use super::*;
    criterion_group!(benches, attribution);
}
use group::benches;
criterion_main!(benches);
