//! Time series per site or theme, by hour, day or ISO week, in the reporting time zone.
//!
//! Days and weeks come from the daily aggregates (the processor writes each event's
//! day in the same time zone), page views and searches of the last three days (today included) from
//! the raw events. Hours come from the raw events, so an hourly series is
//! capped at `limits.max_hourly_days`. Every bucket of the period is present, with
//! zeros where nothing happened; a week at either end of the period may be partial
//! (only its days inside the period count).

use std::collections::HashMap;

use chrono::{Days, NaiveDate, TimeZone};
use chrono_tz::Tz;
use clickhouse::Client;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use luister_store::aggregates::event_counts::{self, Counts, Themes};
use luister_store::aggregates::{days_between, newest_of_days, visits};

use crate::error::ApiError;
use crate::params::{Granularity, IsoWeek, Period};
use crate::sql::{SESSIONS, SESSIONS_PER_THEME};
use crate::table::{Cell, Tabular};

/// One bucket of a time series.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Point {
    /// The bucket: `2026-11-23T14:00:00+01:00` (hour), `2026-11-23` (day) or
    /// `2026-W48` (week).
    pub bucket: String,
    /// Page views.
    pub pageviews: u64,
    /// Site searches.
    pub searches: u64,
    /// Distinct visitors.
    pub visitors: u64,
    /// Visits that started in the bucket.
    pub visits: u64,
}

impl Tabular for Point {
    const COLUMNS: &'static [&'static str] =
        &["bucket", "pageviews", "searches", "visitors", "visits"];
    fn cells(&self) -> Vec<Cell> {
        vec![
            self.bucket.as_str().into(),
            self.pageviews.into(),
            self.searches.into(),
            self.visitors.into(),
            self.visits.into(),
        ]
    }
}

#[derive(Debug, clickhouse::Row, Deserialize)]
struct EventBucket {
    bucket: u32,
    pageviews: u64,
    searches: u64,
    visitors: u64,
}

#[derive(Debug, clickhouse::Row, Deserialize)]
struct VisitBucket {
    bucket: u32,
    visits: u64,
    visitors: u64,
}

/// The first day counted from the raw events: see [`event_counts::live_from`].
fn live_from(tz: Tz) -> NaiveDate {
    event_counts::live_from(chrono::Utc::now().with_timezone(&tz).date_naive())
}

/// The series of a site (or one theme) over a period.
pub async fn series(
    c: &Client,
    tz: Tz,
    site: &str,
    p: Period,
    theme: Option<&str>,
    g: Granularity,
) -> Result<Vec<Point>, ApiError> {
    let (from, to) = p.bounds();
    let tz_name = tz.name();
    // The bucket expressions are fixed text; the time zone is bound as a value.
    let (event_bucket, visit_bucket) = match g {
        Granularity::Hour => (
            "toUInt32(toStartOfHour(ts, ?))",
            "toUInt32(toStartOfHour(start_ts, ?))",
        ),
        Granularity::Day => ("toUInt32(day)", "toUInt32(day)"),
        Granularity::Week => ("toUInt32(toMonday(day))", "toUInt32(toMonday(day))"),
    };
    let hourly = g == Granularity::Hour;

    let events = async {
        Ok::<Vec<EventBucket>, ApiError>(match (hourly, theme) {
            (true, _) => {
                let filter = if theme.is_some() {
                    " AND has(themes, ?)"
                } else {
                    ""
                };
                let mut q = c
                .query(&format!(
                    "SELECT {event_bucket} AS bucket, countIf(type = 'pageview') AS pageviews, \
                     countIf(type = 'search') AS searches, uniq(visitor) AS visitors FROM events \
                     WHERE site = ? AND day >= toDate(?) AND day <= toDate(?){filter} GROUP BY bucket"
                ))
                .bind(tz_name)
                .bind(site)
                .bind(&from)
                .bind(&to);
                if let Some(t) = theme {
                    q = q.bind(t);
                }
                q.fetch_all().await?
            }
            (false, _) => {
                // Days and weeks: the event counts, the last three days from the raw events.
                let days = luister_store::aggregates::days_between(p.from, p.to);
                let counts = Counts {
                    days: &days,
                    span: (p.from, p.to),
                    live_from: live_from(tz),
                    themes: theme.map_or(Themes::Site, Themes::Only),
                };
                counts
                .bind(
                    c.query(&format!(
                        "SELECT {event_bucket} AS bucket, sumIf(events, type = 'pageview') AS pageviews, \
                         sumIf(events, type = 'search') AS searches, toUInt64(0) AS visitors FROM {} \
                         GROUP BY bucket",
                        counts.sql()
                    )),
                    site,
                )
                .fetch_all()
                .await?
            }
        })
    };

    // Visits per hour from the sessions; per day and week from their daily aggregate.
    let mut q = match (hourly, theme) {
        (true, Some(_)) => c.query(&format!(
            "SELECT {visit_bucket} AS bucket, count() AS visits, uniq(visitor) AS visitors \
             FROM {SESSIONS_PER_THEME} AND theme = ? GROUP BY bucket"
        )),
        (true, None) => c.query(&format!(
            "SELECT {visit_bucket} AS bucket, count() AS visits, uniq(visitor) AS visitors \
             FROM {SESSIONS} GROUP BY bucket"
        )),
        (false, _) => c.query(&format!(
            "SELECT {visit_bucket} AS bucket, sum(visits) AS visits, sum(visitors) AS visitors \
             FROM {} AND theme = ? GROUP BY bucket",
            newest_of_days(visits::TOTALS, &days_between(p.from, p.to))
        )),
    };
    if hourly {
        q = q.bind(tz_name).bind(site).bind(&from).bind(&to);
        if let Some(t) = theme {
            q = q.bind(t);
        }
    } else {
        q = q.bind(site).bind(site).bind(theme.unwrap_or(""));
    }
    let (events, visits) = tokio::try_join!(events, async {
        Ok::<Vec<VisitBucket>, ApiError>(q.fetch_all().await?)
    })?;

    let events: HashMap<u32, EventBucket> = events.into_iter().map(|e| (e.bucket, e)).collect();
    let visits: HashMap<u32, VisitBucket> = visits.into_iter().map(|v| (v.bucket, v)).collect();
    Ok(buckets(tz, p, g)
        .into_iter()
        .map(|(key, label)| {
            let e = events.get(&key);
            let v = visits.get(&key);
            Point {
                bucket: label,
                pageviews: e.map_or(0, |e| e.pageviews),
                searches: e.map_or(0, |e| e.searches),
                // Distinct visitors per day or week come from the visits; per hour,
                // from the events.
                visitors: if hourly {
                    e.map_or(0, |e| e.visitors)
                } else {
                    v.map_or(0, |v| v.visitors)
                },
                visits: v.map_or(0, |v| v.visits),
            }
        })
        .collect())
}

/// Every bucket of the period: its key as ClickHouse returns it (Unix seconds for
/// hours, days since 1970-01-01 for days and Mondays) and its label.
pub fn buckets(tz: Tz, p: Period, g: Granularity) -> Vec<(u32, String)> {
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or(NaiveDate::MIN);
    let day_key = |d: NaiveDate| (d - epoch).num_days() as u32;
    let mut out = Vec::new();
    match g {
        Granularity::Day => {
            let mut d = p.from;
            while d <= p.to {
                out.push((day_key(d), d.to_string()));
                d = d + Days::new(1);
            }
        }
        Granularity::Week => {
            let mut monday = IsoWeek::of(p.from).monday();
            while monday <= p.to {
                out.push((day_key(monday), IsoWeek::of(monday).to_string()));
                monday = monday + Days::new(7);
            }
        }
        Granularity::Hour => {
            let start = local_midnight(tz, p.from);
            let end = local_midnight(tz, p.to + Days::new(1));
            let mut t = start;
            while t < end {
                let label = tz
                    .timestamp_opt(t, 0)
                    .single()
                    .map(|d| d.format("%Y-%m-%dT%H:%M:%S%:z").to_string())
                    .unwrap_or_default();
                out.push((t as u32, label));
                t += 3600;
            }
        }
    }
    out
}

/// The Unix time of the first moment of a day in a time zone.
fn local_midnight(tz: Tz, day: NaiveDate) -> i64 {
    let midnight = day.and_hms_opt(0, 0, 0).unwrap_or_default();
    tz.from_local_datetime(&midnight)
        .earliest()
        .map(|d| d.timestamp())
        .unwrap_or_else(|| midnight.and_utc().timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn period(from: &str, to: &str) -> Period {
        Period::parse(Some(from), Some(to), 400).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn hours_follow_amsterdam_clock_changes() {
        let tz: Tz = chrono_tz::Europe::Amsterdam;
        // 2026-03-29: clocks go from 02:00 to 03:00, so the day has 23 hours.
        let b = buckets(tz, period("2026-03-29", "2026-03-29"), Granularity::Hour);
        assert_eq!(b.len(), 23);
        assert_eq!(b[0].1, "2026-03-29T00:00:00+01:00");
        assert_eq!(b[2].1, "2026-03-29T03:00:00+02:00");
        // 2026-10-25: 03:00 back to 02:00, 25 hours.
        let b = buckets(tz, period("2026-10-25", "2026-10-25"), Granularity::Hour);
        assert_eq!(b.len(), 25);
        assert_eq!(b[0].0 as i64, 1_792_879_200); // 2026-10-24T22:00:00Z
    }

    #[test]
    fn weeks_are_iso_weeks_and_partial_at_the_ends() {
        let tz: Tz = chrono_tz::Europe::Amsterdam;
        let b = buckets(tz, period("2026-11-25", "2026-12-08"), Granularity::Week);
        let labels: Vec<&str> = b.iter().map(|(_, l)| l.as_str()).collect();
        assert_eq!(labels, ["2026-W48", "2026-W49", "2026-W50"]);
        // The key is the Monday as days since 1970: 2026-11-23.
        assert_eq!(b[0].0, 20_780);
        let d = buckets(tz, period("2026-12-30", "2027-01-02"), Granularity::Day);
        assert_eq!(d.len(), 4);
        assert_eq!(d[3].1, "2027-01-02");
    }
}
