//! The API's domain: what each question reads from ClickHouse and the typed answer it
//! gives, without HTTP (the routes extract, call these and respond; the weekly report
//! gathers its data from them).
//!
//! - [`reach`] and [`figures`]: a site's or theme's reach against earlier periods, and
//!   every theme's reach; [`series`]: time series by hour, day or week.
//! - [`searches`]: search listening (top, rising, zero-result, unmatched terms).
//! - [`visits`]: channel and device mix, early contact, pipeline freshness.
//! - [`pages`]: top, entry and exit pages, with visits and contacts after them;
//!   [`not_found`]: pages not found, with where their visitors came from.
//! - [`campaigns`]: visits per campaign value or referrer host; [`clicks`]: outbound
//!   links and downloads. [`fold`]: the k rule for lists.
//! - [`transitions`]: what visits did just before and after a page or a search;
//!   [`paths`]: the paths to contact of a theme's visits.
//! - [`engagement`]: how pages were read and which content blocks were seen.
//! - [`refusals`]: why a site's events were refused.
//! - [`actions`], [`measure`] and [`effect`]: the actions register and the estimate of
//!   an action's effect.
//! - [`savings`]: euros and staff hours of a shift of contacts to the web.

pub mod actions;
pub mod campaigns;
pub mod clicks;
pub mod effect;
pub mod engagement;
pub mod figures;
pub(crate) mod fold;
pub mod measure;
pub mod not_found;
pub mod pages;
pub mod paths;
pub mod reach;
pub mod refusals;
pub mod savings;
pub mod searches;
pub mod series;
pub mod transitions;
pub mod visits;
