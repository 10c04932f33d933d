//! Parsers for the ways a site can send events. Each is a pure function from the
//! request's bytes to [`RawEvent`](crate::collect::RawEvent)s, so each can be
//! unit-tested and fuzzed on its own.
//!
//! - [`native`]: Luister's JSON (`POST /v1/events`), one event or an array.
//! - [`matomo`]: the Matomo Tracking API (`/matomo.php`, `/piwik.php`), single and bulk.
//! - [`plausible`]: the Plausible events API (`POST /api/event`).

pub mod matomo;
pub mod native;
pub mod plausible;
