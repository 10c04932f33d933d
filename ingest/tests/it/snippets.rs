//! The vendors' standard snippets, unchanged but for the host, in headless Chromium:
//! they load their script from the collector (Luister's own trackers under the vendors'
//! names) and every event they send is stored once, with the right kind and name.

use std::time::Duration;

use luister_schema::{Event, EventData};
use luister_testkit::{consume, Scratch};

use crate::helpers;

/// Chromium's own user agent says `HeadlessChrome`, which the collector drops as a bot.
const CHROME: &str = "--user-agent=Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";

/// What a test page's clicks do besides: nothing (the trackers see the click first, in
/// the capture phase; the page then stays where it is).
const NO_NAVIGATION: &str =
    "window.addEventListener('click', function (e) { e.preventDefault(); });";

fn kinds(events: &[Event], page: &str) -> Vec<String> {
    let mut k: Vec<String> = events
        .iter()
        .map(|e| match &e.data {
            EventData::Pageview { title } => format!(
                "pageview {} {}",
                e.url.trim_start_matches(page),
                title.as_deref().unwrap_or("-")
            ),
            EventData::Search {
                query,
                result_count,
                category,
            } => format!("search {query} {result_count:?} {category:?}"),
            EventData::Action {
                name,
                target,
                label,
            } => format!(
                "action {name} {}{}",
                target.as_deref().unwrap_or("-").trim_start_matches(page),
                label
                    .as_deref()
                    .map(|l| format!(" [{l}]"))
                    .unwrap_or_default()
            ),
            EventData::Content {
                name,
                piece,
                target,
                interaction,
            } => format!(
                "content {} {name} | {} | {}",
                interaction.as_deref().unwrap_or("impression"),
                piece.as_deref().unwrap_or("-"),
                target.as_deref().unwrap_or("-").trim_start_matches(page)
            ),
            EventData::Engagement {
                engaged_ms,
                scroll_depth,
            } => format!(
                "engagement {} {scroll_depth:?} {}",
                e.url.trim_start_matches(page),
                if *engaged_ms >= 3000 { "3s+" } else { "<3s" }
            ),
        })
        .collect();
    k.sort();
    k
}

/// Starts a collector for `127.0.0.1` pages, opens `html` (with `@COLLECTOR@` replaced
/// by the collector's host and port) in Chromium, and returns the page's base URL and
/// the events on the topic (waiting for more than `expected`, to see that no more came).
async fn open(name: &str, html: &str, expected: usize) -> (String, Vec<Event>) {
    let scratch = Scratch::new(name);
    let ingest = helpers::start_ingest_with(scratch.kafka(), |c| {
        c.sites[0].hostnames.push("127.0.0.1".into());
    })
    .await;
    ingest.wait_ready(Duration::from_secs(30)).await;
    let host = ingest.addr.to_string();
    let page = helpers::serve_html(html.replace("@COLLECTOR@", &host)).await;
    luister_testkit::chromium(
        &["--virtual-time-budget=8000", CHROME, "--dump-dom"],
        &format!("{page}/schulden"),
    )
    .await;
    let got = consume(&scratch.topic, expected + 1, Duration::from_secs(12)).await;
    let events = got
        .iter()
        .map(|m| Event::from_json(m.payload.as_bytes()).unwrap())
        .collect();
    ingest.stop().await.unwrap();
    scratch.cleanup().await;
    (page, events)
}

/// Matomo's standard snippet (trackPageView and enableLinkTracking pushed before
/// setTrackerUrl, the script loaded from `u+'matomo.js'`), with the commands municipal
/// sites use.
#[tokio::test]
async fn an_unchanged_matomo_snippet_tracks_into_luister() {
    let html = format!(
        r#"<!doctype html><html lang="nl"><head><title>Schulden</title>
<script>
  var _paq = window._paq = window._paq || [];
  _paq.push(['disableCookies']);
  _paq.push(['trackPageView']);
  _paq.push(['enableLinkTracking']);
  (function() {{
    var u="//@COLLECTOR@/";
    _paq.push(['setTrackerUrl', u+'matomo.php']);
    _paq.push(['setSiteId', '1']);
    var d=document, g=d.createElement('script'), s=d.getElementsByTagName('script')[0];
    g.async=true; g.src=u+'matomo.js'; s.parentNode.insertBefore(g,s);
  }})();
</script></head><body>
<div data-track-content data-content-name="Banner schuldhulp" data-content-piece="hulp.png"><a id="banner" href="/schuldhulp">Hulp bij schulden</a></div>
<a id="out" href="https://www.geldfit.nl/">Geldfit</a>
<a id="pdf" href="/formulieren/aanvraag.pdf">Formulier</a>
<script>
{NO_NAVIGATION}
window.addEventListener('load', function () {{
  _paq.push(['trackSiteSearch', 'kwijtschelding', 'belastingen', 0]);
  _paq.push(['trackEvent', 'Formulier', 'Aanvraag gestart (stap 1/3)']);
  _paq.push(['trackGoal', 2]);
  _paq.push(['trackAllContentImpressions']);
  setTimeout(function () {{
    document.getElementById('out').click();
    document.getElementById('pdf').click();
    document.getElementById('banner').click();
  }}, 300);
}});
</script></body></html>"#
    );
    let (page, events) = open("ingest_matomo_snippet", &html, 8).await;
    assert_eq!(
        kinds(&events, &page),
        vec![
            "action download /formulieren/aanvraag.pdf".to_owned(),
            "action formulier:aanvraag gestart (stap 1/3) - [Formulier:Aanvraag gestart (stap 1/3)]"
                .to_owned(),
            "action goal:2 -".to_owned(),
            "action outlink https://www.geldfit.nl/".to_owned(),
            "content click Banner schuldhulp | hulp.png | /schuldhulp".to_owned(),
            "content impression Banner schuldhulp | hulp.png | /schuldhulp".to_owned(),
            "pageview /schulden Schulden".to_owned(),
            "search kwijtschelding Some(0) Some(\"belastingen\")".to_owned(),
        ],
        "each event once, with its kind"
    );
    assert!(events.iter().all(|e| e.visitor == events[0].visitor));
}

/// Plausible's classic snippet with script variants, and its queue stand-in.
#[tokio::test]
async fn an_unchanged_plausible_snippet_tracks_into_luister() {
    let html = format!(
        r#"<!doctype html><html lang="nl"><head><title>Schulden</title>
<script defer data-domain="localhost" src="http://@COLLECTOR@/js/script.local.outbound-links.file-downloads.tagged-events.js"></script>
<script>window.plausible = window.plausible || function() {{ (window.plausible.q = window.plausible.q || []).push(arguments) }}</script>
</head><body>
<a id="out" href="https://www.geldfit.nl/">Geldfit</a>
<a id="pdf" href="/formulieren/aanvraag.pdf">Formulier</a>
<button id="chat" class="plausible-event-name=contact:chat plausible-event-plek=kop">Chat</button>
<script>
{NO_NAVIGATION}
plausible('search', {{props: {{query: 'energietoeslag', results: 3}}}});
window.addEventListener('load', function () {{
  plausible('Formulier: stap 1/3');
  setTimeout(function () {{
    document.getElementById('out').click();
    document.getElementById('pdf').click();
    document.getElementById('chat').click();
  }}, 300);
  // The resident switches tabs after four seconds: the page's engagement is reported.
  setTimeout(function () {{
    Object.defineProperty(document, 'visibilityState', {{ value: 'hidden', configurable: true }});
    document.dispatchEvent(new Event('visibilitychange'));
  }}, 4000);
}});
</script></body></html>"#
    );
    let (page, events) = open("ingest_plausible_snippet", &html, 7).await;
    assert_eq!(
        kinds(&events, &page),
        vec![
            "action contact:chat -".to_owned(),
            "action download /formulieren/aanvraag.pdf".to_owned(),
            "action formulier: stap 1/3 - [Formulier: stap 1/3]".to_owned(),
            "action outlink https://www.geldfit.nl/".to_owned(),
            "engagement /schulden Some(100) 3s+".to_owned(),
            "pageview /schulden -".to_owned(),
            "search energietoeslag Some(3) None".to_owned(),
        ],
        "each event once, with its kind"
    );
}

/// Plausible's newer snippet: `pa-….js` and `plausible.init(options)`, called before
/// the script has loaded.
#[tokio::test]
async fn plausibles_newer_snippet_with_init_tracks_into_luister() {
    let html = r#"<!doctype html><html lang="nl"><head><title>Schulden</title>
<script async src="http://@COLLECTOR@/js/pa-Xk3m9Q.js"></script>
<script>
  window.plausible=window.plausible||function(){(plausible.q=plausible.q||[]).push(arguments)},plausible.init=plausible.init||function(i){plausible.o=i||{}};
  plausible.init({captureOnLocalhost: true, outboundLinks: true});
</script></head><body>
<a id="out" href="https://www.geldfit.nl/">Geldfit</a>
<script>
window.addEventListener('click', function (e) { e.preventDefault(); });
window.addEventListener('load', function () { setTimeout(function () { document.getElementById('out').click(); }, 300); });
</script></body></html>"#;
    let (page, mut events) = open("ingest_plausible_init", html, 2).await;
    // Closing the browser at the end hides the page, which may report its engagement.
    events.retain(|e| !matches!(e.data, EventData::Engagement { .. }));
    assert_eq!(
        kinds(&events, &page),
        vec![
            "action outlink https://www.geldfit.nl/".to_owned(),
            "pageview /schulden -".to_owned(),
        ]
    );
}

/// A site's 404 template marks its page as not found, as each tracker's documentation
/// says to: Matomo's FAQ sets the title `404/URL = …/From = …` before trackPageView,
/// Plausible's sends the custom event `404` with the path, and `t.js` reads a
/// `data-luister-not-found` element. Each becomes one page view (Plausible's: one page
/// view and its `not-found` report) marked `not_found`, without Matomo's title.
#[tokio::test]
async fn the_trackers_404_conventions_mark_the_page_not_found() {
    let not_found = |events: &[Event], page: &str| -> Vec<String> {
        let mut k: Vec<String> = events
            .iter()
            .map(|e| {
                let kind = kinds(std::slice::from_ref(e), page).remove(0);
                format!("{kind}{}", if e.not_found { " NOT FOUND" } else { "" })
            })
            .collect();
        k.sort();
        k
    };
    let matomo = r#"<!doctype html><html lang="nl"><head><title>Pagina niet gevonden</title>
<script>
  var _paq = window._paq = window._paq || [];
  _paq.push(['disableCookies']);
  _paq.push(['setDocumentTitle', '404/URL = ' + String(document.location.pathname + document.location.search).replace(/\//g, "%2f") + '/From = ' + String(document.referrer).replace(/\//g, "%2f")]);
  _paq.push(['trackPageView']);
  (function() {
    var u="//@COLLECTOR@/";
    _paq.push(['setTrackerUrl', u+'matomo.php']);
    _paq.push(['setSiteId', '1']);
    var d=document, g=d.createElement('script'), s=d.getElementsByTagName('script')[0];
    g.async=true; g.src=u+'matomo.js'; s.parentNode.insertBefore(g,s);
  })();
</script></head><body><p>Deze pagina bestaat niet (meer).</p></body></html>"#;
    let (page, events) = open("ingest_404_matomo", matomo, 1).await;
    assert_eq!(
        not_found(&events, &page),
        ["pageview /schulden - NOT FOUND"]
    );

    let plausible = r#"<!doctype html><html lang="nl"><head><title>Pagina niet gevonden</title>
<script defer data-domain="localhost" src="http://@COLLECTOR@/js/script.local.js"></script>
<script>window.plausible = window.plausible || function() { (window.plausible.q = window.plausible.q || []).push(arguments) }</script>
</head><body><p>Deze pagina bestaat niet (meer).</p>
<script>plausible("404", { props: { path: document.location.pathname } });</script>
</body></html>"#;
    let (page, mut events) = open("ingest_404_plausible", plausible, 2).await;
    events.retain(|e| !matches!(e.data, EventData::Engagement { .. }));
    assert_eq!(
        not_found(&events, &page),
        ["action not-found - NOT FOUND", "pageview /schulden -"]
    );

    let tracker = r#"<!doctype html><html lang="nl"><head><title>Pagina niet gevonden</title>
<script defer src="http://@COLLECTOR@/t.js?site=demo"></script>
</head><body><main data-luister-not-found><p>Deze pagina bestaat niet (meer).</p></main></body></html>"#;
    let (page, events) = open("ingest_404_tjs", tracker, 1).await;
    assert_eq!(
        not_found(&events, &page),
        ["pageview /schulden Pagina niet gevonden NOT FOUND"]
    );
}
