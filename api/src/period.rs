//! The reporting period of a request: `from` and `to` as calendar days, inclusive.

use chrono::NaiveDate;

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
        let days = (to - from).num_days() + 1;
        if days > i64::from(max_days) {
            return Err(ApiError::BadRequest(format!(
                "the period from {from} to {to} covers {days} days; at most {max_days} days may be asked at once"
            )));
        }
        Ok(Self { from, to })
    }
}

fn day(name: &str, value: Option<&str>) -> Result<NaiveDate, ApiError> {
    let value = value.ok_or_else(|| {
        ApiError::BadRequest(format!("query parameter {name}=YYYY-MM-DD is missing"))
    })?;
    NaiveDate::parse_from_str(value, "%Y-%m-%d")
        .ok()
        .filter(|_| value.len() == 10)
        .ok_or_else(|| {
            let shown: String = value.chars().take(40).collect();
            ApiError::BadRequest(format!(
                "{name}={shown:?} is not a date in the form YYYY-MM-DD"
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_valid_period_parses() {
        let p = Period::parse(Some("2026-11-23"), Some("2026-11-29"), 400).unwrap();
        assert_eq!(p.from.to_string(), "2026-11-23");
        assert_eq!(p.to.to_string(), "2026-11-29");
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
}
