//! The printable weekly report of a site, for the weekly review meeting: what it
//! shows is fetched here as data ([`WeeklyReport`], from the domain modules), and
//! [`html`] renders it, a pure function of that data.
//!
//! Sections: reach (this week, last week, a year ago), themes and their change, the
//! trend of the last eight weeks, top and zero-result searches, channel and device mix,
//! early contact for the configured themes, the channel shift in euros and staff hours,
//! the most viewed pages of the site and of each early-contact theme, how the most
//! viewed pages were read and which content blocks were seen and clicked, and the
//! actions that ran that week with their estimated effect.

pub mod html;

use chrono::Days;
use futures_util::future::try_join_all;

use luister_schema::SiteId;

use crate::app::App;
use crate::domain::actions::Action;
use crate::domain::engagement::{ContentFigures, Reading};
use crate::domain::pages::{self, PageList};
use crate::domain::reach::{reach_figures, theme_rows, ReachAnswer, ThemesAnswer};
use crate::domain::savings::{ChannelRow, Shift};
use crate::domain::searches::{self, Term};
use crate::domain::series::{self, Point};
use crate::domain::visits::{self, Contact, Share};
use crate::error::ApiError;
use crate::params::{Dimension, Granularity, IsoWeek, Period};

/// Weeks of the trend and of early contact.
const WEEKS: u64 = 8;

/// Everything the weekly report shows.
#[derive(Debug, Clone)]
pub struct WeeklyReport {
    /// The site.
    pub site: SiteId,
    /// The ISO week.
    pub week: IsoWeek,
    /// Its days.
    pub period: Period,
    /// k: terms, channels and devices of fewer visitors are not shown.
    pub min_visitors: u32,
    /// Reach against last week and a year ago.
    pub reach: ReachAnswer,
    /// Every theme's reach.
    pub themes: ThemesAnswer,
    /// Visitors per week, the last eight weeks.
    pub trend: Vec<Point>,
    /// Top search terms.
    pub top: Vec<Term>,
    /// Zero-result search terms.
    pub zero: Vec<Term>,
    /// Channel mix.
    pub channels: Vec<Share>,
    /// Device mix.
    pub devices: Vec<Share>,
    /// Early contact of each configured theme, the last eight weeks.
    pub early_contact: Vec<(String, Vec<Contact>)>,
    /// The channel shift against the four weeks before, per channel.
    pub shift_rows: Vec<ChannelRow>,
    /// The valued shift, when there were contacts to compare.
    pub shift: Option<Shift>,
    /// Actions that ran in the week, each with the summary of its estimated effect.
    pub actions: Vec<(Action, String)>,
    /// The most viewed pages of the site (`None`) and of each early-contact theme.
    pub pages: Vec<(Option<String>, PageList)>,
    /// How the most viewed pages were read.
    pub reading: Vec<Reading>,
    /// Content blocks seen and clicked.
    pub blocks: Vec<ContentFigures>,
}

/// Renders the report of `site` for `week` (see [`html::page`]).
pub async fn render(app: &App, site: &SiteId, week: IsoWeek) -> Result<String, ApiError> {
    Ok(html::page(&fetch(app, site, week).await?))
}

/// Fetches everything the report of `site` for `week` shows.
pub async fn fetch(app: &App, site: &SiteId, week: IsoWeek) -> Result<WeeklyReport, ApiError> {
    let c = app.store.client();
    let p = Period::of_week(week);
    let eight = Period {
        from: p.from - Days::new(7 * (WEEKS - 1)),
        to: p.to,
    };
    let k = app.min_visitors_per_term;
    // Channel shift: this week against the four weeks before.
    let four_before = Period {
        from: p.from - Days::new(28),
        to: p.from - Days::new(1),
    };
    let shift_periods = [p, four_before];
    let early_contact = try_join_all(app.early_contact_themes.iter().map(|theme| async move {
        Ok::<_, ApiError>((
            theme.clone(),
            visits::early_contact(c, site.as_str(), eight, theme).await?,
        ))
    }));
    // Actions running in the week, each with its estimated effect on visitors so far.
    let today = chrono::Utc::now().with_timezone(&app.tz).date_naive();
    let register = crate::domain::actions::Register {
        reader: c,
        writer: &app.writer,
    };
    let actions = async {
        let list = register.list(site.as_str(), Some(p)).await?;
        try_join_all(list.into_iter().map(|a| async move {
            let effect = crate::domain::measure::effect(
                c,
                a.clone(),
                crate::domain::measure::Metric::Visitors,
                (12, 6),
                today,
            )
            .await?;
            Ok::<_, ApiError>((a, effect.summary))
        }))
        .await
    };
    // The most viewed pages of the site, then of each early-contact theme.
    let page_lists = try_join_all(
        std::iter::once(None)
            .chain(app.early_contact_themes.iter().map(Some))
            .map(|theme| async move {
                let n = if theme.is_some() { 5 } else { 10 };
                let list = pages::pages(
                    c,
                    site.as_str(),
                    p,
                    theme.map(String::as_str),
                    pages::List::Top,
                    k,
                    n,
                )
                .await?;
                Ok::<_, ApiError>((theme.cloned(), list))
            }),
    );
    // Every section's queries are independent: ClickHouse answers them side by side
    // (on a small server they still share its cores, so fewer reads is what counts).
    let (
        (reach, themes, trend, (top, zero)),
        ((channels, _), (devices, _), contact, actions, shift, (page_lists, reading, blocks)),
    ) = tokio::try_join!(
        async {
            tokio::try_join!(
                reach_figures(c, app.live_from(), site, p, None),
                theme_rows(c, app.live_from(), site, p),
                series::series(c, app.tz, site.as_str(), eight, None, Granularity::Week),
                searches::top_and_zero(c, site.as_str(), p, k, 10),
            )
        },
        async {
            tokio::try_join!(
                visits::mix(c, site.as_str(), p, None, Dimension::Channel, k),
                visits::mix(c, site.as_str(), p, None, Dimension::Device, k),
                early_contact,
                actions,
                crate::domain::savings::periods(c, site.as_str(), &shift_periods, None),
                async {
                    tokio::try_join!(
                        page_lists,
                        crate::domain::engagement::reading(
                            c,
                            site.as_str(),
                            p,
                            crate::domain::engagement::By::Page(None),
                            10
                        ),
                        crate::domain::engagement::content(c, site.as_str(), p, 10),
                    )
                },
            )
        },
    )?;
    let [this_week, before]: [crate::domain::savings::ContactsIn; 2] =
        shift.try_into().map_err(|_| ApiError::Internal)?;
    let (shift_rows, shift) =
        crate::domain::savings::shift(&this_week, &before, &app.contact_costs, site.as_str(), k);

    Ok(WeeklyReport {
        site: site.clone(),
        week,
        period: p,
        min_visitors: k,
        reach,
        themes,
        trend,
        top,
        zero,
        channels,
        devices,
        early_contact: contact,
        shift_rows,
        shift,
        actions,
        pages: page_lists,
        reading,
        blocks,
    })
}
