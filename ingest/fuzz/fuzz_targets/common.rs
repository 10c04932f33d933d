// Shared by the fuzz targets: a collector with one site, and the property every
// finished event must have.

use luister_ingest::collect::{Collector, RawEvent, Visit};
use luister_ingest::config::{LimitsConfig, SiteConfig};
use luister_ingest::visitor::Salter;
use luister_schema::{Event, EventData, SiteId};

pub fn collector() -> Collector {
    let mut site = SiteConfig::new(SiteId::parse("demo").unwrap(), &["localhost", "www.gemeente.nl"]);
    site.matomo_idsite = Some("1".into());
    site.plausible_domain = Some("gemeente.nl".into());
    Collector::new(&[site], LimitsConfig::default(), Salter::local())
}

/// Finishing never panics, and what comes out survives the trip through Kafka's JSON
/// unchanged and carries no personal data the scrubber knows, in any text field.
pub fn finish_and_check(c: &Collector, raw: RawEvent) {
    let visit = Visit {
        ip: "192.0.2.1".parse().unwrap(),
        user_agent: "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
        do_not_track: false,
        prefetch: false,
        origin_host: None,
        now_ms: 1_764_000_000_000,
    };
    if let Ok(Ok(event)) = c.finish(raw, &visit, &mut c.request_keys(&visit)) {
        let back = Event::from_json(&event.to_json()).expect("an event reads back");
        assert_eq!(back, event);
        let json = String::from_utf8(event.to_json()).unwrap();
        let texts: Vec<&str> = match &event.data {
            EventData::Pageview { title } => title.as_deref().into_iter().collect(),
            EventData::Search { query, category, .. } => {
                std::iter::once(query.as_str()).chain(category.as_deref()).collect()
            }
            EventData::Action {
                name,
                target,
                label,
            } => std::iter::once(name.as_str())
                .chain(target.as_deref())
                .chain(label.as_deref())
                .collect(),
            EventData::Content {
                name,
                piece,
                target,
                interaction,
            } => std::iter::once(name.as_str())
                .chain(piece.as_deref())
                .chain(target.as_deref())
                .chain(interaction.as_deref())
                .collect(),
            EventData::Engagement { .. } => Vec::new(),
        };
        let fields = [Some(event.url.as_str()), event.referrer.as_deref()]
            .into_iter()
            .flatten()
            .chain(texts);
        for field in fields {
            // The scrubber's own reading undoes the URLs' percent-encoding.
            assert_eq!(luister_ingest::scrub::leak(field), None, "{json}");
        }
    }
}
