//! Properties shared by the normalizer targets.
//!
//! For every input that normalizes to a value:
//! - normalization is idempotent, except the documented corners
//!   (docs/TOKEN-SPEC.md, "Known property of v1"): lowercasing (`email`,
//!   `address`) or removing a space (`address`) can leave a letter and a
//!   combining mark that a second NFKC pass composes; then the second pass
//!   is idempotent;
//! - normalizing twice gives the same answer (the phone memo cache changes nothing);
//! - the token has the declared length and alphabet and is never the raw
//!   input or the normalized value, in either encoding.
//!
//! Inputs that are not UTF-8 are skipped: the CSV decoder rejects those rows
//! before any normalizer sees them (the csv_to_batch target covers that).

#![allow(dead_code)]

use txanon::key::MasterKey;
use txanon::schema::TokenEncoding;
use txanon::transform::normalize::{nfkc_trim, normalize, Kind, Normalized};
use txanon::transform::tokenize::Tokenizer;

/// A fixed non-demo key: the fuzzer looks for panics and broken properties,
/// not for key-dependent behaviour.
const KEY_HEX: &str = "f0e1d2c3b4a5968778695a4b3c2d1e0f00112233445566778899aabbccddeeff";

pub fn check(kind: Kind, data: &[u8]) {
    let Ok(raw) = std::str::from_utf8(data) else {
        return;
    };
    let first = normalize(&kind, raw);
    assert_eq!(
        first,
        normalize(&kind, raw),
        "normalization is deterministic"
    );
    let v = match first {
        Normalized::Value(v) => v,
        Normalized::Empty => {
            assert!(nfkc_trim(raw).is_empty(), "Empty only when nothing is left");
            return;
        }
        // The rule is a `&'static str`: it cannot quote the value.
        Normalized::Invalid(rule) => {
            assert!(!rule.is_empty());
            return;
        }
    };
    assert!(!v.is_empty(), "a value is never empty");
    let again = normalize(&kind, &v);
    let documented_exception = matches!(kind, Kind::Email | Kind::Address) && nfkc_trim(&v) != v;
    if documented_exception {
        if let Normalized::Value(w) = &again {
            assert_eq!(
                normalize(&kind, w),
                again,
                "normalization is idempotent after the second pass"
            );
        }
    } else {
        assert_eq!(
            again,
            Normalized::Value(v.clone()),
            "normalization is idempotent"
        );
    }
    let key = MasterKey::from_hex(KEY_HEX).expect("fixed key");
    for encoding in [TokenEncoding::Hex, TokenEncoding::Base64Url] {
        let t = Tokenizer::new(&key, "", kind.name(), 128, encoding);
        let token = t.token(&v);
        assert_eq!(token.len(), t.token_len(), "fixed token length");
        assert!(
            token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
            "token alphabet"
        );
        assert_ne!(token, raw, "the token is never the raw input");
        assert_ne!(token, raw.trim(), "the token is never the raw input");
        assert_ne!(
            token.as_str(),
            &*v,
            "the token is never the normalized value"
        );
    }
}
