//! `visits_daily` and `visit_totals_daily`: visits per site, day and theme, by channel,
//! by device and in total, from the sessions.
//!
//! | column | |
//! |---|---|
//! | `site`, `day` | the site and the calendar day |
//! | `theme` | `''` every visit, else each theme (with ancestors) the visit touched |
//! | `channel`, `device` | a row per channel (device `'*'`), per device (channel `'*'`) and the total (`'*'`, `'*'`) |
//! | `visits`, `contacts` | visits, and those with a contact (per theme: at or after its first touch) |
//! | `zero_results` | zero-result searches of those visits (theme `''` only) |
//! | `visitors` | distinct visitor keys of the day |
//! | `time_to_contact` | `quantilesExactIf(0.5, 0.9)` state of the seconds from the first touch (theme `''`: from the start) to the contact |
//! | `version` | the rewrite that wrote the row |
//!
//! `visit_totals_daily` holds the total rows (`'*'`, `'*'`) again, ordered by site,
//! theme and day, for the reads of one theme's days. Created by migrations 0008 and
//! 0009; rewrite [`rewrite`] before [`rewrite_totals`], which copies the version just
//! written.

use super::{Rewrite, Scope};

/// The table of every cell.
pub const TABLE: &str = "visits_daily";
/// The table of the totals.
pub const TOTALS: &str = "visit_totals_daily";

/// The sessions of `scope` (newest version, not deleted) as one row per visit and
/// theme ('' for the visit as a whole): its channel, device, first touch, contact and
/// zero-result searches.
fn theme_rows(scope: &Scope) -> String {
    let sessions = match scope {
        Scope::All => "(SELECT * FROM sessions FINAL)".to_owned(),
        Scope::Touched { .. } | Scope::Days { .. } => {
            format!("(SELECT * FROM sessions FINAL WHERE {})", scope.condition())
        }
    };
    format!(
        "SELECT site, day, visitor, ch, dev, theme, first_ts, contact_ts, zero
        FROM
        (
            SELECT site, day, visitor, channel AS ch, device AS dev,
                   arrayConcat([''], themes) AS all_themes,
                   arrayConcat([toUInt32(start_ts)], theme_first_ts) AS all_first,
                   arrayConcat([first_contact_ts], theme_contact_ts) AS all_contact,
                   arrayConcat([toUInt64(arrayCount(r -> r = 0, search_results))], arrayMap(t -> toUInt64(0), themes)) AS all_zero
            FROM {sessions} WHERE deleted = 0
        )
        ARRAY JOIN all_themes AS theme, all_first AS first_ts, all_contact AS contact_ts, all_zero AS zero"
    )
}

/// The rewrite of `visits_daily` for the (site, day)s of `scope`, in two steps: the
/// rows of each visit and theme are aggregated per (site, day, theme, channel, device)
/// first, with partial states of the visitors and the times to contact, and the three
/// cells are built from those few rows (half of ClickHouse's time of spreading every
/// visit over the cells first, as migration 0008 did: docs/benchmarks.md).
pub fn rewrite(scope: &Scope) -> Rewrite {
    Rewrite::new(
        format!(
            "INSERT INTO {TABLE}
SELECT site, day, theme, cell.1 AS channel, cell.2 AS device, sum(n) AS visits,
       sum(n_contact) AS contacts, sum(n_zero) AS zero_results, uniqMerge(visitor_set) AS visitors,
       quantilesExactIfMergeState(0.5, 0.9)(ttc) AS time_to_contact, toUInt64(?) AS version
FROM
(
    SELECT site, day, theme, ch, dev, count() AS n, countIf(contact_ts > 0) AS n_contact,
           sum(zero) AS n_zero, uniqState(visitor) AS visitor_set,
           quantilesExactIfState(0.5, 0.9)(toInt64(contact_ts) - toInt64(first_ts), contact_ts > 0) AS ttc
    FROM
    (
        {}
    )
    GROUP BY site, day, theme, ch, dev
)
ARRAY JOIN [(ch, '*'), ('*', dev), ('*', '*')] AS cell
GROUP BY site, day, theme, channel, device",
            theme_rows(scope)
        ),
        scope,
    )
}

/// The copy of the total rows of the version just written to `visits_daily` on the
/// days of `scope` into `visit_totals_daily`; binds the version once.
pub fn rewrite_totals(scope: &Scope) -> Rewrite {
    let days = scope.days();
    Rewrite {
        sql: format!(
            "INSERT INTO {TOTALS}
SELECT site, theme, day, visits, contacts, zero_results, visitors, time_to_contact, version
FROM {TABLE} WHERE channel = '*' AND device = '*' AND {days} AND version = ?"
        ),
        since: None,
    }
}
