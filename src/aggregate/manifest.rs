//! The provenance of an aggregate release: what went in (inputs, spec and
//! schema, each with its SHA-256; the key's fingerprint; the context), what
//! the release spent (its [`ReleaseReport`]: epsilon, delta, scale and
//! sensitivity of every mechanism) and the ledger's totals after it.
//!
//! Written to the Parquet footer ([`MANIFEST_KEY`]) and, on request, to
//! `--manifest PATH`. The aggregate file leaves the company, so this holds
//! no value from the data, no group key (the released keys are in the file,
//! public or chosen by partition selection) and no exact count of rows or
//! bytes (those are not differentially private; they stay in the operator's
//! summary).

use serde::Serialize;

use super::ReleaseReport;
use crate::error::{Error, Result};
use crate::key::MasterKey;
use crate::pipeline::InputSummary;
use crate::schema::Schema;

/// Footer metadata key holding the [`Manifest`] as JSON.
pub const MANIFEST_KEY: &str = "txanon.aggregate.manifest";

/// A file that went into the release.
#[derive(Debug, Clone, Serialize)]
pub struct FileHash {
    /// As given on the command line.
    pub path: String,
    /// SHA-256 of its bytes.
    pub sha256: String,
}

/// The schema of the release.
#[derive(Debug, Clone, Serialize)]
pub struct SchemaHash {
    /// `name`.
    pub name: String,
    /// `version`.
    pub version: i64,
    /// SHA-256 of the schema file.
    pub sha256: String,
}

/// The ledger after the release was entered in it.
#[derive(Debug, Clone, Serialize)]
pub struct LedgerTotals {
    /// The ledger file.
    pub path: String,
    /// The release scope.
    pub context: String,
    /// Releases entered in the scope, this one included.
    pub releases: usize,
    /// Epsilon spent in the scope, this release included.
    pub epsilon_spent: f64,
    /// Delta spent in the scope, this release included.
    pub delta_spent: f64,
    /// The scope's budget, if one is declared.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_epsilon: Option<f64>,
    /// The scope's delta budget, if one is declared.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_delta: Option<f64>,
}

/// Everything the manifest states.
#[derive(Debug, Clone, Serialize)]
pub struct Manifest {
    /// txanon version.
    pub txanon_version: &'static str,
    /// `differentially private aggregate`.
    pub label: &'static str,
    /// `[release].name`.
    pub release: String,
    /// The spec file.
    pub spec: FileHash,
    /// The schema.
    pub schema: SchemaHash,
    /// Token context (the release scope).
    pub token_context: String,
    /// First 8 bytes of HMAC(key, "txanon/v1/fingerprint"): names the key.
    pub key_fingerprint: String,
    /// Made with the published demo key.
    pub demo_key: bool,
    /// The inputs, in order.
    pub inputs: Vec<FileHash>,
    /// What the release spent, per mechanism.
    pub privacy: ReleaseReport,
    /// The ledger's totals after this release.
    pub ledger: LedgerTotals,
}

impl Manifest {
    /// The manifest of `report`, made from `inputs` (each with its SHA-256,
    /// see [`crate::pipeline::manifest::hash_inputs`]).
    pub fn new(
        report: &ReleaseReport,
        spec_path: &std::path::Path,
        schema: &Schema,
        key: &MasterKey,
        inputs: &[InputSummary],
        ledger: LedgerTotals,
    ) -> Result<Manifest> {
        let inputs = inputs
            .iter()
            .map(|i| {
                let sha256 = i.sha256.clone().ok_or_else(|| {
                    Error::Internal("aggregate manifest: an input was not hashed".into())
                })?;
                Ok(FileHash {
                    path: i.path.display().to_string(),
                    sha256,
                })
            })
            .collect::<Result<_>>()?;
        Ok(Manifest {
            txanon_version: env!("CARGO_PKG_VERSION"),
            label: report.label,
            release: report.name.clone(),
            spec: FileHash {
                path: spec_path.display().to_string(),
                sha256: report.spec_sha256.clone(),
            },
            schema: SchemaHash {
                name: schema.name.clone(),
                version: schema.version,
                sha256: schema.sha256.clone(),
            },
            token_context: schema.tokens.context.clone(),
            key_fingerprint: key.fingerprint(),
            demo_key: key.is_demo(),
            inputs,
            privacy: report.clone(),
            ledger,
        })
    }

    /// Compact JSON (the footer).
    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string(self).map_err(|e| Error::Internal(format!("aggregate manifest: {e}")))
    }

    /// Pretty JSON ending in a newline (`--manifest`).
    pub fn to_pretty_json(&self) -> Result<Vec<u8>> {
        let mut bytes = serde_json::to_vec_pretty(self)
            .map_err(|e| Error::Internal(format!("aggregate manifest: {e}")))?;
        bytes.push(b'\n');
        Ok(bytes)
    }
}
