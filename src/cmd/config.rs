//! Flags resolved once, the same way for every command: the key (with its
//! warnings), the phone region and the thread count.

use std::path::Path;

use anyhow::Result;

use crate::key::{MasterKey, KEY_ENV};
use crate::messages::Messages;

/// What a command does with the key, which decides what is worth a warning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyUse {
    /// It makes tokens (`anonymize`, `token`): the demo key protects nothing.
    Tokens,
    /// It checks outputs against the key (`check`): a demo-key output is a
    /// finding of its own.
    Verify,
}

/// Load the key from `key_file`, else `TXANON_KEY`, and warn about how it
/// is held (a key file readable by others) and, when it makes tokens,
/// about the demo key. Messages never contain the key.
pub fn load_key(key_file: Option<&Path>, key_use: KeyUse, msg: &Messages) -> Result<MasterKey> {
    let (key, source) = MasterKey::load(key_file)?;
    if let Some(w) = source.warning() {
        msg.warning(&w);
    }
    if key_use == KeyUse::Tokens && key.is_demo() {
        msg.demo_key_warning();
    }
    Ok(key)
}

/// Like [`load_key`], for a command where the key is optional: `None` when
/// neither `key_file` nor `TXANON_KEY` gives one.
pub fn load_optional_key(
    key_file: Option<&Path>,
    key_use: KeyUse,
    msg: &Messages,
) -> Result<Option<MasterKey>> {
    if key_file.is_none() && std::env::var_os(KEY_ENV).is_none() {
        return Ok(None);
    }
    load_key(key_file, key_use, msg).map(Some)
}

/// `--threads`, or the number of CPUs.
pub fn threads(flag: Option<u16>) -> usize {
    flag.map(usize::from).unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    })
}

/// `--region`, refused unless it is a region libphonenumber knows.
pub fn region(flag: &str) -> Result<&str> {
    if crate::transform::normalize::known_phone_region(flag).is_none() {
        anyhow::bail!("--region {flag:?} is not a known ISO 3166 region code");
    }
    Ok(flag)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_are_checked_and_threads_default_to_the_cpus() {
        assert_eq!(region("CN").unwrap(), "CN");
        let err = region("XX").unwrap_err().to_string();
        assert_eq!(err, "--region \"XX\" is not a known ISO 3166 region code");
        assert_eq!(threads(Some(3)), 3);
        assert!(threads(None) >= 1);
    }
}
