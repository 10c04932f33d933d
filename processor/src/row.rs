//! The row of the `events` table: what an event becomes ([`to_row`]: its day, path,
//! themes, channel and search term, beside the Kafka position it came from), and its
//! encoding for ClickHouse ([`EventRow::write_row_binary`], read back by
//! [`EventRow::read_row_binary`] for the dead-letter topic).

use chrono::TimeZone;
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use luister_schema::{Event, EventData};

use crate::attribution::normalize::{fold, words};
use crate::attribution::{Input, Matcher};
use crate::channel::channel_of;

/// One row of the `events` table.
#[derive(Debug, Clone, Default, PartialEq, clickhouse::Row, Serialize, Deserialize)]
pub struct EventRow {
    /// Site id.
    pub site: String,
    /// Calendar day in the configured time zone, as days since 1970-01-01.
    pub day: u16,
    /// Event time, seconds since the Unix epoch (UTC).
    pub ts: u32,
    /// The millisecond within `ts` (0–999): it orders a visitor's events of one second,
    /// which the collector may send to different partitions.
    pub ts_milli: u16,
    /// Event type (`pageview`).
    #[serde(rename = "type")]
    pub kind: String,
    /// Visitor key, hex.
    pub visitor: String,
    /// Scrubbed page URL.
    pub url: String,
    /// The URL's path.
    pub path: String,
    /// Client clock, seconds since the epoch; 0 when not sent.
    pub client_ts: u32,
    /// Referrer (origin only when external).
    pub referrer: String,
    /// Page title.
    pub title: String,
    /// `mobile`, `tablet`, `desktop` or `unknown`.
    pub device: String,
    /// Browser family.
    pub browser: String,
    /// Screen width; 0 when not sent.
    pub screen_width: u32,
    /// Language tag.
    pub language: String,
    /// Site-search query.
    pub search_query: String,
    /// Site-search result count; -1 when unknown or not a search.
    pub search_results: i64,
    /// Site-search category.
    pub search_category: String,
    /// Action name.
    pub action_name: String,
    /// Action target.
    pub action_target: String,
    /// The action's name as its tracker sent it (scrubbed, own case); `action_name`
    /// when the event carried no other.
    pub action_label: String,
    /// Content tracking: the content's name.
    pub content_name: String,
    /// Content tracking: the piece shown.
    pub content_piece: String,
    /// Content tracking: where it leads.
    pub content_target: String,
    /// Content tracking: the interaction (`click`); '' for an impression.
    pub content_interaction: String,
    /// Engagement: ms the page was in view.
    pub engaged_ms: u32,
    /// Engagement: deepest scroll in percent; -1 when unknown or not an engagement.
    pub scroll_depth: i16,
    /// 1 when the page said it was not found (a 404 page), else 0.
    pub not_found: u8,
    /// Attributed themes with their ancestors.
    pub themes: Vec<String>,
    /// Channel (see [`crate::channel`]).
    pub channel: String,
    /// Normalised search term of a site search.
    pub search_term: String,
    /// Source topic.
    pub kafka_topic: String,
    /// Source partition.
    pub kafka_partition: u32,
    /// Source offset.
    pub kafka_offset: u64,
}

/// Where a message came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// Offset.
    pub offset: i64,
}

/// What the matcher looks at for an event: the page path and title of a page view, the
/// query of a search, the page path and (for links and files) the target path of an
/// action.
pub fn attribution_input(event: &Event) -> Input<'_> {
    match &event.data {
        EventData::Pageview { title } => Input {
            path: Some(&event.url),
            title: title.as_deref(),
            query: None,
        },
        EventData::Search { query, .. } => Input {
            path: None,
            title: None,
            query: Some(query),
        },
        EventData::Action { .. } | EventData::Content { .. } | EventData::Engagement { .. } => {
            Input {
                path: Some(&event.url),
                title: None,
                query: None,
            }
        }
    }
}

/// The matched themes, each followed by its ancestors (nearest first), each id once.
pub fn with_ancestors(themes: &[&str]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for t in themes {
        let mut id: &str = t;
        loop {
            if !out.iter().any(|o| o == id) {
                out.push(id.to_owned());
            }
            match id.rsplit_once('/') {
                Some((parent, _)) => id = parent,
                None => break,
            }
        }
    }
    out
}

/// What turning events into rows needs besides the event.
pub struct RowContext<'a> {
    /// Calendar for the `day` column.
    pub tz: Tz,
    /// The taxonomy in use.
    pub matcher: &'a Matcher,
    /// Partner hostnames for the channel.
    pub partners: &'a [String],
}

/// A search query as stored for counting: folded, single spaces.
pub fn search_term(query: &str) -> String {
    let folded = fold(query);
    words(&folded).collect::<Vec<_>>().join(" ")
}

/// Turns a parsed event into its row, with its themes and channel. Takes the event and
/// its origin by value: their strings move into the row instead of being copied.
pub fn to_row(event: Event, origin: Origin, ctx: &RowContext<'_>) -> EventRow {
    let (tz, matcher) = (ctx.tz, ctx.matcher);
    let secs = event.ts_ms.div_euclid(1000);
    let day = tz
        .timestamp_opt(secs, 0)
        .single()
        .map(|t| t.date_naive())
        .and_then(|d| {
            d.signed_duration_since(chrono::NaiveDate::from_ymd_opt(1970, 1, 1)?)
                .num_days()
                .try_into()
                .ok()
        })
        .unwrap_or(0);
    // Parsed once: its path here, its host and campaign parameters for the channel.
    let page = url::Url::parse(&event.url).ok();
    let path = page
        .as_ref()
        .map(|u| u.path().to_owned())
        .unwrap_or_default();
    let themes = with_ancestors(&matcher.classify(&attribution_input(&event)));
    let channel = channel_of(page.as_ref(), event.referrer.as_deref(), ctx.partners).to_owned();
    let kind = event.data.type_name().to_owned();
    let (
        mut title,
        mut search_query,
        mut search_results,
        mut search_category,
        mut action_name,
        mut action_target,
        mut term,
    ) = (
        String::new(),
        String::new(),
        -1i64,
        String::new(),
        String::new(),
        String::new(),
        String::new(),
    );
    // The fields of the kinds this event is not, at their "none" values.
    let mut row = EventRow {
        scroll_depth: -1,
        ..EventRow::default()
    };
    match event.data {
        EventData::Pageview { title: t } => title = t.unwrap_or_default(),
        EventData::Search {
            query,
            result_count,
            category,
        } => {
            term = search_term(&query);
            search_query = query;
            search_results = result_count.map_or(-1, i64::from);
            search_category = category.unwrap_or_default();
        }
        EventData::Action {
            name,
            target,
            label,
        } => {
            row.action_label = label.unwrap_or_else(|| name.clone());
            action_name = name;
            action_target = target.unwrap_or_default();
        }
        EventData::Content {
            name,
            piece,
            target,
            interaction,
        } => {
            row.content_name = name;
            row.content_piece = piece.unwrap_or_default();
            row.content_target = target.unwrap_or_default();
            row.content_interaction = interaction.unwrap_or_default();
        }
        EventData::Engagement {
            engaged_ms,
            scroll_depth,
        } => {
            row.engaged_ms = engaged_ms;
            row.scroll_depth = scroll_depth.map_or(-1, i16::from);
        }
    }
    EventRow {
        site: event.site.into(),
        day,
        ts: u32::try_from(secs).unwrap_or(0),
        ts_milli: u16::try_from(event.ts_ms.rem_euclid(1000)).unwrap_or(0),
        kind,
        visitor: event.visitor.to_string(),
        url: event.url,
        path,
        client_ts: event
            .client_ts_ms
            .and_then(|ms| u32::try_from(ms.div_euclid(1000)).ok())
            .unwrap_or(0),
        referrer: event.referrer.unwrap_or_default(),
        title,
        device: event.device.as_str().to_owned(),
        browser: event.browser,
        screen_width: event.screen_width.unwrap_or(0),
        language: event.language.unwrap_or_default(),
        search_query,
        search_results,
        search_category,
        action_name,
        action_target,
        themes,
        channel,
        search_term: term,
        kafka_topic: origin.topic,
        kafka_partition: u32::try_from(origin.partition).unwrap_or(0),
        kafka_offset: u64::try_from(origin.offset).unwrap_or(0),
        not_found: u8::from(event.not_found),
        ..row
    }
}

impl EventRow {
    /// Appends the row in ClickHouse's RowBinary format, its columns in the order of
    /// its fields (`clickhouse::Row::COLUMN_NAMES`, which names them in the `INSERT`).
    /// Written out rather than through `clickhouse::Insert`, which serializes while it
    /// sends, so that encoding runs beside the previous batch's write.
    pub fn write_row_binary(&self, out: &mut Vec<u8>) {
        put_str(out, &self.site);
        out.extend_from_slice(&self.day.to_le_bytes());
        out.extend_from_slice(&self.ts.to_le_bytes());
        out.extend_from_slice(&self.ts_milli.to_le_bytes());
        put_str(out, &self.kind);
        put_str(out, &self.visitor);
        put_str(out, &self.url);
        put_str(out, &self.path);
        out.extend_from_slice(&self.client_ts.to_le_bytes());
        put_str(out, &self.referrer);
        put_str(out, &self.title);
        put_str(out, &self.device);
        put_str(out, &self.browser);
        out.extend_from_slice(&self.screen_width.to_le_bytes());
        put_str(out, &self.language);
        put_str(out, &self.search_query);
        out.extend_from_slice(&self.search_results.to_le_bytes());
        put_str(out, &self.search_category);
        put_str(out, &self.action_name);
        put_str(out, &self.action_target);
        put_str(out, &self.action_label);
        put_str(out, &self.content_name);
        put_str(out, &self.content_piece);
        put_str(out, &self.content_target);
        put_str(out, &self.content_interaction);
        out.extend_from_slice(&self.engaged_ms.to_le_bytes());
        out.extend_from_slice(&self.scroll_depth.to_le_bytes());
        out.push(self.not_found);
        put_len(out, self.themes.len());
        for t in &self.themes {
            put_str(out, t);
        }
        put_str(out, &self.channel);
        put_str(out, &self.search_term);
        put_str(out, &self.kafka_topic);
        out.extend_from_slice(&self.kafka_partition.to_le_bytes());
        out.extend_from_slice(&self.kafka_offset.to_le_bytes());
    }

    /// Reads a row [`EventRow::write_row_binary`] wrote, advancing `input` past it.
    pub fn read_row_binary(input: &mut &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader(input);
        Ok(Self {
            site: r.string()?,
            day: u16::from_le_bytes(r.array()?),
            ts: u32::from_le_bytes(r.array()?),
            ts_milli: u16::from_le_bytes(r.array()?),
            kind: r.string()?,
            visitor: r.string()?,
            url: r.string()?,
            path: r.string()?,
            client_ts: u32::from_le_bytes(r.array()?),
            referrer: r.string()?,
            title: r.string()?,
            device: r.string()?,
            browser: r.string()?,
            screen_width: u32::from_le_bytes(r.array()?),
            language: r.string()?,
            search_query: r.string()?,
            search_results: i64::from_le_bytes(r.array()?),
            search_category: r.string()?,
            action_name: r.string()?,
            action_target: r.string()?,
            action_label: r.string()?,
            content_name: r.string()?,
            content_piece: r.string()?,
            content_target: r.string()?,
            content_interaction: r.string()?,
            engaged_ms: u32::from_le_bytes(r.array()?),
            scroll_depth: i16::from_le_bytes(r.array()?),
            not_found: u8::from_le_bytes(r.array()?),
            themes: (0..r.len()?)
                .map(|_| r.string())
                .collect::<Result<_, _>>()?,
            channel: r.string()?,
            search_term: r.string()?,
            kafka_topic: r.string()?,
            kafka_partition: u32::from_le_bytes(r.array()?),
            kafka_offset: u64::from_le_bytes(r.array()?),
        })
    }
}

/// Why bytes are not a row [`EventRow::write_row_binary`] wrote.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The bytes end inside a value.
    #[error("a row ends {0} bytes early")]
    Short(usize),
    /// A length does not end within ten bytes.
    #[error("a length longer than 64 bits")]
    Length,
    /// A string is not UTF-8.
    #[error("a string that is not UTF-8: {0}")]
    Utf8(#[from] std::string::FromUtf8Error),
    /// Bytes are left after the last column.
    #[error("{0} bytes left after a row")]
    Trailing(usize),
}

/// Reads RowBinary values from the front of a slice.
struct Reader<'a, 'b>(&'a mut &'b [u8]);

impl Reader<'_, '_> {
    fn take(&mut self, n: usize) -> Result<&[u8], DecodeError> {
        if self.0.len() < n {
            return Err(DecodeError::Short(n - self.0.len()));
        }
        let (head, rest) = self.0.split_at(n);
        *self.0 = rest;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        Ok(self.take(N)?.try_into().expect("N bytes"))
    }

    fn len(&mut self) -> Result<usize, DecodeError> {
        let mut n = 0usize;
        for shift in (0..64).step_by(7) {
            let [b] = self.array::<1>()?;
            n |= usize::from(b & 0x7f) << shift;
            if b < 0x80 {
                return Ok(n);
            }
        }
        Err(DecodeError::Length)
    }

    fn string(&mut self) -> Result<String, DecodeError> {
        let n = self.len()?;
        Ok(String::from_utf8(self.take(n)?.to_vec())?)
    }
}

/// A length in RowBinary: unsigned LEB128.
fn put_len(out: &mut Vec<u8>, mut n: usize) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

/// A string in RowBinary: its length, then its bytes.
fn put_str(out: &mut Vec<u8>, s: &str) {
    put_len(out, s.len());
    out.extend_from_slice(s.as_bytes());
}

#[cfg(test)]
mod tests {
    use luister_schema::{Device, SiteId, VisitorKey, SCHEMA_VERSION};

    use super::*;

    fn m() -> &'static Matcher {
        static M: std::sync::OnceLock<Matcher> = std::sync::OnceLock::new();
        M.get_or_init(|| {
            let t = luister_schema::taxonomy::Taxonomy::parse(crate::taxonomy::DEFAULT_TAXONOMY)
                .unwrap();
            Matcher::new(&t).unwrap()
        })
    }

    fn ctx(tz: Tz) -> RowContext<'static> {
        RowContext {
            tz,
            matcher: m(),
            partners: &[],
        }
    }

    #[test]
    fn channel_and_termare_filled_in() {
        let search = Event {
            not_found: false,
            data: EventData::Search {
                query: "  Kwijtschelding   AANVRAGEN ".into(),
                result_count: Some(0),
                category: None,
            },
            referrer: Some("https://www.google.nl/".into()),
            ..event(0, "http://localhost/zoeken")
        };
        let row = to_row(search.clone(), origin(), &ctx(chrono_tz::UTC));
        assert_eq!(
            (row.channel.as_str(), row.search_term.as_str()),
            ("search", "kwijtschelding aanvragen")
        );
    }

    fn event(ts_ms: i64, url: &str) -> Event {
        Event {
            v: SCHEMA_VERSION,
            site: SiteId::parse("demo").unwrap(),
            ts_ms,
            client_ts_ms: None,
            visitor: VisitorKey::from_u64(42),
            url: url.into(),
            referrer: None,
            device: Device::Mobile,
            browser: "Safari".into(),
            screen_width: Some(390),
            language: None,
            not_found: false,
            data: EventData::Pageview {
                title: Some("Bijstand".into()),
            },
        }
    }

    #[test]
    fn search_and_action_fields_get_their_columns() {
        let search = Event {
            not_found: false,
            data: EventData::Search {
                query: "kwijtschelding".into(),
                result_count: Some(0),
                category: None,
            },
            ..event(0, "http://localhost/zoeken")
        };
        let row = to_row(search.clone(), origin(), &ctx(chrono_tz::UTC));
        assert_eq!(
            (
                row.kind.as_str(),
                row.search_query.as_str(),
                row.search_results
            ),
            ("search", "kwijtschelding", 0)
        );
        let action = Event {
            not_found: false,
            data: EventData::Action {
                name: "contact:phone".into(),
                target: Some("tel:14030".into()),
                label: None,
            },
            ..event(0, "http://localhost/contact")
        };
        let row = to_row(action.clone(), origin(), &ctx(chrono_tz::UTC));
        assert_eq!(
            (
                row.action_name.as_str(),
                row.action_label.as_str(),
                row.action_target.as_str(),
                row.search_results,
                row.scroll_depth
            ),
            ("contact:phone", "contact:phone", "tel:14030", -1, -1)
        );
        let labelled = Event {
            not_found: false,
            data: EventData::Action {
                name: "contact:form".into(),
                target: None,
                label: Some("Formulier:Aanvraag gestart".into()),
            },
            ..event(0, "http://localhost/contact")
        };
        let row = to_row(labelled, origin(), &ctx(chrono_tz::UTC));
        assert_eq!(
            (row.action_name.as_str(), row.action_label.as_str()),
            ("contact:form", "Formulier:Aanvraag gestart")
        );
        let content = Event {
            not_found: false,
            data: EventData::Content {
                name: "Banner".into(),
                piece: Some("/b.png".into()),
                target: None,
                interaction: Some("click".into()),
            },
            ..event(0, "http://localhost/")
        };
        let row = to_row(content, origin(), &ctx(chrono_tz::UTC));
        assert_eq!(
            (
                row.kind.as_str(),
                row.content_name.as_str(),
                row.content_piece.as_str(),
                row.content_interaction.as_str(),
                row.action_name.as_str()
            ),
            ("content", "Banner", "/b.png", "click", "")
        );
        let engaged = Event {
            not_found: false,
            data: EventData::Engagement {
                engaged_ms: 12_500,
                scroll_depth: Some(0),
            },
            ..event(0, "http://localhost/")
        };
        let row = to_row(engaged, origin(), &ctx(chrono_tz::UTC));
        assert_eq!(
            (row.kind.as_str(), row.engaged_ms, row.scroll_depth),
            ("engagement", 12_500, 0)
        );
        let pv = to_row(
            event(0, "http://localhost/"),
            origin(),
            &ctx(chrono_tz::UTC),
        );
        assert_eq!(
            (pv.title.as_str(), pv.device.as_str(), pv.screen_width),
            ("Bijstand", "mobile", 390)
        );
    }

    fn origin() -> Origin {
        Origin {
            topic: "t".into(),
            partition: 3,
            offset: 17,
        }
    }

    #[test]
    fn day_follows_the_configured_time_zone() {
        // 2026-11-23 23:30 UTC is already 2026-11-24 in Amsterdam.
        let ts = chrono::Utc
            .with_ymd_and_hms(2026, 11, 23, 23, 30, 0)
            .unwrap()
            .timestamp_millis();
        let ams = to_row(
            event(ts, "http://localhost/"),
            origin(),
            &ctx(chrono_tz::Europe::Amsterdam),
        );
        let utc = to_row(
            event(ts, "http://localhost/"),
            origin(),
            &ctx(chrono_tz::UTC),
        );
        let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap();
        let d = |y, m, dd| {
            chrono::NaiveDate::from_ymd_opt(y, m, dd)
                .unwrap()
                .signed_duration_since(epoch)
                .num_days() as u16
        };
        assert_eq!(ams.day, d(2026, 11, 24));
        assert_eq!(utc.day, d(2026, 11, 23));
        assert_eq!(ams.ts as i64, ts / 1000);
    }

    #[test]
    fn row_carries_path_and_origin() {
        let row = to_row(
            event(0, "https://www.gemeente.nl/werk-en-inkomen/bijstand?q=x"),
            origin(),
            &ctx(chrono_tz::UTC),
        );
        assert_eq!(row.path, "/werk-en-inkomen/bijstand");
        assert_eq!(
            (
                row.kafka_topic.as_str(),
                row.kafka_partition,
                row.kafka_offset
            ),
            ("t", 3, 17)
        );
        assert_eq!(row.visitor, "000000000000002a");
        assert_eq!(row.kind, "pageview");
    }

    #[test]
    fn themes_come_with_their_ancestors() {
        assert_eq!(
            with_ancestors(&["schulden/beslag", "schulden/bewind", "armoede"]),
            vec!["schulden/beslag", "schulden", "schulden/bewind", "armoede"]
        );
        let search = Event {
            not_found: false,
            data: EventData::Search {
                query: "kwijtscheldng".into(),
                result_count: None,
                category: None,
            },
            ..event(0, "http://localhost/zoeken")
        };
        let row = to_row(search.clone(), origin(), &ctx(chrono_tz::UTC));
        assert_eq!(row.themes, vec!["armoede/kwijtschelding", "armoede"]);
        let pv = to_row(
            event(0, "http://localhost/werk-en-inkomen/bijzondere-bijstand"),
            origin(),
            &ctx(chrono_tz::UTC),
        );
        assert_eq!(pv.themes, vec!["inkomen/bijzondere-bijstand", "inkomen"]);
    }
}
