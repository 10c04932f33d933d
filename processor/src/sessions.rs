//! Sessions (visits) and early contact, derived from the raw events.
//!
//! Every `sessions.interval_s` the sessionizer finds the visitors whose events arrived
//! since its last run (`inserted_at`), reads all their events of those days, splits them
//! into sessions after `sessions.inactivity_gap_s` without an event, and writes the
//! summaries. Because raw events are stored exactly once and sessions are recomputed
//! from them as a whole, a crash, a replay, an out-of-order or a late event can never
//! count a visit twice: the newest version of each session wins (ReplacingMergeTree),
//! and sessions a late event merged into another are rewritten as deleted. A run with
//! many new events is split into passes over disjoint sets of visitors, so memory does
//! not grow with the number of open visits. After each run the daily aggregates of every
//! (site, day) the run touched are rewritten ([`luister_store::aggregates`]): visits
//! (`visits_daily` and its totals `visit_totals_daily`) from the sessions, event
//! counts, search terms and contacts per channel from the events.
//!
//! A contact is an action whose name starts with one of the goal's action prefixes
//! (default `contact:`) or a page view whose path matches one of its URL patterns (a
//! confirmation page). Per theme the session touched, the summary keeps the first touch
//! and the first contact at or after it: the early-contact figures. Per site search it
//! keeps what came next: another search (`refined`), a page or action (`clicked`), or
//! the end of the visit (`left`).

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chrono::NaiveDate;
use regex::Regex;
use serde::{Deserialize, Serialize};

use luister_store::aggregates::{self, event_counts, Scope};
use luister_store::{Store, StoreError};

use crate::config::{GoalConfig, SessionsConfig};
use crate::consumer::Backlog;
use crate::metrics::ProcessorMetrics;

/// An event as [`build`] takes it.
#[derive(Debug, Clone)]
pub struct SessionEvent {
    /// Site.
    pub site: String,
    /// Day (days since the epoch).
    pub day: u16,
    /// Visitor key.
    pub visitor: String,
    /// Time, seconds.
    pub ts: u32,
    /// Event type.
    pub kind: String,
    /// URL path.
    pub path: String,
    /// Themes with ancestors.
    pub themes: Vec<String>,
    /// Channel.
    pub channel: String,
    /// Device class.
    pub device: String,
    /// Action name.
    pub action_name: String,
    /// Normalised search term.
    pub search_term: String,
    /// Search result count, -1 when unknown.
    pub search_results: i64,
}

/// An event of a [`VisitorDay`]: time, Kafka partition and offset (which order the
/// events of one second), type, path, themes, channel, device, action name, search term
/// and search result count.
type DayEvent = (
    u32,
    u32,
    u64,
    String,
    String,
    Vec<String>,
    String,
    String,
    String,
    String,
    i64,
);

/// One visitor's events of one day, as the sessionizer reads them. ClickHouse groups
/// them by visitor-day (a hash aggregation: about a third less of its CPU than sorting
/// every event of a pass by visitor and time), and they are put in time order here.
#[derive(Debug, clickhouse::Row, Deserialize)]
struct VisitorDay {
    site: String,
    day: u16,
    visitor: String,
    day_events: Vec<DayEvent>,
}

impl VisitorDay {
    /// Its events in time order (the same second in Kafka order), as [`build`] takes them.
    fn into_events(self) -> Vec<SessionEvent> {
        let Self {
            site,
            day,
            visitor,
            mut day_events,
        } = self;
        day_events.sort_unstable_by_key(|e| (e.0, e.1, e.2));
        day_events
            .into_iter()
            .map(
                |(
                    ts,
                    _,
                    _,
                    kind,
                    path,
                    themes,
                    channel,
                    device,
                    action_name,
                    search_term,
                    search_results,
                )| {
                    SessionEvent {
                        site: site.clone(),
                        day,
                        visitor: visitor.clone(),
                        ts,
                        kind,
                        path,
                        themes,
                        channel,
                        device,
                        action_name,
                        search_term,
                        search_results,
                    }
                },
            )
            .collect()
    }
}

/// One session summary row.
#[derive(Debug, Clone, Default, PartialEq, Eq, clickhouse::Row, Serialize, Deserialize)]
pub struct SessionRow {
    /// Site.
    pub site: String,
    /// Day.
    pub day: u16,
    /// Visitor key.
    pub visitor: String,
    /// `visitor-start_ts`.
    pub session_id: String,
    /// First event.
    pub start_ts: u32,
    /// Last event.
    pub end_ts: u32,
    /// end − start.
    pub duration_s: u32,
    /// Path of the first page.
    pub entry_path: String,
    /// First theme of the first event ('' if none).
    pub entry_theme: String,
    /// Channel of the first event.
    pub channel: String,
    /// Device of the first event.
    pub device: String,
    /// Page views.
    pub pageviews: u32,
    /// Site searches.
    pub searches: u32,
    /// Contacts (goal completions).
    pub contacts: u32,
    /// Time of the first contact, 0 when none.
    pub first_contact_ts: u32,
    /// Themes touched.
    pub themes: Vec<String>,
    /// First touch per theme.
    pub theme_first_ts: Vec<u32>,
    /// First contact at or after the first touch per theme, 0 when none.
    pub theme_contact_ts: Vec<u32>,
    /// 1 for a session that no longer exists (merged by a late event).
    pub deleted: u8,
    /// Newer wins.
    pub version: u64,
    /// Normalised term of each site search, in order.
    pub search_terms: Vec<String>,
    /// First top-level theme of each search ('' for none).
    pub search_themes: Vec<String>,
    /// Result count of each search (-1 unknown).
    pub search_results: Vec<i64>,
    /// What followed each search: `refined`, `clicked` or `left`.
    pub search_next: Vec<String>,
}

/// A site's goals, compiled.
pub struct Goals {
    rules: Vec<Goal>,
}

/// One `[[goals]]` entry, compiled.
struct Goal {
    /// Site id, or `*`.
    site: String,
    /// Action-name prefixes, lowercase.
    actions: Vec<String>,
    /// Patterns on the paths of confirmation pages.
    url_patterns: Vec<Regex>,
}

impl Goals {
    /// Compiles the configured goals (checked by the configuration's validation).
    pub fn new(goals: &[GoalConfig]) -> Result<Self, regex::Error> {
        let mut rules = Vec::new();
        for g in goals {
            let patterns = g
                .url_patterns
                .iter()
                .map(|p| Regex::new(p))
                .collect::<Result<_, _>>()?;
            rules.push(Goal {
                site: g.site.clone(),
                // Action names are stored lowercase: so are the prefixes matched on them.
                actions: g.actions.iter().map(|a| a.to_lowercase()).collect(),
                url_patterns: patterns,
            });
        }
        Ok(Self { rules })
    }

    /// Whether `e` completes a goal of its site.
    pub fn is_contact(&self, e: &SessionEvent) -> bool {
        self.rules
            .iter()
            .filter(|g| g.site == "*" || g.site == e.site)
            .any(|g| {
                (e.kind == "action"
                    && g.actions
                        .iter()
                        .any(|a| e.action_name.starts_with(a.as_str())))
                    || (e.kind == "pageview" && g.url_patterns.iter().any(|p| p.is_match(&e.path)))
            })
    }
}

/// Splits one visitor's events of one day (sorted by time) into sessions.
///
/// Engagement reports and content impressions or clicks are not something the
/// resident did on their own but what the tracker reports of a page view: they never
/// start a visit (a page left open for hours reports its engagement when it is
/// closed), never answer a search ("left" stays "left"), and only lengthen the visit
/// they fall within.
pub fn build(events: &[SessionEvent], gap_s: u32, goals: &Goals, version: u64) -> Vec<SessionRow> {
    let mut out: Vec<SessionRow> = Vec::new();
    let mut theme_index: HashMap<String, usize> = HashMap::new();
    for e in events {
        if matches!(e.kind.as_str(), "engagement" | "content") {
            if let Some(s) = out.last_mut() {
                if e.ts.saturating_sub(s.end_ts) <= gap_s {
                    s.end_ts = s.end_ts.max(e.ts);
                    s.duration_s = s.end_ts - s.start_ts;
                }
            }
            continue;
        }
        let new_session = out
            .last()
            .is_none_or(|s| e.ts.saturating_sub(s.end_ts) > gap_s);
        if new_session {
            theme_index.clear();
            out.push(SessionRow {
                site: e.site.clone(),
                day: e.day,
                visitor: e.visitor.clone(),
                session_id: format!("{}-{}", e.visitor, e.ts),
                start_ts: e.ts,
                end_ts: e.ts,
                duration_s: 0,
                entry_path: e.path.clone(),
                entry_theme: e.themes.first().cloned().unwrap_or_default(),
                channel: e.channel.clone(),
                device: e.device.clone(),
                pageviews: 0,
                searches: 0,
                contacts: 0,
                first_contact_ts: 0,
                themes: Vec::new(),
                theme_first_ts: Vec::new(),
                theme_contact_ts: Vec::new(),
                deleted: 0,
                version,
                search_terms: Vec::new(),
                search_themes: Vec::new(),
                search_results: Vec::new(),
                search_next: Vec::new(),
            });
        }
        let Some(s) = out.last_mut() else { continue };
        // The previous search of this visit learns what came after it.
        if let Some(last) = s.search_next.last_mut() {
            if last == "left" {
                *last = if e.kind == "search" {
                    "refined"
                } else {
                    "clicked"
                }
                .to_owned();
            }
        }
        if e.kind == "search" {
            s.search_terms.push(e.search_term.clone());
            s.search_themes.push(
                e.themes
                    .iter()
                    .find(|t| !t.contains('/'))
                    .cloned()
                    .unwrap_or_default(),
            );
            s.search_results.push(e.search_results);
            s.search_next.push("left".to_owned());
        }
        s.end_ts = s.end_ts.max(e.ts);
        s.duration_s = s.end_ts - s.start_ts;
        match e.kind.as_str() {
            "pageview" => s.pageviews += 1,
            "search" => s.searches += 1,
            _ => {}
        }
        for t in &e.themes {
            if !theme_index.contains_key(t) {
                theme_index.insert(t.clone(), s.themes.len());
                s.themes.push(t.clone());
                s.theme_first_ts.push(e.ts);
                s.theme_contact_ts.push(0);
            }
        }
        if goals.is_contact(e) {
            s.contacts += 1;
            if s.first_contact_ts == 0 {
                s.first_contact_ts = e.ts;
            }
            for c in s.theme_contact_ts.iter_mut() {
                if *c == 0 {
                    *c = e.ts;
                }
            }
        }
    }
    out
}

/// How many events of one site and day were inserted since a run's `since`.
#[derive(Debug, Clone, clickhouse::Row, Deserialize)]
pub struct NewEvents {
    /// Site.
    pub site: String,
    /// Day (days since the epoch).
    pub day: u16,
    /// New events.
    pub events: u64,
}

/// One pass of a run: the (site, day) pairs it covers, and which share of their
/// visitors (`cityHash64(visitor) % share.1 = share.0`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pass {
    /// Sites and days (days since the epoch).
    pub days: Vec<(String, u16)>,
    /// (bucket, buckets) of the visitor hash.
    pub share: (u64, u64),
}

/// The most (site, day) pairs in one pass, which keeps its SQL short.
const MAX_PAIRS_PER_PASS: usize = 200;

/// Plans a run's passes so that each reads only the (site, day) ranges it covers (the
/// events are ordered by site and day) and sees at most about `per_pass` new events: a
/// pair with more is split by visitor hash over as many passes as it needs, smaller
/// pairs share passes. Every visitor-day with new events is in exactly one pass.
pub fn plan(mut new: Vec<NewEvents>, per_pass: u64) -> Vec<Pass> {
    let per_pass = per_pass.max(1);
    new.sort_by(|a, b| (&a.site, a.day).cmp(&(&b.site, b.day)));
    let mut passes = Vec::new();
    let mut shared = Pass {
        days: Vec::new(),
        share: (0, 1),
    };
    let mut shared_events = 0;
    for n in new.into_iter().filter(|n| n.events > 0) {
        if n.events > per_pass {
            let k = n.events.div_ceil(per_pass);
            passes.extend((0..k).map(|i| Pass {
                days: vec![(n.site.clone(), n.day)],
                share: (i, k),
            }));
            continue;
        }
        if shared_events + n.events > per_pass || shared.days.len() == MAX_PAIRS_PER_PASS {
            passes.push(std::mem::replace(
                &mut shared,
                Pass {
                    days: Vec::new(),
                    share: (0, 1),
                },
            ));
            shared_events = 0;
        }
        shared_events += n.events;
        shared.days.push((n.site, n.day));
    }
    if !shared.days.is_empty() {
        passes.push(shared);
    }
    passes
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
    // (site, day) before the lookup of three (a pass of a seventh of a busy day read
    // its events in 0.21 s instead of 0.36).
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
        "SELECT site, day, visitor, groupArray((ts, kafka_partition, kafka_offset, type, path, themes, \
         channel, device, action_name, search_term, search_results)) AS day_events FROM events \
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
    // its cost grew with the day (0.7-0.8 s a pass on a day of 1.5 million sessions,
    // against 0.2 s; about a third of a sessionizer run under benchmark 7's load). A
    // session's rows have distinct versions (one per run), so the newest is unambiguous.
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

    fn ev(ts: u32, kind: &str, path: &str, themes: &[&str], action: &str) -> SessionEvent {
        SessionEvent {
            site: "demo".into(),
            day: 1,
            visitor: "v".into(),
            ts,
            kind: kind.into(),
            path: path.into(),
            themes: themes.iter().map(|t| (*t).to_owned()).collect(),
            channel: if ts == 0 {
                "search".into()
            } else {
                "internal".into()
            },
            device: "mobile".into(),
            action_name: action.into(),
            search_term: if kind == "search" {
                path.trim_start_matches('/').into()
            } else {
                String::new()
            },
            search_results: if kind == "search" { 0 } else { -1 },
        }
    }

    fn goals() -> Goals {
        Goals::new(&[GoalConfig {
            site: "*".into(),
            actions: vec!["contact:".into()],
            url_patterns: vec!["^/contact/bedankt".into()],
        }])
        .unwrap()
    }

    #[test]
    fn a_visit_with_a_contact_after_touching_debt_help() {
        let events = [
            ev(0, "pageview", "/", &[], ""),
            ev(
                60,
                "search",
                "/zoeken",
                &["schulden/schuldhulpverlening", "schulden"],
                "",
            ),
            ev(120, "pageview", "/schulden", &["schulden"], ""),
            ev(300, "action", "/schulden", &["schulden"], "contact:phone"),
            ev(400, "pageview", "/afval", &["afval"], ""),
        ];
        let s = build(&events, 1800, &goals(), 7);
        assert_eq!(s.len(), 1);
        let s = &s[0];
        assert_eq!((s.start_ts, s.end_ts, s.duration_s), (0, 400, 400));
        assert_eq!(
            (s.pageviews, s.searches, s.contacts, s.first_contact_ts),
            (3, 1, 1, 300)
        );
        assert_eq!(
            (
                s.entry_path.as_str(),
                s.entry_theme.as_str(),
                s.channel.as_str()
            ),
            ("/", "", "search")
        );
        assert_eq!(
            s.themes,
            vec!["schulden/schuldhulpverlening", "schulden", "afval"]
        );
        assert_eq!(s.theme_first_ts, vec![60, 60, 400]);
        assert_eq!(
            s.theme_contact_ts,
            vec![300, 300, 0],
            "afval was touched after the contact"
        );
    }

    #[test]
    fn a_visitor_days_events_are_put_in_time_then_kafka_order() {
        let e = |ts: u32, partition: u32, offset: u64, path: &str| -> DayEvent {
            let s = String::new;
            (
                ts,
                partition,
                offset,
                "pageview".into(),
                path.into(),
                vec![],
                s(),
                s(),
                s(),
                s(),
                -1,
            )
        };
        let visit = VisitorDay {
            site: "demo".into(),
            day: 3,
            visitor: "v".into(),
            day_events: vec![e(20, 1, 9, "/c"), e(10, 1, 8, "/b"), e(10, 1, 7, "/a")],
        };
        let events = visit.into_events();
        let paths: Vec<&str> = events.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(paths, ["/a", "/b", "/c"]);
        assert!(events
            .iter()
            .all(|e| (e.site.as_str(), e.day, e.visitor.as_str()) == ("demo", 3, "v")));
    }

    #[test]
    fn a_run_is_planned_in_passes_over_the_days_they_read() {
        let n = |site: &str, day, events| NewEvents {
            site: site.into(),
            day,
            events,
        };
        let passes = plan(
            vec![
                n("b", 2, 40),
                n("a", 1, 250),
                n("b", 1, 70),
                n("c", 1, 0),
                n("b", 3, 30),
            ],
            100,
        );
        let pass = |days: &[(&str, u16)], share| Pass {
            days: days.iter().map(|(s, d)| ((*s).to_owned(), *d)).collect(),
            share,
        };
        assert_eq!(
            passes,
            vec![
                // More new events than a pass takes: split by visitor over three passes.
                pass(&[("a", 1)], (0, 3)),
                pass(&[("a", 1)], (1, 3)),
                pass(&[("a", 1)], (2, 3)),
                // Smaller pairs share a pass while they fit.
                pass(&[("b", 1)], (0, 1)),
                pass(&[("b", 2), ("b", 3)], (0, 1)),
            ]
        );
        let many = (0..450).map(|d| n("a", d, 1)).collect();
        let sizes: Vec<usize> = plan(many, 100_000).iter().map(|p| p.days.len()).collect();
        assert_eq!(sizes, vec![MAX_PAIRS_PER_PASS, MAX_PAIRS_PER_PASS, 50]);
        assert!(plan(Vec::new(), 100).is_empty());
    }

    #[test]
    fn what_follows_each_search_is_recorded() {
        let events = [
            ev(0, "search", "/bijstnd", &[], ""),
            ev(
                10,
                "search",
                "/bijstand",
                &["inkomen/bijstand", "inkomen"],
                "",
            ),
            ev(
                20,
                "pageview",
                "/bijstand",
                &["inkomen/bijstand", "inkomen"],
                "",
            ),
            ev(
                30,
                "search",
                "/kwijtschelding",
                &["armoede/kwijtschelding", "armoede"],
                "",
            ),
        ];
        let s = &build(&events, 1800, &goals(), 1)[0];
        assert_eq!(
            s.search_terms,
            vec!["bijstnd", "bijstand", "kwijtschelding"]
        );
        assert_eq!(s.search_themes, vec!["", "inkomen", "armoede"]);
        assert_eq!(s.search_next, vec!["refined", "clicked", "left"]);
    }

    #[test]
    fn engagement_and_content_reports_never_start_a_visit_or_answer_a_search() {
        let events = [
            ev(0, "search", "/bijstnd", &[], ""),
            ev(5, "content", "/zoeken", &[], ""),
            ev(40, "engagement", "/zoeken", &[], ""),
            // The tab is closed hours later: its engagement report starts no visit.
            ev(9000, "engagement", "/zoeken", &[], ""),
        ];
        let s = build(&events, 1800, &goals(), 1);
        assert_eq!(s.len(), 1, "{s:?}");
        assert_eq!(s[0].search_next, vec!["left"]);
        assert_eq!((s[0].duration_s, s[0].pageviews), (40, 0));
        let only = build(&[ev(7, "engagement", "/", &[], "")], 1800, &goals(), 1);
        assert!(only.is_empty());
    }

    #[test]
    fn inactivity_splits_sessions_and_confirmation_pages_count_as_contact() {
        let events = [
            ev(
                0,
                "pageview",
                "/bijstand",
                &["inkomen/bijstand", "inkomen"],
                "",
            ),
            ev(1000, "pageview", "/contact/bedankt", &[], ""),
            ev(
                1000 + 1801,
                "pageview",
                "/bijstand",
                &["inkomen/bijstand", "inkomen"],
                "",
            ),
        ];
        let s = build(&events, 1800, &goals(), 1);
        assert_eq!(s.len(), 2);
        assert_eq!(
            (s[0].contacts, s[0].theme_contact_ts.clone()),
            (1, vec![1000, 1000])
        );
        assert_eq!((s[1].contacts, s[1].session_id.as_str()), (0, "v-2801"));
    }
}
