//! Euros and time: what a shift of contacts from telephone, counter and letter to the
//! web is worth. Luister sees the contacts that start on the website — clicks on a
//! phone number, appointment bookings, forms and chats (`contact:*` actions) — and
//! self-service completions (`selfservice:*` actions, e.g. an application finished
//! online). It compares the digital share of those in a period with a baseline period
//! and values the difference with the municipality's own cost and handling time per
//! channel (`[[contact_costs]]`), stating every assumption beside the figure.
//!
//! Which channel handles an action is decided where the contacts are counted per day,
//! in `contact_channels_daily`'s owner ([`luister_store::aggregates::contact_channels`]):
//! `contact:phone`, `call`, `telephone` and `callback` are the telephone;
//! `contact:appointment`, `counter`, `visit` and `balie` the counter; `contact:letter`
//! and `post` a letter; every other `contact:*` kind and every `selfservice:*` action
//! the web. [`shift`] is where the valuation is defined; the weekly-review dashboard
//! repeats it in SQL, and its test holds the two to the same figures.

use std::collections::HashMap;

use clickhouse::Client;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::ApiError;
use crate::params::Period;
use crate::table::{round1, Cell, Tabular};

/// The channels contacts are handled through.
pub const CHANNELS: [&str; 4] = ["telephone", "counter", "letter", "web"];

/// One `[[contact_costs]]` entry: what handling one contact costs through a channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContactCost {
    /// Site id, or `*` for every site (a site's own entry wins).
    #[serde(default = "every_site")]
    pub site: String,
    /// `telephone`, `counter`, `letter` or `web`.
    pub channel: String,
    /// Cost of one contact in euros (staff, accommodation, systems).
    pub cost_eur: f64,
    /// Staff time per contact in minutes.
    pub minutes: f64,
}

fn every_site() -> String {
    "*".into()
}

/// Default costs: orders of magnitude from Dutch channel-cost studies, to be replaced
/// by the municipality's own figures.
pub fn default_costs() -> Vec<ContactCost> {
    [
        ("telephone", 6.0, 7.0),
        ("counter", 12.5, 15.0),
        ("letter", 10.0, 12.0),
        ("web", 1.5, 2.0),
    ]
    .into_iter()
    .map(|(channel, cost_eur, minutes)| ContactCost {
        site: every_site(),
        channel: channel.into(),
        cost_eur,
        minutes,
    })
    .collect()
}

/// Checks the `[[contact_costs]]` entries.
pub fn validate(costs: &[ContactCost]) -> Result<(), luister_service::config::InvalidSetting> {
    for c in costs {
        if !CHANNELS.contains(&c.channel.as_str()) {
            return Err(format!(
                "contact_costs: channel {:?} is not one of {}",
                c.channel,
                CHANNELS.join(", ")
            )
            .into());
        }
        if !(c.cost_eur.is_finite()
            && c.cost_eur >= 0.0
            && c.minutes.is_finite()
            && c.minutes >= 0.0)
        {
            return Err(format!(
                "contact_costs ({}, {}): cost_eur and minutes must be 0 or more",
                c.site, c.channel
            )
            .into());
        }
    }
    for ch in CHANNELS {
        if !costs.iter().any(|c| c.channel == ch && c.site == "*") {
            return Err(
                format!("contact_costs: no entry with site = \"*\" for channel {ch}").into(),
            );
        }
    }
    Ok(())
}

/// The cost and minutes per channel for `site`.
fn costs_for<'a>(costs: &'a [ContactCost], site: &str) -> HashMap<&'a str, &'a ContactCost> {
    let mut out = HashMap::new();
    for c in costs.iter().filter(|c| c.site == "*") {
        out.insert(c.channel.as_str(), c);
    }
    for c in costs.iter().filter(|c| c.site == site) {
        out.insert(c.channel.as_str(), c);
    }
    out
}

/// Contacts per channel in a period.
pub type Mix = HashMap<&'static str, u64>;

/// Distinct visitors who made those contacts, per channel.
pub type Visitors = HashMap<&'static str, u64>;

/// One channel of the comparison.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ChannelRow {
    /// `telephone`, `counter`, `letter` or `web`.
    pub channel: String,
    /// Contacts in the period; absent when fewer than k distinct visitors made them.
    pub contacts: Option<u64>,
    /// Their share in percent (absent likewise).
    pub share_pct: Option<f64>,
    /// Contacts in the baseline (absent below k).
    pub baseline_contacts: Option<u64>,
    /// Share in the baseline in percent (absent below k).
    pub baseline_share_pct: Option<f64>,
    /// Assumed cost of one contact (euros).
    pub cost_eur: f64,
    /// Assumed staff minutes per contact.
    pub minutes: f64,
}

impl Tabular for ChannelRow {
    const COLUMNS: &'static [&'static str] = &[
        "channel",
        "contacts",
        "share_pct",
        "baseline_contacts",
        "baseline_share_pct",
        "cost_eur",
        "minutes",
    ];
    fn cells(&self) -> Vec<Cell> {
        vec![
            self.channel.as_str().into(),
            self.contacts.map_or(Cell::Float(None), Cell::Int),
            self.share_pct.into(),
            self.baseline_contacts.map_or(Cell::Float(None), Cell::Int),
            self.baseline_share_pct.into(),
            self.cost_eur.into(),
            self.minutes.into(),
        ]
    }
}

/// The valued channel shift.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Shift {
    /// Digital (web) share of contacts in the period, percent.
    pub digital_share_pct: f64,
    /// Digital share in the baseline, percent.
    pub baseline_digital_share_pct: f64,
    /// Contacts in the period that went through the web beyond the baseline's share
    /// (negative: fewer).
    pub shifted_contacts: f64,
    /// What that saved in euros (negative: cost).
    pub saved_eur: f64,
    /// Staff hours saved (negative: spent).
    pub saved_hours: f64,
    /// The sentence for the report.
    pub summary: String,
}

/// The contacts of one period.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ContactsIn {
    /// Contacts per channel.
    pub contacts: Mix,
    /// Distinct visitors per channel.
    pub visitors: Visitors,
}

/// Values the shift of `now` against `baseline` with `costs` for `site`. The rows hide
/// a cell fewer than `k` distinct visitors produced; the valuation uses all contacts.
pub fn shift(
    now: &ContactsIn,
    baseline: &ContactsIn,
    costs: &[ContactCost],
    site: &str,
    k: u32,
) -> (Vec<ChannelRow>, Option<Shift>) {
    let per = costs_for(costs, site);
    let (now_v, base_v) = (&now.visitors, &baseline.visitors);
    let (now, baseline) = (&now.contacts, &baseline.contacts);
    let total = |m: &Mix| {
        CHANNELS
            .iter()
            .map(|c| m.get(c).copied().unwrap_or(0))
            .sum::<u64>()
    };
    let (t_now, t_base) = (total(now), total(baseline));
    let share = |m: &Mix, c: &str, t: u64| {
        if t == 0 {
            0.0
        } else {
            m.get(c).copied().unwrap_or(0) as f64 / t as f64
        }
    };
    let shown = |v: &Visitors, c: &str| v.get(c).copied().unwrap_or(0) >= u64::from(k);
    let rows = CHANNELS
        .iter()
        .map(|c| ChannelRow {
            channel: (*c).to_string(),
            contacts: shown(now_v, c).then(|| now.get(c).copied().unwrap_or(0)),
            share_pct: shown(now_v, c).then(|| round1(share(now, c, t_now) * 100.0)),
            baseline_contacts: shown(base_v, c).then(|| baseline.get(c).copied().unwrap_or(0)),
            baseline_share_pct: shown(base_v, c)
                .then(|| round1(share(baseline, c, t_base) * 100.0)),
            cost_eur: per.get(c).map_or(0.0, |x| x.cost_eur),
            minutes: per.get(c).map_or(0.0, |x| x.minutes),
        })
        .collect();
    if t_now == 0 || t_base == 0 {
        return (rows, None);
    }
    let (d_now, d_base) = (share(now, "web", t_now), share(baseline, "web", t_base));
    let shifted = (d_now - d_base) * t_now as f64;
    // The contacts that moved to the web would otherwise have been handled through the
    // other channels in the baseline's proportions (or equally, when it had none).
    let others: Vec<&str> = CHANNELS.iter().copied().filter(|c| *c != "web").collect();
    let base_other: u64 = others
        .iter()
        .map(|c| baseline.get(c).copied().unwrap_or(0))
        .sum();
    let weight = |c: &str| {
        if base_other == 0 {
            1.0 / others.len() as f64
        } else {
            baseline.get(c).copied().unwrap_or(0) as f64 / base_other as f64
        }
    };
    let avg = |f: &dyn Fn(&ContactCost) -> f64| -> f64 {
        others
            .iter()
            .map(|c| weight(c) * per.get(c).map_or(0.0, |x| f(x)))
            .sum()
    };
    let web = |f: &dyn Fn(&ContactCost) -> f64| per.get("web").map_or(0.0, |x| f(x));
    let saved_eur = shifted * (avg(&|x| x.cost_eur) - web(&|x| x.cost_eur));
    let saved_hours = shifted * (avg(&|x| x.minutes) - web(&|x| x.minutes)) / 60.0;
    let summary = format!(
        "{:.0}% of contacts went through the web, against {:.0}% before: about {:.0} contacts, worth € {:.0} and {:.0} staff hours {}",
        d_now * 100.0,
        d_base * 100.0,
        shifted.abs(),
        saved_eur.abs(),
        saved_hours.abs(),
        if shifted >= 0.0 { "saved" } else { "spent extra (a shift away from the web)" }
    );
    (
        rows,
        Some(Shift {
            digital_share_pct: round1(d_now * 100.0),
            baseline_digital_share_pct: round1(d_base * 100.0),
            shifted_contacts: round1(shifted),
            saved_eur: round1(saved_eur),
            saved_hours: round1(saved_hours),
            summary,
        }),
    )
}

/// The assumptions behind every figure, in plain words.
pub const ASSUMPTIONS: [&str; 4] = [
    "Only contacts that start on the website are seen: clicks on a phone number, appointment bookings, forms, chats (contact:* actions) and online applications finished (selfservice:* actions).",
    "A contact that moved to the web would otherwise have been handled through telephone, counter and letter in the proportions of the baseline period.",
    "Cost and staff minutes per contact are the municipality's own figures in [[contact_costs]] (defaults are orders of magnitude from Dutch channel-cost studies).",
    "The shift is the change in the web's share of contacts between the baseline and the period, applied to the period's contacts; it is not corrected for other changes in that time.",
];

#[derive(Debug, clickhouse::Row, Deserialize)]
struct ChannelCount {
    period: u8,
    channel: String,
    contacts: u64,
    visitors: u64,
}

/// Contacts and self-service completions per channel of `site` (optionally for a
/// theme) in each of `periods`, from one read of their daily counts (periods may
/// overlap).
pub async fn periods(
    c: &Client,
    site: &str,
    periods: &[Period],
    theme: Option<&str>,
) -> Result<Vec<ContactsIn>, ApiError> {
    let sql = crate::sql::Periods::new(periods);
    let rows = c
        .query(&format!(
            "SELECT period, channel, sum(contacts) AS contacts, sum(visitors) AS visitors \
             FROM {} AND theme = ? GROUP BY period, channel",
            sql.newest("contact_channels_daily")
        ))
        .bind(site)
        .bind(site)
        .bind(theme.unwrap_or(""))
        .fetch_all::<ChannelCount>()
        .await?;
    let mut out = vec![ContactsIn::default(); periods.len()];
    for r in rows {
        let ch = CHANNELS.iter().find(|c| **c == r.channel);
        if let (Some(ch), Some(o)) = (ch, out.get_mut(usize::from(r.period))) {
            o.contacts.insert(ch, r.contacts);
            o.visitors.insert(ch, r.visitors);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn period(contacts: &[(&'static str, u64)], visitors: u64) -> ContactsIn {
        ContactsIn {
            contacts: contacts.iter().copied().collect(),
            visitors: contacts.iter().map(|(c, _)| (*c, visitors)).collect(),
        }
    }

    #[test]
    fn a_shift_to_the_web_is_valued_with_the_baselines_other_channels() {
        let now = period(&[("telephone", 60), ("web", 40)], 30);
        let base = period(&[("telephone", 60), ("counter", 20), ("web", 20)], 10);
        let (rows, s) = shift(&now, &base, &default_costs(), "demo", 5);
        let s = s.unwrap_or_else(|| panic!("no shift"));
        // Web share 40% against 20%: 20 of the 100 contacts moved. Otherwise they would
        // have been 75% telephone (€6, 7 min) and 25% counter (€12.50, 15 min):
        // €7.625 and 9 min each, against €1.50 and 2 min on the web.
        assert_eq!(s.shifted_contacts, 20.0);
        assert_eq!(s.saved_eur, 122.5);
        assert_eq!(s.saved_hours, 2.3);
        assert_eq!(rows[0].share_pct, Some(60.0));
        assert_eq!(rows[1].contacts, None, "no counter contacts now: below k");
        assert_eq!(rows[1].baseline_contacts, Some(20));
        assert!(
            s.summary
                .starts_with("40% of contacts went through the web, against 20% before"),
            "{}",
            s.summary
        );
    }

    #[test]
    fn a_site_may_have_its_own_costs_and_bad_costs_are_refused() {
        let mut costs = default_costs();
        costs.push(ContactCost {
            site: "demo".into(),
            channel: "telephone".into(),
            cost_eur: 9.0,
            minutes: 10.0,
        });
        assert_eq!(costs_for(&costs, "demo")["telephone"].cost_eur, 9.0);
        assert_eq!(costs_for(&costs, "zwolle")["telephone"].cost_eur, 6.0);
        assert_eq!(validate(&costs), Ok(()));
        costs[0].cost_eur = -1.0;
        assert!(validate(&costs)
            .unwrap_err()
            .0
            .contains("must be 0 or more"));
        assert!(validate(&costs[1..])
            .unwrap_err()
            .0
            .contains("no entry with site = \"*\" for channel telephone"));
    }

    #[test]
    fn without_contacts_there_is_no_figure() {
        let (rows, s) = shift(
            &ContactsIn::default(),
            &period(&[("web", 3)], 2),
            &default_costs(),
            "demo",
            5,
        );
        assert!(s.is_none());
        assert_eq!(rows[3].baseline_contacts, None, "2 visitors: below k");
    }
}
