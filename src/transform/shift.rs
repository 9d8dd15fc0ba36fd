//! Shift spec v1: a keyed, per-entity date offset.
//!
//! ```text
//! shift_key = ns_key(master, context, "shift")                 (token spec v1 key derivation)
//! h         = HMAC-SHA256(shift_key, UTF-8 of the normalized entity value)
//! x         = first 8 bytes of h as a big-endian unsigned 64-bit integer
//! n         = 2 * max_days + 1
//! offset    = floor(x * n / 2^64) - max_days                    (days)
//! ```
//! Every date of one entity moves by the same number of days, so order and
//! intervals within an entity survive while its calendar position does not.
//! The map from `x` to `0..n` is the high half of a 128-bit product, with no
//! rejection step: each of the `n` offsets is hit by either `floor(2^64/n)`
//! or `ceil(2^64/n)` values of `x`, so no offset is more likely than another
//! by more than `n / 2^64 < 2^-51` (for the largest `max_days`, 3653).
//! See `docs/TOKEN-SPEC.md` ("Shift spec v1") and the vectors in
//! `tests/vectors/v1.json`.
//!
//! ```
//! use txanon::key::MasterKey;
//! use txanon::transform::shift::Shifter;
//! let key = MasterKey::from_hex(&"0b".repeat(32)).unwrap();
//! let s = Shifter::new(&key, "", 30);
//! let d = s.offset_days("2088185182612729");
//! assert!((-30..=30).contains(&d));
//! assert_eq!(d, s.offset_days("2088185182612729"));
//! ```

use crate::key::{MasterKey, NamespaceKey};
use crate::schema::EntityKey;
use crate::transform::normalize::{normalize, Normalized};

/// Namespace of the shift key.
pub const SHIFT_NAMESPACE: &str = "shift";

/// Shift spec version written into outputs (`txanon.shift.spec`).
pub const SHIFT_SPEC: &str = "v1";

/// Derives per-entity offsets under one key, context and `max_days`.
#[derive(Debug, Clone)]
pub struct Shifter {
    key: NamespaceKey,
    max_days: u32,
}

/// The offset in days for the 64-bit value `x` (spec step 4).
pub fn offset_from_u64(x: u64, max_days: u32) -> i64 {
    let n = 2 * u128::from(max_days) + 1;
    let index = (u128::from(x) * n) >> 64;
    // index < n <= 2^13, so it fits in i64.
    index as i64 - i64::from(max_days)
}

/// The normalized entity value of shift spec v1, or `None` when the `by`
/// value is empty or invalid (the row's date is then invalid: never shifted
/// by a made-up offset, never passed through).
///
/// - string `by` column: normalization v1 of its kind (`id` unless the `by`
///   column is tokenized as phone, email or address);
/// - `int` `by` column: trimmed, parsed as a signed 64-bit integer (ASCII
///   digits with an optional leading `+` or `-`), written in canonical
///   decimal (`007` gives `7`).
pub fn entity_value(key: EntityKey, raw: &str) -> Option<String> {
    match key {
        EntityKey::Text(kind) => match normalize(&kind, raw) {
            Normalized::Value(v) => Some(v.into_owned()),
            Normalized::Empty | Normalized::Invalid(_) => None,
        },
        EntityKey::Int => raw.trim().parse::<i64>().ok().map(|v| v.to_string()),
    }
}

impl Shifter {
    /// Derive the shift key for `context`; offsets lie in `[-max_days, max_days]`.
    pub fn new(key: &MasterKey, context: &str, max_days: u32) -> Shifter {
        Shifter {
            key: key.namespace_key(context, SHIFT_NAMESPACE),
            max_days,
        }
    }

    /// The offset in days of an already normalized entity value.
    pub fn offset_days(&self, normalized_entity: &str) -> i64 {
        let mac = self.key.mac(normalized_entity.as_bytes());
        let mut first = [0u8; 8];
        first.copy_from_slice(&mac[..8]);
        offset_from_u64(u64::from_be_bytes(first), self.max_days)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_map_reaches_both_ends_and_is_monotone() {
        for max in [1u32, 30, 365, 3653] {
            assert_eq!(offset_from_u64(0, max), -i64::from(max));
            assert_eq!(offset_from_u64(u64::MAX, max), i64::from(max));
            let mut last = i64::MIN;
            for i in 0..=64u32 {
                let x = if i == 64 {
                    u64::MAX
                } else {
                    (1u64 << 63) / 32 * u64::from(i)
                };
                let o = offset_from_u64(x, max);
                assert!(o >= last && (-i64::from(max)..=i64::from(max)).contains(&o));
                last = o;
            }
        }
        // The midpoint maps to 0: x = 2^63 gives floor(n/2) = max.
        assert_eq!(offset_from_u64(1 << 63, 30), 0);
    }

    #[test]
    fn offsets_cover_the_range_roughly_uniformly() {
        let key = MasterKey::from_hex(&"0b".repeat(32)).unwrap();
        let s = Shifter::new(&key, "", 3);
        let mut counts = [0u32; 7];
        for i in 0..7000 {
            counts[(s.offset_days(&format!("entity-{i}")) + 3) as usize] += 1;
        }
        // Expected 1000 each; 5 sigma is about 150.
        assert!(
            counts.iter().all(|&c| (850..=1150).contains(&c)),
            "{counts:?}"
        );
    }

    /// Cases of `shift` in tests/vectors/v1.json, computed by
    /// tests/vectors/reference.py (a second implementation of the spec).
    #[test]
    fn entities_and_offsets_match_the_reference_vectors() {
        use crate::key::DEMO_KEY_HEX;
        use crate::transform::normalize::Kind;
        let cn = EntityKey::Text(Kind::Phone {
            region: rlibphonenumber::Region::from_code("CN").ok(),
        });
        let (id, email) = (EntityKey::Text(Kind::Id), EntityKey::Text(Kind::Email));
        // (`by` column, raw value, entity value or none: not shifted)
        let entities = [
            (id, " 2088185182612729\t", Some("2088185182612729")),
            (
                id,
                "２０８８１８５１８２６１２７２９",
                Some("2088185182612729"),
            ),
            (cn, "138-0013-8000", Some("+8613800138000")),
            (email, "Li.Wei@163.COM", Some("li.wei@163.com")),
            (EntityKey::Int, "+042", Some("42")),
            (EntityKey::Int, "-7", Some("-7")),
            (id, "", None),
            (cn, "N/A", None),
            (EntityKey::Int, "1_000", None),
            (EntityKey::Int, "9223372036854775808", None),
        ];
        for (by, raw, entity) in entities {
            assert_eq!(entity_value(by, raw).as_deref(), entity, "{raw:?}");
        }
        let sequence = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\
                        202122232425262728292a2b2c2d2e2f";
        // (key, context, entity, offset in days with max_days = 30)
        let offsets = [
            (DEMO_KEY_HEX, "", "2088185182612729", 4),
            (DEMO_KEY_HEX, "", "2088123288158590", -3),
            (DEMO_KEY_HEX, "", "+8613800138000", 18),
            (DEMO_KEY_HEX, "", "li.wei@163.com", 29),
            (DEMO_KEY_HEX, "", "42", 10),
            (DEMO_KEY_HEX, "", "-7", 5),
            (DEMO_KEY_HEX, "release-2026q4", "2088185182612729", 6),
            (DEMO_KEY_HEX, "release-2026q4", "42", -12),
            (sequence, "", "2088123288158590", 18),
            (sequence, "", "42", 20),
        ];
        for (key, context, entity, offset) in offsets {
            let shifter = Shifter::new(&MasterKey::from_hex(key).unwrap(), context, 30);
            assert_eq!(
                shifter.offset_days(entity),
                offset,
                "{context:?} {entity:?}"
            );
        }
    }
}
