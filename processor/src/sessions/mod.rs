//! Sessions (visits) and early contact, derived from the raw events.
//!
//! Every `sessions.interval_s` the sessionizer finds the visitors whose events arrived
//! since its last run (`inserted_at`), reads all their events of those days, splits them
//! into sessions after `sessions.inactivity_gap_s` without an event, and writes the
//! summaries. Because raw events are stored exactly once and sessions are recomputed
//! from them as a whole, a crash, a replay, an out-of-order or a late event can never
//! count a visit twice: the newest version of each session wins (ReplacingMergeTree),
//! and sessions a late event merged into another are rewritten as deleted. A run with
//! many new events is split into passes over disjoint sets of visitors, so memory does
//! not grow with the number of open visits. After each run the daily aggregates of every
//! (site, day) the run touched are rewritten ([`luister_store::aggregates`]): visits
//! (`visits_daily` and its totals `visit_totals_daily`) from the sessions, event
//! counts, search terms and contacts per channel from the events.
//!
//! A contact is an action whose name starts with one of the goal's action prefixes
//! (default `contact:`) or a page view whose path matches one of its URL patterns (a
//! confirmation page), or an outlink or download to one of its `outlink_hosts` (a
//! referral to a debt-help partner). The session also keeps where the visit came from:
//! its first event's referrer host and UTM values. Per theme the session touched, the summary keeps the first touch
//! and the first contact at or after it: the early-contact figures. Per site search it
//! keeps what came next: another search (`refined`), a page or action (`clicked`), or
//! the end of the visit (`left`).
//!
//! The work is in three parts: [`build`] turns one visitor's events of a day into
//! session rows (pure, no I/O), [`plan`] splits a run into passes of bounded size, and
//! [`run`] reads the events, writes the sessions and the aggregates, and keeps the
//! service's cadence.

mod build;
mod plan;
mod run;

pub use build::{build, Goals, SessionEvent, SessionRow};
pub use plan::{plan, NewEvents, Pass};
pub use run::{run_once, settle, Sessionizer};
