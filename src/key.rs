//! Key material: loading, validation, fingerprint, and the derived
//! per-namespace keys of token spec v1.
//!
//! The master key is the whole protection of every token txanon writes:
//! anyone holding it can recompute the token of any guessed phone number or
//! e-mail address. It therefore lives only in [`MasterKey`], whose `Debug`
//! prints a redaction marker, which is never `Serialize`, and whose bytes are
//! zeroized on drop. It is read from a file or the `TXANON_KEY` environment
//! variable, never from a command-line flag (flags are visible in `ps`).
//!
//! ```
//! use txanon::key::MasterKey;
//! let key = MasterKey::from_hex(&"0b".repeat(32)).unwrap();
//! assert_eq!(format!("{key:?}"), "MasterKey([redacted])");
//! assert_eq!(key.fingerprint().len(), 16);
//! ```

use std::fmt;
use std::path::Path;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::error::{Error, Result};

/// Minimum master key length in bytes.
pub const MIN_KEY_BYTES: usize = 32;

/// Largest key file read: a key is 64 hex characters or a few more, so
/// anything bigger is the wrong file or a device such as `/dev/zero`.
pub const MAX_KEY_FILE_BYTES: usize = 4096;

/// Name of the environment variable that may hold the key in hex.
pub const KEY_ENV: &str = "TXANON_KEY";

/// The published demo key shipped as `data-samples/demo.key`. Tokens made with
/// it protect nothing; txanon warns whenever it is used.
pub const DEMO_KEY_HEX: &str = "b683ce432590829a796e8802fc42be517504aa6783ecfd1b6c783e44e6420a21";

type HmacSha256 = Hmac<Sha256>;

/// The secret master key. `Debug` is redacted; bytes are zeroized on drop.
pub struct MasterKey {
    bytes: Zeroizing<Vec<u8>>,
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey([redacted])")
    }
}

/// Where the key came from, for messages (never the key itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// A key file, by path.
    File(std::path::PathBuf),
    /// The `TXANON_KEY` environment variable.
    Env,
}

impl fmt::Display for KeySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeySource::File(p) => write!(f, "key file {}", p.display()),
            KeySource::Env => write!(f, "environment variable {KEY_ENV}"),
        }
    }
}

impl MasterKey {
    /// Decode a key from hex text (surrounding white space ignored).
    ///
    /// Errors never include the text: a typo in a key is still most of a key.
    pub fn from_hex(text: &str) -> Result<MasterKey> {
        let text = text.trim();
        if text.is_empty() {
            return Err(Error::Key("key is empty".into()));
        }
        if !text.len().is_multiple_of(2) || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(Error::Key(
                "key is not hex text (expected an even number of 0-9a-f characters)".into(),
            ));
        }
        let bytes = Zeroizing::new(
            hex::decode(text).map_err(|_| Error::Key("key is not valid hex".into()))?,
        );
        if bytes.len() < MIN_KEY_BYTES {
            return Err(Error::Key(format!(
                "key is {} bytes; at least {MIN_KEY_BYTES} bytes (64 hex characters) are required",
                bytes.len()
            )));
        }
        if bytes.iter().all(|&b| b == 0) {
            return Err(Error::Key("key is all zero bytes".into()));
        }
        Ok(MasterKey { bytes })
    }

    /// Load the key from `path` if given, else from `TXANON_KEY`.
    pub fn load(path: Option<&Path>) -> Result<(MasterKey, KeySource)> {
        match path {
            Some(path) => {
                let bytes =
                    Zeroizing::new(crate::io::read_bounded(path, MAX_KEY_FILE_BYTES).map_err(
                        |e| Error::Key(format!("cannot read key file {}: {e}", path.display())),
                    )?);
                let text = std::str::from_utf8(&bytes).map_err(|_| {
                    Error::Key(format!(
                        "key file {}: not text (expected hex characters)",
                        path.display()
                    ))
                })?;
                let key = MasterKey::from_hex(text).map_err(|e| match e {
                    Error::Key(m) => Error::Key(format!("{}: {m}", path.display())),
                    other => other,
                })?;
                Ok((key, KeySource::File(path.to_path_buf())))
            }
            None => match std::env::var(KEY_ENV) {
                Ok(text) => {
                    let text = Zeroizing::new(text);
                    let key = MasterKey::from_hex(&text).map_err(|e| match e {
                        Error::Key(m) => Error::Key(format!("{KEY_ENV}: {m}")),
                        other => other,
                    })?;
                    Ok((key, KeySource::Env))
                }
                Err(_) => Err(Error::Key(format!(
                    "no key given: pass --key-file PATH or set {KEY_ENV} (hex); \
                     `txanon keygen -o PATH` makes one"
                ))),
            },
        }
    }

    /// True when this is the published demo key.
    pub fn is_demo(&self) -> bool {
        hex::decode(DEMO_KEY_HEX)
            .map(|demo| demo.as_slice() == self.bytes.as_slice())
            .unwrap_or(false)
    }

    /// Public fingerprint: hex of the first 8 bytes of
    /// HMAC-SHA256(master, "txanon/v1/fingerprint"). Safe to publish; it lets
    /// a key holder confirm which key made a file.
    pub fn fingerprint(&self) -> String {
        let mut mac = self.mac();
        mac.update(b"txanon/v1/fingerprint");
        hex::encode(&mac.finalize().into_bytes()[..8])
    }

    /// Derive the namespace key of token spec v1:
    /// HKDF-Expand-SHA256(PRK = master, info = "txanon/v1/" + context + "/" + namespace, L = 32).
    pub fn namespace_key(&self, context: &str, namespace: &str) -> NamespaceKey {
        // HKDF-Expand with L = 32 is one HMAC block: HMAC(PRK, info || 0x01).
        let mut mac = self.mac();
        mac.update(b"txanon/v1/");
        mac.update(context.as_bytes());
        mac.update(b"/");
        mac.update(namespace.as_bytes());
        mac.update(&[0x01]);
        let okm = Zeroizing::new(mac.finalize().into_bytes().to_vec());
        NamespaceKey::new(&okm)
    }

    /// HMAC-SHA256 of `message` under the key of the privacy-budget ledger,
    /// HKDF-Expand-SHA256(PRK = master, info = "txanon/dp-ledger/v1", L = 32):
    /// its own derivation, apart from every token namespace ("txanon/v1/...").
    pub fn ledger_mac(&self, message: &[u8]) -> [u8; 32] {
        let mut mac = self.mac();
        mac.update(b"txanon/dp-ledger/v1");
        mac.update(&[0x01]);
        let okm = Zeroizing::new(mac.finalize().into_bytes().to_vec());
        let mut ledger = <HmacSha256 as KeyInit>::new_from_slice(&okm)
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        ledger.update(message);
        ledger.finalize().into_bytes().into()
    }

    fn mac(&self) -> HmacSha256 {
        // HMAC accepts keys of any length, so this cannot fail.
        <HmacSha256 as KeyInit>::new_from_slice(&self.bytes)
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"))
    }
}

/// A derived per-namespace key, held as precomputed HMAC-SHA256 states: the
/// SHA-256 chaining values after the `key ^ ipad` and `key ^ opad` blocks.
/// A token of a value of up to 55 bytes (every phone, most e-mails and ids)
/// then costs exactly two calls of RustCrypto's SHA-256 compression function;
/// longer values take the `hmac` crate's path. Both give standard HMAC-SHA256
/// (RFC 2104), which the vectors and a property test against `hmac` check.
#[derive(Clone)]
pub struct NamespaceKey {
    mac: HmacSha256,
    inner: [u32; 8],
    outer: [u32; 8],
}

impl fmt::Debug for NamespaceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("NamespaceKey([redacted])")
    }
}

impl Drop for NamespaceKey {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        self.inner.zeroize();
        self.outer.zeroize();
    }
}

/// SHA-256 initial hash value (FIPS 180-4, 5.3.3).
const SHA256_IV: [u32; 8] = [
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
];

/// One padded SHA-256 block holding `message` (at most 55 bytes) that follows
/// `prefix_len` bytes already absorbed.
fn final_block(message: &[u8], prefix_len: u64) -> [u8; 64] {
    let mut block = [0u8; 64];
    block[..message.len()].copy_from_slice(message);
    block[message.len()] = 0x80;
    let bits = (prefix_len + message.len() as u64) * 8;
    block[56..].copy_from_slice(&bits.to_be_bytes());
    block
}

fn digest_bytes(state: &[u32; 8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    for (chunk, word) in out.chunks_exact_mut(4).zip(state) {
        chunk.copy_from_slice(&word.to_be_bytes());
    }
    out
}

impl NamespaceKey {
    fn new(okm: &[u8]) -> NamespaceKey {
        // HMAC key block: the 32-byte key padded with zeros to 64 bytes.
        let mut ipad = Zeroizing::new([0x36u8; 64]);
        let mut opad = Zeroizing::new([0x5cu8; 64]);
        for (i, k) in okm.iter().enumerate().take(64) {
            ipad[i] ^= k;
            opad[i] ^= k;
        }
        let (mut inner, mut outer) = (SHA256_IV, SHA256_IV);
        sha2::block_api::compress256(&mut inner, &[*ipad]);
        sha2::block_api::compress256(&mut outer, &[*opad]);
        NamespaceKey {
            mac: <HmacSha256 as KeyInit>::new_from_slice(okm)
                .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length")),
            inner,
            outer,
        }
    }

    /// Full 32-byte HMAC-SHA256 of `message` under this namespace key.
    #[inline]
    pub fn mac(&self, message: &[u8]) -> [u8; 32] {
        if message.len() <= 55 {
            let mut state = self.inner;
            sha2::block_api::compress256(&mut state, &[final_block(message, 64)]);
            let inner_digest = digest_bytes(&state);
            let mut state = self.outer;
            sha2::block_api::compress256(&mut state, &[final_block(&inner_digest, 64)]);
            return digest_bytes(&state);
        }
        let mut mac = self.mac.clone();
        mac.update(message);
        mac.finalize().into_bytes().into()
    }
}

/// True when `path` (a key file) can be read by its group or by others.
pub fn readable_by_others(path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o077 != 0)
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        false
    }
}

impl KeySource {
    /// A warning about how the key is held, if any (never the key).
    pub fn warning(&self) -> Option<String> {
        match self {
            KeySource::File(p) if readable_by_others(p) => Some(format!(
                "key file {} is readable by group or others; restrict it with `chmod 600`",
                p.display()
            )),
            _ => None,
        }
    }
}

/// Make a new random key: 32 bytes from the operating system's CSPRNG,
/// returned as 64 lowercase hex characters.
pub fn generate_hex() -> Result<Zeroizing<String>> {
    let mut bytes = Zeroizing::new([0u8; MIN_KEY_BYTES]);
    getrandom::fill(bytes.as_mut())
        .map_err(|e| Error::Key(format!("operating system random source failed: {e}")))?;
    Ok(Zeroizing::new(hex::encode(bytes.as_ref())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_redacted() {
        let key = MasterKey::from_hex(&"ab".repeat(32)).unwrap();
        let dbg = format!("{key:?} {:?}", key.namespace_key("", "phone"));
        assert!(!dbg.to_lowercase().contains("abab"));
        // Each type prints its own marker (one redacted Debug cannot cover
        // for the other being empty).
        assert_eq!(dbg, "MasterKey([redacted]) NamespaceKey([redacted])");
    }

    #[test]
    fn key_source_names_the_file_or_variable() {
        let file = KeySource::File(std::path::PathBuf::from("/keys/prod.key"));
        assert_eq!(file.to_string(), "key file /keys/prod.key");
        assert_eq!(
            KeySource::Env.to_string(),
            "environment variable TXANON_KEY"
        );
    }

    /// Fingerprints from Python's `hmac` (RFC 2104), as in
    /// tests/vectors/v1.json: hex(HMAC-SHA256(key, "txanon/v1/fingerprint")[..8]).
    #[test]
    fn fingerprint_matches_an_independent_hmac() {
        let cases = [
            ("0b".repeat(32), "2224f60edf2dddbf"),
            (DEMO_KEY_HEX.to_string(), "02f27c566382803e"),
        ];
        for (hex, want) in cases {
            assert_eq!(MasterKey::from_hex(&hex).unwrap().fingerprint(), want);
        }
    }

    #[test]
    fn odd_length_and_non_hex_keys_get_the_hex_text_message() {
        // Both are refused by the shape check, which explains what a key
        // looks like, before the hex decoder sees them.
        for text in ["abc".repeat(21), "ag".repeat(32)] {
            let e = MasterKey::from_hex(&text).unwrap_err().to_string();
            assert!(e.contains("even number of 0-9a-f characters"), "{e}");
        }
        // A key longer than the minimum is accepted as it is.
        let long = MasterKey::from_hex(&"ab".repeat(33)).unwrap();
        assert_eq!(long.bytes.len(), 33);
    }

    #[cfg(unix)]
    #[test]
    fn key_file_readable_by_group_or_others_is_warned_about() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.key");
        std::fs::write(&path, "ab".repeat(32)).unwrap();
        let source = KeySource::File(path.clone());
        for (mode, readable) in [(0o600, false), (0o400, false), (0o640, true), (0o604, true)] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
            assert_eq!(readable_by_others(&path), readable, "mode {mode:o}");
            let warning = source.warning();
            if readable {
                let w = warning.unwrap();
                assert!(w.contains(&path.display().to_string()), "{w}");
                assert!(w.contains("chmod 600"), "{w}");
            } else {
                assert_eq!(warning, None, "mode {mode:o}");
            }
        }
        assert!(!readable_by_others(&dir.path().join("absent")));
        assert_eq!(KeySource::Env.warning(), None);
    }

    #[test]
    fn rejects_short_zero_and_non_hex() {
        assert!(MasterKey::from_hex(&"ab".repeat(31)).is_err());
        assert!(MasterKey::from_hex(&"00".repeat(32)).is_err());
        assert!(MasterKey::from_hex("zz").is_err());
        assert!(MasterKey::from_hex("").is_err());
        let e = MasterKey::from_hex(&"ag".repeat(32))
            .unwrap_err()
            .to_string();
        assert!(!e.contains("agag"), "{e}");
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn fast_hmac_equals_the_hmac_crate(msg in proptest::collection::vec(any::<u8>(), 0..200), ctx in "[a-z]{0,8}") {
                let key = MasterKey::from_hex(&"3c".repeat(40)).unwrap();
                let ns = key.namespace_key(&ctx, "phone");
                let mut reference = ns.mac.clone();
                reference.update(&msg);
                let expected: [u8; 32] = reference.finalize().into_bytes().into();
                prop_assert_eq!(ns.mac(&msg), expected);
            }
        }

        #[test]
        fn boundary_lengths() {
            let key = MasterKey::from_hex(&"3c".repeat(32)).unwrap();
            let ns = key.namespace_key("", "id");
            for len in [0usize, 1, 54, 55, 56, 63, 64, 65, 119, 120] {
                let msg = vec![0xa5u8; len];
                let mut reference = ns.mac.clone();
                reference.update(&msg);
                let expected: [u8; 32] = reference.finalize().into_bytes().into();
                assert_eq!(ns.mac(&msg), expected, "length {len}");
            }
        }
    }

    #[test]
    fn demo_key_is_recognised() {
        let demo = MasterKey::from_hex(DEMO_KEY_HEX).unwrap();
        assert!(demo.is_demo());
        assert!(!MasterKey::from_hex(&"ab".repeat(32)).unwrap().is_demo());
    }

    /// Calls `drop_it` (which frees a block) and returns the `len` bytes at
    /// `addr` afterwards, read through `/proc/self/mem` (plain file I/O, no
    /// `unsafe`). The file and the buffer are made before the drop, so nothing
    /// is allocated between the free and the read that could reuse the block;
    /// glibc's free writes only the first 16 bytes of a block.
    #[cfg(target_os = "linux")]
    fn freed_bytes(addr: usize, len: usize, drop_it: impl FnOnce()) -> Vec<u8> {
        use std::os::unix::fs::FileExt;
        let mem = std::fs::File::open("/proc/self/mem").unwrap();
        let mut seen = vec![0u8; len];
        drop_it();
        mem.read_exact_at(&mut seen, addr as u64).unwrap();
        seen
    }

    #[cfg(target_os = "linux")]
    fn holds(haystack: &[u8], needle: &[u8]) -> bool {
        haystack.windows(needle.len()).any(|w| w == needle)
    }

    /// Key bytes are zeroized on drop: the master key's buffer, and the
    /// derived namespace key (its precomputed states and the `hmac` state that
    /// holds the same chaining values, which `sha2`'s `zeroize` feature
    /// clears). A plain copy of the same bytes is the control: it shows that
    /// freed memory does keep its bytes here, so the check can fail.
    #[cfg(target_os = "linux")]
    #[test]
    fn key_bytes_are_zeroized_on_drop() {
        // 1000 bytes: a block size nothing else in this test allocates.
        let pattern: Vec<u8> = (0..1000u32).map(|i| (i % 251) as u8 | 0x01).collect();
        let needle = &pattern[500..532];

        let plain = pattern.clone();
        let addr = plain.as_ptr() as usize;
        let seen = freed_bytes(addr, pattern.len(), move || drop(plain));
        assert!(
            holds(&seen, needle),
            "control: a freed plain Vec keeps its bytes (else this check cannot fail)"
        );

        let key = MasterKey::from_hex(&hex::encode(&pattern)).unwrap();
        assert_eq!(key.bytes.as_slice(), pattern.as_slice());
        let addr = key.bytes.as_ptr() as usize;
        let seen = freed_bytes(addr, pattern.len(), move || drop(key));
        assert!(
            !holds(&seen, needle),
            "master key bytes left in freed memory"
        );

        // The second half of each precomputed state (the first 16 bytes of a
        // freed block belong to the allocator).
        let tail =
            |s: &[u32; 8]| -> Vec<u8> { s[4..].iter().flat_map(|w| w.to_ne_bytes()).collect() };
        let key = MasterKey::from_hex(&"5a".repeat(32)).unwrap();
        let ns = Box::new(key.namespace_key("", "phone"));
        let (inner, outer) = (tail(&ns.inner), tail(&ns.outer));
        for state in [ns.inner, ns.outer] {
            let control = Box::new(state);
            let addr = &*control as *const [u32; 8] as usize;
            let seen = freed_bytes(addr, 32, move || drop(control));
            assert!(
                holds(&seen, &tail(&state)),
                "control: a freed copy of a state keeps its bytes"
            );
        }
        let addr = &*ns as *const NamespaceKey as usize;
        let len = std::mem::size_of::<NamespaceKey>();
        let seen = freed_bytes(addr, len, move || drop(ns));
        assert!(
            !holds(&seen, &inner),
            "inner HMAC state left in freed memory"
        );
        assert!(
            !holds(&seen, &outer),
            "outer HMAC state left in freed memory"
        );
    }

    #[test]
    fn generated_keys_differ_and_load() {
        let a = generate_hex().unwrap();
        let b = generate_hex().unwrap();
        assert_ne!(*a, *b);
        assert_eq!(a.len(), 64);
        MasterKey::from_hex(&a).unwrap();
    }
}
