//! Token spec v1: keyed HMAC-SHA256 tokens of normalized values.
//!
//! ```text
//! ns_key = HKDF-Expand-SHA256(PRK = master, info = "txanon/v1/" + context + "/" + namespace, L = 32)
//! token  = encode(HMAC-SHA256(ns_key, UTF-8 of normalized value)[0 .. bits/8])
//! ```
//! The same value in the same namespace and context always gets the same
//! token, so analysts can count and join; a different key, context or
//! namespace gives unrelated tokens. Tokens are pseudonyms: whoever holds the
//! key can recompute the token of any guessed value. See `docs/TOKEN-SPEC.md`.
//!
//! ```
//! use txanon::key::MasterKey;
//! use txanon::schema::TokenEncoding;
//! use txanon::transform::tokenize::Tokenizer;
//! let key = MasterKey::from_hex(&"0b".repeat(32)).unwrap();
//! let t = Tokenizer::new(&key, "", "phone", 128, TokenEncoding::Hex);
//! let mut out = String::new();
//! t.token_into("+8613800138000", &mut out);
//! assert_eq!(out.len(), 32);
//! ```

use base64::Engine as _;

use crate::key::{MasterKey, NamespaceKey};
use crate::schema::TokenEncoding;

/// Makes tokens for one namespace under one key and context.
#[derive(Debug, Clone)]
pub struct Tokenizer {
    key: NamespaceKey,
    bytes: usize,
    encoding: TokenEncoding,
}

impl Tokenizer {
    /// Derive the namespace key and fix the token length and encoding.
    ///
    /// `bits` must be a multiple of 8 in 96..=256 (the schema loader checks it).
    pub fn new(
        key: &MasterKey,
        context: &str,
        namespace: &str,
        bits: u16,
        encoding: TokenEncoding,
    ) -> Tokenizer {
        Tokenizer {
            key: key.namespace_key(context, namespace),
            bytes: usize::from(bits / 8).clamp(1, 32),
            encoding,
        }
    }

    /// Length in characters of every token this tokenizer makes.
    pub fn token_len(&self) -> usize {
        match self.encoding {
            TokenEncoding::Hex => self.bytes * 2,
            TokenEncoding::Base64Url => (self.bytes * 4).div_ceil(3),
        }
    }

    /// Append the token of an already normalized value to `out`.
    #[inline]
    pub fn token_into(&self, normalized: &str, out: &mut String) {
        let mac = self.key.mac(normalized.as_bytes());
        let bytes = &mac[..self.bytes];
        match self.encoding {
            TokenEncoding::Hex => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                let mut buf = [0u8; 64];
                for (pair, &b) in buf.chunks_exact_mut(2).zip(bytes) {
                    pair[0] = HEX[usize::from(b >> 4)];
                    pair[1] = HEX[usize::from(b & 0x0f)];
                }
                // Only ASCII hex digits were written, so this cannot fail.
                out.push_str(std::str::from_utf8(&buf[..bytes.len() * 2]).unwrap_or_default());
            }
            TokenEncoding::Base64Url => {
                base64::engine::general_purpose::URL_SAFE_NO_PAD.encode_string(bytes, out)
            }
        }
    }

    /// The token of an already normalized value.
    pub fn token(&self, normalized: &str) -> String {
        let mut out = String::with_capacity(self.token_len());
        self.token_into(normalized, &mut out);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn key(byte: u8) -> MasterKey {
        MasterKey::from_hex(&format!("{byte:02x}").repeat(32)).unwrap()
    }

    proptest! {
        #[test]
        fn same_key_same_token_other_scope_other_token(v in "\\PC{1,30}") {
            let a = Tokenizer::new(&key(1), "", "phone", 128, TokenEncoding::Hex);
            let b = Tokenizer::new(&key(1), "", "phone", 128, TokenEncoding::Hex);
            prop_assert_eq!(a.token(&v), b.token(&v));
            let other_key = Tokenizer::new(&key(2), "", "phone", 128, TokenEncoding::Hex);
            let other_ctx = Tokenizer::new(&key(1), "r2", "phone", 128, TokenEncoding::Hex);
            let other_ns = Tokenizer::new(&key(1), "", "email", 128, TokenEncoding::Hex);
            prop_assert_ne!(a.token(&v), other_key.token(&v));
            prop_assert_ne!(a.token(&v), other_ctx.token(&v));
            prop_assert_ne!(a.token(&v), other_ns.token(&v));
        }
    }

    #[test]
    fn lengths_follow_bits_and_encoding() {
        for bits in [96u16, 128, 200, 256] {
            for enc in [TokenEncoding::Hex, TokenEncoding::Base64Url] {
                let t = Tokenizer::new(&key(3), "", "id", bits, enc);
                assert_eq!(t.token("x").len(), t.token_len());
            }
        }
    }
}
