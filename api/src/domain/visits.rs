//! Visits: the channel and device mix, early contact, and pipeline freshness.

use chrono::{DateTime, Days, NaiveDate, Utc};
use clickhouse::Client;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use luister_store::aggregates::{self, days_between, newest_of_days};

use crate::error::ApiError;
use crate::params::{Dimension, IsoWeek, Period};
use crate::table::{round1, Cell, Tabular};

/// Visits by one value of a dimension (a channel or a device class).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Share {
    /// The channel (`search`, `social`, `email`, `campaign`, `partner`, `referral`,
    /// `internal`, `direct`) or device class (`mobile`, `tablet`, `desktop`, `unknown`).
    pub value: String,
    /// Visits.
    pub visits: u64,
    /// Distinct visitors.
    pub visitors: u64,
    /// Visits that reached a contact.
    pub contacts: u64,
    /// Share of all visits in percent.
    pub share_pct: f64,
}

impl Tabular for Share {
    const COLUMNS: &'static [&'static str] =
        &["value", "visits", "visitors", "contacts", "share_pct"];
    fn cells(&self) -> Vec<Cell> {
        vec![
            self.value.as_str().into(),
            self.visits.into(),
            self.visitors.into(),
            self.contacts.into(),
            self.share_pct.into(),
        ]
    }
}

#[derive(Debug, clickhouse::Row, Deserialize)]
struct ShareRow {
    value: String,
    visits: u64,
    visitors: u64,
    contacts: u64,
}

/// Visits of the site (or of those touching a theme) by channel or device. A visit's
/// channel is the one it arrived by. A cell fewer than `k` distinct visitors produced
/// is left out (the second value counts them); shares stay relative to all visits.
pub async fn mix(
    c: &Client,
    site: &str,
    p: Period,
    theme: Option<&str>,
    by: Dimension,
    k: u32,
) -> Result<(Vec<Share>, u32), ApiError> {
    let col = by.column();
    let other = match by {
        Dimension::Channel => Dimension::Device,
        Dimension::Device => Dimension::Channel,
    }
    .column();
    let q = c.query(&format!(
        "SELECT {col} AS value, sum(visits) AS visits, sum(visitors) AS visitors, sum(contacts) AS contacts \
         FROM {visits} AND theme = ? AND {col} != '*' AND {other} = '*' GROUP BY value ORDER BY visits DESC, value",
        visits = newest_of_days(aggregates::visits::TABLE, &days_between(p.from, p.to))
    ));
    let q = q.bind(site).bind(site).bind(theme.unwrap_or(""));
    let rows: Vec<ShareRow> = q.fetch_all().await?;
    let total: u64 = rows.iter().map(|r| r.visits).sum();
    let (shown, hidden): (Vec<ShareRow>, Vec<ShareRow>) =
        rows.into_iter().partition(|r| r.visitors >= u64::from(k));
    let shares = shown
        .into_iter()
        .map(|r| Share {
            share_pct: if total == 0 {
                0.0
            } else {
                round1(r.visits as f64 * 100.0 / total as f64)
            },
            value: r.value,
            visits: r.visits,
            visitors: r.visitors,
            contacts: r.contacts,
        })
        .collect();
    Ok((shares, hidden.len() as u32))
}

/// Early contact for a theme in a period (or one week of it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Contact {
    /// The ISO week (`2026-W48`); `total` for the whole period.
    pub week: String,
    /// Visits that touched the theme.
    pub sessions: u64,
    /// Of those, visits that reached a contact at or after touching it.
    pub contacted: u64,
    /// `contacted / sessions` in percent; absent without sessions.
    pub conversion_pct: Option<f64>,
    /// Median seconds from the first touch of the theme to the contact.
    pub median_time_to_contact_s: Option<u64>,
    /// 90th percentile of the same.
    pub p90_time_to_contact_s: Option<u64>,
}

impl Tabular for Contact {
    const COLUMNS: &'static [&'static str] = &[
        "week",
        "sessions",
        "contacted",
        "conversion_pct",
        "median_time_to_contact_s",
        "p90_time_to_contact_s",
    ];
    fn cells(&self) -> Vec<Cell> {
        vec![
            self.week.as_str().into(),
            self.sessions.into(),
            self.contacted.into(),
            self.conversion_pct.into(),
            self.median_time_to_contact_s
                .map_or(Cell::Float(None), Cell::Int),
            self.p90_time_to_contact_s
                .map_or(Cell::Float(None), Cell::Int),
        ]
    }
}

/// The weeks of a period side by side (same order in every array) and their total.
#[derive(Debug, clickhouse::Row, Deserialize)]
struct ContactWeeks {
    weeks: Vec<u32>,
    sessions: Vec<u64>,
    contacted: Vec<u64>,
    /// Median and 90th percentile of the seconds to contact, per week.
    times: Vec<Vec<i64>>,
    total_sessions: u64,
    total_contacted: u64,
    total_times: Vec<i64>,
}

/// The period's total (first) and its weeks, every week present.
pub async fn early_contact(
    c: &Client,
    site: &str,
    p: Period,
    theme: &str,
) -> Result<Vec<Contact>, ApiError> {
    // One read of the rows: the weeks keep their time-to-contact state, which the
    // outer query both finalizes per week and merges into the period's.
    let q = c.query(&format!(
        "SELECT groupArray(week) AS weeks, groupArray(s) AS sessions, groupArray(k) AS contacted, \
         groupArray(finalizeAggregation(t)) AS times, sum(s) AS total_sessions, \
         sum(k) AS total_contacted, quantilesExactIfMerge(0.5, 0.9)(t) AS total_times \
         FROM (SELECT toUInt32(toMonday(day)) AS week, sum(visits) AS s, sum(contacts) AS k, \
         quantilesExactIfMergeState(0.5, 0.9)(time_to_contact) AS t \
         FROM {totals} AND theme = ? GROUP BY week)",
        totals = newest_of_days(aggregates::visits::TOTALS, &days_between(p.from, p.to))
    ));
    let w = q
        .bind(site)
        .bind(site)
        .bind(theme)
        .fetch_one::<ContactWeeks>()
        .await?;
    let row = |label: String, sessions: u64, contacted: u64, times: &[i64]| {
        let has = contacted > 0;
        let time = |i: usize| times.get(i).filter(|_| has).map(|s| (*s).max(0) as u64);
        Contact {
            week: label,
            sessions,
            contacted,
            conversion_pct: (sessions > 0)
                .then(|| round1(contacted as f64 * 100.0 / sessions as f64)),
            median_time_to_contact_s: time(0),
            p90_time_to_contact_s: time(1),
        }
    };
    let mut out = vec![row(
        "total".into(),
        w.total_sessions,
        w.total_contacted,
        &w.total_times,
    )];
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or(NaiveDate::MIN);
    let mut monday = IsoWeek::of(p.from).monday();
    while monday <= p.to {
        let key = (monday - epoch).num_days() as u32;
        let label = IsoWeek::of(monday).to_string();
        out.push(match w.weeks.iter().position(|k| *k == key) {
            Some(i) => row(
                label,
                w.sessions.get(i).copied().unwrap_or(0),
                w.contacted.get(i).copied().unwrap_or(0),
                w.times.get(i).map_or(&[], Vec::as_slice),
            ),
            None => row(label, 0, 0, &[]),
        });
        monday = monday + Days::new(7);
    }
    Ok(out)
}

/// How current a site's data is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Freshness {
    /// Site id.
    pub site: String,
    /// When the newest stored event happened (RFC 3339, UTC); absent without events.
    pub newest_event: Option<String>,
    /// Seconds since then.
    pub newest_event_age_s: Option<u64>,
    /// When ClickHouse stored the newest event.
    pub newest_insert: Option<String>,
}

impl Tabular for Freshness {
    const COLUMNS: &'static [&'static str] = &[
        "site",
        "newest_event",
        "newest_event_age_s",
        "newest_insert",
    ];
    fn cells(&self) -> Vec<Cell> {
        vec![
            self.site.as_str().into(),
            self.newest_event.clone().unwrap_or_default().into(),
            self.newest_event_age_s.map_or(Cell::Float(None), Cell::Int),
            self.newest_insert.clone().unwrap_or_default().into(),
        ]
    }
}

#[derive(Debug, clickhouse::Row, Deserialize)]
struct Newest {
    ts: u32,
    inserted: u32,
}

/// The newest event of a site: only the days from the newest one the event counts
/// hold are read (they are up to a sessionizer run behind).
pub async fn freshness(c: &Client, site: &str) -> Result<Freshness, ApiError> {
    let n: Newest = c
        .query(
            "SELECT toUInt32(max(ts)) AS ts, toUInt32(max(inserted_at)) AS inserted FROM events \
             WHERE site = ? AND day >= (SELECT max(day) FROM event_counts_daily WHERE site = ?)",
        )
        .bind(site)
        .bind(site)
        .fetch_one()
        .await?;
    let time = |s: u32| {
        (s > 0)
            .then(|| DateTime::<Utc>::from_timestamp(i64::from(s), 0))
            .flatten()
    };
    let newest = time(n.ts);
    Ok(Freshness {
        site: site.to_string(),
        newest_event: newest.map(|t| t.to_rfc3339()),
        newest_event_age_s: newest.map(|t| (Utc::now() - t).num_seconds().max(0) as u64),
        newest_insert: time(n.inserted).map(|t| t.to_rfc3339()),
    })
}
