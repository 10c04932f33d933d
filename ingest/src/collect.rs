//! From what a tracker sent to the [`Event`] that goes to Kafka.
//!
//! Each protocol (native JSON, Matomo, Plausible) parses its request into
//! [`RawEvent`]s. [`Collector::finish`] then does, once for all of them: find the site,
//! check the page URL belongs to it, drop query parameters that are not allow-listed,
//! cut external referrers to their origin, scrub personal data from every text field
//! (URL, referrer, title, search query and category, action name and target: all
//! through [`crate::scrub`]),
//! check lengths, keep the client clock only within the allowed skew, classify the
//! user agent (bots and prefetches are not forwarded), and compute the visitor key.
//! The IP address and user agent end here.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;

use url::Url;

use luister_schema::{Event, EventData, SiteId, SCHEMA_VERSION};

use crate::agent;
use crate::config::{DntPolicy, LimitsConfig, SiteConfig};
use crate::error::IngestError;
use crate::names::{ActionRules, Sent};
use crate::scrub::{scrub_text, scrub_url};
use crate::visitor::{RequestKeys, Salter};

/// Longest page URL or referrer accepted, in bytes.
pub const MAX_URL_BYTES: usize = 4096;
/// Longest page title, search query, category or action target, in characters.
pub const MAX_TEXT_CHARS: usize = 1000;
pub use crate::names::MAX_ACTION_NAME;

/// The action a Plausible `404` event becomes: it marks its page as not found.
pub const NOT_FOUND_ACTION: &str = "not-found";
/// Longest engaged time kept, in ms (a day; more is a page left open).
pub const MAX_ENGAGED_MS: u32 = 86_400_000;

/// How the request names its site.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SiteRef {
    /// Luister's own site id.
    Id(String),
    /// A Matomo `idsite`.
    Matomo(String),
    /// A Plausible domain (`d`), possibly several separated by commas.
    Plausible(String),
}

/// What happened, before checking and scrubbing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RawKind {
    /// A page view with an optional title.
    Pageview {
        /// Page title.
        title: Option<String>,
    },
    /// A site search.
    Search {
        /// The query.
        query: String,
        /// Results shown.
        result_count: Option<u32>,
        /// Category.
        category: Option<String>,
    },
    /// An action such as `contact:phone`, or a Plausible custom event.
    Action {
        /// Name.
        name: String,
        /// Target.
        target: Option<String>,
    },
    /// A Matomo event: `e_c`, `e_a`, `e_n`.
    MatomoEvent {
        /// Category.
        category: String,
        /// Action.
        action: Option<String>,
        /// Name: the target.
        name: Option<String>,
    },
    /// A Matomo goal conversion (`idgoal`).
    Goal {
        /// The goal number.
        id: u32,
    },
    /// Matomo content tracking: an impression, or an interaction.
    Content {
        /// `c_n`.
        name: String,
        /// `c_p`.
        piece: Option<String>,
        /// `c_t`.
        target: Option<String>,
        /// `c_i`.
        interaction: Option<String>,
    },
    /// How long a page was in view and how far it was scrolled (Plausible).
    Engagement {
        /// Engaged time, ms.
        engaged_ms: u64,
        /// Scroll depth, percent.
        scroll_depth: Option<i64>,
    },
}

/// One event as a protocol parsed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawEvent {
    /// The site.
    pub site: SiteRef,
    /// Page URL.
    pub url: String,
    /// Referrer, if any.
    pub referrer: Option<String>,
    /// Screen width.
    pub screen_width: Option<u32>,
    /// Browser language.
    pub language: Option<String>,
    /// Client clock, ms since the epoch.
    pub client_ts_ms: Option<i64>,
    /// A user agent sent inside the request (Matomo `ua`), overriding the header.
    pub user_agent: Option<String>,
    /// The page said it was not found (see [`luister_schema::Event::not_found`]).
    pub not_found: bool,
    /// What happened.
    pub kind: RawKind,
}

impl RawEvent {
    /// A page view of `url` on `site` with nothing else set.
    pub fn pageview(site: SiteRef, url: impl Into<String>) -> Self {
        Self {
            site,
            url: url.into(),
            referrer: None,
            screen_width: None,
            language: None,
            client_ts_ms: None,
            user_agent: None,
            not_found: false,
            kind: RawKind::Pageview { title: None },
        }
    }
}

/// What the request itself tells about the visitor (used, then dropped).
#[derive(Debug, Clone)]
pub struct Visit<'a> {
    /// Client address.
    pub ip: IpAddr,
    /// `User-Agent` header.
    pub user_agent: &'a str,
    /// The browser sent `DNT: 1` or `Sec-GPC: 1`.
    pub do_not_track: bool,
    /// The request is a prefetch or prerender, not a visit.
    pub prefetch: bool,
    /// The `Origin` header's host, lowercase, for browser requests.
    pub origin_host: Option<String>,
    /// Server time, ms since the epoch.
    pub now_ms: i64,
}

/// Why an event was dropped without error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ignored {
    /// A crawler or script.
    Bot,
    /// A prefetch or prerender.
    Prefetch,
    /// The site respects Do-Not-Track and the browser asked for it.
    DoNotTrack,
    /// A tracker's repeat of a request already taken (see [`crate::repeats`]).
    Repeat,
    /// A kind of request Luister does not store, on purpose: `ecommerce`, `media`,
    /// `custom_action` (see [`crate::protocol::matomo`]).
    NotStored(&'static str),
}

impl Ignored {
    /// Metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Ignored::Bot => "bot",
            Ignored::Prefetch => "prefetch",
            Ignored::DoNotTrack => "do_not_track",
            Ignored::Repeat => "repeat",
            Ignored::NotStored(kind) => kind,
        }
    }
}

/// The site registry and what turning raw events into events needs.
pub struct Collector {
    by_id: HashMap<SiteId, SiteConfig>,
    by_matomo: HashMap<String, SiteId>,
    by_plausible: HashMap<String, SiteId>,
    /// Each hostname, lowercase, to its site: a Plausible domain that is no site's
    /// `plausible_domain` names the site whose hostname it is (Plausible's newer
    /// `pa-….js` scripts send the page's host).
    by_host: HashMap<String, SiteId>,
    /// Every site's hostnames, lowercase.
    known_hosts: HashSet<String>,
    /// Each site's action rules, compiled.
    rules: HashMap<SiteId, ActionRules>,
    limits: LimitsConfig,
    salter: Salter,
}

impl Collector {
    /// Builds the registry; hostnames and Plausible domains compare lowercase. A site
    /// whose action rules do not compile (which the configuration's validation refuses)
    /// keeps none.
    pub fn new(sites: &[SiteConfig], limits: LimitsConfig, salter: Salter) -> Self {
        let mut by_id = HashMap::new();
        let mut by_matomo = HashMap::new();
        let mut by_plausible = HashMap::new();
        let mut known_hosts = HashSet::new();
        let mut by_host = HashMap::new();
        let mut rules = HashMap::new();
        for s in sites {
            rules.insert(
                s.id.clone(),
                ActionRules::compile(&s.action_rules).unwrap_or_default(),
            );
            let mut s = s.clone();
            for h in &mut s.hostnames {
                *h = h.to_ascii_lowercase();
                known_hosts.insert(h.clone());
                by_host.entry(h.clone()).or_insert_with(|| s.id.clone());
            }
            if let Some(m) = &s.matomo_idsite {
                by_matomo.insert(m.clone(), s.id.clone());
            }
            if let Some(p) = &s.plausible_domain {
                by_plausible.insert(p.to_ascii_lowercase(), s.id.clone());
            }
            by_id.insert(s.id.clone(), s);
        }
        Self {
            by_id,
            by_matomo,
            by_plausible,
            by_host,
            known_hosts,
            rules,
            limits,
            salter,
        }
    }

    /// The visitor salts.
    pub fn salter(&self) -> &Salter {
        &self.salter
    }

    /// The limits in force.
    pub fn limits(&self) -> &LimitsConfig {
        &self.limits
    }

    /// The configuration of a site, by id.
    pub fn site(&self, id: &SiteId) -> Option<&SiteConfig> {
        self.by_id.get(id)
    }

    /// Whether `host` is a hostname of any registered site (for CORS).
    pub fn is_known_host(&self, host: &str) -> bool {
        if host.bytes().any(|b| b.is_ascii_uppercase()) {
            self.known_hosts.contains(&host.to_ascii_lowercase())
        } else {
            self.known_hosts.contains(host)
        }
    }

    /// The registered site a request names, if any.
    pub fn site_named(&self, site: &SiteRef) -> Option<&SiteId> {
        self.resolve(site).ok().map(|s| &s.id)
    }

    /// The site whose hostname `host` is (any case), if any.
    pub fn site_of_host(&self, host: &str) -> Option<&SiteId> {
        self.by_host.get(&host.to_ascii_lowercase())
    }

    fn resolve(&self, site: &SiteRef) -> Result<&SiteConfig, IngestError> {
        let id = match site {
            SiteRef::Id(raw) => SiteId::parse(raw).ok(),
            SiteRef::Matomo(idsite) => self.by_matomo.get(idsite.trim()).cloned(),
            SiteRef::Plausible(domains) => {
                let lower = |d: &str| d.trim().to_ascii_lowercase();
                domains
                    .split(',')
                    .find_map(|d| self.by_plausible.get(&lower(d)).cloned())
                    .or_else(|| {
                        domains
                            .split(',')
                            .find_map(|d| self.by_host.get(&lower(d)).cloned())
                    })
            }
        };
        let unknown = || match site {
            SiteRef::Id(raw) => IngestError::UnknownSite(truncate(raw, 80)),
            SiteRef::Matomo(raw) => {
                IngestError::UnknownSite(format!("matomo idsite {}", truncate(raw, 40)))
            }
            SiteRef::Plausible(raw) => {
                IngestError::UnknownSite(format!("plausible domain {}", truncate(raw, 80)))
            }
        };
        id.and_then(|id| self.by_id.get(&id)).ok_or_else(unknown)
    }

    /// The visitor keys of a request's events, for [`Collector::finish`].
    pub fn request_keys(&self, visit: &Visit<'_>) -> RequestKeys<'_> {
        RequestKeys::new(&self.salter, visit.ip, visit.now_ms)
    }

    /// Checks, scrubs and completes one raw event (see the module documentation).
    /// `keys` are [`Collector::request_keys`] of the same `visit`.
    pub fn finish(
        &self,
        raw: RawEvent,
        visit: &Visit<'_>,
        keys: &mut RequestKeys<'_>,
    ) -> Result<Result<Event, Ignored>, IngestError> {
        let site = self.resolve(&raw.site)?;
        let url = page_url(&raw.url, site)?;
        if let Some(origin) = &visit.origin_host {
            if !site.hostnames.contains(origin) {
                return Err(IngestError::ForeignOrigin {
                    site: site.id.to_string(),
                    origin: truncate(origin, 80),
                });
            }
        }
        let data = match raw.kind {
            RawKind::Pageview { title } => EventData::Pageview {
                title: text("title", title)?,
            },
            RawKind::Search {
                query,
                result_count,
                category,
            } => {
                let query = text("query", Some(query))?.unwrap_or_default();
                if query.is_empty() {
                    return Err(IngestError::BadRequest(
                        "a search event needs a non-empty query".into(),
                    ));
                }
                EventData::Search {
                    query,
                    result_count,
                    category: text("category", category)?,
                }
            }
            RawKind::Action { name, target } => {
                let label = scrub_text(&action_name(&name)?);
                self.action(&site.id, &label, None, None, target)?
            }
            RawKind::MatomoEvent {
                category,
                action,
                name,
            } => {
                let sent = match &action {
                    Some(a) => format!("{}:{}", category.trim(), a.trim()),
                    None => category.clone(),
                };
                // Matomo takes events of any length: a long one is cut, not lost.
                let label = scrub_text(&action_name(&cut_chars(&sent, MAX_ACTION_NAME))?);
                let pair = Some((category.as_str(), action.as_deref()));
                self.action(&site.id, &label, pair, None, name)?
            }
            RawKind::Goal { id } => {
                self.action(&site.id, &format!("goal:{id}"), None, Some(id), None)?
            }
            RawKind::Content {
                name,
                piece,
                target,
                interaction,
            } => EventData::Content {
                name: text("content name", Some(name))?.ok_or_else(|| {
                    IngestError::BadRequest("a content event needs a name (c_n)".into())
                })?,
                piece: target_text("content piece", piece)?,
                target: target_text("content target", target)?,
                interaction: text("content interaction", interaction)?,
            },
            RawKind::Engagement {
                engaged_ms,
                scroll_depth,
            } => EventData::Engagement {
                engaged_ms: u32::try_from(engaged_ms)
                    .unwrap_or(u32::MAX)
                    .min(MAX_ENGAGED_MS),
                scroll_depth: scroll_depth
                    .filter(|d| (0..=100).contains(d))
                    .and_then(|d| u8::try_from(d).ok()),
            },
        };
        let user_agent = raw.user_agent.as_deref().unwrap_or(visit.user_agent);
        let agent = agent::classify(user_agent);
        if visit.prefetch {
            return Ok(Err(Ignored::Prefetch));
        }
        if agent.bot {
            return Ok(Err(Ignored::Bot));
        }
        if visit.do_not_track && site.dnt == DntPolicy::Respect {
            return Ok(Err(Ignored::DoNotTrack));
        }
        let skew_ms =
            i64::try_from(self.limits.max_clock_skew_s.saturating_mul(1000)).unwrap_or(i64::MAX);
        let client_ts_ms = raw
            .client_ts_ms
            .filter(|t| (t - visit.now_ms).abs() <= skew_ms);
        let visitor =
            keys.visitor_key(&site.id, user_agent)
                .ok_or_else(|| IngestError::Unavailable {
                    reason: "the visitor salt of today is not loaded yet".into(),
                    retry_after_s: 5,
                })?;
        Ok(Ok(Event {
            v: SCHEMA_VERSION,
            site: site.id.clone(),
            ts_ms: visit.now_ms,
            client_ts_ms,
            visitor,
            url,
            referrer: raw.referrer.as_deref().and_then(|r| referrer(r, site)),
            device: agent.device,
            browser: agent.browser.to_owned(),
            screen_width: raw.screen_width.filter(|w| (1..=20_000).contains(w)),
            language: raw.language.as_deref().and_then(language),
            not_found: raw.not_found,
            data,
        }))
    }
}

impl Collector {
    /// An action event: the site's rules name the action (see [`crate::names`]);
    /// `label` is the name as sent, scrubbed, kept when the action differs from it.
    fn action(
        &self,
        site: &SiteId,
        label: &str,
        matomo_event: Option<(&str, Option<&str>)>,
        matomo_goal: Option<u32>,
        target: Option<String>,
    ) -> Result<EventData, IngestError> {
        let sent = Sent {
            name: label,
            matomo_event,
            matomo_goal,
        };
        let name = self
            .rules
            .get(site)
            .map_or_else(|| label.to_lowercase(), |r| r.action(sent));
        Ok(EventData::Action {
            label: (name != label).then(|| label.to_owned()),
            name,
            target: target_text("target", target)?,
        })
    }
}

/// Checks that `raw` is an http(s) URL on one of the site's hostnames and removes what
/// must not be stored: credentials, the fragment, query parameters other than `utm_*`,
/// the search parameter and the allow-listed ones; then scrubs what is left.
fn page_url(raw: &str, site: &SiteConfig) -> Result<String, IngestError> {
    let mut url = parse_http_url("url", raw)?;
    let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
    if !site.hostnames.contains(&host) {
        return Err(IngestError::ForeignHost {
            site: site.id.to_string(),
            host: truncate(&host, 80),
        });
    }
    clean_url(&mut url, site);
    Ok(url.into())
}

fn parse_http_url(field: &str, raw: &str) -> Result<Url, IngestError> {
    if raw.len() > MAX_URL_BYTES {
        return Err(IngestError::BadRequest(format!(
            "{field} is {} bytes long; the limit is {MAX_URL_BYTES}",
            raw.len()
        )));
    }
    let url = Url::parse(raw).map_err(|e| {
        IngestError::BadRequest(format!(
            "{field} {:?} is not a valid URL: {e}",
            truncate(raw, 80)
        ))
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(IngestError::BadRequest(format!(
            "{field} must start with http:// or https://, not {}:",
            url.scheme()
        )));
    }
    Ok(url)
}

fn clean_url(url: &mut Url, site: &SiteConfig) {
    let kept: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| {
            k.starts_with("utm_")
                || *k == site.search_param
                || site.allowed_query_params.iter().any(|a| a == k)
        })
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    url.set_fragment(None);
    // Clearing credentials of an http(s) URL cannot fail.
    let _ = url.set_username("");
    let _ = url.set_password(None);
    if kept.is_empty() {
        url.set_query(None);
    } else {
        url.query_pairs_mut().clear().extend_pairs(kept);
    }
    scrub_url(url);
}

/// Internal referrers are cleaned like page URLs; external ones keep only their
/// origin (scrubbed too: a host name can be made of anything); anything unparseable
/// is dropped.
fn referrer(raw: &str, site: &SiteConfig) -> Option<String> {
    let mut url = parse_http_url("referrer", raw).ok()?;
    let host = url.host_str()?.to_ascii_lowercase();
    if site.hostnames.contains(&host) {
        clean_url(&mut url, site);
        Some(url.into())
    } else {
        Some(scrub_text(&format!(
            "{}/",
            url.origin().ascii_serialization()
        )))
    }
}

/// An action's target: a link's or file's URL (credentials removed, every part
/// scrubbed as a page URL's is) or any other text (`tel:…`, `mailto:…`, a form's
/// name), scrubbed.
fn target_text(field: &str, value: Option<String>) -> Result<Option<String>, IngestError> {
    let Some(t) = unscrubbed_text(field, value)? else {
        return Ok(None);
    };
    match Url::parse(&t) {
        Ok(mut url) if matches!(url.scheme(), "http" | "https") => {
            let _ = url.set_username("");
            let _ = url.set_password(None);
            scrub_url(&mut url);
            Ok(Some(url.into()))
        }
        _ => Ok(Some(scrub_text(&t))),
    }
}

/// A text field, checked and scrubbed.
fn text(field: &str, value: Option<String>) -> Result<Option<String>, IngestError> {
    Ok(unscrubbed_text(field, value)?.map(|t| scrub_text(&t)))
}

/// A text field, trimmed and checked: `None` when empty; refused when too long or
/// with control characters.
fn unscrubbed_text(field: &str, value: Option<String>) -> Result<Option<String>, IngestError> {
    let Some(v) = value else { return Ok(None) };
    let v = v.trim();
    if v.is_empty() {
        return Ok(None);
    }
    let chars = v.chars().count();
    if chars > MAX_TEXT_CHARS {
        return Err(IngestError::BadRequest(format!(
            "{field} is {chars} characters long; the limit is {MAX_TEXT_CHARS}"
        )));
    }
    if v.chars().any(|c| c.is_control()) {
        return Err(IngestError::BadRequest(format!(
            "{field} contains control characters"
        )));
    }
    Ok(Some(v.to_owned()))
}

/// An action name as sent: any text of 1 to [`MAX_ACTION_NAME`] characters without
/// control characters, trimmed, in its own case (see [`crate::names`] for what it
/// becomes). Scrubbed by the caller.
fn action_name(name: &str) -> Result<String, IngestError> {
    let n = name.trim().to_owned();
    let chars = n.chars().count();
    if n.is_empty() || chars > MAX_ACTION_NAME || n.chars().any(char::is_control) {
        return Err(IngestError::BadRequest(format!(
            "action name {:?} must be 1-{MAX_ACTION_NAME} characters without control characters, e.g. \"contact:phone\"",
            truncate(name, 80)
        )));
    }
    Ok(n)
}

/// `nl`, `nl-nl`, `en-GB` → lowercase primary tag with region; anything else dropped.
fn language(raw: &str) -> Option<String> {
    let first = raw.split([',', ';']).next()?.trim().to_ascii_lowercase();
    let ok = (2..=8).contains(&first.len())
        && first.chars().all(|c| c.is_ascii_alphabetic() || c == '-')
        && first
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic());
    ok.then_some(first)
}

/// `s` cut to at most `max` characters (no mark: the cut text is what is stored).
pub fn cut_chars(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => s[..i].to_owned(),
        None => s.to_owned(),
    }
}

/// Cuts `s` to at most `max` bytes on a character boundary, marking the cut.
pub fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

#[cfg(test)]
mod tests {
    use luister_schema::Device;

    use super::*;

    const FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0";

    fn collector() -> Collector {
        let mut site = SiteConfig::new(
            SiteId::parse("demo").unwrap(),
            &["localhost", "WWW.Gemeente.NL"],
        );
        site.matomo_idsite = Some("1".into());
        site.plausible_domain = Some("gemeente.nl".into());
        site.allowed_query_params = vec!["page".into()];
        let mut strict = SiteConfig::new(SiteId::parse("strict").unwrap(), &["strict.example"]);
        strict.dnt = DntPolicy::Respect;
        Collector::new(&[site, strict], LimitsConfig::default(), Salter::local())
    }

    fn visit() -> Visit<'static> {
        Visit {
            ip: "192.0.2.1".parse().unwrap(),
            user_agent: FIREFOX,
            do_not_track: false,
            prefetch: false,
            origin_host: None,
            now_ms: 1_000_000,
        }
    }

    /// One event finished as the only one of its request.
    fn finish_in(
        c: &Collector,
        raw: RawEvent,
        visit: &Visit<'_>,
    ) -> Result<Result<Event, Ignored>, IngestError> {
        c.finish(raw, visit, &mut c.request_keys(visit))
    }

    fn finish(raw: RawEvent) -> Result<Event, IngestError> {
        finish_in(&collector(), raw, &visit()).map(|r| r.expect("not ignored"))
    }

    fn demo(url: &str) -> RawEvent {
        RawEvent::pageview(SiteRef::Id("demo".into()), url)
    }

    #[test]
    fn page_url_keeps_only_allowed_parameters_and_is_scrubbed() {
        let e = finish(demo("https://www.gemeente.nl/zoeken?q=bsn%20111222333&email=a%40b.nl&utm_source=nieuwsbrief&page=2&sessionid=9#top")).unwrap();
        assert_eq!(
            e.url,
            "https://www.gemeente.nl/zoeken?q=bsn+%5Bbsn%5D&utm_source=nieuwsbrief&page=2"
        );
        let e = finish(demo("https://user:pw@www.gemeente.nl/a?bsn=123")).unwrap();
        assert_eq!(e.url, "https://www.gemeente.nl/a");
    }

    #[test]
    fn external_referrer_keeps_only_its_origin() {
        let mut raw = demo("http://localhost/x");
        raw.referrer = Some("https://www.google.com/search?q=schuldhulp+jan%40example.nl".into());
        assert_eq!(
            finish(raw).unwrap().referrer.as_deref(),
            Some("https://www.google.com/")
        );
        let mut raw = demo("http://localhost/x");
        raw.referrer = Some("http://localhost/zoeken?q=06-12345678&x=1".into());
        assert_eq!(
            finish(raw).unwrap().referrer.as_deref(),
            Some("http://localhost/zoeken?q=%5Bphone%5D")
        );
        let mut raw = demo("http://localhost/x");
        raw.referrer = Some("android-app://com.google.android.gm".into());
        assert_eq!(finish(raw).unwrap().referrer, None);
    }

    #[test]
    fn every_text_field_is_scrubbed() {
        let mut raw = demo("http://localhost/");
        raw.kind = RawKind::Search {
            query: "schuldhulp 06 12345678".into(),
            result_count: Some(0),
            category: Some("jan@example.nl".into()),
        };
        let e = finish(raw).unwrap();
        assert_eq!(
            e.data,
            EventData::Search {
                query: "schuldhulp [phone]".into(),
                result_count: Some(0),
                category: Some("[email]".into())
            }
        );
        let mut raw = demo("http://localhost/");
        raw.kind = RawKind::Action {
            name: "Contact:Form".into(),
            target: Some("mailto:jan@example.nl".into()),
        };
        assert_eq!(
            finish(raw).unwrap().data,
            EventData::Action {
                name: "contact:form".into(),
                target: Some("mailto:[email]".into()),
                label: Some("Contact:Form".into())
            }
        );
    }

    #[test]
    fn names_keep_their_case_as_label_and_the_sites_rules_name_the_action() {
        let mut site = SiteConfig::new(SiteId::parse("demo").unwrap(), &["localhost"]);
        site.action_rules = toml_rules(
            r#"
            [[action_rules]]
            matomo_category = "Formulier"
            matomo_action = "Aanvraag verzonden"
            action = "selfservice:aanvraag"
            [[action_rules]]
            prefix = "Formulier"
            action = "contact:form"
            [[action_rules]]
            matomo_goal = 2
            action = "contact:appointment"
            "#,
        );
        let c = Collector::new(&[site], LimitsConfig::default(), Salter::local());
        let run = |kind: RawKind| {
            let mut raw = demo("http://localhost/aanvragen");
            raw.kind = kind;
            finish_in(&c, raw, &visit()).unwrap().unwrap().data
        };
        let matomo = |action: &str| RawKind::MatomoEvent {
            category: "Formulier".into(),
            action: Some(action.into()),
            name: Some("Bijzondere bijstand".into()),
        };
        assert_eq!(
            run(matomo("Aanvraag gestart (stap 1/3)")),
            EventData::Action {
                name: "contact:form".into(),
                target: Some("Bijzondere bijstand".into()),
                label: Some("Formulier:Aanvraag gestart (stap 1/3)".into())
            }
        );
        assert_eq!(
            run(matomo("Aanvraag verzonden 06-12345678")),
            EventData::Action {
                name: "selfservice:aanvraag".into(),
                target: Some("Bijzondere bijstand".into()),
                label: Some("Formulier:Aanvraag verzonden [phone]".into())
            }
        );
        let plausible = RawKind::Action {
            name: "Formulier: stap 1/3".into(),
            target: None,
        };
        assert!(matches!(run(plausible), EventData::Action { name, .. } if name == "contact:form"));
        assert!(matches!(
            run(RawKind::Goal { id: 2 }),
            EventData::Action { name, label: Some(l), .. } if name == "contact:appointment" && l == "goal:2"
        ));
        assert_eq!(
            run(RawKind::Goal { id: 5 }),
            EventData::Action {
                name: "goal:5".into(),
                target: None,
                label: None
            }
        );
        let plain = RawKind::Action {
            name: "download".into(),
            target: None,
        };
        assert!(matches!(run(plain), EventData::Action { label: None, .. }));
    }

    #[test]
    fn content_and_engagement_are_their_own_kinds() {
        let c = collector();
        let run = |kind: RawKind| {
            let mut raw = demo("http://localhost/");
            raw.kind = kind;
            finish_in(&c, raw, &visit()).map(|r| r.unwrap().data)
        };
        assert_eq!(
            run(RawKind::Content {
                name: "Banner energietoeslag".into(),
                piece: Some("https://localhost/img/banner.png?mail=jan@example.nl".into()),
                target: Some("http://localhost/energietoeslag".into()),
                interaction: Some("click".into()),
            })
            .unwrap(),
            EventData::Content {
                name: "Banner energietoeslag".into(),
                piece: Some("https://localhost/img/banner.png?mail=%5Bemail%5D".into()),
                target: Some("http://localhost/energietoeslag".into()),
                interaction: Some("click".into())
            }
        );
        assert_eq!(
            run(RawKind::Engagement {
                engaged_ms: 10_000_000_000,
                scroll_depth: Some(140),
            })
            .unwrap(),
            EventData::Engagement {
                engaged_ms: MAX_ENGAGED_MS,
                scroll_depth: None
            }
        );
        let e = run(RawKind::Content {
            name: " ".into(),
            piece: None,
            target: None,
            interaction: None,
        })
        .unwrap_err()
        .to_string();
        assert!(e.contains("needs a name (c_n)"), "{e}");
    }

    fn toml_rules(toml: &str) -> Vec<crate::names::ActionRule> {
        #[derive(serde::Deserialize)]
        struct Rules {
            action_rules: Vec<crate::names::ActionRule>,
        }
        toml::from_str::<Rules>(toml).unwrap().action_rules
    }

    #[test]
    fn every_sites_hostnames_are_known_in_any_case_and_no_others() {
        let c = collector();
        for host in [
            "localhost",
            "www.gemeente.nl",
            "WWW.GEMEENTE.nl",
            "strict.example",
        ] {
            assert!(c.is_known_host(host), "{host}");
        }
        for host in ["gemeente.nl", "evil.example", "localhost.evil.example", ""] {
            assert!(!c.is_known_host(host), "{host}");
        }
    }

    #[test]
    fn sites_resolve_by_id_matomo_idsite_and_plausible_domain() {
        for site in [
            SiteRef::Id("demo".into()),
            SiteRef::Matomo("1".into()),
            SiteRef::Plausible("other.nl, GEMEENTE.nl".into()),
            // A page's host, as Plausible's newer scripts send it.
            SiteRef::Plausible("WWW.gemeente.nl".into()),
        ] {
            let e = finish(RawEvent::pageview(site, "http://localhost/")).unwrap();
            assert_eq!(e.site.as_str(), "demo");
        }
        for (site, msg) in [
            (
                SiteRef::Id("nope".into()),
                "site \"nope\" is not registered",
            ),
            (SiteRef::Matomo("7".into()), "matomo idsite 7"),
            (SiteRef::Plausible("x.nl".into()), "plausible domain x.nl"),
        ] {
            let e = finish(RawEvent::pageview(site, "http://localhost/"))
                .unwrap_err()
                .to_string();
            assert!(e.contains(msg), "{e}");
        }
    }

    #[test]
    fn device_browser_language_and_client_clock() {
        let mut raw = demo("http://localhost/");
        raw.language = Some("nl-NL,nl;q=0.9".into());
        raw.screen_width = Some(1280);
        raw.client_ts_ms = Some(1_000_000 + 299_000);
        let e = finish(raw.clone()).unwrap();
        assert_eq!((e.device, e.browser.as_str()), (Device::Desktop, "Firefox"));
        assert_eq!(e.language.as_deref(), Some("nl-nl"));
        assert_eq!(e.screen_width, Some(1280));
        assert_eq!(e.client_ts_ms, Some(1_299_000));
        raw.client_ts_ms = Some(1_000_000 + 301_000);
        raw.screen_width = Some(0);
        let e = finish(raw).unwrap();
        assert_eq!(e.client_ts_ms, None, "outside the allowed skew");
        assert_eq!(e.screen_width, None);
    }

    #[test]
    fn bots_prefetches_and_do_not_track_are_ignored() {
        let c = collector();
        let bot = Visit {
            user_agent: "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
            ..visit()
        };
        assert_eq!(
            finish_in(&c, demo("http://localhost/"), &bot).unwrap(),
            Err(Ignored::Bot)
        );
        let pre = Visit {
            prefetch: true,
            ..visit()
        };
        assert_eq!(
            finish_in(&c, demo("http://localhost/"), &pre).unwrap(),
            Err(Ignored::Prefetch)
        );
        let dnt = Visit {
            do_not_track: true,
            ..visit()
        };
        assert!(
            finish_in(&c, demo("http://localhost/"), &dnt)
                .unwrap()
                .is_ok(),
            "demo ignores DNT"
        );
        let strict = RawEvent::pageview(SiteRef::Id("strict".into()), "https://strict.example/");
        assert_eq!(
            finish_in(&c, strict, &dnt).unwrap(),
            Err(Ignored::DoNotTrack)
        );
        // A server-side tracker's `ua` overrides the header.
        let mut raw = demo("http://localhost/");
        raw.user_agent = Some("curl/8.0".into());
        assert_eq!(finish_in(&c, raw, &visit()).unwrap(), Err(Ignored::Bot));
    }

    #[test]
    fn errors_name_what_is_wrong() {
        let search = |q: &str| {
            let mut r = demo("http://localhost/");
            r.kind = RawKind::Search {
                query: q.into(),
                result_count: None,
                category: None,
            };
            r
        };
        let action = |n: &str| {
            let mut r = demo("http://localhost/");
            r.kind = RawKind::Action {
                name: n.into(),
                target: None,
            };
            r
        };
        let cases = [
            (demo("not a url"), "is not a valid URL"),
            (demo("ftp://localhost/x"), "must start with http"),
            (
                demo("http://evil.example/x"),
                "host \"evil.example\" does not belong to site demo",
            ),
            (
                demo(&format!("http://localhost/{}", "a".repeat(MAX_URL_BYTES))),
                "the limit is 4096",
            ),
            (search("   "), "non-empty query"),
            (
                search(&"x".repeat(MAX_TEXT_CHARS + 1)),
                "query is 1001 characters",
            ),
            (search("a\u{0}b"), "control characters"),
            (action("contact\u{7}phone"), "action name"),
            (action(&"x".repeat(MAX_ACTION_NAME + 1)), "action name"),
            (action(""), "action name"),
        ];
        for (raw, msg) in cases {
            let e = finish(raw).unwrap_err().to_string();
            assert!(e.contains(msg), "expected {msg:?} in {e:?}");
        }
        let foreign = Visit {
            origin_host: Some("evil.example".into()),
            ..visit()
        };
        let e = finish_in(&collector(), demo("http://localhost/"), &foreign)
            .unwrap_err()
            .to_string();
        assert!(e.contains("origin \"evil.example\""), "{e}");
    }
}
