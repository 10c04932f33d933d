#![no_main]
//! The scrubber: never panics, and leaves nothing it would scrub (no e-mail address,
//! valid IBAN, phone number, valid BSN or full postcode, in any notation).

use libfuzzer_sys::fuzz_target;
use luister_ingest::scrub::{leak, scrub_text};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let out = scrub_text(&text);
    assert_eq!(leak(&out), None, "{text:?} -> {out:?}");
});
