//! The Grafana dashboards' ClickHouse queries, run the way Grafana runs them: template
//! variables interpolated first, then the grafana-clickhouse-datasource macros expanded
//! (as its `pkg/macros/macros.go` does), then sent to the real ClickHouse holding the
//! known data set that went through the pipeline. Every panel query and every variable
//! query must run and give the figures expected of that data set; a panel without an
//! expectation here fails the test, so a new panel comes with its check.
//!
//! The queries go out with the user agent `luister-dashboards-test`, so that
//! deploy/local/modern_clickhouse.py replays them on a current ClickHouse too.

use chrono::{Days, TimeZone};
use serde_json::{json, Value};

use super::helpers::{Pipeline, Weeks};
use super::loaded;
use luister_testkit::{clickhouse_url, Scratch};

/// The dashboard time range, Unix seconds (Grafana's `from` and `to`).
#[derive(Debug, Clone, Copy)]
pub(super) struct Range {
    pub from: i64,
    pub to: i64,
}

/// Interpolates `${name}` and `$name` as Grafana does for single-value variables.
pub(super) fn interpolate(sql: &str, vars: &[(&str, &str)]) -> String {
    let mut out = sql.to_string();
    for (name, value) in vars {
        out = out.replace(&format!("${{{name}}}"), value);
        let plain = format!("${name}");
        let mut result = String::new();
        let mut rest = out.as_str();
        while let Some(i) = rest.find(&plain) {
            let after = &rest[i + plain.len()..];
            result.push_str(&rest[..i]);
            if after.starts_with(|c: char| c.is_alphanumeric() || c == '_') {
                result.push_str(&plain);
            } else {
                result.push_str(value);
            }
            rest = after;
        }
        result.push_str(rest);
        out = result;
    }
    out
}

/// Expands the plugin's macros; an unknown macro or a left-over `$` is an error.
pub(super) fn expand_macros(sql: &str, r: Range) -> Result<String, String> {
    let date = |t: i64| {
        let d = chrono::DateTime::from_timestamp(t, 0).unwrap_or_default();
        format!("toDate('{}')", d.format("%Y-%m-%d"))
    };
    let mut out = String::new();
    let mut rest = sql;
    while let Some(i) = rest.find("$__") {
        out.push_str(&rest[..i]);
        let tail = &rest[i + 3..];
        let name_len = tail
            .find(|c: char| !(c.is_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        let name = &tail[..name_len];
        let mut after = &tail[name_len..];
        let arg = if after.starts_with('(') {
            let close = after.find(')').ok_or(format!("$__{name}( is not closed"))?;
            let a = after[1..close].trim().to_string();
            after = &after[close + 1..];
            Some(a)
        } else {
            None
        };
        let expanded = match (name, arg.as_deref()) {
            ("fromTime", None) => format!("toDateTime({})", r.from),
            ("toTime", None) => format!("toDateTime({})", r.to),
            ("timeFilter", Some(c)) => format!(
                "{c} >= toDateTime({}) AND {c} <= toDateTime({})",
                r.from, r.to
            ),
            ("dateFilter", Some(c)) => {
                format!("{c} >= {} AND {c} <= {}", date(r.from), date(r.to))
            }
            ("timeInterval", Some(_)) | ("timeInterval_ms", Some(_)) => {
                return Err(format!(
                    "$__{name} expands to toStartOfInterval, which ClickHouse 18.16 lacks"
                ))
            }
            _ => return Err(format!("unknown or misused macro $__{name}")),
        };
        out.push_str(&expanded);
        rest = after;
    }
    out.push_str(rest);
    if let Some(i) = out.find('$') {
        return Err(format!(
            "an unexpanded variable is left: {}",
            &out[i..(i + 20).min(out.len())]
        ));
    }
    Ok(out)
}

/// Runs an expanded query in the scratch database; the rows as JSON objects.
pub(super) async fn run(database: &str, sql: &str) -> Result<Vec<Value>, String> {
    let r = reqwest::Client::new()
        .post(clickhouse_url())
        .query(&[
            ("database", database),
            ("output_format_json_quote_64bit_integers", "0"),
        ])
        .header("user-agent", "luister-dashboards-test")
        .body(format!("{sql}\nFORMAT JSON"))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = r.status();
    let text = r.text().await.map_err(|e| e.to_string())?;
    if !status.is_success() {
        return Err(format!("ClickHouse answered {status}: {text}"));
    }
    let v: Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
    Ok(v["data"].as_array().cloned().unwrap_or_default())
}

pub(super) fn dashboard(name: &str) -> Value {
    let path = format!(
        "{}/../grafana-dashboards/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

/// Whether `got` has every key of `want` with an equal value (numbers compared as f64).
fn matches(got: &Value, want: &Value) -> bool {
    want.as_object()
        .unwrap()
        .iter()
        .all(|(k, w)| match (got.get(k), w) {
            (Some(g), Value::Number(w)) => g.as_f64() == w.as_f64(),
            (Some(g), w) => g == w,
            (None, _) => false,
        })
}

fn check_rows(what: &str, got: &[Value], want: &Value) {
    let want = want
        .as_array()
        .unwrap_or_else(|| panic!("{what}: the expectation is not a list of rows"));
    assert_eq!(got.len(), want.len(), "{what}: {got:?}");
    for (g, w) in got.iter().zip(want) {
        assert!(matches(g, w), "{what}: got {g}, want {w}");
    }
}

/// The dashboard's variables: `vars`, and its constants (as in Grafana) where `vars`
/// does not set them.
fn variables(d: &Value, vars: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut all: Vec<(String, String)> = vars
        .iter()
        .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
        .collect();
    for v in d["templating"]["list"].as_array().unwrap() {
        let name = v["name"].as_str().unwrap();
        if v["type"] == "constant" && !vars.iter().any(|(n, _)| *n == name) {
            all.push((name.to_owned(), v["query"].as_str().unwrap().to_owned()));
        }
    }
    all
}

/// Every SQL text of a dashboard: variable queries, annotations and panel targets.
fn sql_texts(d: &Value) -> Vec<&str> {
    let mut out = Vec::new();
    for var in d["templating"]["list"].as_array().unwrap() {
        out.extend(var["query"].as_str().filter(|_| var["type"] == "query"));
    }
    for a in d["annotations"]["list"].as_array().unwrap() {
        out.extend(a["target"]["rawSql"].as_str());
    }
    for panel in d["panels"].as_array().unwrap() {
        for t in panel["targets"].as_array().unwrap() {
            out.extend(t["rawSql"].as_str());
        }
    }
    out
}

/// The dashboards read the aggregates through the store's fragment
/// (`luister_store::aggregates::newest_rows` with the site as `'${site}'`): each
/// lookup of a day's newest version is part of exactly that fragment, on a table the
/// store owns, and no aggregate is read without it (every version of a day would be
/// added up), so a change of how the aggregates are read fails here until the
/// dashboards follow it.
fn check_aggregate_reads(name: &str, d: &Value) {
    const LOOKUP: &str = "(day, version) IN (SELECT day, max(version) FROM ";
    const SITE: &str = "'${site}'";
    for sql in sql_texts(d) {
        // A list of keys (the site variable's `SELECT DISTINCT site`) adds nothing up,
        // so it may read every version.
        let keys_only =
            sql.starts_with("SELECT DISTINCT ") && !sql.contains("sum(") && !sql.contains("count(");
        // Each fragment names its table twice: the rows and the version lookup.
        for table in luister_store::aggregates::TABLES
            .iter()
            .filter(|_| !keys_only)
        {
            let reads = sql.matches(&format!("FROM {table} ")).count();
            let lookups = sql.matches(&format!("{LOOKUP}{table} ")).count();
            assert_eq!(
                reads,
                2 * lookups,
                "{name}: {table} is read without the newest-version lookup:\n{sql}"
            );
        }
        let mut rest = sql;
        while let Some(i) = rest.find(LOOKUP) {
            let after = &rest[i + LOOKUP.len()..];
            let table = &after[..after.find(' ').unwrap_or(after.len())];
            assert!(
                luister_store::aggregates::TABLES.contains(&table),
                "{name}: {table} is not an aggregate the store owns"
            );
            let head = format!("{table} WHERE site = {SITE} AND (");
            let open = after
                .find(&head)
                .map(|j| j + head.len() - 1)
                .unwrap_or_else(|| panic!("{name}: the lookup on {table} is not the store's"));
            let days = balanced(&after[open..])
                .unwrap_or_else(|| panic!("{name}: unbalanced days on {table}"));
            let fragment = luister_store::aggregates::newest_rows(table, SITE, days);
            assert!(
                sql.contains(&format!("FROM {fragment}")),
                "{name}: a read of {table} is not the store's fragment:\n{fragment}\nin\n{sql}"
            );
            rest = after;
        }
    }
}

/// The text inside the parenthesis `s` starts with.
fn balanced(s: &str) -> Option<&str> {
    let mut depth = 0;
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    return Some(&s[1..i]);
                }
            }
            _ => {}
        }
    }
    None
}

/// Runs every ClickHouse target and variable query of one dashboard with `vars`.
async fn check_dashboard(
    scratch: &Scratch,
    name: &str,
    vars: &[(&str, &str)],
    range: Range,
    expected: &Value,
) {
    let d = dashboard(name);
    check_aggregate_reads(name, &d);
    let all = variables(&d, vars);
    let all: Vec<(&str, &str)> = all.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
    let vars = all.as_slice();
    for var in d["templating"]["list"].as_array().unwrap() {
        if var["type"] == "query" {
            let sql = expand_macros(&interpolate(var["query"].as_str().unwrap(), vars), range)
                .unwrap_or_else(|e| panic!("{name} variable {}: {e}", var["name"]));
            let rows = run(&scratch.database, &sql)
                .await
                .unwrap_or_else(|e| panic!("{name} variable {}: {e}\n{sql}", var["name"]));
            let want = expected["variables"]
                .get(var["name"].as_str().unwrap())
                .unwrap_or_else(|| panic!("{name} variable {}: no expectation", var["name"]));
            check_rows(&format!("{name} variable {}", var["name"]), &rows, want);
        }
    }
    for annotation in d["annotations"]["list"].as_array().unwrap() {
        let target = &annotation["target"];
        if target["datasource"]["type"] != "grafana-clickhouse-datasource" {
            continue;
        }
        let what = format!("{name} annotation {}", annotation["name"]);
        let sql = expand_macros(
            &interpolate(target["rawSql"].as_str().unwrap(), vars),
            range,
        )
        .unwrap_or_else(|e| panic!("{what}: {e}"));
        let rows = run(&scratch.database, &sql)
            .await
            .unwrap_or_else(|e| panic!("{what}: {e}\n{sql}"));
        let want = expected["annotations"]
            .get(annotation["name"].as_str().unwrap())
            .unwrap_or_else(|| panic!("{what}: no expectation"));
        check_rows(&what, &rows, want);
    }
    let mut seen = 0;
    for panel in d["panels"].as_array().unwrap() {
        let title = panel["title"].as_str().unwrap();
        for target in panel["targets"].as_array().unwrap() {
            if target["datasource"]["type"] != "grafana-clickhouse-datasource" {
                continue;
            }
            let key = format!("{title} {}", target["refId"].as_str().unwrap());
            let sql = expand_macros(
                &interpolate(target["rawSql"].as_str().unwrap(), vars),
                range,
            )
            .unwrap_or_else(|e| panic!("{name} / {key}: {e}"));
            let rows = run(&scratch.database, &sql)
                .await
                .unwrap_or_else(|e| panic!("{name} / {key}: {e}\n{sql}"));
            let want = expected["panels"]
                .get(&key)
                .unwrap_or_else(|| panic!("{name} / {key}: no expectation in dashboards.rs"));
            check_rows(&format!("{name} / {key}"), &rows, want);
            seen += 1;
        }
    }
    assert_eq!(
        seen,
        expected["panels"].as_object().unwrap().len(),
        "{name}: an expectation names a panel that does not exist"
    );
}

fn week_range(w: Weeks) -> Range {
    let tz = chrono_tz::Europe::Amsterdam;
    let start = |d: chrono::NaiveDate| {
        tz.from_local_datetime(&d.and_hms_opt(0, 0, 0).unwrap())
            .earliest()
            .unwrap()
            .timestamp()
    };
    Range {
        from: start(w.monday),
        to: start(w.monday + Days::new(7)) - 1,
    }
}

#[tokio::test]
async fn every_dashboard_query_runs_on_clickhouse_and_gives_the_known_figures() {
    let scratch = Scratch::new("api_dashboards");
    let (p, w): (Pipeline, Weeks) = loaded(&scratch).await;
    let range = week_range(w);
    let vars = [("site", "demo"), ("theme", "schulden")];
    // An action in the reported week: the dashboards draw it as an annotation.
    let r = reqwest::Client::new()
        .post(p.api.url("/v1/sites/demo/actions"))
        .bearer_auth(super::helpers::DEMO)
        .json(&json!({"themes": ["schulden"], "channels": ["letter"],
                      "start": w.monday.to_string(), "end": w.sunday().to_string(),
                      "description": "Brief over schuldhulp", "owner": "Team Schulden"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let actions = json!({"Acties": [{"time": format!("{} 00:00:00", w.monday),
        "timeEnd": format!("{} 23:59:59", w.sunday()),
        "text": "Brief over schuldhulp (Team Schulden)", "tags": "schulden,letter"}]});
    let tuesday = format!("{} 00:00:00", w.monday + Days::new(1));
    let monday = format!("{} 00:00:00", w.monday);
    let sites = json!([{"site": "demo"}, {"site": "zwolle"}]);
    let themes = json!([{"theme": "afval"}, {"theme": "armoede"}, {"theme": "armoede/kwijtschelding"},
                        {"theme": "schulden"}, {"theme": "schulden/schuldhulpverlening"}]);
    let zero = json!([{"term": "kwijtschelding", "zonder_resultaat": 5, "zoekopdrachten": 5, "bezoekers": 5}]);

    check_dashboard(&scratch, "weekly-review", &vars, range, &json!({
        "variables": {"site": sites, "theme": themes},
        "annotations": actions,
        "panels": {
            "Bereik: deze periode, vorige week, een jaar eerder A": [
                {"metric": "Paginaweergaven", "deze_periode": 7, "vorige_week": 2, "verschil_pct": 250, "jaar_eerder": 1, "verschil_jaar_pct": 600},
                {"metric": "Zoekopdrachten", "deze_periode": 21, "vorige_week": 2, "verschil_pct": 950, "jaar_eerder": 0, "verschil_jaar_pct": null},
                {"metric": "Bezoeken", "deze_periode": 7, "vorige_week": 2, "verschil_pct": 250, "jaar_eerder": 1, "verschil_jaar_pct": 600},
                {"metric": "Bezoekers", "deze_periode": 7, "vorige_week": 2, "verschil_pct": 250, "jaar_eerder": 1, "verschil_jaar_pct": 600},
                {"metric": "Bezoeken met contact", "deze_periode": 3, "vorige_week": 0, "verschil_pct": null, "jaar_eerder": 0, "verschil_jaar_pct": null}],
            "Thema's: bezoekers A": [
                {"theme": "schulden", "deze_periode": 6, "vorige_week": 2, "jaar_eerder": 1},
                {"theme": "armoede", "deze_periode": 5, "vorige_week": 0, "jaar_eerder": 0},
                {"theme": "afval", "deze_periode": 1, "vorige_week": 0, "jaar_eerder": 0}],
            "Trend ${theme}: bezoekers per dag (en 52 weken eerder) A": [
                {"time": tuesday, "bezoekers": 6, "paginaweergaven": 6}],
            "Trend ${theme}: bezoekers per dag (en 52 weken eerder) B": [
                {"time": tuesday, "bezoekers_jaar_eerder": 1}],
            "Contacten na ${theme} A": [{"bezoeken_met_thema": 6, "met_contact": 3}],
            "Meest gezocht A": [
                {"term": "schuldhulp", "zoekopdrachten": 6, "zonder_resultaat": 0, "bezoekers": 6},
                {"term": "kwijtschelding", "zoekopdrachten": 5, "zonder_resultaat": 5, "bezoekers": 5},
                {"term": "zwembad", "zoekopdrachten": 5, "zonder_resultaat": 0, "bezoekers": 5}],
            "Zoekopdrachten zonder resultaat A": zero,
            // search (2 visitors) is below k.
            "Kanalen A": [{"kanaal": "direct", "bezoeken": 5, "bezoekers": 5, "met_contact": 1}],
            // mobile (4) and desktop (3) are both below k.
            "Apparaten A": [],
            // three phone contacts by three visitors: below k.
            "Contacten per kanaal: kosten en tijd A": [],
            "Besparing door verschuiving naar het web A": [],
            // Visitor 7's /afval (one visitor) is below k: folded, not dropped.
            "Meest bekeken pagina's A": [
                {"pagina": "/schulden/schuldhulpverlening", "bezoeken": 6, "bezoekers": 6, "met_contact_erna": 3},
                {"pagina": "Overige pagina's", "bezoeken": 1, "bezoekers": 1, "met_contact_erna": 0}],
            "Campagnes (utm_campaign) A": [
                {"campagne": "(geen campagne)", "bezoeken": 7, "bezoekers": 7, "met_contact": 3}],
            // Google (visitors 1 and 2, who both called) is below k.
            "Verwijzende sites A": [
                {"verwijzer": "(geen verwijzer)", "bezoeken": 5, "bezoekers": 5, "met_contact": 1},
                {"verwijzer": "Overige sites", "bezoeken": 2, "bezoekers": 2, "met_contact": 2}],
        }
    })).await;

    check_dashboard(&scratch, "early-contact", &vars, range, &json!({
        "variables": {"site": sites},
        "annotations": actions,
        "panels": {
            "Bezoeken, contact en tijd tot contact (${theme}) A": [
                {"bezoeken": 6, "met_contact": 3, "conversie_pct": 50, "mediaan_tijd_tot_contact_s": 300, "p90_tijd_tot_contact_s": 300}],
            "Per kanaal A": [],
            "Per week: bezoeken, contact, conversie A": [
                {"time": monday, "bezoeken": 6, "met_contact": 3, "conversie_pct": 50}],
        }
    })).await;

    check_dashboard(&scratch, "search-listening", &vars, range, &json!({
        "variables": {"site": sites, "theme": themes},
        "panels": {
            "Stijgende termen (tegen het gemiddelde van de 4 perioden ervoor) A": [
                {"term": "schuldhulp", "deze_periode": 6, "gemiddeld_ervoor": 0.5, "bezoekers": 6},
                {"term": "kwijtschelding", "deze_periode": 5, "gemiddeld_ervoor": 0, "bezoekers": 5},
                {"term": "zwembad", "deze_periode": 5, "gemiddeld_ervoor": 0, "bezoekers": 5}],
            "Zonder resultaat A": zero,
            "Geen thema gevonden (taxonomie bijwerken) A": [
                {"term": "zwembad", "zoekopdrachten": 5, "zonder_resultaat": 0, "bezoekers": 5}],
            "Zoektermen bij ${theme} A": [
                {"term": "schuldhulp", "zoekopdrachten": 6, "zonder_resultaat": 0, "bezoekers": 6}],
        }
    })).await;

    // Another tenant's site through the same dashboard: its own figures only.
    let other = [
        ("site", "zwolle"),
        ("theme", "afval"),
        ("tz", "Europe/Amsterdam"),
        ("k", "5"),
    ];
    let sql = interpolate(
        dashboard("weekly-review")["panels"][4]["targets"][0]["rawSql"]
            .as_str()
            .unwrap(),
        &other,
    );
    let rows = run(&scratch.database, &expand_macros(&sql, range).unwrap())
        .await
        .unwrap();
    check_rows(
        "zwolle top terms",
        &rows,
        &json!([{"term": "geheimterm", "zoekopdrachten": 5, "bezoekers": 5}]),
    );

    p.stop().await;
    scratch.cleanup().await;
}

#[test]
fn macros_expand_as_the_plugin_does_and_unsupported_ones_are_refused() {
    let r = Range {
        from: 1_763_334_000,
        to: 1_763_938_799,
    };
    assert_eq!(
        expand_macros("WHERE $__timeFilter(ts) AND day <= toDate($__toTime)", r).unwrap(),
        "WHERE ts >= toDateTime(1763334000) AND ts <= toDateTime(1763938799) AND day <= toDate(toDateTime(1763938799))"
    );
    assert_eq!(
        expand_macros("$__dateFilter(day)", r).unwrap(),
        "day >= toDate('2025-11-16') AND day <= toDate('2025-11-23')"
    );
    assert!(expand_macros("$__timeInterval(ts)", r)
        .unwrap_err()
        .contains("18.16"));
    assert!(expand_macros("$__nope", r).is_err());
    assert!(expand_macros("site = '$site'", r)
        .unwrap_err()
        .contains("unexpanded"));
    assert_eq!(
        interpolate(
            "'${site}' $site $sites ${k}",
            &[("site", "demo"), ("k", "5")]
        ),
        "'demo' demo $sites 5"
    );
}

/// The rows of the first ClickHouse target of the panel titled `title`.
async fn panel_rows(
    database: &str,
    d: &Value,
    title: &str,
    vars: &[(&str, &str)],
    range: Range,
) -> Vec<Value> {
    let panel = d["panels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["title"] == title)
        .unwrap_or_else(|| panic!("no panel {title}"));
    let all = variables(d, vars);
    let all: Vec<(&str, &str)> = all.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
    let sql = expand_macros(
        &interpolate(panel["targets"][0]["rawSql"].as_str().unwrap(), &all),
        range,
    )
    .unwrap();
    run(database, &sql)
        .await
        .unwrap_or_else(|e| panic!("{title}: {e}\n{sql}"))
}

/// The weekly review's cost panels value the channel shift in SQL; the API's
/// `savings::shift` is where that arithmetic is defined. On the same daily contact
/// counts (above k, in both periods) the panels must give the API's figures, with the
/// dashboard's cost constants equal to the API's default costs.
#[tokio::test]
async fn the_cost_panels_give_the_figures_of_the_apis_savings_arithmetic() {
    use luister_api::domain::savings;
    use luister_api::params::Period;

    let scratch = Scratch::new("api_dashboard_savings");
    let store = luister_store::Store::connect(&luister_store::ClickHouseConfig {
        url: clickhouse_url(),
        database: scratch.database.clone(),
        ..Default::default()
    })
    .await
    .unwrap();
    let monday = chrono::NaiveDate::from_ymd_opt(2026, 11, 2).unwrap();
    let w = Weeks { monday };
    let range = week_range(w);
    let now = Period {
        from: monday,
        to: monday + Days::new(6),
    };
    let baseline = Period {
        from: monday - Days::new(28),
        to: monday - Days::new(1),
    };
    // (day, channel, contacts, visitors): a shift towards the web.
    let counts = [
        (now.from, "telephone", 20, 18),
        (now.from + Days::new(2), "counter", 10, 9),
        (now.to, "letter", 5, 5),
        (now.from + Days::new(1), "web", 65, 60),
        (baseline.from, "telephone", 30, 28),
        (baseline.from + Days::new(9), "telephone", 10, 10),
        (baseline.to, "counter", 15, 15),
        (baseline.from + Days::new(3), "letter", 5, 5),
        (baseline.from + Days::new(20), "web", 40, 38),
    ];
    let values: Vec<String> = counts
        .iter()
        .map(|(day, ch, c, v)| format!("('demo', '', toDate('{day}'), '{ch}', {c}, {v}, 1)"))
        .collect();
    store
        .client()
        .query(&format!(
            "INSERT INTO {} (site, theme, day, channel, contacts, visitors, version) VALUES {}",
            luister_store::aggregates::contact_channels::TABLE,
            values.join(", ")
        ))
        .execute()
        .await
        .unwrap();

    let d = dashboard("weekly-review");
    let constant = |name: &str| -> f64 {
        variables(&d, &[])
            .into_iter()
            .find(|(n, _)| n == name)
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or_else(|| panic!("no constant {name}"))
    };
    let costs = savings::default_costs();
    for c in &costs {
        assert_eq!(
            constant(&format!("cost_{}", c.channel)),
            c.cost_eur,
            "{}",
            c.channel
        );
        assert_eq!(
            constant(&format!("minutes_{}", c.channel)),
            c.minutes,
            "{}",
            c.channel
        );
    }
    let k = constant("k") as u32;
    let mixes = savings::periods(store.client(), "demo", &[now, baseline], None)
        .await
        .unwrap();
    let (rows, shift) = savings::shift(&mixes[0], &mixes[1], &costs, "demo", k);
    let shift = shift.expect("contacts in both periods");
    assert!(shift.saved_eur > 0.0, "{shift:?}");

    let vars = [("site", "demo"), ("theme", "schulden")];
    let got = panel_rows(
        &scratch.database,
        &d,
        "Besparing door verschuiving naar het web",
        &vars,
        range,
    )
    .await;
    assert_eq!(got.len(), 1, "{got:?}");
    let g = &got[0];
    let close = |field: &str, want: f64, within: f64| {
        let v = g[field]
            .as_f64()
            .unwrap_or_else(|| panic!("{field} in {g}"));
        assert!((v - want).abs() <= within, "{field}: panel {v}, API {want}");
    };
    // The panel rounds euros and contacts to whole numbers, the API to one decimal.
    close("bespaard_eur", shift.saved_eur, 0.55);
    close("bespaard_uren", shift.saved_hours, 0.051);
    close("verschoven_contacten", shift.shifted_contacts, 0.55);
    close("web_aandeel_pct", shift.digital_share_pct, 0.001);
    close(
        "web_aandeel_ervoor_pct",
        shift.baseline_digital_share_pct,
        0.001,
    );

    let got = panel_rows(
        &scratch.database,
        &d,
        "Contacten per kanaal: kosten en tijd",
        &vars,
        range,
    )
    .await;
    assert_eq!(got.len(), rows.len(), "{got:?}");
    for r in &rows {
        let g = got
            .iter()
            .find(|g| g["kanaal"] == r.channel.as_str())
            .unwrap_or_else(|| panic!("{} not in {got:?}", r.channel));
        let contacts = r.contacts.expect("above k") as f64;
        assert_eq!(g["deze_periode"].as_f64(), Some(contacts), "{}", r.channel);
        assert_eq!(
            g["vier_weken_ervoor"].as_f64(),
            r.baseline_contacts.map(|c| c as f64),
            "{}",
            r.channel
        );
        let eur = g["kosten_eur"].as_f64().unwrap();
        assert!(
            (eur - contacts * r.cost_eur).abs() < 0.01,
            "{}: {eur}",
            r.channel
        );
        let hours = g["uren"].as_f64().unwrap();
        assert!(
            (hours - contacts * r.minutes / 60.0).abs() <= 0.051,
            "{}: {hours}",
            r.channel
        );
    }
    scratch.cleanup().await;
}
