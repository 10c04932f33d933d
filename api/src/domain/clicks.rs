//! Clicks out: where residents went from the site — outbound links to partners such as
//! Geldfit, Nibud or the Belastingdienst, and downloaded files such as PDF forms.
//!
//! The collector turns Matomo's `link=` and `download=`, Plausible's `Outbound Link:
//! Click` and `File Download` (with their `url` property) and `t.js`'s own clicks into
//! the actions `outlink` and `download` with the link as target. Per host (and for a
//! download, per file: the target's path) of the period, optionally only of the clicks
//! on pages of a theme: clicks, visitors, and the clicks of the previous period. A host
//! or file of fewer than k visitors is folded into `other`, so that the listed rows and
//! `other` add up to every click out.

use std::collections::BTreeMap;

use clickhouse::Client;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain::fold::below_k;
use crate::error::ApiError;
use crate::params::Period;

/// Which clicks out a list is of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Outbound links and downloads.
    All,
    /// Outbound links.
    Outlink,
    /// Downloads.
    Download,
}

impl Kind {
    /// Parses `all` (the default), `outlink` or `download`.
    pub fn parse(value: Option<&str>) -> Result<Self, ApiError> {
        match value.unwrap_or("all") {
            "all" => Ok(Self::All),
            "outlink" => Ok(Self::Outlink),
            "download" => Ok(Self::Download),
            other => Err(ApiError::BadRequest(format!(
                "kind={:?} is not one of all, outlink, download",
                crate::params::shown(other)
            ))),
        }
    }

    /// Its name in answers.
    pub fn name(self) -> &'static str {
        match self {
            Self::All => "all",
            Self::Outlink => "outlink",
            Self::Download => "download",
        }
    }

    fn names(self) -> &'static str {
        match self {
            Self::All => "('outlink', 'download')",
            Self::Outlink => "('outlink')",
            Self::Download => "('download')",
        }
    }
}

/// One host's (or file's) clicks.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ClickFigures {
    /// `outlink` or `download`; '' for `other`.
    pub kind: String,
    /// The host clicked to (lowercase); `other` for the hosts below k together, ''
    /// when the target was not a URL.
    pub host: String,
    /// For a download, the file's path on that host ('' for an outlink).
    pub file: String,
    /// Clicks.
    pub clicks: u64,
    /// Distinct visitors (per day's visitor key, summed over days).
    pub visitors: u64,
    /// Clicks in the period before (as long, just before).
    pub previous_clicks: u64,
    /// For `other`: how many hosts or files were folded into it (0 otherwise).
    pub folded: u64,
}

impl crate::table::Tabular for ClickFigures {
    const COLUMNS: &'static [&'static str] = &[
        "kind",
        "host",
        "file",
        "clicks",
        "visitors",
        "previous_clicks",
        "folded",
    ];
    fn cells(&self) -> Vec<crate::table::Cell> {
        vec![
            self.kind.as_str().into(),
            self.host.as_str().into(),
            self.file.as_str().into(),
            self.clicks.into(),
            self.visitors.into(),
            self.previous_clicks.into(),
            self.folded.into(),
        ]
    }
}

/// The clicks out of a period: hosts and files of at least k visitors, the rest folded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ClickList {
    /// Most clicks first (ties by kind, host, file).
    pub clicks: Vec<ClickFigures>,
    /// The hosts and files of fewer than k visitors, added up; absent when none.
    pub other: Option<ClickFigures>,
}

#[derive(Debug, clickhouse::Row, Deserialize)]
struct Clicks {
    period: u8,
    kind: String,
    host: String,
    file: String,
    clicks: u64,
    visitors: u64,
}

/// The clicks out of `site` in `p` (optionally on pages of `theme`), at most `limit`
/// listed, those of fewer than `k` visitors folded.
pub async fn clicks(
    c: &Client,
    site: &str,
    p: Period,
    theme: Option<&str>,
    kind: Kind,
    k: u32,
    limit: u32,
) -> Result<ClickList, ApiError> {
    let sql = crate::sql::Periods::new(&[p, p.previous()]);
    let of_theme = if theme.is_some() {
        " AND has(themes, ?)"
    } else {
        ""
    };
    let mut q = c
        .query(&format!(
            "SELECT period, action_name AS kind, lower(domain(action_target)) AS host, \
             if(action_name = 'download', path(action_target), '') AS file, count() AS clicks, \
             uniqExact(day, visitor) AS visitors FROM events {join} \
             WHERE site = ? AND {ranges} AND {within} AND type = 'action' \
             AND action_name IN {names}{of_theme} GROUP BY period, kind, host, file",
            join = sql.join,
            ranges = sql.ranges,
            within = sql.within,
            names = kind.names(),
        ))
        .bind(site);
    if let Some(t) = theme {
        q = q.bind(t);
    }
    Ok(fold(q.fetch_all().await?, k, limit))
}

fn fold(rows: Vec<Clicks>, k: u32, limit: u32) -> ClickList {
    let mut by_key: BTreeMap<(String, String, String), ClickFigures> = BTreeMap::new();
    let mut before: BTreeMap<(String, String, String), u64> = BTreeMap::new();
    for r in rows {
        let key = (r.kind.clone(), r.host.clone(), r.file.clone());
        if r.period == 0 {
            by_key.insert(
                key,
                ClickFigures {
                    kind: r.kind,
                    host: r.host,
                    file: r.file,
                    clicks: r.clicks,
                    visitors: r.visitors,
                    ..ClickFigures::default()
                },
            );
        } else {
            before.insert(key, r.clicks);
        }
    }
    for (key, clicks) in before {
        if let Some(f) = by_key.get_mut(&key) {
            f.previous_clicks = clicks;
        }
    }
    let mut rows: Vec<ClickFigures> = by_key.into_values().collect();
    rows.sort_by_key(|f| std::cmp::Reverse(f.clicks));
    let other = ClickFigures {
        host: "other".into(),
        ..ClickFigures::default()
    };
    let (clicks, other) = below_k(
        rows,
        k,
        limit,
        |f| f.visitors,
        |o, f| {
            o.clicks += f.clicks;
            o.visitors += f.visitors;
            o.previous_clicks += f.previous_clicks;
            o.folded += 1;
        },
        other,
    );
    ClickList { clicks, other }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(period: u8, kind: &str, host: &str, file: &str, clicks: u64, visitors: u64) -> Clicks {
        Clicks {
            period,
            kind: kind.into(),
            host: host.into(),
            file: file.into(),
            clicks,
            visitors,
        }
    }

    #[test]
    fn hosts_and_files_below_k_fold_and_the_previous_period_stands_beside() {
        let rows = vec![
            row(0, "outlink", "www.geldfit.nl", "", 14, 9),
            row(0, "download", "www.gemeente.nl", "/formulier.pdf", 20, 6),
            row(0, "outlink", "www.nibud.nl", "", 2, 2),
            row(1, "outlink", "www.geldfit.nl", "", 5, 5),
            row(1, "outlink", "www.oud.nl", "", 5, 5),
        ];
        let l = fold(rows, 5, 10);
        let keys: Vec<(&str, &str)> = l
            .clicks
            .iter()
            .map(|c| (c.host.as_str(), c.file.as_str()))
            .collect();
        assert_eq!(
            keys,
            [
                ("www.gemeente.nl", "/formulier.pdf"),
                ("www.geldfit.nl", "")
            ]
        );
        assert_eq!(l.clicks[1].previous_clicks, 5);
        let other = l.other.expect("nibud is below k");
        assert_eq!((other.clicks, other.folded), (2, 1));
        assert_eq!(
            l.clicks.iter().map(|c| c.clicks).sum::<u64>() + other.clicks,
            36
        );
    }

    #[test]
    fn a_kind_other_than_all_outlink_download_is_refused() {
        assert_eq!(Kind::parse(None).unwrap(), Kind::All);
        assert_eq!(Kind::parse(Some("download")).unwrap().name(), "download");
        assert!(Kind::parse(Some("link")).is_err());
    }
}
