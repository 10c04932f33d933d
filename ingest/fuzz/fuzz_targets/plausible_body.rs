#![no_main]
//! Plausible event bodies: parsing never panics; accepted events finish cleanly.

use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    let c = common::collector();
    if let Ok(raw) = luister_ingest::protocol::plausible::parse(data) {
        common::finish_and_check(&c, raw);
    }
});
