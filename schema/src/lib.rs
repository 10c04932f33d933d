//! The shared vocabulary of Luister: the event every service agrees on.
//!
//! The collector (`luister-ingest`) builds [`Event`]s, serialises them as JSON onto the
//! Kafka topic [`EVENTS_TOPIC`], and the processor parses them back with
//! [`Event::from_json`]. Everything in here has already passed the collector's
//! validation and privacy scrubbing, so the types carry no IP address, user agent or
//! cookie: only the keyed, daily-salted [`VisitorKey`].
//!
//! - [`SiteId`]: a validated site identifier (`demo`, `gemeente-utrecht`).
//! - [`taxonomy`]: the theme taxonomy file, parsed and checked.
//! - [`Event`] / [`EventData`]: one event (page view, site search or action) with its
//!   schema version [`SCHEMA_VERSION`]; [`Device`] is its device class.
//!
//! A new field a tracker sends goes into [`EventData`] (or [`Event`]) here, optional so
//! that older messages still parse; the collector fills it and the processor's row
//! stores it (`docs/architecture.md`, "A column of the raw events").

pub mod taxonomy;

use std::fmt;

use serde::{Deserialize, Serialize};

/// The Kafka topic carrying events (key: visitor key, value: [`Event`] as JSON).
pub const EVENTS_TOPIC: &str = "luister.events.v1";
/// The Kafka topic for messages the processor could not use, with the reason.
pub const DEAD_LETTER_TOPIC: &str = "luister.events.dlq.v1";
/// The Kafka topic of the collectors' refusal records (value: [`Refusal`] as JSON):
/// what a site builder needs to see why events are refused.
pub const REFUSALS_TOPIC: &str = "luister.events.refusals.v1";
/// The version written into every event; the processor refuses other versions.
pub const SCHEMA_VERSION: u16 = 1;

/// A collector's record of refused requests of one site and reason: the first one of
/// each minute (rate-limited), with how many it stands for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refusal {
    /// The site the request named or came from (`""` when it named none that is
    /// registered).
    pub site: String,
    /// When, ms since the epoch.
    pub ts_ms: i64,
    /// The refusal's reason, as the `reason` label of
    /// `luister_ingest_events_rejected_total` (`bad_request`, `foreign_host`, …).
    pub reason: String,
    /// What was wrong, as the tracker was told, scrubbed of personal data.
    pub message: String,
    /// Refusals this record stands for: itself and those of the same site and reason
    /// left out since the one recorded before it.
    pub count: u64,
    /// The collector process that refused them (random, per start).
    pub collector: String,
}

/// Why a value could not become one of the types in this crate.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SchemaError {
    /// A site id must be 1–64 characters of `a-z`, `0-9`, `-` and `_`.
    #[error("site id {0:?} is not valid: use 1-64 characters of a-z, 0-9, '-' and '_'")]
    InvalidSiteId(String),
    /// A visitor key must be 16 lowercase hex digits.
    #[error("visitor key {0:?} is not 16 lowercase hex digits")]
    InvalidVisitorKey(String),
    /// The message is not an event of a version this build understands.
    #[error("event is not valid JSON of schema version {SCHEMA_VERSION}: {0}")]
    InvalidEvent(String),
    /// The message is an event of another schema version.
    #[error("event has schema version {found}, this build reads version {SCHEMA_VERSION}")]
    UnsupportedVersion {
        /// The version found in the message.
        found: u16,
    },
}

/// A site identifier as configured in the site registry.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SiteId(String);

impl SiteId {
    /// Parses a site id: 1–64 characters of lowercase ASCII letters, digits, `-`, `_`.
    pub fn parse(s: &str) -> Result<Self, SchemaError> {
        let ok = !s.is_empty()
            && s.len() <= 64
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(SchemaError::InvalidSiteId(s.to_owned()))
        }
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for SiteId {
    type Error = SchemaError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<SiteId> for String {
    fn from(s: SiteId) -> Self {
        s.0
    }
}

impl fmt::Display for SiteId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The cookieless visitor key: 64 bits of a keyed hash of (site, IP, user agent) under
/// a salt that rotates daily, written as 16 lowercase hex digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct VisitorKey(u64);

impl VisitorKey {
    /// Wraps the first 64 bits of a keyed hash.
    pub fn from_u64(v: u64) -> Self {
        Self(v)
    }

    /// Parses 16 lowercase hex digits.
    pub fn parse(s: &str) -> Result<Self, SchemaError> {
        let ok = s.len() == 16 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        match ok.then(|| u64::from_str_radix(s, 16)) {
            Some(Ok(v)) => Ok(Self(v)),
            _ => Err(SchemaError::InvalidVisitorKey(s.to_owned())),
        }
    }

    /// The key as a number.
    pub fn as_u64(self) -> u64 {
        self.0
    }
}

impl TryFrom<String> for VisitorKey {
    type Error = SchemaError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<VisitorKey> for String {
    fn from(k: VisitorKey) -> Self {
        k.to_string()
    }
}

impl fmt::Display for VisitorKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

/// One event as it travels on [`EVENTS_TOPIC`].
///
/// Unknown fields are ignored when reading, so a newer collector may add optional
/// fields without a new schema version. Everything textual has been scrubbed of
/// personal data by the collector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "WireEvent")]
pub struct Event {
    /// Schema version, always [`SCHEMA_VERSION`] when written by this build.
    pub v: u16,
    /// The site the event belongs to.
    pub site: SiteId,
    /// When the collector received the event, in milliseconds since the Unix epoch (UTC).
    pub ts_ms: i64,
    /// The client's own clock, when it sent one within the allowed skew.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_ts_ms: Option<i64>,
    /// The cookieless, daily-rotating visitor key.
    pub visitor: VisitorKey,
    /// The page the event happened on (scrubbed; only allow-listed query parameters).
    pub url: String,
    /// Where the visitor came from: the scrubbed URL for internal referrers, only the
    /// origin (`https://www.google.com/`) for external ones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub referrer: Option<String>,
    /// Device class derived from the user agent.
    #[serde(default)]
    pub device: Device,
    /// Coarse browser family (`Chrome`, `Firefox`, `Safari`, …, `other`).
    #[serde(default = "other")]
    pub browser: String,
    /// Screen width in CSS pixels, when sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub screen_width: Option<u32>,
    /// Primary language tag of the browser (`nl`, `en-gb`), when sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    /// The page at `url` told the tracker it does not exist (a 404 page: Matomo's
    /// `404/URL = …` title, Plausible's `404` event, `t.js`'s `data-luister-not-found`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub not_found: bool,
    /// What happened.
    #[serde(flatten)]
    pub data: EventData,
}

fn other() -> String {
    "other".into()
}

/// An [`Event`] as read: every field of every type side by side. Reading it and then
/// building the [`EventData`] is several times faster than serde's `flatten` of an
/// internally tagged enum, which buffers the whole object first (the processor reads
/// every event through here).
#[derive(Deserialize)]
struct WireEvent {
    v: u16,
    site: SiteId,
    ts_ms: i64,
    #[serde(default)]
    client_ts_ms: Option<i64>,
    visitor: VisitorKey,
    url: String,
    #[serde(default)]
    referrer: Option<String>,
    #[serde(default)]
    device: Device,
    #[serde(default = "other")]
    browser: String,
    #[serde(default)]
    screen_width: Option<u32>,
    #[serde(default)]
    language: Option<String>,
    #[serde(default)]
    not_found: bool,
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    query: Option<String>,
    #[serde(default)]
    result_count: Option<u32>,
    #[serde(default)]
    category: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    target: Option<String>,
    #[serde(default)]
    label: Option<String>,
    #[serde(default)]
    piece: Option<String>,
    #[serde(default)]
    interaction: Option<String>,
    #[serde(default)]
    engaged_ms: Option<u32>,
    #[serde(default)]
    scroll_depth: Option<u8>,
}

/// Why an event's JSON is not an event: what serde reports beside the field's name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventShapeError {
    /// A field the event's type needs is missing.
    #[error("missing field `{field}` of {of}")]
    Missing {
        /// The field.
        field: &'static str,
        /// The kind of event, with its article ("a search").
        of: &'static str,
    },
    /// `type` is none of the known kinds.
    #[error("unknown variant `{0}`, expected one of `pageview`, `search`, `action`, `content`, `engagement`")]
    UnknownType(String),
}

impl TryFrom<WireEvent> for Event {
    type Error = EventShapeError;
    fn try_from(w: WireEvent) -> Result<Self, EventShapeError> {
        let missing = |field, of| EventShapeError::Missing { field, of };
        let data = match w.kind.as_str() {
            "pageview" => EventData::Pageview { title: w.title },
            "search" => EventData::Search {
                query: w.query.ok_or(missing("query", "a search"))?,
                result_count: w.result_count,
                category: w.category,
            },
            "action" => EventData::Action {
                name: w.name.ok_or(missing("name", "an action"))?,
                target: w.target,
                label: w.label,
            },
            "content" => EventData::Content {
                name: w.name.ok_or(missing("name", "a content event"))?,
                piece: w.piece,
                target: w.target,
                interaction: w.interaction,
            },
            "engagement" => EventData::Engagement {
                engaged_ms: w.engaged_ms.ok_or(missing("engaged_ms", "an engagement"))?,
                scroll_depth: w.scroll_depth,
            },
            other => return Err(EventShapeError::UnknownType(other.to_owned())),
        };
        Ok(Event {
            v: w.v,
            site: w.site,
            ts_ms: w.ts_ms,
            client_ts_ms: w.client_ts_ms,
            visitor: w.visitor,
            url: w.url,
            referrer: w.referrer,
            device: w.device,
            browser: w.browser,
            screen_width: w.screen_width,
            language: w.language,
            not_found: w.not_found,
            data,
        })
    }
}

/// Device class: only these three and `unknown`, never a model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Device {
    /// Phones.
    Mobile,
    /// Tablets.
    Tablet,
    /// Desktops and laptops.
    Desktop,
    /// Could not be told.
    #[default]
    Unknown,
}

impl Device {
    /// The class as written in the `device` field.
    pub fn as_str(self) -> &'static str {
        match self {
            Device::Mobile => "mobile",
            Device::Tablet => "tablet",
            Device::Desktop => "desktop",
            Device::Unknown => "unknown",
        }
    }
}

/// The kind of event and the fields that belong to it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum EventData {
    /// A page was viewed.
    Pageview {
        /// The page title.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        title: Option<String>,
    },
    /// The site's own search was used.
    Search {
        /// The search terms as typed (scrubbed).
        query: String,
        /// How many results the site showed, when known; 0 is a zero-result search.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        result_count: Option<u32>,
        /// The search category or filter, when the site has one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        category: Option<String>,
    },
    /// Something the visitor did: `contact:phone`, `contact:form`, `contact:chat`,
    /// `download`, `outlink`, or a name the site chose.
    Action {
        /// The action name, lowercase: what the site's action rules made of the name
        /// as sent, or that name lowercased.
        name: String,
        /// What it was done on: a link, file or form (scrubbed).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        target: Option<String>,
        /// The name as the tracker sent it, scrubbed, in its own case, when it is not
        /// `name` (`Formulier:Aanvraag gestart (stap 1/3)`), for reports.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        label: Option<String>,
    },
    /// A block of content (a banner, a teaser) was seen, or clicked when
    /// `interaction` is set (Matomo content tracking).
    Content {
        /// The content's name (`Energietoeslag 2026`), scrubbed.
        name: String,
        /// The piece shown: an image's path or a text (scrubbed).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        piece: Option<String>,
        /// Where it leads (scrubbed).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        target: Option<String>,
        /// The interaction (`click`); none for an impression.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        interaction: Option<String>,
    },
    /// How a page view ended: the time the page was in view and how far it was
    /// scrolled (Plausible's `engagement` event). Not a page view of its own.
    Engagement {
        /// Milliseconds the page was visible and in use.
        engaged_ms: u32,
        /// Deepest point scrolled to, percent of the page (0-100), when known.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        scroll_depth: Option<u8>,
    },
}

impl EventData {
    /// The event type as written in the `type` field.
    pub fn type_name(&self) -> &'static str {
        match self {
            EventData::Pageview { .. } => "pageview",
            EventData::Search { .. } => "search",
            EventData::Action { .. } => "action",
            EventData::Content { .. } => "content",
            EventData::Engagement { .. } => "engagement",
        }
    }
}

impl Event {
    /// Serialises the event as the JSON message value.
    pub fn to_json(&self) -> Vec<u8> {
        // Serialising plain structs of strings and integers into a Vec cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Parses a message value, refusing other schema versions.
    pub fn from_json(bytes: &[u8]) -> Result<Self, SchemaError> {
        #[derive(Deserialize)]
        struct Version {
            v: u16,
        }
        match serde_json::from_slice::<Event>(bytes) {
            Ok(e) if e.v == SCHEMA_VERSION => Ok(e),
            Ok(e) => Err(SchemaError::UnsupportedVersion { found: e.v }),
            // Another version may have another shape: say so rather than what is missing.
            Err(e) => match serde_json::from_slice::<Version>(bytes) {
                Ok(Version { v }) if v != SCHEMA_VERSION => {
                    Err(SchemaError::UnsupportedVersion { found: v })
                }
                _ => Err(SchemaError::InvalidEvent(e.to_string())),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pageview() -> Event {
        Event {
            v: SCHEMA_VERSION,
            site: SiteId::parse("demo").unwrap(),
            ts_ms: 1_764_000_000_123,
            client_ts_ms: None,
            visitor: VisitorKey::from_u64(0x00ab_cdef_0123_4567),
            url: "http://localhost/x".into(),
            referrer: None,
            device: Device::Desktop,
            browser: "Firefox".into(),
            screen_width: Some(1280),
            language: Some("nl".into()),
            not_found: false,
            data: EventData::Pageview { title: None },
        }
    }

    #[test]
    fn not_found_is_written_only_when_set_and_read_as_false_when_absent() {
        let plain = pageview();
        assert!(!String::from_utf8(plain.to_json())
            .unwrap()
            .contains("not_found"));
        let missing = Event {
            not_found: true,
            ..pageview()
        };
        let json = missing.to_json();
        assert!(String::from_utf8(json.clone())
            .unwrap()
            .contains("\"not_found\":true"));
        assert_eq!(Event::from_json(&json).unwrap(), missing);
    }

    #[test]
    fn search_and_action_events_round_trip() {
        for data in [
            EventData::Search {
                query: "kwijtschelding".into(),
                result_count: Some(0),
                category: None,
            },
            EventData::Action {
                name: "contact:phone".into(),
                target: Some("tel:14030".into()),
                label: None,
            },
            EventData::Action {
                name: "contact:form".into(),
                target: None,
                label: Some("Formulier:Aanvraag gestart (stap 1/3)".into()),
            },
            EventData::Content {
                name: "Energietoeslag".into(),
                piece: Some("/img/banner.png".into()),
                target: None,
                interaction: Some("click".into()),
            },
            EventData::Engagement {
                engaged_ms: 41_250,
                scroll_depth: Some(80),
            },
        ] {
            let e = Event { data, ..pageview() };
            assert_eq!(Event::from_json(&e.to_json()).unwrap(), e);
        }
    }

    #[test]
    fn minimal_event_reads_with_defaults() {
        let json = br#"{"v":1,"site":"demo","ts_ms":1,"visitor":"0000000000000001","url":"http://localhost/","type":"pageview"}"#;
        let e = Event::from_json(json).unwrap();
        assert_eq!(e.device, Device::Unknown);
        assert_eq!(e.browser, "other");
        assert_eq!(e.data, EventData::Pageview { title: None });
    }

    #[test]
    fn event_json_round_trips_with_type_tag_and_version() {
        let e = pageview();
        let json = e.to_json();
        let text = std::str::from_utf8(&json).unwrap();
        assert!(text.contains(r#""type":"pageview""#), "{text}");
        assert!(text.contains(r#""visitor":"00abcdef01234567""#), "{text}");
        assert!(text.contains(r#""v":1"#), "{text}");
        assert_eq!(Event::from_json(&json).unwrap(), e);
    }

    #[test]
    fn other_schema_version_is_refused_by_name() {
        let json = br#"{"v":2,"site":"demo","ts_ms":1,"visitor":"0000000000000001","type":"pageview","url":"x"}"#;
        assert_eq!(
            Event::from_json(json),
            Err(SchemaError::UnsupportedVersion { found: 2 })
        );
    }

    #[test]
    fn garbage_and_missing_fields_are_invalid_events() {
        for bad in [
            &b"not json"[..],
            br#"{"v":1,"site":"demo","ts_ms":1,"type":"pageview","url":"x"}"#,
            br#"{"v":1,"site":"Bad Site","ts_ms":1,"visitor":"0000000000000001","type":"pageview","url":"x"}"#,
            br#"{"v":1,"site":"demo","ts_ms":1,"visitor":"0000000000000001","url":"x","type":"teleport"}"#,
            br#"{"v":1,"site":"demo","ts_ms":1,"visitor":"0000000000000001","url":"x","type":"search"}"#,
        ] {
            assert!(
                matches!(Event::from_json(bad), Err(SchemaError::InvalidEvent(_))),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn invalid_events_say_what_is_wrong() {
        let base = r#""v":1,"site":"demo","ts_ms":1,"visitor":"0000000000000001","url":"x""#;
        for (rest, want) in [
            (r#""type":"teleport""#, "unknown variant `teleport`"),
            (r#""type":"search""#, "missing field `query` of a search"),
            (
                r#""type":"action","target":"t""#,
                "missing field `name` of an action",
            ),
            (r#""title":"t""#, "missing field `type`"),
        ] {
            let json = format!("{{{base},{rest}}}");
            match Event::from_json(json.as_bytes()) {
                Err(SchemaError::InvalidEvent(e)) => assert!(e.contains(want), "{json}: {e}"),
                other => panic!("{json}: {other:?}"),
            }
        }
        // A newer schema version with another shape is refused as that version.
        let v2 = br#"{"v":2,"event":{"kind":"pageview"}}"#;
        assert_eq!(
            Event::from_json(v2),
            Err(SchemaError::UnsupportedVersion { found: 2 })
        );
        // Unknown fields are ignored, null optional fields are absent.
        let json = format!(r#"{{{base},"type":"pageview","title":null,"future":1}}"#);
        assert_eq!(
            Event::from_json(json.as_bytes()).unwrap().data,
            EventData::Pageview { title: None }
        );
    }

    #[test]
    fn site_ids_are_restricted_to_a_safe_alphabet() {
        assert!(SiteId::parse("gemeente-utrecht_2").is_ok());
        for bad in ["", "Demo", "a b", "x'; DROP TABLE", &"a".repeat(65)] {
            assert_eq!(
                SiteId::parse(bad),
                Err(SchemaError::InvalidSiteId(bad.to_owned()))
            );
        }
    }

    #[test]
    fn visitor_keys_must_be_sixteen_hex_digits() {
        assert_eq!(
            VisitorKey::parse("00abcdef01234567").unwrap().as_u64(),
            0x00ab_cdef_0123_4567
        );
        for bad in ["", "00ABCDEF01234567", "123", "zzzzzzzzzzzzzzzz"] {
            assert!(VisitorKey::parse(bad).is_err(), "{bad}");
        }
    }
}
