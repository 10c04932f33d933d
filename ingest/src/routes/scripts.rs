//! The vendors' script names, so a page's standard snippet loads its tracker from
//! Luister with only the host changed: `matomo.js` and `piwik.js` (at the root or
//! under any folder, as `u+'matomo.js'` asks) serve `ingest/assets/matomo.js`;
//! Plausible's `/js/script.js`, `/js/plausible.js` and their variants
//! (`script.outbound-links.file-downloads.js`, …) and the newer `/js/pa-….js` serve
//! `ingest/assets/plausible.js` with the variants of the file name switched on. Both
//! scripts are Luister's own, written against the vendors' documented interfaces;
//! docs/protocols.md lists what each supports.

use axum::extract::Path;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};

/// The Matomo-compatible tracker.
pub const MATOMO_JS: &str = include_str!("../../assets/matomo.js");
/// The Plausible-compatible tracker, with `__LUISTER_VARIANTS__` where the variants go.
pub const PLAUSIBLE_JS: &str = include_str!("../../assets/plausible.js");

/// The variants of Plausible's script names that the tracker implements.
const VARIANTS: &[&str] = &[
    "hash",
    "outbound-links",
    "file-downloads",
    "tagged-events",
    "local",
    "manual",
    "exclusions",
    "pageview-props",
    "revenue",
    "compat",
];

/// Whether a path names Matomo's tracker script (`…/matomo.js`, `…/piwik.js`).
pub fn is_matomo_script(path: &str) -> bool {
    path.ends_with("/matomo.js") || path.ends_with("/piwik.js")
}

pub(crate) async fn matomo() -> Response {
    script(MATOMO_JS.to_owned())
}

pub(crate) async fn plausible(Path(file): Path<String>) -> Response {
    match plausible_variants(&file) {
        Ok(variants) => {
            let inline = Value::Object(variants).to_string();
            script(PLAUSIBLE_JS.replace("__LUISTER_VARIANTS__", &inline))
        }
        Err(why) => (
            StatusCode::NOT_FOUND,
            [(
                header::CONTENT_TYPE,
                "application/javascript; charset=utf-8",
            )],
            format!("/* luister: {why} */\n"),
        )
            .into_response(),
    }
}

/// Why a name under `/js/` is not a Plausible script (names cut to 80 characters).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotAScript {
    /// It does not end in `.js`.
    #[error("/js/{0} is not a script name")]
    Name(String),
    /// It is none of Plausible's names.
    #[error("/js/{0} is not a Plausible script name (script.js, script.<variants>.js, pa-….js)")]
    Plausible(String),
    /// It names a variant Luister's tracker does not have.
    #[error("script variant {0:?} is not supported; supported: {list}", list = VARIANTS.join(", "))]
    Variant(String),
}

/// The variants a Plausible script name switches on, as `{"outbound_links": true, …}`
/// (`init` for the newer `pa-….js`, which is configured by `plausible.init`), or why
/// the name is not one of Plausible's.
pub fn plausible_variants(file: &str) -> Result<Map<String, Value>, NotAScript> {
    let shown: String = file.chars().take(80).collect();
    let stem = file
        .strip_suffix(".js")
        .ok_or_else(|| NotAScript::Name(shown.clone()))?;
    let mut on = Map::new();
    if let Some(id) = stem.strip_prefix("pa-") {
        if id.is_empty()
            || !id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(NotAScript::Plausible(shown));
        }
        on.insert("init".into(), Value::Bool(true));
        return Ok(on);
    }
    let mut parts = stem.split('.');
    match parts.next() {
        Some("script" | "plausible") => {}
        _ => {
            return Err(NotAScript::Plausible(shown));
        }
    }
    for part in parts {
        if !VARIANTS.contains(&part) {
            return Err(NotAScript::Variant(part.chars().take(40).collect()));
        }
        on.insert(part.replace('-', "_"), Value::Bool(true));
    }
    Ok(on)
}

/// A script answer: JavaScript, cached for an hour.
pub(crate) fn script(body: String) -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                "application/javascript; charset=utf-8",
            ),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use axum::http::{Request, StatusCode};

    use super::*;
    use crate::routes::test_support::{app, call};

    #[test]
    fn plausible_script_names_switch_their_variants_on() {
        assert!(plausible_variants("script.js").unwrap().is_empty());
        assert!(plausible_variants("plausible.js").unwrap().is_empty());
        let v = plausible_variants("script.outbound-links.file-downloads.hash.js").unwrap();
        let keys: Vec<&str> = v.keys().map(String::as_str).collect();
        assert_eq!(keys, ["file_downloads", "hash", "outbound_links"]);
        assert_eq!(
            plausible_variants("pa-Ab12_cd.js").unwrap().get("init"),
            Some(&Value::Bool(true))
        );
        for (bad, msg) in [
            (
                "script.tracking-everything.js",
                "variant \"tracking-everything\"",
            ),
            ("other.js", "not a Plausible script name"),
            ("script", "not a script name"),
            ("pa-.js", "not a Plausible script name"),
        ] {
            let e = plausible_variants(bad).unwrap_err().to_string();
            assert!(e.contains(msg), "{bad}: {e}");
        }
    }

    #[tokio::test]
    async fn the_vendors_script_names_are_served() {
        let (app, _) = app();
        for path in [
            "/matomo.js",
            "/piwik.js",
            "/analytics/matomo.js",
            "/js/script.js",
            "/js/script.tagged-events.outbound-links.js",
            "/js/pa-XyZ123.js",
        ] {
            let a = call(&app, Request::get(path).body("".into()).unwrap()).await;
            assert_eq!(a.status, StatusCode::OK, "{path}: {}", a.text());
            assert_eq!(
                a.headers["content-type"],
                "application/javascript; charset=utf-8"
            );
            let js = a.text();
            assert!(!js.contains("__LUISTER_VARIANTS__"), "{path}");
            assert!(
                !js.contains("document.cookie")
                    && !js.contains("localStorage")
                    && !js.contains("sessionStorage"),
                "{path}: no cookies, no storage"
            );
        }
        let v = call(
            &app,
            Request::get("/js/script.outbound-links.js")
                .body("".into())
                .unwrap(),
        )
        .await;
        assert!(v.text().contains(r#"var V = {"outbound_links":true}"#));
        let bad = call(
            &app,
            Request::get("/js/script.everything.js")
                .body("".into())
                .unwrap(),
        )
        .await;
        assert_eq!(bad.status, StatusCode::NOT_FOUND);
        assert!(bad.text().contains("\"everything\" is not supported"));
    }
}
