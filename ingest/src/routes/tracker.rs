//! `GET /t.js?site=ID`: Luister's own tracker (`ingest/assets/t.js`) with the site's
//! settings inlined: search parameter, contact selectors and Do-Not-Track policy.
//! Without `site` the script reads `data-site` from its `<script>` tag and uses the
//! defaults. No cookies, no storage; events go out with `navigator.sendBeacon`.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use luister_schema::SiteId;

use crate::config::DntPolicy;
use crate::App;

/// The tracker's source, with `__LUISTER_CONFIG__` where the settings go.
pub const TRACKER_JS: &str = include_str!("../../assets/t.js");

#[derive(Debug, Deserialize)]
pub(crate) struct TrackerParams {
    site: Option<String>,
}

pub(crate) async fn get_tracker(
    State(app): State<Arc<App>>,
    Query(params): Query<TrackerParams>,
) -> Response {
    let config = match params.site {
        None => json!({}),
        Some(raw) => {
            let site = SiteId::parse(&raw)
                .ok()
                .and_then(|id| app.collector.site(&id));
            let Some(site) = site else {
                let shown: String = raw.chars().take(64).collect();
                return (
                    StatusCode::NOT_FOUND,
                    [(
                        header::CONTENT_TYPE,
                        "application/javascript; charset=utf-8",
                    )],
                    format!(
                        "/* luister: site {shown:?} is not registered with this collector */\n"
                    ),
                )
                    .into_response();
            };
            json!({
                "site": site.id,
                "search_param": site.search_param,
                "contact_selectors": site.contact_selectors,
                "dnt": match site.dnt { DntPolicy::Respect => "respect", DntPolicy::Ignore => "ignore" },
            })
        }
    };
    // Inside a <script>, "</" could end the element: escape '<'.
    let inline = config.to_string().replace('<', "\\u003c");
    super::scripts::script(TRACKER_JS.replace("__LUISTER_CONFIG__", &inline))
}

#[cfg(test)]
mod tests {
    use axum::http::{Request, StatusCode};

    use crate::routes::test_support::{app, call};

    #[tokio::test]
    async fn tracker_is_served_with_the_site_settings_inlined() {
        let (app, _) = app();
        let a = call(
            &app,
            Request::get("/t.js?site=demo").body("".into()).unwrap(),
        )
        .await;
        assert_eq!(a.status, StatusCode::OK);
        assert_eq!(
            a.headers["content-type"],
            "application/javascript; charset=utf-8"
        );
        let js = a.text();
        assert!(js.contains(r#"var C = {"#), "{js}");
        assert!(js.contains(r#""search_param":"q""#), "{js}");
        assert!(js.contains(r#""site":"demo""#), "{js}");
        assert!(!js.contains("__LUISTER_CONFIG__"));
        assert!(
            !js.contains("document.cookie")
                && !js.contains("localStorage")
                && !js.contains("sessionStorage")
        );
        let generic = call(&app, Request::get("/t.js").body("".into()).unwrap()).await;
        assert!(generic.text().contains("var C = {}"));
        let unknown = call(
            &app,
            Request::get("/t.js?site=nope").body("".into()).unwrap(),
        )
        .await;
        assert_eq!(unknown.status, StatusCode::NOT_FOUND);
        assert!(unknown.text().contains("\"nope\" is not registered"));
    }
}
