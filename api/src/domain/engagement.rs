//! Reading and seeing: how long residents kept a page in view and how far they
//! scrolled (Plausible's engagement events), per page and per theme — "did residents
//! read the conditions of the scheme?" — and which content blocks (banners, teasers:
//! Matomo content tracking) were seen and clicked on which page.
//!
//! Both read the raw events (`type = 'engagement'` and `'content'`, migration 0015),
//! so they reach back as far as raw events are kept (`retention.raw_events_days`).
//! A tracker may report a page view's engagement in parts (each time the page is
//! hidden), so a visitor's engagement events of one page (visitor keys last a day)
//! are one read: their times added, their deepest scroll. Engaged time is the median
//! read (a page left open for an hour does not move it); scroll depth an average over
//! the reads that reported one.

use clickhouse::Client;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::ApiError;
use crate::params::Period;
use crate::table::{round1, Cell, Tabular};

/// Scroll depth, in percent, from which a page counts as read to the end.
pub const READ_DEPTH_PCT: i16 = 75;

/// How a page, or a theme's pages, were read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Reading {
    /// The page path, or the theme id.
    pub key: String,
    /// Page views.
    pub pageviews: u64,
    /// Reads: visitors whose engagement with the page was reported (the tracker sends
    /// it on leaving).
    pub engagements: u64,
    /// Median seconds a page was in view, over the reads.
    pub median_engaged_s: Option<f64>,
    /// Average deepest scroll, percent of the page.
    pub avg_scroll_depth_pct: Option<f64>,
    /// Share of the reads with a scroll depth that reached 75 % of the page.
    pub read_to_75_pct: Option<f64>,
}

impl Tabular for Reading {
    const COLUMNS: &'static [&'static str] = &[
        "key",
        "pageviews",
        "engagements",
        "median_engaged_s",
        "avg_scroll_depth_pct",
        "read_to_75_pct",
    ];
    fn cells(&self) -> Vec<Cell> {
        vec![
            self.key.as_str().into(),
            self.pageviews.into(),
            self.engagements.into(),
            self.median_engaged_s.into(),
            self.avg_scroll_depth_pct.into(),
            self.read_to_75_pct.into(),
        ]
    }
}

#[derive(Debug, clickhouse::Row, Deserialize)]
struct ReadingRow {
    key: String,
    pageviews: u64,
    engagements: u64,
    median_ms: f64,
    depths: u64,
    depth_sum: i64,
    deep: u64,
}

impl From<ReadingRow> for Reading {
    fn from(r: ReadingRow) -> Self {
        let share = |n: u64, of: u64| (of > 0).then(|| round1(100.0 * n as f64 / of as f64));
        Self {
            key: r.key,
            pageviews: r.pageviews,
            engagements: r.engagements,
            median_engaged_s: (r.engagements > 0).then(|| round1(r.median_ms / 1000.0)),
            avg_scroll_depth_pct: (r.depths > 0)
                .then(|| round1(r.depth_sum as f64 / r.depths as f64)),
            read_to_75_pct: share(r.deep, r.depths),
        }
    }
}

/// What a reading list is of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum By<'a> {
    /// Each page, optionally only those attributed to a theme.
    Page(Option<&'a str>),
    /// Each theme.
    Theme,
}

/// One visitor's read of one page (or theme): its page views, whether an engagement
/// was reported, the engaged time added up and the deepest scroll.
const READ: &str = "visitor, countIf(type = 'pageview') AS pv, \
     toUInt8(countIf(type = 'engagement') > 0) AS engaged, \
     sumIf(toUInt64(engaged_ms), type = 'engagement') AS ms, \
     maxIf(scroll_depth, type = 'engagement') AS depth";

/// A reading row's figures over [`READ`]s.
const READING: &str = "sum(pv) AS pageviews, toUInt64(sum(engaged)) AS engagements, \
     if(engagements > 0, quantileIf(0.5)(toFloat64(ms), engaged = 1), 0) AS median_ms, \
     countIf(engaged = 1 AND depth >= 0) AS depths, \
     sumIf(toInt64(depth), engaged = 1 AND depth >= 0) AS depth_sum, \
     countIf(engaged = 1 AND depth >= ?) AS deep";

/// Pages (or themes) with at least one engagement in the period, most viewed first.
pub async fn reading(
    c: &Client,
    site: &str,
    p: Period,
    by: By<'_>,
    limit: u32,
) -> Result<Vec<Reading>, ApiError> {
    let (from, to) = p.bounds();
    let days = "site = ? AND day >= toDate(?) AND day <= toDate(?) \
                AND type IN ('pageview', 'engagement')";
    let reads = match by {
        By::Page(None) => {
            format!("SELECT path AS key, {READ} FROM events WHERE {days} GROUP BY key, visitor")
        }
        By::Page(Some(_)) => format!(
            "SELECT path AS key, {READ} FROM events WHERE {days} AND has(themes, ?) \
             GROUP BY key, visitor"
        ),
        By::Theme => format!(
            "SELECT theme AS key, {READ} FROM events ARRAY JOIN themes AS theme \
             WHERE {days} GROUP BY key, visitor"
        ),
    };
    let sql = format!(
        "SELECT key, {READING} FROM ({reads}) GROUP BY key \
         HAVING engagements > 0 ORDER BY pageviews DESC, key LIMIT ?"
    );
    let mut q = c
        .query(&sql)
        .bind(READ_DEPTH_PCT)
        .bind(site)
        .bind(&from)
        .bind(&to);
    if let By::Page(Some(theme)) = by {
        q = q.bind(theme);
    }
    let rows = q.bind(limit).fetch_all::<ReadingRow>().await?;
    Ok(rows.into_iter().map(Reading::from).collect())
}

/// How one content block on one page was seen and used.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ContentFigures {
    /// The content's name (`c_n`, `data-content-name`).
    pub content: String,
    /// The piece shown (`c_p`): an image or a text.
    pub piece: String,
    /// The page path it was on.
    pub path: String,
    /// Times it was shown.
    pub impressions: u64,
    /// Times it was clicked or otherwise used.
    pub interactions: u64,
    /// Interactions per 100 impressions.
    pub interaction_rate_pct: Option<f64>,
}

impl Tabular for ContentFigures {
    const COLUMNS: &'static [&'static str] = &[
        "content",
        "piece",
        "path",
        "impressions",
        "interactions",
        "interaction_rate_pct",
    ];
    fn cells(&self) -> Vec<Cell> {
        vec![
            self.content.as_str().into(),
            self.piece.as_str().into(),
            self.path.as_str().into(),
            self.impressions.into(),
            self.interactions.into(),
            self.interaction_rate_pct.into(),
        ]
    }
}

#[derive(Debug, clickhouse::Row, Deserialize)]
struct ContentRow {
    content_name: String,
    content_piece: String,
    path: String,
    impressions: u64,
    interactions: u64,
}

/// Every content block seen or used in the period, per page, most shown first.
pub async fn content(
    c: &Client,
    site: &str,
    p: Period,
    limit: u32,
) -> Result<Vec<ContentFigures>, ApiError> {
    let (from, to) = p.bounds();
    let rows = c
        .query(
            "SELECT content_name, content_piece, path, \
             countIf(content_interaction = '') AS impressions, \
             countIf(content_interaction != '') AS interactions \
             FROM events WHERE site = ? AND day >= toDate(?) AND day <= toDate(?) AND type = 'content' \
             GROUP BY content_name, content_piece, path \
             ORDER BY impressions DESC, interactions DESC, content_name, content_piece, path LIMIT ?",
        )
        .bind(site)
        .bind(&from)
        .bind(&to)
        .bind(limit)
        .fetch_all::<ContentRow>()
        .await?;
    Ok(rows
        .into_iter()
        .map(|r| ContentFigures {
            interaction_rate_pct: (r.impressions > 0)
                .then(|| round1(100.0 * r.interactions as f64 / r.impressions as f64)),
            content: r.content_name,
            piece: r.content_piece,
            path: r.path,
            impressions: r.impressions,
            interactions: r.interactions,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reading_figures_are_shares_of_what_was_reported() {
        let r = Reading::from(ReadingRow {
            key: "/bijstand".into(),
            pageviews: 10,
            engagements: 8,
            median_ms: 41_250.0,
            depths: 4,
            depth_sum: 250,
            deep: 1,
        });
        assert_eq!(r.median_engaged_s, Some(41.3));
        assert_eq!(r.avg_scroll_depth_pct, Some(62.5));
        assert_eq!(r.read_to_75_pct, Some(25.0));
        let none = Reading::from(ReadingRow {
            key: "/".into(),
            pageviews: 3,
            engagements: 2,
            median_ms: 900.0,
            depths: 0,
            depth_sum: 0,
            deep: 0,
        });
        assert_eq!(
            (none.avg_scroll_depth_pct, none.read_to_75_pct),
            (None, None)
        );
    }
}
