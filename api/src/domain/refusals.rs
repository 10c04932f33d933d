//! Why a site's events were refused: the collectors' rate-limited refusal records
//! (table `refusals`, migration 0016: one record per site, reason and minute, with the
//! number of refusals it stands for), newest first, so that whoever installs a snippet
//! sees at once what is wrong.

use chrono::{NaiveDate, TimeZone};
use chrono_tz::Tz;
use clickhouse::Client;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::ApiError;
use crate::params::Period;
use crate::table::{Cell, Tabular};

/// One refusal record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RefusalLine {
    /// When (the first refusal the record stands for), RFC 3339 in UTC.
    pub time: String,
    /// The reason, as the `reason` label of `luister_ingest_events_rejected_total`.
    pub reason: String,
    /// What was wrong, as the tracker was told (scrubbed of personal data).
    pub message: String,
    /// Refusals of this reason it stands for (itself and those left out before it).
    pub count: u64,
}

impl Tabular for RefusalLine {
    const COLUMNS: &'static [&'static str] = &["time", "reason", "message", "count"];
    fn cells(&self) -> Vec<Cell> {
        vec![
            self.time.as_str().into(),
            self.reason.as_str().into(),
            self.message.as_str().into(),
            self.count.into(),
        ]
    }
}

#[derive(Debug, clickhouse::Row, Deserialize)]
struct Row {
    ts_ms: u64,
    reason: String,
    message: String,
    count: u64,
}

/// The ms since the epoch at which `day` starts in `tz`.
fn start_ms(day: NaiveDate, tz: Tz) -> u64 {
    let midnight = day.and_hms_opt(0, 0, 0).unwrap_or_default();
    let t = tz
        .from_local_datetime(&midnight)
        .earliest()
        .map_or(0, |t| t.timestamp_millis());
    u64::try_from(t).unwrap_or(0)
}

/// The site's refusal records of the period's days (in `tz`), newest first.
pub async fn recent(
    c: &Client,
    site: &str,
    p: Period,
    tz: Tz,
    limit: u32,
) -> Result<Vec<RefusalLine>, ApiError> {
    let from = start_ms(p.from, tz);
    let until = start_ms(p.to + chrono::Days::new(1), tz);
    let rows = c
        .query(
            "SELECT ts_ms, reason, message, count FROM refusals FINAL \
             WHERE site = ? AND ts_ms >= ? AND ts_ms < ? ORDER BY ts_ms DESC, reason LIMIT ?",
        )
        .bind(site)
        .bind(from)
        .bind(until)
        .bind(limit)
        .fetch_all::<Row>()
        .await?;
    Ok(rows
        .into_iter()
        .map(|r| RefusalLine {
            time: chrono::DateTime::from_timestamp_millis(i64::try_from(r.ts_ms).unwrap_or(0))
                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
                .unwrap_or_default(),
            reason: r.reason,
            message: r.message,
            count: r.count,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_day_starts_at_its_local_midnight() {
        let d = NaiveDate::from_ymd_opt(2026, 12, 1).unwrap();
        assert_eq!(start_ms(d, chrono_tz::Europe::Amsterdam), 1_796_079_600_000);
        assert_eq!(start_ms(d, chrono_tz::UTC), 1_796_083_200_000);
    }
}
