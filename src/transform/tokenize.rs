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

    /// HMAC-SHA256 from its definition (RFC 2104) over plain SHA-256, not
    /// through the `hmac` crate the tokenizer uses.
    fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
        use sha2::{Digest, Sha256};
        let mut block = [0u8; 64];
        if key.len() > 64 {
            block[..32].copy_from_slice(&Sha256::digest(key));
        } else {
            block[..key.len()].copy_from_slice(key);
        }
        let pad = |byte: u8| block.map(|b| b ^ byte);
        let inner = Sha256::new()
            .chain_update(pad(0x36))
            .chain_update(message)
            .finalize();
        let outer = Sha256::new()
            .chain_update(pad(0x5c))
            .chain_update(inner)
            .finalize();
        outer.into()
    }

    /// docs/TOKEN-SPEC.md v1 computed by hand: HKDF-Expand with L = 32 is a
    /// single HMAC block, T(1) = HMAC(master, info || 0x01).
    fn spec_token(master: &[u8], context: &str, namespace: &str, bits: u16, value: &str) -> String {
        let info = format!("txanon/v1/{context}/{namespace}\u{1}");
        let ns_key = hmac_sha256(master, info.as_bytes());
        hex::encode(&hmac_sha256(&ns_key, value.as_bytes())[..usize::from(bits / 8)])
    }

    #[test]
    fn the_hand_made_hmac_matches_rfc_4231() {
        // RFC 4231 test cases 2 and 6 (key longer than the block).
        assert_eq!(
            hex::encode(hmac_sha256(b"Jefe", b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert_eq!(
            hex::encode(hmac_sha256(
                &[0xaa; 131],
                b"Test Using Larger Than Block-Size Key - Hash Key First"
            )),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    proptest! {
        /// Same key, same token, compared with an independent computation of
        /// the spec (not with a second Tokenizer, which would share any bug);
        /// another key, context or namespace gives another token.
        #[test]
        fn same_key_same_token_other_scope_other_token(
            v in "\\PC{1,30}",
            k in 1u8..=254,
            ctx in "[a-z0-9]{0,6}",
            ns in "(phone|email|id|address)",
            bits in prop::sample::select(vec![96u16, 128, 200, 256]),
        ) {
            let master = [k; 32];
            let a = Tokenizer::new(&key(k), &ctx, &ns, bits, TokenEncoding::Hex);
            prop_assert_eq!(a.token(&v), spec_token(&master, &ctx, &ns, bits, &v));
            let other_key = Tokenizer::new(&key(k.wrapping_add(1)), &ctx, &ns, bits, TokenEncoding::Hex);
            let other_ctx = Tokenizer::new(&key(k), &format!("{ctx}x"), &ns, bits, TokenEncoding::Hex);
            let other_ns = Tokenizer::new(&key(k), &ctx, &format!("{ns}2"), bits, TokenEncoding::Hex);
            prop_assert_ne!(a.token(&v), other_key.token(&v));
            prop_assert_ne!(a.token(&v), other_ctx.token(&v));
            prop_assert_ne!(a.token(&v), other_ns.token(&v));
            // base64url carries the same bytes.
            let b64 = Tokenizer::new(&key(k), &ctx, &ns, bits, TokenEncoding::Base64Url);
            use base64::Engine as _;
            let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(b64.token(&v)).unwrap();
            prop_assert_eq!(hex::encode(bytes), a.token(&v));
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
