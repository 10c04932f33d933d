//! The actions register and effect estimates: record, list, read, edit and delete
//! actions, and estimate what an action changed. The tenant rules are those of every
//! endpoint: a token reaches the actions of the sites it may read.

use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::header::LOCATION;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::Utc;
use serde::Deserialize;
use utoipa::IntoParams;

use super::{App, Params, Site};
use crate::auth::Principal;
use crate::domain::actions::{Action, ActionInput};
use crate::domain::measure::{self, EffectAnswer, Metric};
use crate::error::{AccessErrors, ApiError};
use crate::params::{self, Format, Period};
use crate::table::respond;

fn body(input: Result<Json<ActionInput>, JsonRejection>) -> Result<ActionInput, ApiError> {
    input.map(|Json(a)| a).map_err(|e| {
        if luister_service::http::is_body_timeout(&e) {
            ApiError::BodyTimeout
        } else {
            ApiError::BadRequest(e.body_text())
        }
    })
}

/// Records an action of a site: what was done for which themes, through which
/// channels, when, at what cost and by whom.
#[utoipa::path(post, path = "/v1/sites/{site}/actions", tag = "actions",
    params(("site" = String, Path, description = "Site id")),
    request_body = ActionInput,
    responses(
        (status = 201, description = "Recorded; Location names it", body = Action),
        AccessErrors,
    ))]
pub(super) async fn create_action(
    State(app): State<Arc<App>>,
    Site(site): Site,
    input: Result<Json<ActionInput>, JsonRejection>,
) -> Result<Response, ApiError> {
    let checked = body(input)?.check()?;
    let action = app.register().create(site.as_str(), checked).await?;
    tracing::info!(site = %site, action = %action.id, "action recorded");
    Ok((
        StatusCode::CREATED,
        [(LOCATION, format!("/v1/actions/{}", action.id))],
        Json(action),
    )
        .into_response())
}

/// `from` and `to` (together, optional) and `format`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ActionsQuery {
    /// Only actions running on or after this day, `YYYY-MM-DD` (with `to`).
    from: Option<String>,
    /// Only actions running on or before this day (with `from`).
    to: Option<String>,
    /// `json` (default) or `csv`.
    format: Option<String>,
}

/// The actions of a site.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct ActionsAnswer {
    /// Site id.
    pub site: String,
    /// Newest start first.
    pub actions: Vec<Action>,
}

/// The actions of a site, newest start first; with `from` and `to`, those running in
/// that period.
#[utoipa::path(get, path = "/v1/sites/{site}/actions", tag = "actions",
    params(("site" = String, Path, description = "Site id"), ActionsQuery),
    responses(
        (status = 200, description = "The actions", content((ActionsAnswer = "application/json"), (String = "text/csv"))),
        AccessErrors,
    ))]
pub(super) async fn list_actions(
    State(app): State<Arc<App>>,
    Site(site): Site,
    Params(q): Params<ActionsQuery>,
) -> Result<Response, ApiError> {
    let format = Format::parse(q.format.as_deref())?;
    let period = match (q.from.as_deref(), q.to.as_deref()) {
        (None, None) => None,
        (from, to) => Some(Period::parse(from, to, app.limits.max_period_days)?),
    };
    let actions = app.register().list(site.as_str(), period).await?;
    let answer = ActionsAnswer {
        site: site.to_string(),
        actions,
    };
    respond(format, &answer, &answer.actions, &format!("{site}-actions"))
}

/// One action.
#[utoipa::path(get, path = "/v1/actions/{id}", tag = "actions",
    params(("id" = String, Path, description = "Action id")),
    responses(
        (status = 200, description = "The action", body = Action),
        AccessErrors,
    ))]
pub(super) async fn get_action(
    State(app): State<Arc<App>>,
    who: Principal,
    Path(id): Path<String>,
) -> Result<Json<Action>, ApiError> {
    Ok(Json(app.action(&who, &id).await?.action))
}

/// Replaces an action's fields (its id, site and creation time stay).
#[utoipa::path(put, path = "/v1/actions/{id}", tag = "actions",
    params(("id" = String, Path, description = "Action id")),
    request_body = ActionInput,
    responses(
        (status = 200, description = "The action as it is now", body = Action),
        AccessErrors,
    ))]
pub(super) async fn update_action(
    State(app): State<Arc<App>>,
    who: Principal,
    Path(id): Path<String>,
    input: Result<Json<ActionInput>, JsonRejection>,
) -> Result<Json<Action>, ApiError> {
    let stored = app.action(&who, &id).await?;
    let checked = body(input)?.check()?;
    Ok(Json(app.register().replace(stored, checked).await?))
}

/// Deletes an action.
#[utoipa::path(delete, path = "/v1/actions/{id}", tag = "actions",
    params(("id" = String, Path, description = "Action id")),
    responses(
        (status = 204, description = "Deleted"),
        AccessErrors,
    ))]
pub(super) async fn delete_action(
    State(app): State<Arc<App>>,
    who: Principal,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let stored = app.action(&who, &id).await?;
    tracing::info!(site = %stored.action.site, action = %id, "action deleted");
    app.register().delete(stored).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `metric`, `weeks_before`, `weeks_after`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EffectQuery {
    /// `visitors` (default), `searches`, `contacts` or `conversion`.
    metric: Option<String>,
    /// Whole weeks before the start to compare with, 3–52 (default 12).
    weeks_before: Option<String>,
    /// Whole weeks from the start to measure, 2–26 (default 6); fewer when fewer
    /// have passed.
    weeks_after: Option<String>,
}

/// The estimated effect of an action on a metric of its themes, corrected for what
/// happened anyway through control themes, with a 95% interval, a p-value and a
/// sentence; or, with too little data, the reason instead of a number.
#[utoipa::path(get, path = "/v1/actions/{id}/effect", tag = "actions",
    params(("id" = String, Path, description = "Action id"), EffectQuery),
    responses(
        (status = 200, description = "The estimate, or why there is none", body = EffectAnswer),
        AccessErrors,
    ))]
pub(super) async fn action_effect(
    State(app): State<Arc<App>>,
    who: Principal,
    Path(id): Path<String>,
    Params(q): Params<EffectQuery>,
) -> Result<Json<EffectAnswer>, ApiError> {
    let stored = app.action(&who, &id).await?;
    let metric = Metric::parse(q.metric.as_deref())?;
    let weeks = |v: Option<&str>, name: &str, default: u32, (lo, hi): (u32, u32)| {
        params::limit(v, default, hi)
            .ok()
            .filter(|n| *n >= lo)
            .map(|n| n as usize)
            .ok_or_else(|| {
                ApiError::BadRequest(format!("{name} must be a whole number from {lo} to {hi}"))
            })
    };
    let before = weeks(q.weeks_before.as_deref(), "weeks_before", 12, (3, 52))?;
    let after = weeks(q.weeks_after.as_deref(), "weeks_after", 6, (2, 26))?;
    let today = Utc::now().with_timezone(&app.tz).date_naive();
    Ok(Json(
        measure::effect(
            app.store.client(),
            stored.action,
            metric,
            (before, after),
            today,
        )
        .await?,
    ))
}

/// `from`, `to`, optional `theme`, `baseline_from` and `baseline_to`, `format`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ShiftQuery {
    /// First day, `YYYY-MM-DD`.
    from: String,
    /// Last day (inclusive), `YYYY-MM-DD`.
    to: String,
    /// Only contacts attributed to this theme.
    theme: Option<String>,
    /// First day of the baseline (default: the period of the same length before).
    baseline_from: Option<String>,
    /// Last day of the baseline (with `baseline_from`).
    baseline_to: Option<String>,
    /// `json` (default) or `csv` (the channel table).
    format: Option<String>,
}

/// A channel shift valued in euros and staff hours.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct ShiftAnswer {
    /// Site id.
    pub site: String,
    /// The theme asked, if any.
    pub theme: Option<String>,
    /// First day.
    pub from: String,
    /// Last day (inclusive).
    pub to: String,
    /// The baseline period.
    pub baseline: super::Span,
    /// Contacts per channel, with the assumed cost and minutes.
    pub channels: Vec<crate::domain::savings::ChannelRow>,
    /// `estimated`, or `insufficient_data` when either period had no contacts.
    pub status: String,
    /// One sentence: the shift and what it is worth, or why there is no figure.
    pub summary: String,
    /// The figures.
    pub shift: Option<crate::domain::savings::Shift>,
    /// The assumptions behind them.
    pub assumptions: Vec<String>,
}

/// Euros and time: contacts per channel (telephone, counter, letter, web) that start on
/// the website, the web's share against a baseline, and what the shift saved in euros
/// and staff hours with the municipality's own costs, assumptions stated.
#[utoipa::path(get, path = "/v1/sites/{site}/channel-shift", tag = "actions",
    params(("site" = String, Path, description = "Site id"), ShiftQuery),
    responses(
        (status = 200, description = "The shift", content((ShiftAnswer = "application/json"), (String = "text/csv"))),
        AccessErrors,
    ))]
pub(super) async fn channel_shift(
    State(app): State<Arc<App>>,
    Site(site): Site,
    Params(q): Params<ShiftQuery>,
) -> Result<Response, ApiError> {
    let p = Period::parse(Some(&q.from), Some(&q.to), app.limits.max_period_days)?;
    let baseline = match (q.baseline_from.as_deref(), q.baseline_to.as_deref()) {
        (None, None) => p.previous(),
        (from, to) => Period::parse(from, to, app.limits.max_period_days)
            .map_err(|e| ApiError::BadRequest(format!("{e} (baseline_from and baseline_to)")))?,
    };
    let theme = params::theme(q.theme.as_deref())?;
    let format = Format::parse(q.format.as_deref())?;
    let c = app.store.client();
    let [now, before]: [crate::domain::savings::ContactsIn; 2] =
        crate::domain::savings::periods(c, site.as_str(), &[p, baseline], theme.as_deref())
            .await?
            .try_into()
            .map_err(|_| ApiError::Internal)?;
    let (channels, shift) = crate::domain::savings::shift(
        &now,
        &before,
        &app.contact_costs,
        site.as_str(),
        app.min_visitors_per_term,
    );
    let answer = ShiftAnswer {
        site: site.to_string(),
        theme,
        from: p.from.to_string(),
        to: p.to.to_string(),
        baseline: baseline.into(),
        status: if shift.is_some() {
            "estimated"
        } else {
            "insufficient_data"
        }
        .into(),
        summary: shift.as_ref().map_or_else(
            || {
                "No figure: the period or the baseline had no contacts that started on the website."
                    .into()
            },
            |s| s.summary.clone(),
        ),
        shift,
        channels,
        assumptions: crate::domain::savings::ASSUMPTIONS
            .iter()
            .map(|a| (*a).to_string())
            .collect(),
    };
    respond(
        format,
        &answer,
        &answer.channels,
        &format!("{site}-channel-shift-{}-{}", p.from, p.to),
    )
}
