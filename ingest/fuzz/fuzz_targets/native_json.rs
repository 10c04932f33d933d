#![no_main]
//! Native JSON bodies: parsing never panics; accepted events finish cleanly.

use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    let c = common::collector();
    if let Ok(raws) = luister_ingest::protocol::native::parse(data, 100) {
        for raw in raws {
            common::finish_and_check(&c, raw);
        }
    }
});
