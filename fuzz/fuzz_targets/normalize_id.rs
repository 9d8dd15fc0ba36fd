#![no_main]
//! normalize(id) and tokenize: no panic, idempotent, token never the input.

#[path = "common.rs"]
mod common;

use libfuzzer_sys::fuzz_target;
use txanon::transform::normalize::Kind;

fuzz_target!(|data: &[u8]| common::check(Kind::Id, data));
