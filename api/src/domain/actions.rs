//! The actions register: what a municipality did (a campaign, a new page, a letter),
//! for which themes, through which channels, when, at what cost and by whom. Stored in
//! ClickHouse (`actions`, migration 0007) as versioned rows: an edit writes a new
//! version, a delete a version marked deleted.

use std::time::{SystemTime, UNIX_EPOCH};

use chrono::{DateTime, NaiveDate, Utc};
use clickhouse::Client;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::ApiError;
use crate::params::{check_theme, shown, Period};
use crate::table::{Cell, Tabular};

/// The channels an action can use.
pub const CHANNELS: &[&str] = &[
    "website",
    "social",
    "newsletter",
    "letter",
    "partners",
    "outdoor",
    "press",
    "radio-tv",
    "event",
    "other",
];

/// An action as sent to create or replace one.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActionInput {
    /// Target themes, e.g. `["schulden"]` (1–10).
    pub themes: Vec<String>,
    /// Channels used (1–10): `website`, `social`, `newsletter`, `letter`, `partners`,
    /// `outdoor`, `press`, `radio-tv`, `event`, `other`.
    pub channels: Vec<String>,
    /// First day, `YYYY-MM-DD`.
    pub start: String,
    /// Last day (inclusive), `YYYY-MM-DD`.
    pub end: String,
    /// What was done (1–2000 characters).
    pub description: String,
    /// What it cost in euros, if known.
    #[serde(default)]
    pub cost_eur: Option<f64>,
    /// Who is responsible (a team or role; 1–200 characters).
    pub owner: String,
}

/// A checked [`ActionInput`].
#[derive(Debug, Clone, PartialEq)]
pub struct Checked {
    themes: Vec<String>,
    channels: Vec<String>,
    period: Period,
    description: String,
    cost_eur: Option<f64>,
    owner: String,
}

impl ActionInput {
    /// Checks every field; the error names the first that is wrong.
    pub fn check(self) -> Result<Checked, ApiError> {
        let bad = |m: String| ApiError::BadRequest(m);
        if self.themes.is_empty() || self.themes.len() > 10 {
            return Err(bad("themes must list 1 to 10 theme ids".into()));
        }
        for t in &self.themes {
            check_theme(t)?;
        }
        if self.channels.is_empty() || self.channels.len() > 10 {
            return Err(bad("channels must list 1 to 10 channels".into()));
        }
        for c in &self.channels {
            if !CHANNELS.contains(&c.as_str()) {
                return Err(bad(format!(
                    "channel {:?} is not one of {}",
                    shown(c),
                    CHANNELS.join(", ")
                )));
            }
        }
        let day = |name: &str, v: &str| {
            NaiveDate::parse_from_str(v, "%Y-%m-%d")
                .ok()
                .filter(|_| v.len() == 10)
                .ok_or_else(|| {
                    bad(format!(
                        "{name}={:?} is not a date in the form YYYY-MM-DD",
                        shown(v)
                    ))
                })
        };
        let period = Period {
            from: day("start", &self.start)?,
            to: day("end", &self.end)?,
        };
        if period.to < period.from {
            return Err(bad(format!(
                "end ({}) is before start ({})",
                period.to, period.from
            )));
        }
        if period.days() > 366 {
            return Err(bad("an action lasts at most 366 days".into()));
        }
        let description = self.description.trim().to_string();
        if description.is_empty() || description.chars().count() > 2000 {
            return Err(bad("description must have 1 to 2000 characters".into()));
        }
        let owner = self.owner.trim().to_string();
        if owner.is_empty() || owner.chars().count() > 200 {
            return Err(bad("owner must have 1 to 200 characters".into()));
        }
        if let Some(c) = self.cost_eur {
            if !c.is_finite() || !(0.0..=100_000_000.0).contains(&c) {
                return Err(bad(format!(
                    "cost_eur {c} is not an amount from 0 to 100000000"
                )));
            }
        }
        let mut themes = self.themes;
        themes.sort();
        themes.dedup();
        let mut channels = self.channels;
        channels.sort();
        channels.dedup();
        Ok(Checked {
            themes,
            channels,
            period,
            description,
            cost_eur: self.cost_eur,
            owner,
        })
    }
}

/// A stored action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Action {
    /// Its id (32 hex characters).
    pub id: String,
    /// Site id.
    pub site: String,
    /// Target themes.
    pub themes: Vec<String>,
    /// Channels used.
    pub channels: Vec<String>,
    /// First day.
    pub start: String,
    /// Last day (inclusive).
    pub end: String,
    /// What was done.
    pub description: String,
    /// Cost in euros, if known.
    pub cost_eur: Option<f64>,
    /// Who is responsible.
    pub owner: String,
    /// When it was recorded (RFC 3339).
    pub created_at: String,
    /// When it was last changed (RFC 3339).
    pub updated_at: String,
}

impl Action {
    /// Its period.
    pub fn period(&self) -> Period {
        let day = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap_or_default();
        Period {
            from: day(&self.start),
            to: day(&self.end),
        }
    }
}

impl Tabular for Action {
    const COLUMNS: &'static [&'static str] = &[
        "id",
        "site",
        "themes",
        "channels",
        "start",
        "end",
        "description",
        "cost_eur",
        "owner",
        "created_at",
        "updated_at",
    ];
    fn cells(&self) -> Vec<Cell> {
        vec![
            self.id.as_str().into(),
            self.site.as_str().into(),
            self.themes.join(",").into(),
            self.channels.join(",").into(),
            self.start.as_str().into(),
            self.end.as_str().into(),
            self.description.as_str().into(),
            self.cost_eur.into(),
            self.owner.as_str().into(),
            self.created_at.as_str().into(),
            self.updated_at.as_str().into(),
        ]
    }
}

#[derive(Debug, Clone, clickhouse::Row, Serialize, Deserialize)]
struct ActionRow {
    id: String,
    site: String,
    themes: Vec<String>,
    channels: Vec<String>,
    start_day: u16,
    end_day: u16,
    description: String,
    cost_eur: Option<f64>,
    owner: String,
    created_at: u32,
    updated_at: u32,
    deleted: u8,
    version: u64,
}

impl ActionRow {
    /// This row with the fields of a checked input.
    fn with(self, a: Checked) -> Self {
        Self {
            themes: a.themes,
            channels: a.channels,
            start_day: epoch_day(a.period.from),
            end_day: epoch_day(a.period.to),
            description: a.description,
            cost_eur: a.cost_eur,
            owner: a.owner,
            ..self
        }
    }
}

const COLUMNS: &str = "id, site, themes, channels, start_day, end_day, description, cost_eur, \
     owner, created_at, updated_at, deleted, version";

fn epoch_day(d: NaiveDate) -> u16 {
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default();
    (d - epoch).num_days().clamp(0, i64::from(u16::MAX)) as u16
}

fn day_string(days: u16) -> String {
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default();
    (epoch + chrono::Days::new(u64::from(days))).to_string()
}

fn time_string(secs: u32) -> String {
    DateTime::<Utc>::from_timestamp(i64::from(secs), 0)
        .map(|t| t.to_rfc3339())
        .unwrap_or_default()
}

impl From<ActionRow> for Action {
    fn from(r: ActionRow) -> Self {
        Self {
            start: day_string(r.start_day),
            end: day_string(r.end_day),
            created_at: time_string(r.created_at),
            updated_at: time_string(r.updated_at),
            id: r.id,
            site: r.site,
            themes: r.themes,
            channels: r.channels,
            description: r.description,
            cost_eur: r.cost_eur,
            owner: r.owner,
        }
    }
}

fn now() -> (u32, u64) {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    (d.as_secs() as u32, d.as_millis() as u64)
}

/// Whether a path segment can be an action id (else it is simply not found).
pub fn is_id(id: &str) -> bool {
    id.len() == 32
        && id
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

/// The stored actions.
pub struct Register<'a> {
    /// For reads.
    pub reader: &'a Client,
    /// For writes (may be another ClickHouse user).
    pub writer: &'a Client,
}

impl Register<'_> {
    /// The live version of an action, whatever its site.
    pub async fn get(&self, id: &str) -> Result<Option<Stored>, ApiError> {
        let rows: Vec<ActionRow> = self
            .reader
            .query(&format!(
                "SELECT {COLUMNS} FROM (SELECT * FROM actions FINAL WHERE id = ?) WHERE deleted = 0"
            ))
            .bind(id)
            .fetch_all()
            .await?;
        Ok(rows.into_iter().next().map(|row| Stored {
            action: Action::from(row.clone()),
            row,
        }))
    }

    /// The live actions of a site, newest start first; only those overlapping
    /// `period` when given.
    pub async fn list(&self, site: &str, period: Option<Period>) -> Result<Vec<Action>, ApiError> {
        let (from, to) = period.map_or((0, u16::MAX), |p| (epoch_day(p.from), epoch_day(p.to)));
        let rows: Vec<ActionRow> = self
            .reader
            .query(&format!(
                "SELECT {COLUMNS} FROM (SELECT * FROM actions FINAL WHERE site = ?) \
                 WHERE deleted = 0 AND start_day <= toDate(?) AND end_day >= toDate(?) \
                 ORDER BY start_day DESC, id"
            ))
            .bind(site)
            .bind(u32::from(to))
            .bind(u32::from(from))
            .fetch_all()
            .await?;
        Ok(rows.into_iter().map(Action::from).collect())
    }

    /// Records a new action of `site`.
    pub async fn create(&self, site: &str, a: Checked) -> Result<Action, ApiError> {
        let mut id = [0u8; 16];
        getrandom::fill(&mut id).map_err(|e| {
            tracing::error!(error = %e, "no operating-system randomness");
            ApiError::Internal
        })?;
        let (secs, version) = now();
        let row = ActionRow {
            id: hex::encode(id),
            site: site.to_string(),
            themes: Vec::new(),
            channels: Vec::new(),
            start_day: 0,
            end_day: 0,
            description: String::new(),
            cost_eur: None,
            owner: String::new(),
            created_at: secs,
            updated_at: secs,
            deleted: 0,
            version,
        }
        .with(a);
        self.write(&row).await?;
        Ok(row.into())
    }

    /// Replaces the fields of an existing action.
    pub async fn replace(&self, old: Stored, a: Checked) -> Result<Action, ApiError> {
        let (secs, version) = now();
        let row = ActionRow {
            updated_at: secs,
            version: version.max(old.row.version + 1),
            ..old.row
        }
        .with(a);
        self.write(&row).await?;
        Ok(row.into())
    }

    /// Marks an action deleted.
    pub async fn delete(&self, old: Stored) -> Result<(), ApiError> {
        let (secs, version) = now();
        let row = ActionRow {
            deleted: 1,
            updated_at: secs,
            version: version.max(old.row.version + 1),
            ..old.row
        };
        self.write(&row).await
    }

    async fn write(&self, row: &ActionRow) -> Result<(), ApiError> {
        let mut insert = self.writer.insert::<ActionRow>("actions").await?;
        insert.write(row).await?;
        insert.end().await?;
        Ok(())
    }
}

/// A stored action, as [`Register::get`] returns it for reading, editing or deleting.
#[derive(Debug, Clone)]
pub struct Stored {
    row: ActionRow,
    /// The action.
    pub action: Action,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input() -> ActionInput {
        ActionInput {
            themes: vec!["schulden".into(), "schulden".into()],
            channels: vec!["letter".into(), "website".into()],
            start: "2026-11-02".into(),
            end: "2026-11-29".into(),
            description: "  Brief aan huishoudens met een betalingsachterstand  ".into(),
            cost_eur: Some(1250.0),
            owner: "Team Schulden".into(),
        }
    }

    #[test]
    fn a_valid_action_is_normalised() {
        let c = input().check().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.themes, ["schulden"]);
        assert_eq!(
            c.description,
            "Brief aan huishoudens met een betalingsachterstand"
        );
        assert_eq!(c.period.days(), 28);
    }

    type Change = fn(&mut ActionInput);

    #[test]
    fn each_wrong_field_is_named() {
        let cases: Vec<(Change, &str)> = vec![
            (|a| a.themes.clear(), "themes must list"),
            (|a| a.themes = vec!["Schulden!".into()], "not a theme id"),
            (
                |a| a.channels = vec!["tiktok".into()],
                "channel \"tiktok\" is not one of",
            ),
            (
                |a| a.start = "2026-13-01".into(),
                "start=\"2026-13-01\" is not a date",
            ),
            (|a| a.end = "2026-10-01".into(), "is before"),
            (|a| a.end = "2028-01-01".into(), "at most 366 days"),
            (|a| a.description = "   ".into(), "description must have"),
            (|a| a.owner = "x".repeat(201), "owner must have"),
            (|a| a.cost_eur = Some(-5.0), "cost_eur -5"),
            (|a| a.cost_eur = Some(f64::NAN), "cost_eur NaN"),
        ];
        for (change, msg) in cases {
            let mut a = input();
            change(&mut a);
            let e = a.check().unwrap_err().to_string();
            assert!(e.contains(msg), "{e} should contain {msg}");
        }
    }

    #[test]
    fn ids_are_32_lowercase_hex_characters() {
        assert!(is_id("0123456789abcdef0123456789abcdef"));
        assert!(!is_id("0123456789ABCDEF0123456789abcdef"));
        assert!(!is_id("x' OR 1=1 --"));
    }
}
