#![no_main]
//! normalize(address) and tokenize: no panic, idempotent, token never the input.

#[path = "common.rs"]
mod common;

use libfuzzer_sys::fuzz_target;
use txanon::transform::normalize::Kind;

fuzz_target!(|data: &[u8]| common::check(Kind::Address, data));
