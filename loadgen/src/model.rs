//! A deterministic model of municipal web traffic: sites with page trees like real
//! municipal websites, visits with a day/night rhythm, channels and devices in
//! plausible proportions, Dutch site searches with typos and zero-result searches, and
//! contact actions, more often on debt and poverty pages. The same seed and day always
//! give the same hits.

use chrono::{Datelike, NaiveDate, NaiveTime, TimeZone};
use chrono_tz::Tz;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// A theme's pages and searches, and how popular it is.
struct Theme {
    weight: u32,
    pages: &'static [(&'static str, &'static str)],
    searches: &'static [&'static str],
    /// Share of its visits that end in a contact action.
    contact_rate: f64,
}

const THEMES: &[Theme] = &[
    Theme {
        weight: 18,
        pages: &[
            ("/afval/grofvuil", "Grofvuil laten ophalen"),
            ("/afval/afvalkalender", "Afvalkalender"),
            ("/afval/milieustraat", "Milieustraat: openingstijden"),
        ],
        searches: &[
            "grofvuil",
            "afvalkalender",
            "milieustraat openingstijden",
            "grofvuil ophalne",
        ],
        contact_rate: 0.005,
    },
    Theme {
        weight: 16,
        pages: &[
            (
                "/burgerzaken/paspoort-en-id-kaart",
                "Paspoort of ID-kaart aanvragen",
            ),
            ("/burgerzaken/rijbewijs", "Rijbewijs verlengen"),
            ("/burgerzaken/verhuizen", "Verhuizing doorgeven"),
        ],
        searches: &[
            "paspoort",
            "id kaart aanvragen",
            "verhuizing doorgeven",
            "rijbewjis",
        ],
        contact_rate: 0.02,
    },
    Theme {
        weight: 8,
        pages: &[
            ("/parkeren/parkeervergunning", "Parkeervergunning aanvragen"),
            ("/parkeren/betaald-parkeren", "Betaald parkeren"),
        ],
        searches: &["parkeervergunning", "parkeren", "bezoekersvergunning"],
        contact_rate: 0.005,
    },
    Theme {
        weight: 8,
        pages: &[
            ("/belastingen/ozb", "Onroerendezaakbelasting (OZB)"),
            ("/belastingen/betalen", "Gemeentelijke belastingen betalen"),
        ],
        searches: &[
            "ozb",
            "aanslag gemeentelijke belastingen",
            "belasting betalen",
        ],
        contact_rate: 0.01,
    },
    Theme {
        weight: 6,
        pages: &[
            ("/werk-en-inkomen/bijstand", "Bijstandsuitkering aanvragen"),
            (
                "/werk-en-inkomen/bijzondere-bijstand",
                "Bijzondere bijstand",
            ),
            (
                "/werk-en-inkomen/individuele-inkomenstoeslag",
                "Individuele inkomenstoeslag",
            ),
        ],
        searches: &[
            "bijstand",
            "bijstand aanvragen",
            "bijzondere bijstand",
            "bijstnd",
            "uitkering",
        ],
        contact_rate: 0.04,
    },
    Theme {
        weight: 4,
        pages: &[
            ("/schulden/schuldhulpverlening", "Hulp bij schulden"),
            (
                "/schulden/betalingsachterstand",
                "Betalingsachterstand? Wij helpen",
            ),
            ("/schulden/beslag", "Beslag op uw inkomen"),
        ],
        searches: &[
            "schuldhulp",
            "schulden",
            "hulp bij schulden",
            "schuldhulpverlening",
            "schudlhulp",
            "betalingsregeling",
        ],
        contact_rate: 0.06,
    },
    Theme {
        weight: 6,
        pages: &[
            (
                "/minima/kwijtschelding",
                "Kwijtschelding gemeentelijke belastingen",
            ),
            ("/minima/energietoeslag", "Energietoeslag"),
            ("/minima/kindpakket", "Kindpakket"),
            ("/minima/voedselbank", "Voedselbank"),
        ],
        searches: &[
            "kwijtschelding",
            "energietoeslag",
            "kwijtscheldng",
            "voedselbank",
            "kindpakket",
            "stadspas",
        ],
        contact_rate: 0.05,
    },
    Theme {
        weight: 8,
        pages: &[
            ("/wonen/omgevingsvergunning", "Omgevingsvergunning"),
            ("/wonen/bouwen-en-verbouwen", "Bouwen en verbouwen"),
        ],
        searches: &["omgevingsvergunning", "dakkapel", "schutting vergunning"],
        contact_rate: 0.01,
    },
    Theme {
        weight: 6,
        pages: &[
            ("/zorg/wmo", "Hulp bij het huishouden (Wmo)"),
            ("/zorg/jeugdhulp", "Jeugdhulp"),
        ],
        searches: &["wmo", "huishoudelijke hulp", "jeugdhulp"],
        contact_rate: 0.03,
    },
    Theme {
        weight: 15,
        pages: &[
            ("/", "Gemeente"),
            ("/contact", "Contact"),
            ("/nieuws", "Nieuws"),
            ("/over-de-gemeente/openingstijden", "Openingstijden"),
        ],
        searches: &[
            "openingstijden",
            "contact",
            "gemeentehuis",
            "vuurwerk vergunning 2026",
        ],
        contact_rate: 0.01,
    },
];

/// Relative visits per hour of the day (local time): quiet at night, a morning and an
/// evening peak.
const HOURLY: [u32; 24] = [
    2, 1, 1, 1, 1, 2, 4, 7, 10, 12, 12, 11, 10, 10, 10, 9, 8, 8, 9, 10, 10, 8, 5, 3,
];

/// What happened.
#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    /// A page view with its title.
    Pageview {
        /// The page title.
        title: String,
    },
    /// A site search.
    Search {
        /// The query as typed.
        query: String,
        /// Results shown (0: nothing found).
        results: u32,
    },
    /// An action such as `contact:phone` or `selfservice:aanvraag`.
    Action {
        /// The action name.
        name: String,
    },
}

/// One hit of the traffic.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    /// Site index (0-based).
    pub site: usize,
    /// A number standing for the visitor (the same within a visit).
    pub visitor: u64,
    /// When, in milliseconds since the epoch (UTC).
    pub ts_ms: i64,
    /// The page path.
    pub path: String,
    /// The referrer (first hit of a visit from outside), if any.
    pub referrer: Option<String>,
    /// `mobile`, `tablet` or `desktop`.
    pub device: &'static str,
    /// A browser user agent for that device.
    pub user_agent: String,
    /// Screen width in CSS pixels.
    pub screen_width: u32,
    /// What happened.
    pub kind: Kind,
}

/// The traffic of `sites` sites, the first getting `visits_per_day` visits a day and
/// each next site fewer (site i: 1/(i+1) of it).
#[derive(Debug, Clone)]
pub struct Model {
    /// The seed everything derives from.
    pub seed: u64,
    /// Number of sites.
    pub sites: usize,
    /// Visits a day of the first site.
    pub visits_per_day: u32,
}

fn pick<'a, T>(rng: &mut StdRng, items: &'a [T], weight: impl Fn(&T) -> u32) -> &'a T {
    let total: u32 = items.iter().map(&weight).sum();
    let mut n = rng.random_range(0..total.max(1));
    for item in items {
        let w = weight(item);
        if n < w {
            return item;
        }
        n -= w;
    }
    &items[items.len() - 1]
}

/// A typo in about a third of typed words: swap two neighbouring letters.
fn with_typo(rng: &mut StdRng, query: &str) -> String {
    let mut chars: Vec<char> = query.chars().collect();
    if chars.len() > 4 && rng.random_bool(0.1) {
        let i = rng.random_range(1..chars.len() - 1);
        chars.swap(i, i + 1);
    }
    chars.into_iter().collect()
}

impl Model {
    /// The hits of one day, in time order, timestamps in `tz`'s calendar day.
    pub fn day(&self, date: NaiveDate, tz: Tz) -> Vec<Hit> {
        let mut out = Vec::new();
        for site in 0..self.sites {
            let day_seed = self.seed
                ^ (site as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
                ^ (date.num_days_from_ce() as u64).wrapping_mul(0xC2B2_AE3D_27D4_EB4F);
            let mut rng = StdRng::seed_from_u64(day_seed);
            // Weekends are quieter on municipal sites.
            let weekend = matches!(date.weekday(), chrono::Weekday::Sat | chrono::Weekday::Sun);
            let base = f64::from(self.visits_per_day) / (site as f64 + 1.0);
            let visits = (base * if weekend { 0.6 } else { 1.0 }).round() as u64;
            for v in 0..visits {
                let visitor = day_seed.wrapping_add(v);
                out.extend(self.visit(&mut rng, site, visitor, date, tz));
            }
        }
        out.sort_by_key(|h| h.ts_ms);
        out
    }

    fn visit(
        &self,
        rng: &mut StdRng,
        site: usize,
        visitor: u64,
        date: NaiveDate,
        tz: Tz,
    ) -> Vec<Hit> {
        const HOURS: [u32; 24] = [
            0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23,
        ];
        let hour = *pick(rng, &HOURS, |h| HOURLY[*h as usize]);
        let start = NaiveTime::from_hms_opt(hour, rng.random_range(0..60), rng.random_range(0..60))
            .unwrap_or_default();
        let mut ts = tz
            .from_local_datetime(&date.and_time(start))
            .earliest()
            .map_or(0, |t| t.timestamp_millis());
        let (device, width, ua) = match rng.random_range(0..100) {
            0..58 => ("mobile", 390, mobile_ua(visitor)),
            58..63 => ("tablet", 820, tablet_ua(visitor)),
            _ => ("desktop", 1920, desktop_ua(visitor)),
        };
        let referrer = match rng.random_range(0..100) {
            0..45 => Some("https://www.google.com/".to_string()),
            45..70 => None,
            70..78 => Some("https://www.facebook.com/".to_string()),
            78..83 => Some("https://outlook.live.com/".to_string()),
            83..91 => Some("https://www.nibud.nl/".to_string()),
            _ => None,
        };
        let campaign = referrer.is_none() && rng.random_bool(0.15);
        let theme = pick(rng, THEMES, |t| t.weight);
        let pages = 1 + (rng.random::<f64>().ln() / 0.55f64.ln()).floor().min(7.0) as usize;
        let mut hits = Vec::new();
        let hit = |ts: i64, path: String, referrer: Option<String>, kind: Kind| Hit {
            site,
            visitor,
            ts_ms: ts,
            path,
            referrer,
            device,
            user_agent: ua.clone(),
            screen_width: width,
            kind,
        };
        for i in 0..pages {
            let (path, title) = pick(rng, theme.pages, |_| 1);
            let path = if i == 0 && campaign {
                format!("{path}?utm_source=nieuwsbrief&utm_medium=email&utm_campaign=minima-2026")
            } else {
                (*path).to_string()
            };
            let r = if i == 0 { referrer.clone() } else { None };
            hits.push(hit(
                ts,
                path,
                r,
                Kind::Pageview {
                    title: (*title).to_string(),
                },
            ));
            ts += rng.random_range(10_000..120_000);
            if i == 0 && rng.random_bool(0.25) {
                let typed = *pick(rng, theme.searches, |_| 1);
                let query = with_typo(rng, typed);
                // Misspelt or rare terms find nothing more often.
                let zero = if query != typed { 0.6 } else { 0.06 };
                let results = if rng.random_bool(zero) {
                    0
                } else {
                    rng.random_range(1..40)
                };
                hits.push(hit(
                    ts,
                    "/zoeken".into(),
                    None,
                    Kind::Search { query, results },
                ));
                ts += rng.random_range(5_000..30_000);
            }
        }
        let action = if rng.random_bool(theme.contact_rate) {
            let name = *pick(
                rng,
                &[
                    ("contact:phone", 40),
                    ("contact:form", 30),
                    ("contact:chat", 15),
                    ("contact:appointment", 15),
                ],
                |(_, w)| *w,
            );
            Some(name.0)
        } else if rng.random_bool(theme.contact_rate / 2.0) {
            Some("selfservice:aanvraag")
        } else {
            None
        };
        if let Some(name) = action {
            let last = hits.last().map(|h| h.path.clone()).unwrap_or_default();
            hits.push(hit(ts, last, None, Kind::Action { name: name.into() }));
        }
        hits
    }
}

fn mobile_ua(v: u64) -> String {
    format!(
        "Mozilla/5.0 (Linux; Android 14; Pixel {}) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.{}.{} Mobile Safari/537.36",
        6 + v % 3,
        6000 + v % 700,
        v % 200
    )
}

fn tablet_ua(v: u64) -> String {
    format!(
        "Mozilla/5.0 (iPad; CPU OS 17_{} like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.{} Mobile/15E148 Safari/604.1",
        v % 6,
        v % 5
    )
}

fn desktop_ua(v: u64) -> String {
    format!(
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.{}.{} Safari/537.36",
        6000 + v % 700,
        v % 200
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day() -> Vec<Hit> {
        let model = Model {
            seed: 7,
            sites: 2,
            visits_per_day: 2000,
        };
        model.day(
            NaiveDate::from_ymd_opt(2026, 11, 24).unwrap_or_default(),
            chrono_tz::Europe::Amsterdam,
        )
    }

    #[test]
    fn the_same_seed_gives_the_same_traffic() {
        assert_eq!(day(), day());
    }

    #[test]
    fn traffic_looks_like_a_municipal_website() {
        let hits = day();
        let visits: std::collections::HashSet<u64> = hits.iter().map(|h| h.visitor).collect();
        // The second site gets half the visits of the first: 3000 in all.
        assert_eq!(visits.len(), 3000);
        let share = |f: &dyn Fn(&Hit) -> bool| {
            hits.iter().filter(|h| f(h)).count() as f64 / hits.len() as f64
        };
        let night = share(&|h: &Hit| {
            let hour = (h.ts_ms / 3_600_000 + 1) % 24; // CET
            hour < 6
        });
        assert!(night < 0.06, "night share {night}");
        let mobile = share(&|h: &Hit| h.device == "mobile");
        assert!((0.5..0.66).contains(&mobile), "mobile {mobile}");
        let searches: Vec<&Hit> = hits
            .iter()
            .filter(|h| matches!(h.kind, Kind::Search { .. }))
            .collect();
        let zero = searches
            .iter()
            .filter(|h| matches!(h.kind, Kind::Search { results: 0, .. }))
            .count() as f64
            / searches.len() as f64;
        assert!((0.05..0.3).contains(&zero), "zero-result share {zero}");
        let contact_on = |prefix: &str| {
            let visits: Vec<u64> = hits
                .iter()
                .filter(|h| h.path.starts_with(prefix) && matches!(h.kind, Kind::Pageview { .. }))
                .map(|h| h.visitor)
                .collect::<std::collections::HashSet<_>>()
                .into_iter()
                .collect();
            let contacted = hits
                .iter()
                .filter(|h| {
                    matches!(&h.kind, Kind::Action { name } if name.starts_with("contact:"))
                        && visits.contains(&h.visitor)
                })
                .count();
            contacted as f64 / visits.len().max(1) as f64
        };
        assert!(
            contact_on("/schulden") > 2.0 * contact_on("/afval"),
            "debt-help visits make contact more often than waste visits"
        );
        assert!(hits.windows(2).all(|w| w[0].ts_ms <= w[1].ts_ms));
    }
}
