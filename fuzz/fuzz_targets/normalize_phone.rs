#![no_main]
//! normalize(phone) and tokenize under several default regions (the first
//! byte picks one, or none): no panic, idempotent, token never the input.

#[path = "common.rs"]
mod common;

use libfuzzer_sys::fuzz_target;
use txanon::transform::normalize::{known_phone_region, Kind};

const REGIONS: [&str; 7] = ["", "CN", "US", "GB", "DE", "HK", "001"];

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let region = known_phone_region(REGIONS[usize::from(sel) % REGIONS.len()]);
    common::check(Kind::Phone { region }, rest);
});
