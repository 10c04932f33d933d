//! `contact_channels_daily`: contacts and self-service completions per site, theme,
//! day and the channel that handles them, for the channel shift (savings).
//!
//! | column | |
//! |---|---|
//! | `site`, `day` | the site and the calendar day |
//! | `theme` | `''` every contact of the site once, else each theme (with ancestors) of the contact's page |
//! | `channel` | `telephone`, `counter`, `letter` or `web` ([`CHANNELS`]) |
//! | `contacts` | `contact:*` and `selfservice:*` actions |
//! | `visitors` | distinct visitor keys of the day |
//! | `version` | the rewrite that wrote the row |
//!
//! Created by migration 0009.

use super::{Rewrite, Scope};

/// The table.
pub const TABLE: &str = "contact_channels_daily";

/// Which channel handles a contact, by its action name; every other `contact:*` and
/// every `selfservice:*` action is `web`.
pub const CHANNELS: &[(&str, &[&str])] = &[
    (
        "telephone",
        &[
            "contact:phone",
            "contact:call",
            "contact:telephone",
            "contact:callback",
        ],
    ),
    (
        "counter",
        &[
            "contact:appointment",
            "contact:counter",
            "contact:visit",
            "contact:balie",
        ],
    ),
    ("letter", &["contact:letter", "contact:post"]),
];

/// The channel every other contact counts under.
pub const OTHER_CHANNEL: &str = "web";

/// The SQL expression of [`CHANNELS`] on `action_name`. The names are the constants
/// above, never request text.
fn channel_expression() -> String {
    let arms: Vec<String> = CHANNELS
        .iter()
        .map(|(channel, names)| {
            let list: Vec<String> = names.iter().map(|n| format!("'{n}'")).collect();
            format!("action_name IN ({}), '{channel}'", list.join(", "))
        })
        .collect();
    format!("multiIf({}, '{OTHER_CHANNEL}')", arms.join(", "))
}

/// The rewrite of the (site, day)s of `scope` from the raw events.
pub fn rewrite(scope: &Scope) -> Rewrite {
    Rewrite::new(
        format!(
            "INSERT INTO {TABLE} (site, theme, day, channel, contacts, visitors, version)
SELECT site, theme, day, {} AS channel,
       count() AS contacts, uniq(visitor) AS visitors, toUInt64(?) AS version
FROM events
ARRAY JOIN arrayConcat([''], themes) AS theme
WHERE type = 'action' AND (startsWith(action_name, 'contact:') OR startsWith(action_name, 'selfservice:'))
  AND {}
GROUP BY site, theme, day, channel",
            channel_expression(),
            scope.condition()
        ),
        scope,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_channel_rule_is_the_one_migration_9_backfilled_with() {
        let backfill = crate::migrations::MIGRATIONS[8]
            .statements()
            .into_iter()
            .find(|s| s.starts_with("INSERT INTO contact_channels_daily"))
            .unwrap();
        let squeeze = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(
            squeeze(&backfill).contains(&squeeze(&channel_expression())),
            "{}\n{backfill}",
            channel_expression()
        );
    }
}
