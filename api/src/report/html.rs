//! The weekly report as HTML: server-rendered (maud, which escapes every value) with
//! charts drawn as inline SVG, no script and no external resources, so it prints and
//! archives as it is. A pure function of the [`WeeklyReport`]. The text is Dutch: the
//! readers are municipal communications and policy staff.

use maud::{html, Markup, PreEscaped, DOCTYPE};

use super::WeeklyReport;
use crate::domain::searches::Term;
use crate::domain::visits::{Contact, Share};

const BLUE: &str = "#1f5fbf";
const GREY: &str = "#9aa5b1";

/// The report's page.
pub fn page(r: &WeeklyReport) -> String {
    let WeeklyReport {
        site,
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
        pages,
        reading,
        blocks,
    } = r;
    let top_level: Vec<_> = themes
        .themes
        .iter()
        .filter(|t| !t.theme.contains('/'))
        .collect();
    let title = format!("Weekrapport {site} — week {} {}", week.week, week.year);
    let page = html! {
        (DOCTYPE)
        html lang="nl" {
            head {
                meta charset="utf-8";
                title { (title) }
                style { (PreEscaped(CSS)) }
            }
            body {
                header {
                    h1 { (title) }
                    p.period { (p.from.format("%d-%m-%Y")) " t/m " (p.to.format("%d-%m-%Y"))
                        " · vergeleken met de week ervoor en dezelfde week een jaar eerder (52 weken)" }
                }
                section #reach {
                    h2 { "Bereik" }
                    table {
                        thead { tr { th { "" } th.n { "Deze week" } th.n { "Vorige week" } th.n { "Verschil" } th.n { "Jaar eerder" } th.n { "Verschil" } } }
                        tbody {
                            @for r in &reach.figures {
                                tr {
                                    td { (metric_name(&r.metric)) }
                                    td.n { (r.current) }
                                    td.n { (r.previous) }
                                    td.n { (pct(r.change_vs_previous_pct)) }
                                    td.n { (r.year_ago) }
                                    td.n { (pct(r.change_vs_year_ago_pct)) }
                                }
                            }
                        }
                    }
                }
                section #themes {
                    h2 { "Thema's" }
                    p.note { "Bezoekers per hoofdthema: deze week (blauw) en vorige week (grijs)." }
                    (pair_bars(&top_level.iter().map(|t| (t.theme.as_str(), t.figures.visitors, t.visitors_previous)).collect::<Vec<_>>()))
                    table {
                        thead { tr { th { "Thema" } th.n { "Bezoekers" } th.n { "Verschil" } th.n { "Paginaweergaven" } th.n { "Zoekopdrachten" } th.n { "Contacten" } } }
                        tbody {
                            @for t in &themes.themes {
                                tr {
                                    td { (t.theme) }
                                    td.n { (t.figures.visitors) }
                                    td.n { (pct(t.visitors_change_pct)) }
                                    td.n { (t.figures.pageviews) }
                                    td.n { (t.figures.searches) }
                                    td.n { (t.figures.contacts) }
                                }
                            }
                        }
                    }
                }
                section #trend {
                    h2 { "Trend: bezoekers per week" }
                    (line_chart(&trend.iter().map(|pt| (pt.bucket.as_str(), pt.visitors)).collect::<Vec<_>>()))
                }
                section #searches {
                    h2 { "Zoekopdrachten" }
                    p.note { "Alleen termen die minstens " (k) " verschillende bezoekers zochten." }
                    div.cols {
                        div { h3 { "Meest gezocht" } (terms_table(top, false)) }
                        div { h3 { "Zonder resultaat" } (terms_table(zero, true)) }
                    }
                }
                section #channels {
                    h2 { "Kanalen en apparaten" }
                    p.note { "Aandeel van alle bezoeken; kanalen en apparaten van minder dan " (k) " bezoekers worden niet getoond." }
                    div.cols {
                        div { h3 { "Kanaal" } (share_bars(channels)) }
                        div { h3 { "Apparaat" } (share_bars(devices)) }
                    }
                }
                section #early-contact {
                    h2 { "Vroeg contact" }
                    p.note { "Bezoeken die een thema raakten, hoeveel daarvan contact opnamen (conversie) en hoe snel. Laatste acht weken." }
                    @for (theme, rows) in contact {
                        h3 { (theme) }
                        (contact_block(rows))
                    }
                }
                section #channel-shift {
                    h2 { "Kanaalverschuiving: euro's en tijd" }
                    p.note { "Contacten die op de website begonnen (bellen, afspraak, formulier, chat, online aanvraag) per kanaal, deze week tegen de vier weken ervoor, gewaardeerd met de eigen kosten en behandeltijd per kanaal. Een streepje: minder dan " (k) " bezoekers." }
                    table {
                        thead { tr { th { "Kanaal" } th.n { "Deze week" } th.n { "Aandeel" } th.n { "4 weken ervoor" } th.n { "Aandeel" } th.n { "Kosten per contact" } th.n { "Minuten" } } }
                        tbody {
                            @for r in shift_rows {
                                tr {
                                    td { (r.channel) }
                                    td.n { (count_or_dash(r.contacts)) }
                                    td.n { (r.share_pct.map_or("–".into(), pct_plain)) }
                                    td.n { (count_or_dash(r.baseline_contacts)) }
                                    td.n { (r.baseline_share_pct.map_or("–".into(), pct_plain)) }
                                    td.n { "€ " (format!("{:.2}", r.cost_eur).replace('.', ",")) }
                                    td.n { (format!("{:.0}", r.minutes)) }
                                }
                            }
                        }
                    }
                    p {
                        @if let Some(s) = &shift { (s.summary) "." } @else { "Geen contacten om te vergelijken." }
                    }
                    ul.note { @for a in crate::domain::savings::ASSUMPTIONS { li { (a) } } }
                }
                section #pages {
                    h2 { "Pagina's" }
                    p.note { "De meest bekeken pagina's van de site en van elk thema van vroeg contact: bezoeken die de pagina zagen, hoeveel er op de pagina binnenkwamen (instap) en weggingen (uitstap), en welk deel daarna contact opnam. Pagina's met minder dan " (k) " bezoekers staan samen onder 'Overige pagina's'." }
                    @for (theme, list) in pages {
                        h3 { @if let Some(t) = theme { "Thema " (t) } @else { "Hele site" } }
                        @if list.pages.is_empty() && list.other.is_none() {
                            p.note { "Geen paginaweergaven deze week." }
                        } @else {
                            table {
                                thead { tr { th { "Pagina" } th.n { "Paginaweergaven" } th.n { "Bezoeken" } th.n { "Instap" } th.n { "Uitstap" } th.n { "Daarna contact" } th.n { "Vorige week" } th.n { "Jaar eerder" } } }
                                tbody {
                                    @for pg in &list.pages {
                                        tr {
                                            td { (pg.path) @if !pg.title.is_empty() { br; span.note { (pg.title) } } }
                                            (page_figures(pg))
                                        }
                                    }
                                    @if let Some(o) = &list.other {
                                        tr {
                                            td { "Overige pagina's (" (o.pages_folded) ")" }
                                            (page_figures(o))
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
                section #reading {
                    h2 { "Gelezen" }
                    @if reading.is_empty() {
                        p.note { "Geen leestijd gemeten deze week (die meten het script van Plausible en Luisters script voor Plausible-snippets)." }
                    } @else {
                        p.note { "De meest bekeken pagina's waarvan de leestijd gemeten is: hoe lang bezoekers de pagina in beeld hadden (mediaan) en hoe ver ze scrolden." }
                        table {
                            thead { tr { th { "Pagina" } th.n { "Paginaweergaven" } th.n { "Gemeten" } th.n { "Leestijd (mediaan)" } th.n { "Scrolldiepte (gem.)" } th.n { "Tot 75% gelezen" } } }
                            tbody {
                                @for r in reading {
                                    tr {
                                        td { (r.key) }
                                        td.n { (r.pageviews) }
                                        td.n { (r.engagements) }
                                        td.n { (r.median_engaged_s.map_or("–".into(), |s| duration(s.round() as u64))) }
                                        td.n { (r.avg_scroll_depth_pct.map_or("–".into(), pct_plain)) }
                                        td.n { (r.read_to_75_pct.map_or("–".into(), pct_plain)) }
                                    }
                                }
                            }
                        }
                    }
                    h3 { "Blokken en banners" }
                    @if blocks.is_empty() {
                        p.note { "Geen blokken gemeten deze week (Matomo-contenttracking)." }
                    } @else {
                        table {
                            thead { tr { th { "Blok" } th { "Inhoud" } th { "Pagina" } th.n { "Vertoond" } th.n { "Aangeklikt" } th.n { "Klikratio" } } }
                            tbody {
                                @for b in blocks {
                                    tr {
                                        td { (b.content) }
                                        td { (b.piece) }
                                        td { (b.path) }
                                        td.n { (b.impressions) }
                                        td.n { (b.interactions) }
                                        td.n { (b.interaction_rate_pct.map_or("–".into(), pct_plain)) }
                                    }
                                }
                            }
                        }
                    }
                }
                section #actions {
                    h2 { "Acties" }
                    @if actions.is_empty() {
                        p.note { "Geen acties geregistreerd die deze week liepen." }
                    } @else {
                        p.note { "Acties die deze week liepen, met het geschatte effect op bezoekers van hun thema's tot nu toe (verschil-in-verschillen tegen de andere thema's; zie docs/measuring-effect.md)." }
                        table {
                            thead { tr { th { "Actie" } th { "Thema's" } th { "Kanalen" } th { "Periode" } th.n { "Kosten" } th { "Effect" } } }
                            tbody {
                                @for (a, effect) in actions {
                                    tr {
                                        td { (a.description) br; span.note { (a.owner) } }
                                        td { (a.themes.join(", ")) }
                                        td { (a.channels.join(", ")) }
                                        td { (a.start) " – " (a.end) }
                                        td.n { @if let Some(c) = a.cost_eur { "€ " (format!("{c:.0}")) } }
                                        td { (effect) }
                                    }
                                }
                            }
                        }
                    }
                }
                footer { "Luister · cookieloos en zonder persoonsgegevens gemeten · " (reach.from) " – " (reach.to) }
            }
        }
    };
    page.into_string()
}

const CSS: &str = "
body { font-family: system-ui, sans-serif; margin: 2rem; color: #1b1f24; max-width: 60rem; }
h1 { font-size: 1.5rem; margin-bottom: 0.2rem; }
h2 { font-size: 1.2rem; border-bottom: 2px solid #1f5fbf; padding-bottom: 0.2rem; margin-top: 2rem; }
h3 { font-size: 1rem; margin: 0.8rem 0 0.3rem; }
.period, .note { color: #57606a; font-size: 0.9rem; }
table { border-collapse: collapse; font-size: 0.9rem; margin: 0.5rem 0; }
th, td { padding: 0.2rem 0.6rem; border-bottom: 1px solid #d0d7de; text-align: left; }
.n { text-align: right; font-variant-numeric: tabular-nums; }
.cols { display: flex; gap: 2rem; flex-wrap: wrap; }
.cols > div { flex: 1 1 20rem; }
svg.chart { display: block; margin: 0.5rem 0; }
svg.chart text { font-size: 12px; fill: #1b1f24; }
section { break-inside: avoid; }
footer { margin-top: 2rem; color: #57606a; font-size: 0.8rem; }
@media print { body { margin: 0; } h2 { break-after: avoid; } }
";

fn metric_name(m: &str) -> &'static str {
    match m {
        "pageviews" => "Paginaweergaven",
        "visits" => "Bezoeken",
        "visitors" => "Bezoekers",
        "searches" => "Zoekopdrachten",
        "zero_result_searches" => "Zoekopdrachten zonder resultaat",
        "contacts" => "Bezoeken met contact",
        _ => "",
    }
}

fn pct(v: Option<f64>) -> String {
    match v {
        None => "–".into(),
        Some(v) => format!("{:+.1}%", v).replace('.', ","),
    }
}

/// Horizontal bars, two per label (now and before).
fn pair_bars(rows: &[(&str, u64, u64)]) -> Markup {
    let max = rows.iter().map(|r| r.1.max(r.2)).max().unwrap_or(0).max(1) as f64;
    let (label_w, bar_w, row_h) = (170.0, 420.0, 30.0);
    let h = (rows.len().max(1) as f64) * row_h + 10.0;
    html! {
        svg.chart xmlns="http://www.w3.org/2000/svg" width=(label_w + bar_w + 60.0) height=(h)
            role="img" aria-label="Bezoekers per thema, deze week en vorige week" {
            @if rows.is_empty() { text x="0" y="20" { "Geen gegevens deze week." } }
            @for (i, (label, now, before)) in rows.iter().enumerate() {
                @let y = i as f64 * row_h + 4.0;
                text x="0" y=(y + 14.0) { (label) }
                rect x=(label_w) y=(y) width=(bar_w * *now as f64 / max) height="11" fill=(BLUE) {}
                rect x=(label_w) y=(y + 13.0) width=(bar_w * *before as f64 / max) height="11" fill=(GREY) {}
                text x=(label_w + bar_w * *now as f64 / max + 4.0) y=(y + 10.0) { (now) }
            }
        }
    }
}

/// Shares as horizontal bars.
fn share_bars(rows: &[Share]) -> Markup {
    let (label_w, bar_w, row_h) = (80.0, 200.0, 22.0);
    let h = (rows.len().max(1) as f64) * row_h + 6.0;
    html! {
        svg.chart xmlns="http://www.w3.org/2000/svg" width=(label_w + bar_w + 60.0) height=(h)
            role="img" aria-label="Aandeel bezoeken" {
            @if rows.is_empty() { text x="0" y="16" { "Geen bezoeken deze week." } }
            @for (i, r) in rows.iter().enumerate() {
                @let y = i as f64 * row_h + 3.0;
                text x="0" y=(y + 12.0) { (r.value) }
                rect x=(label_w) y=(y) width=(bar_w * r.share_pct / 100.0) height="15" fill=(BLUE) {}
                text x=(label_w + bar_w * r.share_pct / 100.0 + 4.0) y=(y + 12.0) { (pct_plain(r.share_pct)) }
            }
        }
    }
}

/// A count, or a dash where fewer than k visitors produced it.
fn count_or_dash(v: Option<u64>) -> String {
    v.map_or("–".into(), |n| n.to_string())
}

/// A page row's figures, in the order of the pages table's columns.
fn page_figures(f: &crate::domain::pages::PageFigures) -> Markup {
    html! {
        td.n { (f.pageviews) }
        td.n { (f.visits) }
        td.n { (f.entries) }
        td.n { (f.exits) }
        td.n { (f.contact_share_pct.map_or("–".into(), pct_plain)) }
        td.n { (f.previous_pageviews) }
        td.n { (f.year_earlier_pageviews) }
    }
}

fn pct_plain(v: f64) -> String {
    format!("{v:.1}%").replace('.', ",")
}

/// A line with dots over labelled points (weeks).
fn line_chart(points: &[(&str, u64)]) -> Markup {
    let (w, h, pad) = (600.0, 180.0, 30.0);
    let max = points.iter().map(|p| p.1).max().unwrap_or(0).max(1) as f64;
    let step = if points.len() > 1 {
        (w - 2.0 * pad) / (points.len() - 1) as f64
    } else {
        0.0
    };
    let xy: Vec<(f64, f64)> = points
        .iter()
        .enumerate()
        .map(|(i, p)| {
            (
                pad + i as f64 * step,
                h - pad - (h - 2.0 * pad) * p.1 as f64 / max,
            )
        })
        .collect();
    let path: Vec<String> = xy.iter().map(|(x, y)| format!("{x:.1},{y:.1}")).collect();
    html! {
        svg.chart xmlns="http://www.w3.org/2000/svg" width=(w) height=(h + 10.0)
            role="img" aria-label="Bezoekers per week" {
            line x1=(pad) y1=(h - pad) x2=(w - pad) y2=(h - pad) stroke=(GREY) {}
            polyline points=(path.join(" ")) fill="none" stroke=(BLUE) stroke-width="2" {}
            @for (i, (x, y)) in xy.iter().enumerate() {
                circle cx=(x) cy=(y) r="3.5" fill=(BLUE) {}
                text x=(x) y=(y - 8.0) text-anchor="middle" { (points[i].1) }
                text x=(x) y=(h - pad + 16.0) text-anchor="middle" { (points[i].0.split("-W").nth(1).map(|w| format!("wk {w}")).unwrap_or_default()) }
            }
        }
    }
}

fn terms_table(terms: &[Term], zero: bool) -> Markup {
    html! {
        @if terms.is_empty() {
            p.note { "Geen termen boven de drempel." }
        } @else {
            table {
                thead { tr { th { "Term" } th.n { "Zoekopdrachten" } @if zero { th.n { "Zonder resultaat" } } th.n { "Bezoekers" } } }
                tbody {
                    @for t in terms {
                        tr { td { (t.term) } td.n { (t.searches) } @if zero { td.n { (t.zero_result_searches) } } td.n { (t.visitors) } }
                    }
                }
            }
        }
    }
}

fn contact_block(rows: &[Contact]) -> Markup {
    let total = rows.first();
    let weeks = rows.get(1..).unwrap_or_default();
    let conv: Vec<(&str, u64)> = weeks
        .iter()
        .map(|w| {
            (
                w.week.as_str(),
                w.conversion_pct.map_or(0, |c| c.round() as u64),
            )
        })
        .collect();
    html! {
        @if let Some(t) = total {
            p {
                (t.sessions) " bezoeken raakten dit thema, " (t.contacted) " namen daarna contact op"
                @if let Some(c) = t.conversion_pct { " (" (pct_plain(c)) ")" }
                @if let Some(m) = t.median_time_to_contact_s { "; mediaan " (duration(m)) " tot contact" }
                @if let Some(m) = t.p90_time_to_contact_s { ", 90% binnen " (duration(m)) }
                "."
            }
        }
        p.note { "Conversie per week (%):" }
        (line_chart(&conv))
    }
}

fn duration(s: u64) -> String {
    if s < 120 {
        format!("{s} s")
    } else {
        format!("{} min", s / 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A week with a page read, a banner, an action whose description holds markup,
    /// and nothing else.
    fn week() -> WeeklyReport {
        use crate::params::{IsoWeek, Period};
        let period = Period::of_week(IsoWeek {
            year: 2026,
            week: 47,
        });
        let span = |p: Period| crate::params::Span::from(p);
        WeeklyReport {
            site: luister_schema::SiteId::parse("demo").unwrap_or_else(|e| panic!("{e}")),
            week: IsoWeek {
                year: 2026,
                week: 47,
            },
            period,
            min_visitors: 5,
            reach: crate::domain::reach::ReachAnswer {
                site: "demo".into(),
                theme: None,
                from: period.from.to_string(),
                to: period.to.to_string(),
                previous: span(period.previous()),
                year_ago: span(period.year_ago()),
                figures: vec![crate::domain::reach::ReachRow {
                    metric: "visitors".into(),
                    current: 120,
                    previous: 100,
                    year_ago: 0,
                    change_vs_previous_pct: Some(20.0),
                    change_vs_year_ago_pct: None,
                }],
            },
            themes: crate::domain::reach::ThemesAnswer {
                site: "demo".into(),
                from: period.from.to_string(),
                to: period.to.to_string(),
                previous: span(period.previous()),
                year_ago: span(period.year_ago()),
                themes: Vec::new(),
            },
            trend: Vec::new(),
            top: Vec::new(),
            zero: Vec::new(),
            channels: Vec::new(),
            devices: Vec::new(),
            early_contact: Vec::new(),
            shift_rows: Vec::new(),
            shift: None,
            actions: vec![(
                crate::domain::actions::Action {
                    id: "a".into(),
                    site: "demo".into(),
                    themes: vec!["schulden".into()],
                    channels: vec!["letter".into()],
                    start: "2026-11-16".into(),
                    end: "2026-11-22".into(),
                    description: "Brief <b>aan</b> huishoudens".into(),
                    cost_eur: Some(1250.0),
                    owner: "Team Schulden".into(),
                    created_at: String::new(),
                    updated_at: String::new(),
                },
                "+26% bezoekers".into(),
            )],
            reading: vec![crate::domain::engagement::Reading {
                key: "/schulden".into(),
                pageviews: 40,
                engagements: 30,
                median_engaged_s: Some(41.3),
                avg_scroll_depth_pct: Some(62.5),
                read_to_75_pct: None,
            }],
            pages: vec![
                (
                    None,
                    crate::domain::pages::PageList {
                        pages: vec![crate::domain::pages::PageFigures {
                            path: "/schulden".into(),
                            title: "Schulden <en> geldzorgen".into(),
                            pageviews: 40,
                            visits: 35,
                            visitors: 30,
                            entries: 12,
                            exits: 9,
                            contact_visits: 7,
                            contact_share_pct: Some(20.0),
                            previous_pageviews: 31,
                            year_earlier_pageviews: 0,
                            pages_folded: 0,
                        }],
                        other: Some(crate::domain::pages::PageFigures {
                            path: "other".into(),
                            pageviews: 6,
                            visits: 5,
                            entries: 4,
                            exits: 5,
                            pages_folded: 3,
                            ..Default::default()
                        }),
                    },
                ),
                (
                    Some("afval".into()),
                    crate::domain::pages::PageList {
                        pages: Vec::new(),
                        other: None,
                    },
                ),
            ],
            blocks: Vec::new(),
        }
    }

    #[test]
    fn the_page_shows_each_section_in_dutch_and_escapes_what_users_typed() {
        let html = page(&week());
        for text in [
            "<html lang=\"nl\">",
            "Weekrapport demo — week 47 2026",
            "<td>Bezoekers</td><td class=\"n\">120</td><td class=\"n\">100</td><td class=\"n\">+20,0%</td><td class=\"n\">0</td><td class=\"n\">–</td>",
            "<td>/schulden</td><td class=\"n\">40</td><td class=\"n\">30</td><td class=\"n\">41 s</td><td class=\"n\">62,5%</td><td class=\"n\">–</td>",
            "Geen blokken gemeten deze week",
            "<td>/schulden<br><span class=\"note\">Schulden &lt;en&gt; geldzorgen</span></td><td class=\"n\">40</td><td class=\"n\">35</td><td class=\"n\">12</td><td class=\"n\">9</td><td class=\"n\">20,0%</td><td class=\"n\">31</td><td class=\"n\">0</td>",
            "<td>Overige pagina's (3)</td><td class=\"n\">6</td>",
            "<h3>Thema afval</h3><p class=\"note\">Geen paginaweergaven deze week.</p>",
            "Brief &lt;b&gt;aan&lt;/b&gt; huishoudens",
            "Geen contacten om te vergelijken.",
        ] {
            assert!(html.contains(text), "{text} in {html}");
        }
        assert!(!html.contains("<b>aan</b>"));
    }

    #[test]
    fn charts_escape_their_labels_and_scale_to_the_largest_value() {
        let svg = pair_bars(&[("<script>x</script>", 10, 5), ("schulden", 5, 0)]).into_string();
        assert!(svg.contains("&lt;script&gt;"), "{svg}");
        assert!(!svg.contains("<script>"));
        assert!(
            svg.contains(r#"width="420""#),
            "the largest bar is full width: {svg}"
        );
        assert!(svg.contains(r#"width="210""#), "{svg}");
    }

    #[test]
    fn dutch_numbers_and_durations() {
        assert_eq!(pct(Some(18.04)), "+18,0%");
        assert_eq!(pct(Some(-3.5)), "-3,5%");
        assert_eq!(pct(None), "–");
        assert_eq!(duration(95), "95 s");
        assert_eq!(duration(600), "10 min");
    }
}
