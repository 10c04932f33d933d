//! Checked request parameters: periods, ISO weeks, themes, granularities, dimensions
//! and output formats. Everything a request names is parsed here into a closed type
//! before any query is built; free text never reaches SQL except as a bound value.

use chrono::{Datelike, Days, NaiveDate, Weekday};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::ApiError;

/// A checked, inclusive range of days.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    /// First day.
    pub from: NaiveDate,
    /// Last day (inclusive).
    pub to: NaiveDate,
}

impl Period {
    /// Parses `from` and `to` (`YYYY-MM-DD`), with `to` not before `from` and the
    /// period at most `max_days` long.
    pub fn parse(from: Option<&str>, to: Option<&str>, max_days: u32) -> Result<Self, ApiError> {
        let from = day("from", from)?;
        let to = day("to", to)?;
        if to < from {
            return Err(ApiError::BadRequest(format!(
                "to ({to}) is before from ({from})"
            )));
        }
        let p = Self { from, to };
        if p.days() > i64::from(max_days) {
            return Err(ApiError::BadRequest(format!(
                "the period from {from} to {to} covers {} days; at most {max_days} days may be asked at once",
                p.days()
            )));
        }
        Ok(p)
    }

    /// The seven days of an ISO week.
    pub fn of_week(week: IsoWeek) -> Self {
        let from = week.monday();
        Self {
            from,
            to: from + Days::new(6),
        }
    }

    /// Number of days, both ends included.
    pub fn days(&self) -> i64 {
        (self.to - self.from).num_days() + 1
    }

    /// The period of the same length just before this one.
    pub fn previous(&self) -> Self {
        self.shifted_back(self.days() as u64)
    }

    /// The same period 52 weeks earlier: the same weekdays a year before, so that a
    /// week is compared with a whole week and Mondays with Mondays.
    pub fn year_ago(&self) -> Self {
        self.shifted_back(364)
    }

    /// This period moved `days` days into the past.
    pub fn shifted_back(&self, days: u64) -> Self {
        Self {
            from: self.from - Days::new(days),
            to: self.to - Days::new(days),
        }
    }

    /// The days as `YYYY-MM-DD` strings, for binding.
    pub fn bounds(&self) -> (String, String) {
        (self.from.to_string(), self.to.to_string())
    }
}

fn day(name: &str, value: Option<&str>) -> Result<NaiveDate, ApiError> {
    let value = value.ok_or_else(|| {
        ApiError::BadRequest(format!("query parameter {name}=YYYY-MM-DD is missing"))
    })?;
    NaiveDate::parse_from_str(value, "%Y-%m-%d")
        .ok()
        .filter(|d| value.len() == 10 && d.year() >= 2000)
        .ok_or_else(|| {
            ApiError::BadRequest(format!(
                "{name}={:?} is not a date in the form YYYY-MM-DD",
                shown(value)
            ))
        })
}

/// At most 40 characters of a value, for error messages.
pub fn shown(value: &str) -> String {
    value.chars().take(40).collect()
}

/// An ISO 8601 week (`2026-W48`): Monday to Sunday.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IsoWeek {
    /// ISO week-based year.
    pub year: i32,
    /// Week number, 1–53.
    pub week: u32,
}

impl IsoWeek {
    /// Parses `YYYY-Www`.
    pub fn parse(value: Option<&str>) -> Result<Self, ApiError> {
        let value = value.ok_or_else(|| {
            ApiError::BadRequest("query parameter week=YYYY-Www (e.g. 2026-W48) is missing".into())
        })?;
        let bad = || {
            ApiError::BadRequest(format!(
                "week={:?} is not an ISO week in the form YYYY-Www (e.g. 2026-W48)",
                shown(value)
            ))
        };
        let (y, w) = value.split_once("-W").ok_or_else(bad)?;
        if y.len() != 4 || w.len() != 2 {
            return Err(bad());
        }
        let year: i32 = y.parse().map_err(|_| bad())?;
        let week: u32 = w.parse().map_err(|_| bad())?;
        if year < 2000 {
            return Err(bad());
        }
        NaiveDate::from_isoywd_opt(year, week, Weekday::Mon).ok_or_else(bad)?;
        Ok(Self { year, week })
    }

    /// The week a day falls in.
    pub fn of(day: NaiveDate) -> Self {
        let w = day.iso_week();
        Self {
            year: w.year(),
            week: w.week(),
        }
    }

    /// Its Monday.
    pub fn monday(&self) -> NaiveDate {
        NaiveDate::from_isoywd_opt(self.year, self.week, Weekday::Mon).unwrap_or(NaiveDate::MIN)
    }
}

impl std::fmt::Display for IsoWeek {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-W{:02}", self.year, self.week)
    }
}

/// A text that is not a theme id (shown cut, as [`shown`] does).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("theme={0:?} is not a theme id such as schulden or schulden/beslag")]
pub struct NotATheme(String);

impl From<NotATheme> for ApiError {
    fn from(e: NotATheme) -> Self {
        ApiError::BadRequest(e.to_string())
    }
}

/// Checks a theme id: lowercase segments of `a-z`, `0-9` and `-`, joined by `/`.
pub fn check_theme(theme: &str) -> Result<(), NotATheme> {
    let ok = !theme.is_empty()
        && theme.len() <= 100
        && theme.split('/').all(|seg| {
            !seg.is_empty()
                && seg
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        });
    if ok {
        Ok(())
    } else {
        Err(NotATheme(shown(theme)))
    }
}

/// An optional `theme=` parameter.
pub fn theme(value: Option<&str>) -> Result<Option<String>, ApiError> {
    match value {
        None => Ok(None),
        Some(t) => {
            check_theme(t)?;
            Ok(Some(t.to_string()))
        }
    }
}

/// Time-series granularity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Granularity {
    /// Clock hours in the reporting time zone.
    Hour,
    /// Calendar days in the reporting time zone.
    Day,
    /// ISO weeks (Monday to Sunday).
    Week,
}

impl Granularity {
    /// Parses `hour`, `day` (the default) or `week`.
    pub fn parse(value: Option<&str>) -> Result<Self, ApiError> {
        match value.unwrap_or("day") {
            "hour" => Ok(Self::Hour),
            "day" => Ok(Self::Day),
            "week" => Ok(Self::Week),
            other => Err(ApiError::BadRequest(format!(
                "granularity={:?} is not one of hour, day, week",
                shown(other)
            ))),
        }
    }
}

/// A breakdown dimension of visits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dimension {
    /// How the visit arrived (search, social, email, campaign, partner, referral, direct…).
    Channel,
    /// Device class (mobile, tablet, desktop, unknown).
    Device,
}

impl Dimension {
    /// Parses `channel` (the default) or `device`.
    pub fn parse(value: Option<&str>) -> Result<Self, ApiError> {
        match value.unwrap_or("channel") {
            "channel" => Ok(Self::Channel),
            "device" => Ok(Self::Device),
            other => Err(ApiError::BadRequest(format!(
                "by={:?} is not one of channel, device",
                shown(other)
            ))),
        }
    }

    /// The `sessions` column: one of two fixed names, never request text.
    pub fn column(self) -> &'static str {
        match self {
            Self::Channel => "channel",
            Self::Device => "device",
        }
    }
}

/// How an answer is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// JSON (the default).
    Json,
    /// CSV for spreadsheets: UTF-8 with a byte-order mark, `;` between fields and a
    /// decimal comma, as Dutch Excel expects.
    Csv,
}

impl Format {
    /// Parses `json` or `csv`.
    pub fn parse(value: Option<&str>) -> Result<Self, ApiError> {
        match value.unwrap_or("json") {
            "json" => Ok(Self::Json),
            "csv" => Ok(Self::Csv),
            other => Err(ApiError::BadRequest(format!(
                "format={:?} is not one of json, csv",
                shown(other)
            ))),
        }
    }
}

/// A `limit=` of rows, 1 to `max`.
pub fn limit(value: Option<&str>, default: u32, max: u32) -> Result<u32, ApiError> {
    let Some(v) = value else {
        return Ok(default.min(max));
    };
    v.parse::<u32>()
        .ok()
        .filter(|n| (1..=max).contains(n))
        .ok_or_else(|| {
            ApiError::BadRequest(format!(
                "limit={:?} is not a whole number from 1 to {max}",
                shown(v)
            ))
        })
}

/// Every query parameter any endpoint takes. Each endpoint says which it reads;
/// one it does not read is refused, so that a typo (`form=`) is not silently ignored.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawParams {
    /// First day.
    pub from: Option<String>,
    /// Last day.
    pub to: Option<String>,
    /// ISO week.
    pub week: Option<String>,
    /// Theme id.
    pub theme: Option<String>,
    /// hour, day or week.
    pub granularity: Option<String>,
    /// channel or device.
    pub by: Option<String>,
    /// Rows to return.
    pub limit: Option<String>,
    /// Number of earlier periods a rising term is compared with.
    pub baseline: Option<String>,
    /// json or csv.
    pub format: Option<String>,
}

impl RawParams {
    /// Refuses parameters the endpoint does not take.
    pub fn only(&self, allowed: &[&str]) -> Result<(), ApiError> {
        let given = [
            ("from", self.from.is_some()),
            ("to", self.to.is_some()),
            ("week", self.week.is_some()),
            ("theme", self.theme.is_some()),
            ("granularity", self.granularity.is_some()),
            ("by", self.by.is_some()),
            ("limit", self.limit.is_some()),
            ("baseline", self.baseline.is_some()),
            ("format", self.format.is_some()),
        ];
        for (name, present) in given {
            if present && !allowed.contains(&name) {
                return Err(ApiError::BadRequest(format!(
                    "this endpoint does not take the parameter {name}; it takes {}",
                    allowed.join(", ")
                )));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_valid_period_parses_and_has_its_comparisons() {
        let p = Period::parse(Some("2026-11-23"), Some("2026-11-29"), 400).unwrap();
        assert_eq!(p.days(), 7);
        assert_eq!(
            p.previous().bounds(),
            ("2026-11-16".into(), "2026-11-22".into())
        );
        let y = p.year_ago();
        assert_eq!(y.bounds(), ("2025-11-24".into(), "2025-11-30".into()));
        assert_eq!(y.from.weekday(), Weekday::Mon);
        assert!(Period::parse(Some("2026-11-23"), Some("2026-11-23"), 1).is_ok());
    }

    #[test]
    fn bad_periods_say_what_is_wrong() {
        let cases = [
            (None, Some("2026-11-23"), "from=YYYY-MM-DD is missing"),
            (Some("2026-11-23"), None, "to=YYYY-MM-DD is missing"),
            (Some("23-11-2026"), Some("2026-11-23"), "not a date"),
            (Some("2026-02-30"), Some("2026-03-01"), "not a date"),
            (Some("2026-1-5"), Some("2026-03-01"), "not a date"),
            (Some("1970-01-01"), Some("1970-01-02"), "not a date"),
            (
                Some("2026-11-23' OR 1=1 --"),
                Some("2026-11-24"),
                "not a date",
            ),
            (Some("2026-11-24"), Some("2026-11-23"), "is before"),
            (Some("2020-01-01"), Some("2026-01-01"), "at most 400 days"),
        ];
        for (from, to, msg) in cases {
            let e = Period::parse(from, to, 400).unwrap_err().to_string();
            assert!(e.contains(msg), "{from:?} {to:?} -> {e}");
        }
    }

    #[test]
    fn iso_weeks_parse_and_map_to_monday_to_sunday() {
        let w = IsoWeek::parse(Some("2026-W48")).unwrap();
        assert_eq!(w.to_string(), "2026-W48");
        let p = Period::of_week(w);
        assert_eq!(p.bounds(), ("2026-11-23".into(), "2026-11-29".into()));
        // 2026-01-01 is a Thursday, so it lies in 2026-W01; 2027-01-01 in 2026-W53.
        assert_eq!(
            IsoWeek::of(NaiveDate::from_ymd_opt(2027, 1, 1).unwrap()).to_string(),
            "2026-W53"
        );
        for bad in [
            "2026-48",
            "2026-W54",
            "2025-W53",
            "2026-W4",
            "26-W48",
            "2026-W48'--",
        ] {
            let e = IsoWeek::parse(Some(bad)).unwrap_err().to_string();
            assert!(e.contains("not an ISO week"), "{bad} -> {e}");
        }
    }

    #[test]
    fn themes_dimensions_and_formats_come_from_allow_lists() {
        assert_eq!(
            theme(Some("schulden/beslag")).unwrap().as_deref(),
            Some("schulden/beslag")
        );
        for bad in [
            "",
            "Schulden",
            "schulden/",
            "a' OR '1'='1",
            "schulden;DROP TABLE events",
            "x y",
        ] {
            assert!(theme(Some(bad)).is_err(), "{bad}");
        }
        assert_eq!(Granularity::parse(None).unwrap(), Granularity::Day);
        assert!(Granularity::parse(Some("minute")).is_err());
        assert_eq!(Dimension::parse(Some("device")).unwrap().column(), "device");
        let e = Dimension::parse(Some("visitor")).unwrap_err().to_string();
        assert!(e.contains("not one of channel, device"), "{e}");
        assert!(Dimension::parse(Some("channel) FROM system.users --")).is_err());
        assert_eq!(Format::parse(Some("csv")).unwrap(), Format::Csv);
        assert!(Format::parse(Some("xml")).is_err());
        assert_eq!(limit(None, 20, 200).unwrap(), 20);
        assert_eq!(limit(Some("200"), 20, 200).unwrap(), 200);
        for bad in ["0", "201", "-1", "ten", "1; DROP"] {
            assert!(limit(Some(bad), 20, 200).is_err(), "{bad}");
        }
    }
}

/// A period by its days.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Span {
    /// First day.
    pub from: String,
    /// Last day (inclusive).
    pub to: String,
}

impl From<Period> for Span {
    fn from(p: Period) -> Self {
        let (from, to) = p.bounds();
        Self { from, to }
    }
}
