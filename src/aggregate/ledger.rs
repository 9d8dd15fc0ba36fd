//! The privacy-budget ledger: what every aggregate release of a release
//! scope (`--context`) spent, and the scope's budget.
//!
//! One JSON file (by default beside the key file, `KEY.dp-ledger.json`;
//! `--ledger PATH` elsewhere) holding, per context, the budget fixed by the
//! first release that declared one and one entry per release (name, spec
//! hash, output, time, epsilon, delta). It carries an HMAC-SHA256 under a key
//! derived from the master key ([`crate::key::MasterKey::ledger_mac`]) over
//! its canonical JSON: a ledger edited without the key (a release removed,
//! a budget raised) is refused. The MAC cannot stop the file being deleted
//! or replaced by an older copy of itself; keep it where the key is kept.
//!
//! A missing ledger is an error ([`Start::Existing`]), never an empty one:
//! otherwise deleting the file would silently reset every budget to zero.
//! A ledger is started only when asked (`--new-ledger`, [`Start::New`],
//! refused where a ledger exists), or implicitly for the published demo key
//! ([`Start::Demo`]), whose MAC key is public anyway (such releases say so).
//!
//! A release is entered in the ledger before its files are renamed into
//! place: a failure after that leaves the budget spent and nothing released,
//! never the reverse. A release holds [`LedgerLock`] from its first budget
//! check to its renames, so two releases never spend the same budget.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::aggregate::spec::Budget;
use crate::error::{Error, Result};
use crate::key::MasterKey;

/// Format tag of the ledger file.
pub const FORMAT: &str = "txanon-dp-ledger/1";

/// Largest ledger read.
const MAX_LEDGER_BYTES: usize = 16 << 20;

/// Slack for float sums of epsilons (a budget of 3 holds three releases of 1).
const SLACK: f64 = 1e-9;

/// One release in the ledger.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// `[release].name`.
    pub name: String,
    /// SHA-256 of the spec file.
    pub spec_sha256: String,
    /// The aggregate file written.
    pub output: String,
    /// When (UTC, RFC 3339).
    pub at: String,
    /// Epsilon spent.
    pub epsilon: f64,
    /// Delta spent.
    pub delta: f64,
}

/// One release scope.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scope {
    /// The budget, fixed by the first release that declared one.
    pub budget: Option<Budget>,
    /// Every release, oldest first.
    pub releases: Vec<Entry>,
}

impl Scope {
    /// Total epsilon and delta spent.
    pub fn spent(&self) -> (f64, f64) {
        self.releases
            .iter()
            .fold((0.0, 0.0), |(e, d), r| (e + r.epsilon, d + r.delta))
    }
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Body {
    format: String,
    contexts: BTreeMap<String, Scope>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    format: String,
    contexts: BTreeMap<String, Scope>,
    mac: String,
}

/// A loaded, verified ledger.
#[derive(Debug)]
pub struct Ledger {
    path: PathBuf,
    contexts: BTreeMap<String, Scope>,
}

/// Where the ledger lives: `--ledger`, else beside the key file.
pub fn default_path(ledger: Option<&Path>, key_file: Option<&Path>) -> Result<PathBuf> {
    match (ledger, key_file) {
        (Some(p), _) => Ok(p.to_path_buf()),
        (None, Some(k)) => {
            let mut name = k.file_name().unwrap_or_default().to_os_string();
            name.push(".dp-ledger.json");
            Ok(k.with_file_name(name))
        }
        (None, None) => Err(Error::Usage(
            "the key comes from TXANON_KEY, so there is no key file to keep the privacy-budget \
             ledger beside: give --ledger PATH"
                .into(),
        )),
    }
}

fn mac_hex(key: &MasterKey, contexts: &BTreeMap<String, Scope>) -> Result<String> {
    let body = Body {
        format: FORMAT.into(),
        contexts: contexts.clone(),
    };
    let bytes = serde_json::to_vec(&body)
        .map_err(|e| Error::Internal(format!("ledger serialization: {e}")))?;
    Ok(hex::encode(key.ledger_mac(&bytes)))
}

/// How a release treats a missing ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// The ledger must exist (the default): a missing one is refused.
    Existing,
    /// Start a new, empty ledger (`--new-ledger`): one that exists is refused.
    New,
    /// The published demo key: a missing ledger is started, one that exists is used.
    Demo,
}

impl Ledger {
    /// Read and verify `path`; whether a missing file starts an empty ledger
    /// or is refused follows `start`.
    pub fn open(path: &Path, key: &MasterKey, start: Start) -> Result<Ledger> {
        let bytes = match crate::io::read_bounded(path, MAX_LEDGER_BYTES) {
            Ok(_) if start == Start::New => {
                return Err(Error::Usage(format!(
                    "privacy-budget ledger {} already exists: --new-ledger only starts a ledger \
                     where there is none; drop --new-ledger to release against it; nothing was \
                     written",
                    path.display()
                )))
            }
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && start != Start::Existing => {
                return Ok(Ledger {
                    path: path.to_path_buf(),
                    contexts: BTreeMap::new(),
                })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::Usage(format!(
                    "privacy-budget ledger {} does not exist; a missing ledger would reset the \
                     budget already spent, so none is started silently. For the first release \
                     under this key (or --ledger) give --new-ledger; if the ledger was moved or \
                     deleted, restore it or point --ledger at it; nothing was written",
                    path.display()
                )))
            }
            Err(e) => return Err(Error::io(path, e)),
        };
        let refuse = |why: &str| {
            Error::Usage(format!(
                "privacy-budget ledger {}: {why}; refusing to release against it",
                path.display()
            ))
        };
        let file: File = serde_json::from_slice(&bytes)
            .map_err(|_| refuse("not a txanon ledger (unreadable JSON)"))?;
        if file.format != FORMAT {
            return Err(refuse("unknown ledger format"));
        }
        let expected = mac_hex(key, &file.contexts)?;
        let given = hex::decode(&file.mac).unwrap_or_default();
        let expected = hex::decode(expected).unwrap_or_default();
        use subtle_eq::ct_eq;
        if !ct_eq(&given, &expected) {
            return Err(refuse(
                "its MAC does not match (edited without the key, or made under another key)",
            ));
        }
        Ok(Ledger {
            path: path.to_path_buf(),
            contexts: file.contexts,
        })
    }

    /// The scope of `context`, if any release was made in it.
    pub fn scope(&self, context: &str) -> Option<&Scope> {
        self.contexts.get(context)
    }

    /// Check that a release spending `(epsilon, delta)` fits the budget of
    /// `context` (`declared`: the spec's budget). Returns the budget that
    /// applies, or refuses saying how much is left.
    pub fn check(
        &self,
        context: &str,
        declared: Option<Budget>,
        epsilon: f64,
        delta: f64,
    ) -> Result<Option<Budget>> {
        let scope = self.contexts.get(context).cloned().unwrap_or_default();
        let budget = match (scope.budget, declared) {
            (Some(b), Some(d)) if b != d => {
                return Err(Error::Usage(format!(
                    "context {context:?}: the ledger's budget is max_epsilon = {}, max_delta = {}; \
                     the spec declares max_epsilon = {}, max_delta = {}: a budget is fixed by the \
                     first release and is never changed; nothing was written",
                    b.max_epsilon, b.max_delta, d.max_epsilon, d.max_delta
                )))
            }
            (Some(b), _) | (None, Some(b)) => Some(b),
            (None, None) => None,
        };
        if let Some(b) = budget {
            let (e, d) = scope.spent();
            let n = scope.releases.len();
            if e + epsilon > b.max_epsilon * (1.0 + SLACK) {
                return Err(Error::Usage(format!(
                    "context {context:?}: this release needs epsilon = {epsilon}, but only {} of \
                     max_epsilon = {} is left ({e} spent in {n} release(s)); nothing was written",
                    (b.max_epsilon - e).max(0.0),
                    b.max_epsilon
                )));
            }
            if d + delta > b.max_delta * (1.0 + SLACK) {
                return Err(Error::Usage(format!(
                    "context {context:?}: this release needs delta = {delta}, but only {} of \
                     max_delta = {} is left ({d} spent in {n} release(s)); nothing was written",
                    (b.max_delta - d).max(0.0),
                    b.max_delta
                )));
            }
        }
        Ok(budget)
    }

    /// Enter a release (after [`Ledger::check`]) and write the ledger
    /// (atomically, with its new MAC).
    pub fn record(
        &mut self,
        key: &MasterKey,
        context: &str,
        budget: Option<Budget>,
        entry: Entry,
        mode: u32,
    ) -> Result<()> {
        let scope = self.contexts.entry(context.to_string()).or_default();
        if scope.budget.is_none() {
            scope.budget = budget;
        }
        scope.releases.push(entry);
        let file = File {
            format: FORMAT.into(),
            mac: mac_hex(key, &self.contexts)?,
            contexts: self.contexts.clone(),
        };
        let mut json = serde_json::to_vec_pretty(&file)
            .map_err(|e| Error::Internal(format!("ledger serialization: {e}")))?;
        json.push(b'\n');
        let staged = crate::io::output::Staged::file(&self.path, &json, mode)?;
        crate::io::output::commit(vec![staged])
    }
}

/// An exclusive hold on a ledger for one release, from the first budget
/// check to the renames: an `flock` on `LEDGER.lock` (see
/// [`crate::io::output::try_lock_file`]), released when the release ends,
/// however it ends. A second release against the same ledger meanwhile is
/// refused (two releases at once could both pass the check and overspend).
#[derive(Debug)]
pub struct LedgerLock {
    _file: std::fs::File,
}

impl LedgerLock {
    /// Take the lock of the ledger at `ledger`.
    pub fn acquire(ledger: &Path) -> Result<LedgerLock> {
        let mut name = ledger.file_name().unwrap_or_default().to_os_string();
        name.push(".lock");
        let path = ledger.with_file_name(name);
        match crate::io::output::try_lock_file(&path)? {
            Some(file) => Ok(LedgerLock { _file: file }),
            None => Err(Error::Usage(format!(
                "the privacy-budget ledger is in use by another release (it holds {}); \
                 nothing was written",
                path.display()
            ))),
        }
    }
}

/// Constant-time comparison of two MACs.
mod subtle_eq {
    /// True when `a` and `b` are equal, in time independent of where they differ.
    pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
        if a.len() != b.len() {
            return false;
        }
        a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn start(path: &Path) -> Start {
        if path.exists() {
            Start::Existing
        } else {
            Start::New
        }
    }

    #[test]
    fn a_missing_ledger_is_refused_unless_started_and_an_existing_one_is_not_restarted() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l.json");
        let key = MasterKey::from_hex(&"0b".repeat(32)).unwrap();
        let e = Ledger::open(&path, &key, Start::Existing)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("l.json does not exist") && e.contains("--new-ledger"),
            "{e}"
        );
        let mut l = Ledger::open(&path, &key, Start::New).unwrap();
        l.record(&key, "c", None, entry(1.0), 0o600).unwrap();
        let e = Ledger::open(&path, &key, Start::New)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("l.json already exists") && e.contains("--new-ledger"),
            "{e}"
        );
        let l = Ledger::open(&path, &key, Start::Demo).unwrap();
        assert_eq!(l.scope("c").map(|s| s.spent()), Some((1.0, 0.0)));
        std::fs::remove_file(&path).unwrap();
        assert!(Ledger::open(&path, &key, Start::Existing).is_err());
    }

    fn entry(eps: f64) -> Entry {
        Entry {
            name: "r".into(),
            spec_sha256: "00".into(),
            output: "o.parquet".into(),
            at: "2026-12-01T00:00:00Z".into(),
            epsilon: eps,
            delta: 0.0,
        }
    }

    #[test]
    fn over_budget_is_refused_and_an_edit_without_the_key_is_detected() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l.json");
        let key = MasterKey::from_hex(&"0b".repeat(32)).unwrap();
        let budget = Some(Budget {
            max_epsilon: 2.0,
            max_delta: 0.0,
        });
        for _ in 0..2 {
            let mut l = Ledger::open(&path, &key, start(&path)).unwrap();
            let b = l.check("c", budget, 1.0, 0.0).unwrap();
            l.record(&key, "c", b, entry(1.0), 0o600).unwrap();
        }
        let l = Ledger::open(&path, &key, Start::Existing).unwrap();
        let e = l.check("c", budget, 0.5, 0.0).unwrap_err().to_string();
        assert!(e.contains("only 0 of max_epsilon = 2 is left"), "{e}");
        // Another context has its own budget.
        assert!(l.check("other", budget, 1.0, 0.0).is_ok());
        // Edited without the key: refused.
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(
            &path,
            text.replacen("\"epsilon\": 1.0", "\"epsilon\": 0.0", 1),
        )
        .unwrap();
        let e = Ledger::open(&path, &key, Start::Existing)
            .unwrap_err()
            .to_string();
        assert!(e.contains("MAC does not match"), "{e}");
        // Under another key: refused.
        std::fs::write(&path, text).unwrap();
        let other = MasterKey::from_hex(&"0c".repeat(32)).unwrap();
        assert!(Ledger::open(&path, &other, Start::Existing).is_err());
        assert!(Ledger::open(&path, &key, Start::Existing).is_ok());
    }

    /// The MAC is recomputed over the figures parsed back from the file:
    /// every float must come back bit for bit (serde_json's
    /// `float_roundtrip`), or a ledger holding an awkward delta would be
    /// refused as edited on its next release.
    #[test]
    fn awkward_floats_come_back_and_the_ledger_still_verifies() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l.json");
        let key = MasterKey::from_hex(&"0b".repeat(32)).unwrap();
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            // Doubles in [1e-12, 10), spread over many exponents.
            f64::from_bits((state >> 12) | 0x3ff0_0000_0000_0000)
                * 10f64.powi((state % 13) as i32 - 12)
        };
        for i in 0..200 {
            let mut l = Ledger::open(&path, &key, start(&path)).unwrap();
            let (eps, delta) = if i == 0 {
                (0.1, 9.974355785757893e-10)
            } else {
                (next(), next())
            };
            let b = l.check("c", None, eps, delta).unwrap();
            let mut e = entry(eps);
            e.delta = delta;
            l.record(&key, "c", b, e, 0o600).unwrap();
        }
        assert!(Ledger::open(&path, &key, Start::Existing).is_ok());
    }

    #[test]
    fn a_held_lock_refuses_a_second_release_and_a_released_one_is_taken() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = dir.path().join("l.json");
        let held = LedgerLock::acquire(&ledger).unwrap();
        // Refused however often it is tried while held (an flock, not a
        // file whose contents a second release could misread).
        for _ in 0..3 {
            let e = LedgerLock::acquire(&ledger).unwrap_err().to_string();
            assert!(e.contains("in use by another release"), "{e}");
        }
        drop(held);
        // The lock file stays; nobody holds it, so the next release takes it.
        assert!(dir.path().join("l.json.lock").exists());
        let again = LedgerLock::acquire(&ledger).unwrap();
        assert!(LedgerLock::acquire(&ledger).is_err());
        drop(again);
    }
}
