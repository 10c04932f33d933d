//! The sessionizer's runs: which visitor-days to read, reading them, writing their
//! sessions and the daily aggregates, and the service's cadence.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chrono::NaiveDate;
use serde::Deserialize;

use luister_store::aggregates::{self, event_counts, Scope};
use luister_store::{Store, StoreError};

use super::{build, plan, Goals, NewEvents, Pass, SessionEvent, SessionRow};
use crate::config::SessionsConfig;
use crate::consumer::Backlog;
use crate::metrics::ProcessorMetrics;

/// An event of a [`VisitorDay`], in the order of the tuple the query groups
/// (`groupArray((ts, kafka_partition, …))`); RowBinary reads a tuple as its fields in
/// order, so the names here are Luister's, the order is the query's.
#[derive(Debug, Deserialize)]
struct DayEvent {
    ts: u32,
    /// The millisecond within `ts`.
    ts_milli: u16,
    /// Kafka partition and offset, which order the events of one millisecond.
    kafka_partition: u32,
    kafka_offset: u64,
    kind: String,
    path: String,
    themes: Vec<String>,
    channel: String,
    device: String,
    action_name: String,
    search_term: String,
    search_results: i64,
    action_target: String,
    referrer_host: String,
    utm_url: String,
}

/// One visitor's events of one day, as the sessionizer reads them. ClickHouse groups
/// them by visitor-day (a hash aggregation, cheaper for it than sorting every event of
/// a pass by visitor and time: `docs/benchmarks.md`), and they are put in time order
/// here.
#[derive(Debug, clickhouse::Row, Deserialize)]
struct VisitorDay {
    site: String,
    day: u16,
    visitor: String,
    day_events: Vec<DayEvent>,
}

impl VisitorDay {
    /// Its events in time order (to the millisecond; see the sort), as [`build`] takes them.
    fn into_events(self) -> Vec<SessionEvent> {
        let Self {
            site,
            day,
            visitor,
            mut day_events,
        } = self;
        // By time to the millisecond (the collector may send a visitor's events of one
        // second to different partitions); within one millisecond a page view comes
        // before what happened on it (t.js sends a search page's view and its search
        // at once), then Kafka's order.
        day_events.sort_unstable_by_key(|e| {
            (
                e.ts,
                e.ts_milli,
                e.kind != "pageview",
                e.kafka_partition,
                e.kafka_offset,
            )
        });
        day_events
            .into_iter()
            .map(|e| SessionEvent {
                site: site.clone(),
                day,
                visitor: visitor.clone(),
                ts: e.ts,
                kind: e.kind,
                path: e.path,
                themes: e.themes,
                channel: e.channel,
                device: e.device,
                action_name: e.action_name,
                search_term: e.search_term,
                search_results: e.search_results,
                action_target: e.action_target,
                referrer_host: e.referrer_host,
                utm_url: e.utm_url,
            })
            .collect()
    }
}

/// A date for SQL from days since the epoch.
fn date(d: u16) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(1970, 1, 1)
        .and_then(|epoch| epoch.checked_add_days(chrono::Days::new(u64::from(d))))
}

#[derive(Debug, clickhouse::Row, Deserialize)]
struct ExistingSession {
    site: String,
    day: u16,
    visitor: String,
    session_id: String,
}

/// Recomputes the sessions of the visitors whose events arrived at or after `since`
/// (seconds); returns how many session rows were written. The work is split into
/// passes of about `events_per_pass` new events (see [`plan`]), two of them at a time,
/// so memory stays bounded however many visits are open (a busy day of a large
/// municipality, or a replay).
pub async fn run_once(
    store: &Store,
    since: u32,
    config: &SessionsConfig,
    goals: &Goals,
    today: NaiveDate,
) -> Result<usize, StoreError> {
    let new: Vec<NewEvents> = store
        .client()
        .query(
            "SELECT site, day, count() AS events FROM events \
             WHERE inserted_at >= toDateTime(?) GROUP BY site, day",
        )
        .bind(since)
        .fetch_all()
        .await?;
    // The daily aggregates are refreshed for the days of the new events (the tables
    // are partitioned and ordered by day; `inserted_at` is not). Events inserted during
    // the run are looked at by the next run.
    let first = new.iter().map(|n| n.day).min().and_then(date);
    let last = new.iter().map(|n| n.day).max().and_then(date);
    let (Some(first), Some(last)) = (first, last) else {
        return Ok(0);
    };
    let version = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    // Two passes at a time (their visitor-days are disjoint): while ClickHouse reads
    // one pass's events, the other's visits are built and written.
    let mut written = 0;
    let gap = config.inactivity_gap_s;
    for pair in plan(new, config.events_per_pass).chunks(2) {
        let second = async {
            match pair.get(1) {
                Some(pass) => run_pass(store, since, pass, gap, goals, version).await,
                None => Ok(0),
            }
        };
        let (a, b) = tokio::join!(
            run_pass(store, since, &pair[0], gap, goals, version),
            second
        );
        written += a? + b?;
    }
    // A failure leaves the older versions in place, which readers keep using until a
    // later run (the first after a restart looks back a day) writes them again.
    aggregates::rewrite_every(
        store.client(),
        &Scope::Touched { first, last, since },
        today,
        version,
    )
    .await?;
    Ok(written)
}

/// One pass of [`run_once`]: the visitors with new events on its sites and days, of
/// its share of visitors.
async fn run_pass(
    store: &Store,
    since: u32,
    pass: &Pass,
    gap_s: u32,
    goals: &Goals,
    version: u64,
) -> Result<usize, StoreError> {
    // Sites are bound (`?`, in this order), days and the share are written out from
    // numbers.
    let pairs: Vec<(&str, NaiveDate)> = pass
        .days
        .iter()
        .filter_map(|(site, d)| Some((site.as_str(), date(*d)?)))
        .collect();
    let scope = pairs
        .iter()
        .map(|(_, d)| format!("(site = ? AND day = toDate('{d}'))"))
        .collect::<Vec<_>>()
        .join(" OR ");
    // The pass's share of visitors is checked before the (site, visitor, day) lookup
    // too: a cheap hash of one column that rules out most of the events of a split
    // (site, day) before the lookup of three.
    let (bucket, buckets) = pass.share;
    let share = format!("cityHash64(visitor) % {buckets} = {bucket}");
    let touched = format!(
        "({scope}) AND {share} AND (site, visitor, day) IN (SELECT site, visitor, day FROM events \
         WHERE ({scope}) AND {share} AND inserted_at >= toDateTime(?))"
    );
    let bind = |mut q: clickhouse::query::Query| {
        // The scope is in the query twice.
        for _ in 0..2 {
            for (site, _) in &pairs {
                q = q.bind(*site);
            }
        }
        q.bind(since)
    };
    // Streamed: only one visitor-day's events are held at a time.
    let mut cursor = bind(store.client().query(&format!(
        "SELECT site, day, visitor, groupArray((ts, ts_milli, kafka_partition, kafka_offset, type, path, themes, \
         channel, device, action_name, search_term, search_results, \
         if(type = 'action', action_target, ''), domain(referrer), \
         if(position(url, 'utm_') > 0, url, ''))) AS day_events FROM events \
         WHERE {touched} GROUP BY site, day, visitor"
    )))
    .fetch::<VisitorDay>()?;
    let mut rows: Vec<SessionRow> = Vec::new();
    while let Some(visit) = cursor.next().await? {
        rows.extend(build(&visit.into_events(), gap_s, goals, version));
    }
    if rows.is_empty() {
        return Ok(0);
    }
    // Sessions written before that no longer exist (a late event joined them to another).
    // The newest version of each of the pass's sessions by aggregation, not FINAL: FINAL
    // merges every session of the pass's days before the visitors are picked out, so
    // its cost grew with the day (`docs/benchmarks.md`). A session's rows have distinct
    // versions (one per run), so the newest is unambiguous.
    let existing: Vec<ExistingSession> = bind(store.client().query(&format!(
        "SELECT site, day, visitor, session_id FROM sessions WHERE {touched} \
         GROUP BY site, day, visitor, session_id HAVING argMax(deleted, version) = 0"
    )))
    .fetch_all()
    .await?;
    let current: std::collections::HashSet<&str> =
        rows.iter().map(|r| r.session_id.as_str()).collect();
    let mut gone: BTreeMap<String, SessionRow> = BTreeMap::new();
    for old in existing
        .iter()
        .filter(|o| !current.contains(o.session_id.as_str()))
    {
        gone.insert(
            old.session_id.clone(),
            SessionRow {
                site: old.site.clone(),
                day: old.day,
                visitor: old.visitor.clone(),
                session_id: old.session_id.clone(),
                deleted: 1,
                version,
                ..SessionRow::default()
            },
        );
    }
    rows.extend(gone.into_values());
    let mut insert = store.client().insert::<SessionRow>("sessions").await?;
    for r in &rows {
        insert.write(r).await?;
    }
    insert.end().await?;
    Ok(rows.len())
}

/// Each run looks back this far before the previous run's start, for inserts that were
/// still landing and clocks a little apart.
const MARGIN_S: u32 = 5;

/// The consumer counts as catching up while it read a full batch this recently (a batch
/// is parsed and written in well under a second when the topic is ahead). As long as
/// [`MARGIN_S`]: the run after a backlog then starts when the backlog's last inserts
/// are behind its margin, so the run after it does not read them again.
const BACKLOG_WINDOW: Duration = Duration::from_secs(MARGIN_S as u64);

/// The sessionizer as the service runs it: [`run_once`] every `every`.
pub struct Sessionizer {
    /// Where it reads and writes.
    pub store: Store,
    /// `[sessions]`.
    pub config: SessionsConfig,
    /// What counts as a contact.
    pub goals: Goals,
    /// The pause between runs.
    pub every: Duration,
    /// Its metrics.
    pub metrics: ProcessorMetrics,
    /// Whether the consumer is catching up.
    pub backlog: Backlog,
    /// The calendar of the `day` column (`processing.timezone`).
    pub tz: chrono_tz::Tz,
}

impl Sessionizer {
    /// Runs until the service stops. The first run looks back a day, so a restart
    /// recomputes what a crash may have left half-done. While the consumer catches up on
    /// a backlog, a run waits for it (`sessions.max_defer_s`). After the first run of
    /// each day (and after a start) the event counts of settled days are brought up to
    /// date ([`settle`]).
    pub async fn run(self) {
        let Self {
            store,
            config,
            goals,
            every,
            metrics,
            backlog,
            tz,
        } = self;
        let now = || {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs() as u32)
                .unwrap_or(0)
        };
        let mut since = now().saturating_sub(86_400);
        let max_defer = Duration::from_secs(config.max_defer_s);
        let mut last_run = std::time::Instant::now();
        let mut settled_on: Option<NaiveDate> = None;
        loop {
            // While the consumer catches up on a backlog, a run would recompute visits
            // that its next batches change again: wait for it (checking every second),
            // but not longer than `max_defer` after the last run.
            if backlog.catching_up(BACKLOG_WINDOW) && last_run.elapsed() < max_defer {
                metrics
                    .sessionizer_runs
                    .with_label_values(&["deferred"])
                    .inc();
                while backlog.catching_up(BACKLOG_WINDOW) && last_run.elapsed() < max_defer {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
            last_run = std::time::Instant::now();
            let started = now();
            let today = chrono::Utc::now().with_timezone(&tz).date_naive();
            match run_once(&store, since, &config, &goals, today).await {
                Ok(written) => {
                    // Events inserted during the run are looked at again next time.
                    since = started.saturating_sub(MARGIN_S);
                    metrics.sessionizer_runs.with_label_values(&["ok"]).inc();
                    metrics
                        .sessionizer_seconds
                        .observe(last_run.elapsed().as_secs_f64());
                    metrics.sessions_written.inc_by(written as u64);
                    metrics.sessions_complete_until.set(i64::from(since));
                    if settled_on != Some(today) {
                        match settle(&store, today).await {
                            Ok(()) => settled_on = Some(today),
                            Err(e) => {
                                tracing::warn!(error = %e, "rewriting the settled days' event counts failed; retrying")
                            }
                        }
                    }
                }
                Err(e) => {
                    metrics
                        .sessionizer_runs
                        .with_label_values(&["failed"])
                        .inc();
                    tracing::warn!(error = %e, "sessionizer run failed; retrying");
                }
            }
            // `every` between runs; a run that took longer than that (over a backlog) is
            // followed at once, for the events its look-back margin left to the next run.
            if last_run.elapsed() < every {
                tokio::time::sleep(every).await;
            }
        }
    }
}

/// Rewrites the event counts of the newest settled days whole, and of every settled
/// day that got events after its newest rewrite (see [`event_counts::settling`] and
/// [`event_counts::stale`]).
pub async fn settle(store: &Store, today: NaiveDate) -> Result<(), StoreError> {
    let version = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    let stale = event_counts::stale(store.client(), today).await?;
    let newest = event_counts::settling(today);
    for scope in stale.iter().filter(|s| **s != newest).chain([&newest]) {
        event_counts::rewrite(scope)
            .run(store.client(), version)
            .await?;
    }
    Ok(())
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_visitor_days_events_are_put_in_time_to_the_millisecond_then_kafka_order() {
        let e = |ts: u32,
                 ts_milli: u16,
                 kafka_partition: u32,
                 kafka_offset: u64,
                 kind: &str,
                 path: &str| {
            DayEvent {
                ts,
                ts_milli,
                kafka_partition,
                kafka_offset,
                kind: kind.into(),
                path: path.into(),
                themes: vec![],
                channel: String::new(),
                device: String::new(),
                action_name: String::new(),
                search_term: String::new(),
                search_results: -1,
                action_target: String::new(),
                referrer_host: String::new(),
                utm_url: String::new(),
            }
        };
        let visit = VisitorDay {
            site: "demo".into(),
            day: 3,
            visitor: "v".into(),
            day_events: vec![
                e(20, 0, 1, 9, "pageview", "/d"),
                // A click 300 ms after its page view, sent to a lower partition.
                e(10, 400, 0, 50, "action", "/c"),
                e(10, 100, 2, 8, "pageview", "/b"),
                // The same millisecond: the page view first, whatever the partitions.
                e(10, 100, 0, 7, "search", "/b"),
                e(9, 999, 1, 7, "pageview", "/a"),
            ],
        };
        let events = visit.into_events();
        let order: Vec<(&str, &str)> = events
            .iter()
            .map(|e| (e.kind.as_str(), e.path.as_str()))
            .collect();
        assert_eq!(
            order,
            [
                ("pageview", "/a"),
                ("pageview", "/b"),
                ("search", "/b"),
                ("action", "/c"),
                ("pageview", "/d")
            ]
        );
        assert!(events
            .iter()
            .all(|e| (e.site.as_str(), e.day, e.visitor.as_str()) == ("demo", 3, "v")));
    }
}
