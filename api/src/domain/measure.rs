//! Measuring an action: choosing target and control themes, loading their daily
//! series from ClickHouse and turning [`crate::domain::effect`]'s estimate into an answer.

use std::collections::HashMap;

use chrono::{Days, NaiveDate};
use clickhouse::Client;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use luister_store::aggregates::event_counts::{Counts, Themes};

use crate::domain::actions::Action;
use crate::domain::effect::{self, Daily, Estimate, Week};
use crate::error::ApiError;
use crate::params::Span;
use crate::params::{shown, Period};
use crate::sql::SESSIONS_PER_THEME;

/// What is measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    /// Distinct visitors of the theme's pages and searches.
    Visitors,
    /// Site searches attributed to the theme.
    Searches,
    /// Visits that touched the theme and then reached a contact.
    Contacts,
    /// Contacts per visit touching the theme.
    Conversion,
}

impl Metric {
    /// Parses `visitors` (the default), `searches`, `contacts` or `conversion`.
    pub fn parse(v: Option<&str>) -> Result<Self, ApiError> {
        match v.unwrap_or("visitors") {
            "visitors" => Ok(Self::Visitors),
            "searches" => Ok(Self::Searches),
            "contacts" => Ok(Self::Contacts),
            "conversion" => Ok(Self::Conversion),
            other => Err(ApiError::BadRequest(format!(
                "metric={:?} is not one of visitors, searches, contacts, conversion",
                shown(other)
            ))),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Visitors => "visitors",
            Self::Searches => "searches",
            Self::Contacts => "contacts",
            Self::Conversion => "conversion",
        }
    }

    fn describe(self, themes: &str) -> String {
        match self {
            Self::Visitors => format!("visitors to {themes} pages"),
            Self::Searches => format!("searches about {themes}"),
            Self::Contacts => format!("contacts after visiting {themes} pages"),
            Self::Conversion => format!("contact conversion of visits to {themes} pages"),
        }
    }
}

/// The effect of an action.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct EffectAnswer {
    /// The action.
    pub action: Action,
    /// `visitors`, `searches`, `contacts` or `conversion`.
    pub metric: String,
    /// The themes measured (the action's, without sub-themes of another of them).
    pub target_themes: Vec<String>,
    /// Top-level themes the action did not target, together the comparison.
    pub control_themes: Vec<String>,
    /// How the estimate is made.
    pub method: String,
    /// The weeks before the start that were used.
    pub before: Span,
    /// The weeks from the start that were used (whole weeks up to yesterday); absent
    /// when not one whole week has passed.
    pub after: Option<Span>,
    /// `estimated`, or `insufficient_data` (then `estimate` is absent).
    pub status: String,
    /// One sentence for a communications adviser: the estimate or why there is none.
    pub summary: String,
    /// The estimate.
    pub estimate: Option<Estimate>,
    /// The weekly data the estimate rests on.
    pub weeks: Vec<Week>,
}

const METHOD: &str = "Difference in differences: per day the log ratio of the target \
themes' figure to that of the control themes (all top-level themes the action did not \
target), averaged per whole week counted from the start, so weekdays balance; the mean of \
the weeks after minus that of the weeks before, tested with Welch's t-test, variances \
widened for autocorrelation of the weeks before. See docs/measuring-effect.md.";

/// The themes measured: the action's, dropping any that is a sub-theme of another.
fn targets(themes: &[String]) -> Vec<String> {
    themes
        .iter()
        .filter(|t| {
            !themes
                .iter()
                .any(|o| o != *t && t.starts_with(&format!("{o}/")))
        })
        .cloned()
        .collect()
}

fn top(theme: &str) -> &str {
    theme.split('/').next().unwrap_or(theme)
}

#[derive(Debug, clickhouse::Row, Deserialize)]
struct ThemeName {
    theme: String,
}

#[derive(Debug, clickhouse::Row, Deserialize)]
struct DayCount {
    d: u32,
    n: u64,
}

#[derive(Debug, clickhouse::Row, Deserialize)]
struct DayVisits {
    d: u32,
    visits: u64,
    contacts: u64,
}

fn epoch_day(d: NaiveDate) -> u32 {
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default();
    (d - epoch).num_days().max(0) as u32
}

/// Per day of `p`, from rows keyed by days since 1970.
fn fill<T>(p: Period, rows: &[T], key: impl Fn(&T) -> u32, value: impl Fn(&T) -> f64) -> Vec<f64> {
    let by_day: HashMap<u32, f64> = rows.iter().map(|r| (key(r), value(r))).collect();
    (0..p.days())
        .map(|i| {
            let day = epoch_day(p.from + Days::new(i as u64));
            by_day.get(&day).copied().unwrap_or(0.0)
        })
        .collect()
}

async fn counts(
    c: &Client,
    site: &str,
    p: Period,
    themes: &[String],
    metric: Metric,
) -> Result<Vec<f64>, ApiError> {
    let (from, to) = p.bounds();
    let rows: Vec<DayCount> = match metric {
        // Distinct visitors come from the visits.
        Metric::Visitors => {
            c.query(&format!(
                "SELECT toUInt32(day) AS d, uniq(visitor) AS n FROM {SESSIONS_PER_THEME} \
                 AND has(?, theme) GROUP BY d"
            ))
            .bind(site)
            .bind(&from)
            .bind(&to)
            .bind(themes)
            .fetch_all()
            .await?
        }
        // Searches from the event counts; the window ends before today, so every day
        // of it is read from the aggregate.
        _ => {
            let days = luister_store::aggregates::days_between(p.from, p.to);
            let counts = Counts::settled(&days, p.from, p.to, Themes::Each);
            counts
                .bind(
                    c.query(&format!(
                        "SELECT toUInt32(day) AS d, sumIf(events, type = 'search') AS n FROM {} \
                         WHERE has(?, theme) GROUP BY d",
                        counts.sql()
                    )),
                    site,
                )
                .bind(themes)
                .fetch_all()
                .await?
        }
    };
    Ok(fill(p, &rows, |r| r.d, |r| r.n as f64))
}

/// Visits touching any of `themes` and how many of them reached a contact, per day.
async fn visits(
    c: &Client,
    site: &str,
    p: Period,
    themes: &[String],
) -> Result<(Vec<f64>, Vec<f64>), ApiError> {
    let (from, to) = p.bounds();
    let rows: Vec<DayVisits> = c
        .query(&format!(
            "SELECT d, count() AS visits, countIf(contact > 0) AS contacts FROM \
             (SELECT toUInt32(day) AS d, session_id, max(contact_ts) AS contact \
              FROM {SESSIONS_PER_THEME} AND has(?, theme) GROUP BY d, session_id) GROUP BY d"
        ))
        .bind(site)
        .bind(&from)
        .bind(&to)
        .bind(themes)
        .fetch_all()
        .await?;
    Ok((
        fill(p, &rows, |r| r.d, |r| r.contacts as f64),
        fill(p, &rows, |r| r.d, |r| r.visits as f64),
    ))
}

/// Estimates the effect of `action` on `metric`, with `weeks_before` whole weeks
/// before its start and up to `weeks_after` from it, ending before `today`.
pub async fn effect(
    c: &Client,
    action: Action,
    metric: Metric,
    (weeks_before, weeks_after): (usize, usize),
    today: NaiveDate,
) -> Result<EffectAnswer, ApiError> {
    let start = action.period().from;
    let before = Period {
        from: start - Days::new(7 * weeks_before as u64),
        to: start - Days::new(1),
    };
    let days_after = (today - start).num_days().max(0) as usize;
    let weeks_after = weeks_after.min(days_after / 7);
    let window = Period {
        from: before.from,
        to: start + Days::new((7 * weeks_after) as u64) - Days::new(1),
    };
    let after = Period {
        from: start,
        to: window.to,
    };
    let site = action.site.as_str();
    let target = targets(&action.themes);
    let target_tops: Vec<&str> = target.iter().map(|t| top(t)).collect();
    let days = luister_store::aggregates::days_between(window.from, window.to);
    // The window ends before today: every day of it from the aggregate.
    let seen = Counts::settled(&days, window.from, window.to, Themes::Each);
    let control: Vec<String> = seen
        .bind(
            c.query(&format!(
                "SELECT DISTINCT theme FROM {} WHERE position(theme, '/') = 0 ORDER BY theme",
                seen.sql()
            )),
            site,
        )
        .fetch_all::<ThemeName>()
        .await?
        .into_iter()
        .map(|t| t.theme)
        .filter(|t| !target_tops.contains(&t.as_str()))
        .collect();

    let daily = if window.to < window.from || control.is_empty() {
        None
    } else {
        Some(match metric {
            Metric::Visitors | Metric::Searches => Daily::from_counts(
                counts(c, site, window, &target, metric).await?,
                counts(c, site, window, &control, metric).await?,
                weeks_before,
                weeks_after,
            ),
            Metric::Contacts => Daily::from_counts(
                visits(c, site, window, &target).await?.0,
                visits(c, site, window, &control).await?.0,
                weeks_before,
                weeks_after,
            ),
            Metric::Conversion => Daily::from_conversion(
                visits(c, site, window, &target).await?,
                visits(c, site, window, &control).await?,
                weeks_before,
                weeks_after,
            ),
        })
    };
    let result = match &daily {
        Some(d) => effect::estimate(d),
        None if control.is_empty() => Err(effect::NotEnough::NoControl),
        None => Err(effect::NotEnough::Weeks {
            before: weeks_before,
            after: weeks_after,
        }),
    };
    let described = metric.describe(&target.join(" and "));
    let (status, summary, estimate, weeks) = match result {
        Ok((e, weeks)) => (
            "estimated",
            effect::sentence(&e, &described),
            Some(e),
            weeks,
        ),
        Err(reason) => (
            "insufficient_data",
            format!("No estimate of {described}: {reason}."),
            None,
            Vec::new(),
        ),
    };
    Ok(EffectAnswer {
        metric: metric.name().to_string(),
        target_themes: target,
        control_themes: control,
        method: METHOD.to_string(),
        before: before.into(),
        after: (weeks_after > 0).then(|| after.into()),
        status: status.to_string(),
        summary,
        estimate,
        weeks,
        action,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sub_themes_of_another_target_are_not_measured_twice() {
        let t = targets(&[
            "schulden".into(),
            "schulden/beslag".into(),
            "armoede/kwijtschelding".into(),
        ]);
        assert_eq!(t, ["schulden", "armoede/kwijtschelding"]);
        assert_eq!(top("armoede/kwijtschelding"), "armoede");
    }

    #[test]
    fn metrics_come_from_a_list() {
        assert_eq!(
            Metric::parse(None).unwrap_or(Metric::Searches),
            Metric::Visitors
        );
        let e = Metric::parse(Some("revenue")).unwrap_err().to_string();
        assert!(
            e.contains("not one of visitors, searches, contacts, conversion"),
            "{e}"
        );
    }
}
