#![no_main]
//! Matomo query strings and bulk bodies: parsing never panics.

use libfuzzer_sys::fuzz_target;
use luister_ingest::protocol::matomo;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    let c = common::collector();
    let text = String::from_utf8_lossy(data);
    if let Ok(matomo::Request::Event(raw)) = matomo::parse(&text, Some("nl-NL")) {
        common::finish_and_check(&c, *raw);
    }
    let _ = matomo::wants_image(&text);
    if matomo::is_bulk(data) {
        if let Ok(reqs) = matomo::parse_bulk(data, 100) {
            for r in reqs {
                let _ = matomo::parse(&r, None);
            }
        }
    }
});
