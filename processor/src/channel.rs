//! Where a visit came from, from the UTM parameters of the page URL and the referrer.
//!
//! UTM parameters win, because a site or campaign set them on purpose:
//! `utm_medium` email/e-mail/newsletter/nieuwsbrief → `email`; a `utm_source` on the
//! partner list or `utm_medium=partner` → `partner`; `utm_medium` social → `social`;
//! any other `utm_*` → `campaign`. Without UTM, the referrer decides: a partner
//! organisation's host → `partner`; a search engine → `search`; a social network or
//! messenger → `social`; a webmail host → `email` (checked before search engines, so
//! `mail.google.com` is not taken for Google search); the site itself → `internal`; any
//! other site → `referral`; no referrer → `direct`.

use std::borrow::Cow;

use url::Url;

/// The channels, as stored.
pub const CHANNELS: &[&str] = &[
    "search", "social", "email", "campaign", "partner", "internal", "referral", "direct",
];

const SEARCH: &[&str] = &[
    "google.",
    "bing.com",
    "duckduckgo.com",
    "ecosia.org",
    "yahoo.",
    "startpage.com",
    "qwant.com",
    "baidu.com",
    "yandex.",
    "search.brave.com",
];
const SOCIAL: &[&str] = &[
    "facebook.com",
    "fb.com",
    "instagram.com",
    "linkedin.com",
    "lnkd.in",
    "twitter.com",
    "x.com",
    "t.co",
    "youtube.com",
    "tiktok.com",
    "whatsapp.com",
    "wa.me",
    "reddit.com",
    "nextdoor.nl",
    "nextdoor.com",
    "pinterest.",
    "threads.net",
    "bsky.app",
    "mastodon.social",
    "telegram.org",
    "t.me",
    "snapchat.com",
];
const WEBMAIL: &[&str] = &[
    "mail.google.com",
    "outlook.live.com",
    "outlook.office.com",
    "outlook.office365.com",
    "mail.yahoo.com",
    "webmail.",
    "mail.ziggo.nl",
    "mail.kpnmail.nl",
];

/// Whether `host` is `domain` or one of its subdomains.
/// Whether `host` is `domain` or one of its subdomains.
pub(crate) fn is_within(host: &str, domain: &str) -> bool {
    host.strip_suffix(domain)
        .is_some_and(|rest| rest.is_empty() || rest.ends_with('.'))
}

fn host_matches(host: &str, list: &[&str]) -> bool {
    list.iter().any(|p| {
        if p.ends_with('.') {
            // "google." matches google.nl, www.google.com
            host.match_indices(p)
                .any(|(i, _)| i == 0 || host.as_bytes()[i - 1] == b'.')
        } else {
            is_within(host, p)
        }
    })
}

/// The host of a referrer URL, lowercased. A plain `http(s)://name[:port]/…` (nearly every
/// referrer) is read as it is; anything else (user info, an IP address, escapes, non-ASCII
/// names) goes through the URL parser, which is several times slower.
fn referrer_host(referrer: &str) -> Option<Cow<'_, str>> {
    if let Some(rest) = referrer
        .strip_prefix("https://")
        .or_else(|| referrer.strip_prefix("http://"))
    {
        let authority = &rest[..rest.find(['/', '?', '#', '\\']).unwrap_or(rest.len())];
        let (host, port) = authority.split_once(':').unwrap_or((authority, ""));
        let plain = !host.is_empty()
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
            && (port.is_empty() || port.parse::<u16>().is_ok());
        // A last label starting with a digit may be an IPv4 address, which the parser
        // normalises (`0x7f.1` is 127.0.0.1).
        let ipv4_like = host
            .trim_end_matches('.')
            .rsplit('.')
            .next()
            .is_none_or(|label| label.starts_with(|c: char| c.is_ascii_digit()));
        if plain && !ipv4_like {
            return Some(if host.bytes().any(|b| b.is_ascii_uppercase()) {
                Cow::Owned(host.to_ascii_lowercase())
            } else {
                Cow::Borrowed(host)
            });
        }
    }
    let url = Url::parse(referrer).ok()?;
    url.host_str().map(|h| Cow::Owned(h.to_lowercase()))
}

/// The channel of an event on `page_url` with `referrer` (see the module documentation).
/// `partners` are hostnames of the municipality's partner organisations.
pub fn channel(page_url: &str, referrer: Option<&str>, partners: &[String]) -> &'static str {
    channel_of(Url::parse(page_url).ok().as_ref(), referrer, partners)
}

/// [`channel`] of a page URL the caller parsed already (`None`: not a URL).
pub fn channel_of(page: Option<&Url>, referrer: Option<&str>, partners: &[String]) -> &'static str {
    // The first of each UTM parameter counts.
    let (mut medium, mut source, mut campaign) = (None, None, false);
    for (k, v) in page.into_iter().flat_map(Url::query_pairs) {
        match k.as_ref() {
            "utm_medium" if medium.is_none() => medium = Some(v.to_lowercase()),
            "utm_source" if source.is_none() => source = Some(v.to_lowercase()),
            "utm_campaign" => campaign = true,
            _ => {}
        }
    }
    let is_partner = |host: &str| partners.iter().any(|p| is_within(host, p));
    if let Some(m) = medium.as_deref() {
        if matches!(
            m,
            "email" | "e-mail" | "mail" | "newsletter" | "nieuwsbrief"
        ) {
            return "email";
        }
        if m == "partner" {
            return "partner";
        }
        if matches!(
            m,
            "social" | "social-media" | "socialmedia" | "sociale media"
        ) {
            return "social";
        }
    }
    if let Some(s) = source.as_deref() {
        if is_partner(s) {
            return "partner";
        }
    }
    if medium.is_some() || source.is_some() || campaign {
        return "campaign";
    }
    let Some(ref_host) = referrer.and_then(referrer_host) else {
        return "direct";
    };
    let page_host = page.and_then(Url::host_str);
    if page_host.is_some_and(|h| h.eq_ignore_ascii_case(&ref_host)) {
        return "internal";
    }
    if is_partner(&ref_host) {
        "partner"
    } else if host_matches(&ref_host, WEBMAIL) {
        "email"
    } else if host_matches(&ref_host, SEARCH) {
        "search"
    } else if host_matches(&ref_host, SOCIAL) {
        "social"
    } else {
        "referral"
    }
}

/// The longest campaign value kept, in characters.
pub const MAX_CAMPAIGN_CHARS: usize = 100;

/// The UTM values of a page URL: the first of each parameter, trimmed, lowercased (so
/// that `Nieuwsbrief` and `nieuwsbrief` are one campaign, as Matomo does by default)
/// and cut to [`MAX_CAMPAIGN_CHARS`]. The URL was scrubbed by the collector, so a value
/// with personal data in it arrives as `[phone]` or `[email]`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Campaign {
    /// `utm_source`.
    pub source: String,
    /// `utm_medium`.
    pub medium: String,
    /// `utm_campaign`.
    pub campaign: String,
    /// `utm_content`.
    pub content: String,
    /// `utm_term`.
    pub term: String,
}

impl Campaign {
    /// The UTM values of `page_url` (all empty when it has none or is not a URL).
    pub fn of(page_url: &str) -> Self {
        let mut c = Self::default();
        if !page_url.contains("utm_") {
            return c;
        }
        let Ok(url) = Url::parse(page_url) else {
            return c;
        };
        for (k, v) in url.query_pairs() {
            let slot = match k.as_ref() {
                "utm_source" => &mut c.source,
                "utm_medium" => &mut c.medium,
                "utm_campaign" => &mut c.campaign,
                "utm_content" => &mut c.content,
                "utm_term" => &mut c.term,
                _ => continue,
            };
            if slot.is_empty() {
                *slot = v
                    .trim()
                    .to_lowercase()
                    .chars()
                    .take(MAX_CAMPAIGN_CHARS)
                    .collect();
            }
        }
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_referrers_host_is_what_the_url_parser_finds() {
        let parsed = |r: &str| {
            Url::parse(r)
                .ok()
                .and_then(|u| u.host_str().map(str::to_lowercase))
        };
        for r in [
            "https://www.google.nl/",
            "https://www.google.nl",
            "http://WWW.Bing.COM/search?q=schulden",
            "https://l.facebook.com:443/l.php?u=x",
            "https://t.co#x",
            "https://user:pw@example.nl/",
            "https://user@example.nl/",
            "https://example.nl:99999/",
            "https://example.nl:x/",
            "https://example.nl:/",
            "https://[2001:db8::1]/",
            "http://127.0.0.1:8080/",
            "http://0x7f.1/",
            "http://1.2.3/",
            "https://bücher.example/",
            "https://xn--bcher-kva.example/",
            "https://www.gemeente.nl./",
            "https://exa%6Dple.nl/",
            "https://a\\b.nl/",
            " https://www.nu.nl/",
            "android-app://com.google.android.gm/",
            "https:///",
            "https://",
            "not a url",
            "",
        ] {
            assert_eq!(referrer_host(r).map(Cow::into_owned), parsed(r), "{r:?}");
        }
    }

    #[test]
    fn channels_from_utm_and_referrer() {
        let partners = vec!["humanitas.nl".to_owned(), "www.nibud.nl".to_owned()];
        let page = "https://www.gemeente.nl/schulden";
        let cases: &[(&str, Option<&str>, &str)] = &[
            (page, None, "direct"),
            (page, Some("https://www.google.nl/"), "search"),
            (page, Some("https://duckduckgo.com/"), "search"),
            (page, Some("https://www.bing.com/"), "search"),
            (page, Some("https://l.facebook.com/"), "social"),
            (page, Some("https://t.co/"), "social"),
            (page, Some("https://mail.google.com/"), "email"),
            (page, Some("https://www.humanitas.nl/"), "partner"),
            (page, Some("https://www.gemeente.nl/zoeken?q=x"), "internal"),
            (page, Some("https://www.nu.nl/"), "referral"),
            (
                "https://www.gemeente.nl/schulden?utm_medium=nieuwsbrief&utm_source=brief",
                Some("https://www.google.nl/"),
                "email",
            ),
            (
                "https://www.gemeente.nl/schulden?utm_source=humanitas.nl",
                None,
                "partner",
            ),
            (
                "https://www.gemeente.nl/schulden?utm_medium=social&utm_source=facebook",
                None,
                "social",
            ),
            (
                "https://www.gemeente.nl/schulden?utm_campaign=geldzorgen-najaar&utm_medium=abri",
                None,
                "campaign",
            ),
            (
                "https://www.gemeente.nl/schulden?utm_source=qr-brief",
                None,
                "campaign",
            ),
            (
                "https://www.gemeente.nl/schulden?utm_campaign=x",
                None,
                "campaign",
            ),
            // The first utm_medium counts.
            (
                "https://www.gemeente.nl/schulden?utm_medium=email&utm_medium=social",
                None,
                "email",
            ),
            // A host matches a listed domain or its subdomains, not a longer name.
            (page, Some("https://www.box.com/"), "referral"),
            (page, Some("https://nothumanitas.nl/"), "referral"),
            (page, Some("https://www.google.co.uk/search"), "search"),
            (page, Some("https://notgoogle.nl/"), "referral"),
            (page, Some("https://WWW.Gemeente.NL/"), "internal"),
        ];
        for (url, referrer, want) in cases {
            assert_eq!(
                channel(url, *referrer, &partners),
                *want,
                "{url} from {referrer:?}"
            );
            assert!(CHANNELS.contains(want));
        }
    }

    #[test]
    fn campaign_values_are_the_first_of_each_trimmed_lowercased_and_bounded() {
        let c = Campaign::of(
            "https://www.gemeente.nl/schulden?utm_source=Brief&utm_medium=print&utm_campaign=%20Geldzorgen%20Najaar\
             &utm_source=tweede&utm_content=qr&utm_term=huur",
        );
        assert_eq!(
            c,
            Campaign {
                source: "brief".into(),
                medium: "print".into(),
                campaign: "geldzorgen najaar".into(),
                content: "qr".into(),
                term: "huur".into(),
            }
        );
        let long = format!("https://x.nl/?utm_campaign={}", "a".repeat(300));
        assert_eq!(
            Campaign::of(&long).campaign.chars().count(),
            MAX_CAMPAIGN_CHARS
        );
        assert_eq!(Campaign::of("https://x.nl/schulden"), Campaign::default());
        assert_eq!(Campaign::of("not a url utm_source"), Campaign::default());
    }
}
