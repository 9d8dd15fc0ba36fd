//! The manifest (`_manifest.json`, `--manifest PATH`): what went in and
//! what came out, with no values and no time stamps, so the same run gives
//! the same bytes.

use std::io::Read;

use sha2::Digest;

use super::provenance::{OUTPUT_LABEL, TOKEN_SPEC};
use super::summary::{ColumnSummary, InputSummary};
use super::Reporter;
use crate::error::{Error, Result};
use crate::io::parquet_writer::PartInfo;
use crate::key::MasterKey;
use crate::schema::Schema;

/// Everything a manifest states.
#[derive(Debug, Clone, Copy)]
pub struct Manifest<'a> {
    /// The schema the run used.
    pub schema: &'a Schema,
    /// The key (only its fingerprint is written).
    pub key: &'a MasterKey,
    /// The inputs, each with its SHA-256 ([`hash_inputs`]).
    pub inputs: &'a [InputSummary],
    /// Rows written.
    pub rows_written: u64,
    /// Records skipped.
    pub bad_rows: u64,
    /// Partition column of a directory output.
    pub partition_by: Option<&'a str>,
    /// The part files of a directory output.
    pub files: &'a [PartInfo],
    /// The `txanon.privacy.*` metadata.
    pub privacy: &'a [(String, String)],
    /// Per-column counts.
    pub columns: &'a [ColumnSummary],
}

impl Manifest<'_> {
    /// Pretty JSON ending in a newline.
    pub fn to_json(&self) -> Result<Vec<u8>> {
        let value = serde_json::json!({
            "txanon_version": env!("CARGO_PKG_VERSION"),
            "label": OUTPUT_LABEL,
            "schema": {
                "name": self.schema.name,
                "version": self.schema.version,
                "sha256": self.schema.sha256,
            },
            "token_spec": TOKEN_SPEC,
            "token_context": self.schema.tokens.context,
            "key_fingerprint": self.key.fingerprint(),
            "demo_key": self.key.is_demo(),
            "inputs": self.inputs,
            "rows": {
                "read": self.inputs.iter().map(|i| i.rows_read).sum::<u64>(),
                "written": self.rows_written,
                "skipped": self.bad_rows,
            },
            "partition_by": self.partition_by,
            "files": self.files,
            "columns": self.columns,
            "privacy": self
                .privacy
                .iter()
                .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
                .collect::<serde_json::Map<String, serde_json::Value>>(),
        });
        let mut bytes = serde_json::to_vec_pretty(&value)
            .map_err(|e| Error::Internal(format!("manifest: {e}")))?;
        bytes.push(b'\n');
        Ok(bytes)
    }
}

/// Fill in every input's SHA-256 (a sequential read of each file).
pub fn hash_inputs(inputs: &mut [InputSummary], reporter: &dyn Reporter) -> Result<()> {
    for input in inputs {
        if let Some(sig) = reporter.interrupted() {
            return Err(Error::Interrupted(sig));
        }
        let mut f = std::fs::File::open(&input.path).map_err(|e| Error::io(&input.path, e))?;
        let mut hasher = sha2::Sha256::new();
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = match f.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Error::io(&input.path, e)),
            };
            hasher.update(&buf[..n]);
        }
        input.sha256 = Some(hex::encode(hasher.finalize()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::SilentReporter;
    use crate::transform::batch::ColumnStats;
    use std::path::{Path, PathBuf};

    fn input(path: PathBuf) -> InputSummary {
        InputSummary {
            path,
            format: "csv",
            compression: "none",
            encoding: "utf-8",
            bytes: 3,
            sha256: None,
            rows_read: 7,
            rows_written: 5,
            bad_rows: 2,
            numeric_text_columns: Vec::new(),
        }
    }

    #[test]
    fn hash_inputs_is_the_sha256_of_each_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("in.csv");
        std::fs::write(&path, b"abc").unwrap();
        let mut inputs = vec![input(path)];
        hash_inputs(&mut inputs, &SilentReporter).unwrap();
        assert_eq!(
            inputs[0].sha256.as_deref(),
            Some("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        );
        let mut missing = vec![input(dir.path().join("gone.csv"))];
        assert!(matches!(
            hash_inputs(&mut missing, &SilentReporter),
            Err(Error::Io { .. })
        ));
    }

    #[test]
    fn the_manifest_is_stable_json_with_counts_and_no_key() {
        let schema = Schema::from_toml(
            "[dataset]\nname = \"m\"\nversion = 2\n[[columns]]\nname = \"a\"\naction = \"keep\"\n",
            Path::new("m.toml"),
        )
        .unwrap();
        let hex = "3c".repeat(32);
        let key = MasterKey::from_hex(&hex).unwrap();
        let inputs = [input(PathBuf::from("in.csv"))];
        let columns = [ColumnSummary {
            name: "a".into(),
            output: Some("a".into()),
            action: "keep",
            stats: ColumnStats::default(),
        }];
        let files = [PartInfo {
            path: "part-0.parquet".into(),
            rows: 5,
        }];
        let privacy = [("txanon.privacy.k".to_string(), "5".to_string())];
        let m = Manifest {
            schema: &schema,
            key: &key,
            inputs: &inputs,
            rows_written: 5,
            bad_rows: 2,
            partition_by: Some("a"),
            files: &files,
            privacy: &privacy,
            columns: &columns,
        };
        let bytes = m.to_json().unwrap();
        assert_eq!(bytes, m.to_json().unwrap(), "no time stamps");
        assert_eq!(bytes.last(), Some(&b'\n'));
        let text = String::from_utf8(bytes).unwrap();
        assert!(!text.contains(&hex));
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["label"], OUTPUT_LABEL);
        assert_eq!(v["token_spec"], TOKEN_SPEC);
        assert_eq!(v["key_fingerprint"], key.fingerprint());
        assert_eq!(v["schema"]["name"], "m");
        assert_eq!(v["rows"]["read"], 7);
        assert_eq!(v["rows"]["written"], 5);
        assert_eq!(v["rows"]["skipped"], 2);
        assert_eq!(v["partition_by"], "a");
        assert_eq!(v["files"][0]["rows"], 5);
        assert_eq!(v["privacy"]["txanon.privacy.k"], "5");
        assert_eq!(v["columns"][0]["action"], "keep");
    }
}
