//! Pages: which pages reached residents, where visits started and where they ended.
//!
//! Per page path of a site and period (optionally only the pages attributed to a
//! theme): page views and the page's title (its most frequent scrubbed title) from the
//! raw events; from the visits (the sessionizer's `page_paths`, migration 0017) how
//! many visits saw the page, by how many visitors, how many started there (entry) and
//! ended there (exit), and how many reached a contact at or after their first view of
//! it. Page views of the previous period and of the same period a year earlier stand
//! beside them.
//!
//! Visitors are counted per day's visitor key (keys rotate daily): a page's visitors
//! over a period are the sum of its distinct visitors per day. A page seen by fewer
//! than k distinct visitors (`reporting.min_visitors_per_term`) is not listed by its
//! path: its figures are folded into one `other` row, so the listed rows and `other`
//! still add up to the site's totals for the additive figures (page views, entries,
//! exits).
//!
//! Sessions written before migration 0017 have no page list: their visits count for
//! entries (the entry path was always kept) but not for visits, exits or contacts,
//! until the sessionizer rewrites them (it looks back a day at each start).

use std::collections::HashMap;

use clickhouse::Client;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain::fold::below_k;
use crate::error::ApiError;
use crate::params::Period;
use crate::sql::SESSION_PAGES;
use crate::table::{round1, Cell, Tabular};

/// Which pages a list is of, and its order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum List {
    /// Every viewed page, most page views first.
    Top,
    /// Pages visits started on, most entries first.
    Entry,
    /// Pages visits ended on, most exits first.
    Exit,
}

impl List {
    /// Parses `top` (the default), `entry` or `exit`.
    pub fn parse(value: Option<&str>) -> Result<Self, ApiError> {
        match value.unwrap_or("top") {
            "top" => Ok(Self::Top),
            "entry" => Ok(Self::Entry),
            "exit" => Ok(Self::Exit),
            other => Err(ApiError::BadRequest(format!(
                "list={:?} is not one of top, entry, exit",
                crate::params::shown(other)
            ))),
        }
    }

    /// Its name in answers.
    pub fn name(self) -> &'static str {
        match self {
            Self::Top => "top",
            Self::Entry => "entry",
            Self::Exit => "exit",
        }
    }

    fn key(self, p: &PageFigures) -> u64 {
        match self {
            Self::Top => p.pageviews,
            Self::Entry => p.entries,
            Self::Exit => p.exits,
        }
    }
}

/// One page's figures in a period.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PageFigures {
    /// The page path; `other` for the folded pages below k.
    pub path: String,
    /// Its most frequent title in the period ('' when it sent none).
    pub title: String,
    /// Page views.
    pub pageviews: u64,
    /// Visits that viewed the page.
    pub visits: u64,
    /// Distinct visitors of those visits (per day's visitor key, summed over days).
    pub visitors: u64,
    /// Visits that started on the page.
    pub entries: u64,
    /// Visits that ended on the page.
    pub exits: u64,
    /// Visits with a contact at or after their first view of the page.
    pub contact_visits: u64,
    /// `contact_visits` per 100 `visits`.
    pub contact_share_pct: Option<f64>,
    /// Page views in the period before (as long, just before).
    pub previous_pageviews: u64,
    /// Page views in the same period 52 weeks earlier.
    pub year_earlier_pageviews: u64,
    /// For `other`: how many pages were folded into it (0 for a page).
    pub pages_folded: u64,
}

impl Tabular for PageFigures {
    const COLUMNS: &'static [&'static str] = &[
        "path",
        "title",
        "pageviews",
        "visits",
        "visitors",
        "entries",
        "exits",
        "contact_visits",
        "contact_share_pct",
        "previous_pageviews",
        "year_earlier_pageviews",
        "pages_folded",
    ];
    fn cells(&self) -> Vec<Cell> {
        vec![
            self.path.as_str().into(),
            self.title.as_str().into(),
            self.pageviews.into(),
            self.visits.into(),
            self.visitors.into(),
            self.entries.into(),
            self.exits.into(),
            self.contact_visits.into(),
            self.contact_share_pct.into(),
            self.previous_pageviews.into(),
            self.year_earlier_pageviews.into(),
            self.pages_folded.into(),
        ]
    }
}

/// A page list: the pages of at least k visitors, and the rest folded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PageList {
    /// The pages, in the list's order (ties by path).
    pub pages: Vec<PageFigures>,
    /// The pages seen by fewer than k visitors, added up; absent when there are none.
    /// Page views, entries and exits add up to the site's; visits, visitors and
    /// contacts are the sums over those pages (a visit that saw two of them counts
    /// twice there).
    pub other: Option<PageFigures>,
}

#[derive(Debug, clickhouse::Row, Deserialize)]
struct Views {
    period: u8,
    path: String,
    pageviews: u64,
    title: String,
}

#[derive(Debug, clickhouse::Row, Deserialize)]
struct Entries {
    path: String,
    entries: u64,
}

#[derive(Debug, clickhouse::Row, Deserialize)]
struct Visits {
    path: String,
    visits: u64,
    visitors: u64,
    entries: u64,
    exits: u64,
    contact_visits: u64,
}

/// The pages of `site` in `p` (optionally of `theme`) as `list` orders them, at most
/// `limit` of them listed, with the pages seen by fewer than `k` visitors folded.
pub async fn pages(
    c: &Client,
    site: &str,
    p: Period,
    theme: Option<&str>,
    list: List,
    k: u32,
    limit: u32,
) -> Result<PageList, ApiError> {
    let periods = [p, p.previous(), p.year_ago()];
    let sql = crate::sql::Periods::new(&periods);
    let of_theme = if theme.is_some() {
        " AND has(themes, ?)"
    } else {
        ""
    };
    let mut q = c.query(&format!(
        "SELECT period, path, count() AS pageviews, arrayElement(topK(1)(title), 1) AS title \
         FROM events {join} WHERE site = ? AND {ranges} AND {within} AND type = 'pageview'{of_theme} \
         GROUP BY period, path",
        join = sql.join,
        ranges = sql.ranges,
        within = sql.within,
    ));
    q = q.bind(site);
    if let Some(t) = theme {
        q = q.bind(t);
    }
    let views: Vec<Views> = q.fetch_all().await?;

    let (from, to) = p.bounds();
    // The pages of the theme: those whose page views in the period were attributed to
    // it (`column` is the sessions' column holding a path).
    let theme_pages = |column: &str| {
        if theme.is_some() {
            format!(
                " AND {column} IN (SELECT path FROM events WHERE site = ? AND day >= toDate(?) \
                 AND day <= toDate(?) AND type = 'pageview' AND has(themes, ?))"
            )
        } else {
            String::new()
        }
    };
    let mut q = c
        .query(&format!(
            "SELECT path, count() AS visits, uniqExact(day, visitor) AS visitors, \
             countIf(path = entry_path) AS entries, countIf(path = exit_path) AS exits, \
             countIf(last_contact_ts > 0 AND last_contact_ts >= first_ts) AS contact_visits \
             FROM {SESSION_PAGES}{} GROUP BY path",
            theme_pages("path")
        ))
        .bind(site)
        .bind(&from)
        .bind(&to);
    if let Some(t) = theme {
        q = q.bind(site).bind(&from).bind(&to).bind(t);
    }
    let visits: Vec<Visits> = q.fetch_all().await?;

    // Entries of sessions without a page list (written before migration 0017).
    let mut q = c
        .query(&format!(
            "SELECT entry_path AS path, count() AS entries FROM {} \
             AND pageviews > 0 AND empty(page_paths) AND entry_path != ''{} GROUP BY path",
            crate::sql::SESSIONS,
            theme_pages("entry_path")
        ))
        .bind(site)
        .bind(&from)
        .bind(&to);
    if let Some(t) = theme {
        q = q.bind(site).bind(&from).bind(&to).bind(t);
    }
    let older: Vec<Entries> = q.fetch_all().await?;

    Ok(fold(views, visits, older, list, k, limit))
}

/// The page of `path` in `m`, made when it is not there yet.
fn at<'a>(m: &'a mut HashMap<String, PageFigures>, path: &str) -> &'a mut PageFigures {
    m.entry(path.to_owned()).or_insert_with(|| PageFigures {
        path: path.to_owned(),
        ..PageFigures::default()
    })
}

/// The figures per page put together, the list's pages ordered and cut to `limit`,
/// and the pages of fewer than `k` visitors folded into `other`. Pages that are not
/// in the list (no entries for `entry`, no exits for `exit`) are left out, not folded.
fn fold(
    views: Vec<Views>,
    visits: Vec<Visits>,
    older: Vec<Entries>,
    list: List,
    k: u32,
    limit: u32,
) -> PageList {
    let mut by_path: HashMap<String, PageFigures> = HashMap::new();
    for v in views {
        let f = at(&mut by_path, &v.path);
        match v.period {
            0 => {
                f.pageviews = v.pageviews;
                f.title = v.title;
            }
            1 => f.previous_pageviews = v.pageviews,
            _ => f.year_earlier_pageviews = v.pageviews,
        }
    }
    for v in visits {
        let f = at(&mut by_path, &v.path);
        f.visits = v.visits;
        f.visitors = v.visitors;
        f.entries = v.entries;
        f.exits = v.exits;
        f.contact_visits = v.contact_visits;
    }
    for e in older {
        at(&mut by_path, &e.path).entries += e.entries;
    }
    let mut listed: Vec<PageFigures> = by_path.into_values().filter(|f| list.key(f) > 0).collect();
    listed.sort_by(|a, b| {
        list.key(b)
            .cmp(&list.key(a))
            .then_with(|| a.path.cmp(&b.path))
    });
    let other = PageFigures {
        path: "other".into(),
        ..PageFigures::default()
    };
    let (pages, other) = below_k(
        listed,
        k,
        limit,
        |f| f.visitors,
        |o, f| {
            o.pageviews += f.pageviews;
            o.visits += f.visits;
            o.visitors += f.visitors;
            o.entries += f.entries;
            o.exits += f.exits;
            o.contact_visits += f.contact_visits;
            o.previous_pageviews += f.previous_pageviews;
            o.year_earlier_pageviews += f.year_earlier_pageviews;
            o.pages_folded += 1;
        },
        other,
    );
    let with_share = |mut f: PageFigures| {
        f.contact_share_pct = share(f.contact_visits, f.visits);
        f
    };
    PageList {
        pages: pages.into_iter().map(with_share).collect(),
        other: other.map(with_share),
    }
}

fn share(n: u64, of: u64) -> Option<f64> {
    (of > 0).then(|| round1(100.0 * n as f64 / of as f64))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn views(period: u8, path: &str, pageviews: u64) -> Views {
        Views {
            period,
            path: path.into(),
            pageviews,
            title: format!("Titel {path}"),
        }
    }

    fn visits(
        path: &str,
        visits: u64,
        visitors: u64,
        entries: u64,
        exits: u64,
        contact: u64,
    ) -> Visits {
        Visits {
            path: path.into(),
            visits,
            visitors,
            entries,
            exits,
            contact_visits: contact,
        }
    }

    #[test]
    fn pages_below_k_are_folded_into_other_and_the_list_is_ordered_by_its_figure() {
        let v = || {
            vec![
                views(0, "/a", 10),
                views(0, "/b", 30),
                views(0, "/c", 2),
                views(1, "/a", 4),
                views(2, "/b", 7),
            ]
        };
        let s = || {
            vec![
                visits("/a", 8, 6, 1, 5, 2),
                visits("/b", 20, 5, 9, 0, 0),
                visits("/c", 2, 2, 2, 1, 1),
            ]
        };
        let top = fold(v(), s(), vec![], List::Top, 5, 10);
        let paths: Vec<&str> = top.pages.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(paths, ["/b", "/a"]);
        assert_eq!(top.pages[1].previous_pageviews, 4);
        assert_eq!(top.pages[0].year_earlier_pageviews, 7);
        assert_eq!(top.pages[1].contact_share_pct, Some(25.0));
        assert_eq!(top.pages[1].title, "Titel /a");
        let other = top.other.expect("/c is below k");
        assert_eq!(
            (other.pageviews, other.entries, other.pages_folded),
            (2, 2, 1)
        );
        // Page views add up: listed + other = every page view.
        assert_eq!(
            top.pages.iter().map(|p| p.pageviews).sum::<u64>() + other.pageviews,
            42
        );

        let exits = fold(v(), s(), vec![], List::Exit, 5, 10);
        let paths: Vec<&str> = exits.pages.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(paths, ["/a"], "/b has no exits, /c is folded");
        let entries = fold(
            v(),
            s(),
            vec![Entries {
                path: "/a".into(),
                entries: 3,
            }],
            List::Entry,
            5,
            1,
        );
        assert_eq!(entries.pages.len(), 1, "cut to the limit");
        assert_eq!(entries.pages[0].path, "/b");
        let a = fold(
            v(),
            s(),
            vec![Entries {
                path: "/a".into(),
                entries: 3,
            }],
            List::Top,
            5,
            10,
        );
        assert_eq!(
            a.pages[1].entries, 4,
            "entries of sessions without a page list count"
        );
        assert!(fold(v(), s(), vec![], List::Top, 1, 10).other.is_none());
    }

    #[test]
    fn a_list_name_other_than_top_entry_exit_is_refused() {
        assert_eq!(List::parse(None).unwrap(), List::Top);
        assert_eq!(List::parse(Some("exit")).unwrap().name(), "exit");
        assert!(List::parse(Some("exits")).is_err());
    }
}
