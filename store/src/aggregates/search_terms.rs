//! `search_term_counts_daily`: site searches per site, theme, day and normalised term.
//!
//! | column | |
//! |---|---|
//! | `site`, `day` | the site and the calendar day |
//! | `theme` | `'*'` every search of the site once, `''` the searches no theme matched, else each theme with its ancestors |
//! | `term` | the normalised search term (folded, single spaces) |
//! | `searches`, `zero_results` | searches, and those that found nothing |
//! | `visitors` | distinct visitor keys of the day (keys rotate daily, so a period's visitors are the sum of its days') |
//! | `version` | the rewrite that wrote the row |
//!
//! Created by migration 0011, which replaced `search_terms_daily`.

use super::{Rewrite, Scope, EVENT_THEMES};

/// The table.
pub const TABLE: &str = "search_term_counts_daily";

/// The rewrite of the (site, day)s of `scope` from the raw events.
pub fn rewrite(scope: &Scope) -> Rewrite {
    Rewrite::new(
        format!(
            "INSERT INTO {TABLE} (site, theme, day, term, searches, zero_results, visitors, version)
SELECT site, theme, day, search_term AS term, count() AS searches,
       sum(search_results = 0) AS zero_results, uniq(visitor) AS visitors,
       toUInt64(?) AS version
FROM events
ARRAY JOIN {EVENT_THEMES} AS theme
WHERE type = 'search' AND search_term != '' AND {}
GROUP BY site, theme, day, term",
            scope.condition()
        ),
        scope,
    )
}
