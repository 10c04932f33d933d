//! Pages not found: the paths residents reached that do not exist, and where they came
//! from — a broken link to a scheme page is a lost resident.
//!
//! A site marks a page as not found by Matomo's 404 convention (the page view titled
//! `404/URL = …/From = …`), Plausible's `404` event, `t.js`'s `data-luister-not-found`
//! or `"not_found": true` on a native page view (the collector sets `not_found`, see
//! docs/protocols.md). Per path: the not-found views, visitors, and per referrer the
//! host (never an external referrer's path or query) and, for a link on the site itself,
//! the page it is on. A path of fewer than k visitors is folded into `other`, a
//! referrer of fewer than k visitors of a path into that path's `other` referrer.

use std::collections::BTreeMap;

use clickhouse::Client;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain::fold::below_k;
use crate::error::ApiError;
use crate::params::Period;
use crate::table::{Cell, Tabular};

/// Where the visitors of a missing page came from.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct NotFoundReferrer {
    /// The referrer's host; '' without a referrer, `other` for those below k.
    pub host: String,
    /// For a link on the site itself, the path of the page it is on ('' otherwise).
    pub page: String,
    /// Not-found views.
    pub views: u64,
    /// Their distinct visitors.
    pub visitors: u64,
}

/// A missing page's figures.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct NotFoundPage {
    /// The path asked for; `other` for the paths below k together.
    pub path: String,
    /// Not-found views.
    pub views: u64,
    /// Distinct visitors (per day's visitor key, summed over days).
    pub visitors: u64,
    /// Where they came from, most views first (empty for `other`).
    pub referrers: Vec<NotFoundReferrer>,
    /// For `other`: how many paths were folded into it (0 otherwise).
    pub paths_folded: u64,
}

impl Tabular for NotFoundPage {
    const COLUMNS: &'static [&'static str] =
        &["path", "views", "visitors", "referrers", "paths_folded"];
    fn cells(&self) -> Vec<Cell> {
        let referrers: Vec<String> = self
            .referrers
            .iter()
            .map(|r| format!("{}{}: {}", r.host, r.page, r.views))
            .collect();
        vec![
            self.path.as_str().into(),
            self.views.into(),
            self.visitors.into(),
            referrers.join(", ").into(),
            self.paths_folded.into(),
        ]
    }
}

/// The missing pages of a period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct NotFoundList {
    /// Most views first (ties by path).
    pub pages: Vec<NotFoundPage>,
    /// The paths below k, added up; absent when none.
    pub other: Option<NotFoundPage>,
}

#[derive(Debug, clickhouse::Row, Deserialize)]
struct Views {
    path: String,
    host: String,
    page: String,
    views: u64,
    visitors: u64,
}

#[derive(Debug, clickhouse::Row, Deserialize)]
struct Totals {
    path: String,
    views: u64,
    visitors: u64,
}

/// The pages of `site` that said they were not found in `p`, at most `limit` listed,
/// paths and referrers of fewer than `k` visitors folded.
pub async fn not_found(
    c: &Client,
    site: &str,
    p: Period,
    k: u32,
    limit: u32,
) -> Result<NotFoundList, ApiError> {
    let (from, to) = p.bounds();
    let of_period = "FROM events WHERE site = ? AND day >= toDate(?) AND day <= toDate(?) \
                     AND not_found = 1";
    let totals: Vec<Totals> = c
        .query(&format!(
            "SELECT path, count() AS views, uniqExact(day, visitor) AS visitors {of_period} \
             GROUP BY path"
        ))
        .bind(site)
        .bind(&from)
        .bind(&to)
        .fetch_all()
        .await?;
    let views: Vec<Views> = c
        .query(&format!(
            "SELECT path, lower(domain(referrer)) AS host, \
             if(channel = 'internal', path(referrer), '') AS page, count() AS views, \
             uniqExact(day, visitor) AS visitors {of_period} GROUP BY path, host, page"
        ))
        .bind(site)
        .bind(&from)
        .bind(&to)
        .fetch_all()
        .await?;
    Ok(fold(totals, views, k, limit))
}

fn fold(totals: Vec<Totals>, views: Vec<Views>, k: u32, limit: u32) -> NotFoundList {
    let mut referrers: BTreeMap<String, Vec<NotFoundReferrer>> = BTreeMap::new();
    for v in views {
        referrers.entry(v.path).or_default().push(NotFoundReferrer {
            host: v.host,
            page: v.page,
            views: v.views,
            visitors: v.visitors,
        });
    }
    let mut pages: Vec<NotFoundPage> = totals
        .into_iter()
        .map(|t| NotFoundPage {
            path: t.path,
            views: t.views,
            visitors: t.visitors,
            ..NotFoundPage::default()
        })
        .collect();
    pages.sort_by(|a, b| b.views.cmp(&a.views).then_with(|| a.path.cmp(&b.path)));
    let other = NotFoundPage {
        path: "other".into(),
        ..NotFoundPage::default()
    };
    let (mut pages, other) = below_k(
        pages,
        k,
        limit,
        |p| p.visitors,
        |o, p| {
            o.views += p.views;
            o.visitors += p.visitors;
            o.paths_folded += 1;
        },
        other,
    );
    for page in &mut pages {
        let mut rows = referrers.remove(&page.path).unwrap_or_default();
        rows.sort_by(|a, b| {
            b.views
                .cmp(&a.views)
                .then_with(|| (&a.host, &a.page).cmp(&(&b.host, &b.page)))
        });
        let other = NotFoundReferrer {
            host: "other".into(),
            ..NotFoundReferrer::default()
        };
        let (mut listed, other) = below_k(
            rows,
            k,
            u32::MAX,
            |r| r.visitors,
            |o, r| {
                o.views += r.views;
                o.visitors += r.visitors;
            },
            other,
        );
        listed.extend(other);
        page.referrers = listed;
    }
    NotFoundList { pages, other }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_referrers_below_k_fold_and_add_up() {
        let totals = vec![
            Totals {
                path: "/oud".into(),
                views: 9,
                visitors: 8,
            },
            Totals {
                path: "/zelden".into(),
                views: 2,
                visitors: 2,
            },
        ];
        let v = |host: &str, page: &str, views, visitors| Views {
            path: "/oud".into(),
            host: host.into(),
            page: page.into(),
            views,
            visitors,
        };
        let views = vec![
            v("www.gemeente.nl", "/schulden", 6, 5),
            v("www.google.nl", "", 2, 2),
            v("", "", 1, 1),
        ];
        let l = fold(totals, views, 5, 10);
        assert_eq!(l.pages.len(), 1);
        assert_eq!(
            l.pages[0].referrers,
            [
                NotFoundReferrer {
                    host: "www.gemeente.nl".into(),
                    page: "/schulden".into(),
                    views: 6,
                    visitors: 5
                },
                NotFoundReferrer {
                    host: "other".into(),
                    page: String::new(),
                    views: 3,
                    visitors: 3
                },
            ]
        );
        let other = l.other.expect("/zelden is below k");
        assert_eq!((other.views, other.paths_folded), (2, 1));
        assert!(
            other.referrers.is_empty(),
            "a folded path's referrers are not shown"
        );
    }
}
