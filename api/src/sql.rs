//! The read fragments several domain modules share: the sessions of a site and period
//! (newest version, without deleted ones), the same with one row per theme touched, and
//! several periods in one read. The aggregates' own fragments (the newest version of
//! each day) belong to their owner modules in `luister_store::aggregates`.

use crate::params::Period;

/// The `sessions` rows of a site and period, newest version only, without deleted
/// ones. `deleted` is filtered outside FINAL so that it applies after the merge.
pub(crate) const SESSIONS: &str = "(SELECT * FROM sessions FINAL \
     WHERE site = ? AND day >= toDate(?) AND day <= toDate(?)) WHERE deleted = 0";

/// SQL that reads the rows of several periods in one query: `join` repeats each row
/// once per period (`ARRAY JOIN … AS period`, 0-based), `ranges` selects the days of any
/// of them (for the primary key), `within` keeps the rows whose day is in their
/// period. Periods may overlap (a long period and the same one a year before). The
/// days are validated dates, written as literals.
pub(crate) struct Periods {
    pub(crate) join: String,
    pub(crate) ranges: String,
    pub(crate) within: String,
}

impl Periods {
    pub(crate) fn new(periods: &[Period]) -> Self {
        let days = |f: fn(&Period) -> chrono::NaiveDate| {
            let list: Vec<String> = periods
                .iter()
                .map(|p| format!("toDate('{}')", f(p).format("%Y-%m-%d")))
                .collect();
            format!("[{}]", list.join(", "))
        };
        let index: Vec<String> = (0..periods.len()).map(|i| i.to_string()).collect();
        let ranges: Vec<String> = periods
            .iter()
            .map(|p| {
                format!(
                    "(day >= toDate('{}') AND day <= toDate('{}'))",
                    p.from.format("%Y-%m-%d"),
                    p.to.format("%Y-%m-%d")
                )
            })
            .collect();
        Self {
            join: format!("ARRAY JOIN [{}] AS period", index.join(", ")),
            ranges: format!("({})", ranges.join(" OR ")),
            within: format!(
                "day >= {}[period + 1] AND day <= {}[period + 1]",
                days(|p| p.from),
                days(|p| p.to)
            ),
        }
    }

    /// The newest rows of `table` (see
    /// [`luister_store::aggregates::newest_of_days`]) of a site (bind the site twice) in
    /// any of the periods, each once per period it falls in; the caller continues the
    /// WHERE clause with ` AND …`.
    pub(crate) fn newest(&self, table: &str) -> String {
        format!(
            "{} AND {}",
            luister_store::aggregates::newest_rows_joined(
                table,
                &format!(" {}", self.join),
                "?",
                &self.ranges
            ),
            self.within
        )
    }
}

/// Sessions with one row per page they viewed: `path` and `first_ts` (its first view in
/// the visit), beside the session's columns. Binds site, from, to; the caller
/// continues the WHERE clause with ` AND …`.
pub(crate) const SESSION_PAGES: &str = "(SELECT * FROM sessions FINAL \
     WHERE site = ? AND day >= toDate(?) AND day <= toDate(?)) \
     ARRAY JOIN page_paths AS path, page_first_ts AS first_ts \
     WHERE deleted = 0";

/// Sessions with one row per step of their path: `i`, the step's 1-based position in
/// `step_kinds` and `step_values`. Binds site, from, to; the caller continues the WHERE
/// clause with ` AND …`.
pub(crate) const SESSION_STEPS: &str = "(SELECT * FROM sessions FINAL \
     WHERE site = ? AND day >= toDate(?) AND day <= toDate(?)) \
     ARRAY JOIN arrayEnumerate(step_kinds) AS i \
     WHERE deleted = 0";

/// Sessions with one row per theme they touched: `theme`, `first_ts` (first touch) and
/// `contact_ts` (first contact at or after it, 0 for none). Binds site, from, to; the
/// caller continues the WHERE clause with ` AND …`.
pub(crate) const SESSIONS_PER_THEME: &str = "(SELECT * FROM sessions FINAL \
     WHERE site = ? AND day >= toDate(?) AND day <= toDate(?)) \
     ARRAY JOIN themes AS theme, theme_first_ts AS first_ts, theme_contact_ts AS contact_ts \
     WHERE deleted = 0";
