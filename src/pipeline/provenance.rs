//! What every output file says about itself: the label, the token spec
//! and the footer metadata (`txanon.*` keys) written before the data.

use crate::key::MasterKey;
use crate::schema::{Schema, TokenEncoding};

/// The label written into every output file. Keyed tokens are pseudonyms.
pub const OUTPUT_LABEL: &str = "pseudonymised personal data";

/// Token spec version written into outputs (docs/TOKEN-SPEC.md). v1.1 pins
/// the e-mail domain's UTS #46 profile; every value valid under v1 and v1.1
/// has the same token under both.
pub const TOKEN_SPEC: &str = "v1.1";

/// Token spec versions whose outputs `check` accepts.
pub const KNOWN_TOKEN_SPECS: [&str; 2] = ["v1", TOKEN_SPEC];

/// The footer metadata keys written by [`provenance`], for the readers of
/// an output (`check`, `report`).
pub mod keys {
    /// txanon version that wrote the file.
    pub const VERSION: &str = "txanon.version";
    /// Schema name.
    pub const SCHEMA_NAME: &str = "txanon.schema.name";
    /// Schema version.
    pub const SCHEMA_VERSION: &str = "txanon.schema.version";
    /// SHA-256 of the schema file.
    pub const SCHEMA_SHA256: &str = "txanon.schema.sha256";
    /// Token spec version ([`super::TOKEN_SPEC`]).
    pub const TOKEN_SPEC: &str = "txanon.token.spec";
    /// The schema's token context.
    pub const TOKEN_CONTEXT: &str = "txanon.token.context";
    /// Token bits.
    pub const TOKEN_BITS: &str = "txanon.token.bits";
    /// `hex` or `base64url`.
    pub const TOKEN_ENCODING: &str = "txanon.token.encoding";
    /// Public fingerprint of the key.
    pub const KEY_FINGERPRINT: &str = "txanon.key.fingerprint";
    /// [`super::OUTPUT_LABEL`].
    pub const LABEL: &str = "txanon.label";
}

/// The footer metadata written before the data, in a fixed order.
pub fn provenance(schema: &Schema, key: &MasterKey) -> Vec<(String, String)> {
    let encoding = match schema.tokens.encoding {
        TokenEncoding::Hex => "hex",
        TokenEncoding::Base64Url => "base64url",
    };
    [
        (keys::VERSION, env!("CARGO_PKG_VERSION").to_string()),
        (keys::SCHEMA_NAME, schema.name.clone()),
        (keys::SCHEMA_VERSION, schema.version.to_string()),
        (keys::SCHEMA_SHA256, schema.sha256.clone()),
        (keys::TOKEN_SPEC, TOKEN_SPEC.to_string()),
        (keys::TOKEN_CONTEXT, schema.tokens.context.clone()),
        (keys::TOKEN_BITS, schema.tokens.bits.to_string()),
        (keys::TOKEN_ENCODING, encoding.to_string()),
        (keys::KEY_FINGERPRINT, key.fingerprint()),
        (keys::LABEL, OUTPUT_LABEL.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    const SCHEMA: &str = r#"
[dataset]
name = "shop"
version = 3
[tokens]
context = "ctx-1"
[[columns]]
name = "phone"
action = "tokenize"
as = "phone"
region = "CN"
"#;

    #[test]
    fn provenance_names_schema_spec_and_key_by_fingerprint_only() {
        let schema = Schema::from_toml(SCHEMA, Path::new("s.toml")).unwrap();
        let hex = "5a".repeat(32);
        let key = MasterKey::from_hex(&hex).unwrap();
        let meta = provenance(&schema, &key);
        let names: Vec<&str> = meta.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            names,
            [
                keys::VERSION,
                keys::SCHEMA_NAME,
                keys::SCHEMA_VERSION,
                keys::SCHEMA_SHA256,
                keys::TOKEN_SPEC,
                keys::TOKEN_CONTEXT,
                keys::TOKEN_BITS,
                keys::TOKEN_ENCODING,
                keys::KEY_FINGERPRINT,
                keys::LABEL,
            ]
        );
        let get = |k: &str| meta.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get(keys::SCHEMA_NAME), Some("shop"));
        assert_eq!(get(keys::SCHEMA_VERSION), Some("3"));
        assert_eq!(get(keys::SCHEMA_SHA256), Some(schema.sha256.as_str()));
        assert_eq!(get(keys::TOKEN_SPEC), Some(TOKEN_SPEC));
        assert_eq!(get(keys::TOKEN_CONTEXT), Some("ctx-1"));
        assert_eq!(get(keys::KEY_FINGERPRINT), Some(key.fingerprint().as_str()));
        assert_eq!(get(keys::LABEL), Some(OUTPUT_LABEL));
        assert!(meta
            .iter()
            .all(|(k, v)| k.starts_with("txanon.") && !v.contains(&hex)));
        assert!(KNOWN_TOKEN_SPECS.contains(&TOKEN_SPEC));
    }
}
