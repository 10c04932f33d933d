//! The application state every handler shares ([`App`]): the configured sites, the
//! ClickHouse clients, the tokens, limits and reporting settings, and what follows
//! from them (today in the reporting time zone, which site a caller may read, the
//! actions register). It knows nothing of HTTP beyond the caller's [`Principal`].

use std::collections::HashSet;

use chrono_tz::Tz;

use luister_schema::SiteId;
use luister_store::Store;

use crate::auth::{HasTokens, Principal, Tokens};
use crate::domain::actions::{self, Register, Stored};
use crate::error::ApiError;
use crate::params::{self, Period};

/// What every handler shares.
pub struct App {
    /// The sites this API answers for.
    pub sites: HashSet<SiteId>,
    /// ClickHouse.
    pub store: Store,
    /// ClickHouse for writing actions (see [`crate::config::ActionsConfig`]).
    pub writer: clickhouse::Client,
    /// The configured tokens.
    pub tokens: Tokens,
    /// Limits on what may be asked.
    pub limits: crate::config::LimitsConfig,
    /// Time zone of days, hours and weeks.
    pub tz: Tz,
    /// The k of search listening.
    pub min_visitors_per_term: u32,
    /// Themes of the report's early-contact section.
    pub early_contact_themes: Vec<String>,
    /// Cost and staff time of a contact per channel.
    pub contact_costs: Vec<crate::domain::savings::ContactCost>,
}

impl HasTokens for App {
    fn tokens(&self) -> &Tokens {
        &self.tokens
    }
}

impl App {
    /// Today in the reporting time zone.
    pub fn today(&self) -> chrono::NaiveDate {
        chrono::Utc::now().with_timezone(&self.tz).date_naive()
    }

    /// The first day whose page views and searches are counted from the raw events
    /// (see [`luister_store::aggregates::event_counts::live_from`]).
    pub fn live_from(&self) -> chrono::NaiveDate {
        luister_store::aggregates::event_counts::live_from(self.today())
    }

    /// The site named in a path, if it exists (404) and the caller may read it (403).
    pub fn site(&self, who: &Principal, raw: &str) -> Result<SiteId, ApiError> {
        let site = SiteId::parse(raw)
            .ok()
            .filter(|s| self.sites.contains(s))
            .ok_or_else(|| ApiError::UnknownSite(params::shown(raw)))?;
        if !who.may_read(&site) {
            if let Principal::Tenant { id, .. } = who {
                tracing::info!(tenant = %id, site = %site, "refused: another tenant's site");
            }
            return Err(ApiError::Forbidden(site.to_string()));
        }
        Ok(site)
    }

    /// A checked period of at most `limits.max_period_days`.
    pub fn period(&self, from: &str, to: &str) -> Result<Period, ApiError> {
        Period::parse(Some(from), Some(to), self.limits.max_period_days)
    }

    /// The ClickHouse client of the reads.
    pub fn client(&self) -> &clickhouse::Client {
        self.store.client()
    }

    /// The actions register, reading and writing through their own clients.
    pub fn register(&self) -> Register<'_> {
        Register {
            reader: self.store.client(),
            writer: &self.writer,
        }
    }

    /// The live action `id`, if the caller may read its site.
    pub async fn action(&self, who: &Principal, id: &str) -> Result<Stored, ApiError> {
        let missing = || ApiError::UnknownAction(params::shown(id));
        if !actions::is_id(id) {
            return Err(missing());
        }
        let stored = self.register().get(id).await?.ok_or_else(missing)?;
        let site = SiteId::parse(&stored.action.site).map_err(|_| ApiError::Internal)?;
        if !who.may_read(&site) {
            return Err(ApiError::Forbidden(site.to_string()));
        }
        Ok(stored)
    }
}
