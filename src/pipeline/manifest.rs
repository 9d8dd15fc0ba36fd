//! The manifest (`_manifest.json`, `--manifest PATH`): what went in and
//! what came out, with no values and no time stamps, so the same run gives
//! the same bytes.

use std::io::Read;

use sha2::Digest;

use super::provenance::{OUTPUT_LABEL, TOKEN_SPEC};
use super::summary::{ColumnSummary, InputSummary};
use super::Reporter;
use crate::dataset::generation_of;
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
    /// The dataset's manifest before this run, when the run appends a
    /// generation to it (`anonymize --append`): its inputs, files,
    /// generations and counts are carried over.
    pub earlier: Option<&'a serde_json::Value>,
    /// Inputs `--replace-changed` replaced (recorded in this generation's
    /// entry of `generations`).
    pub replaced: &'a [serde_json::Value],
}

impl Manifest<'_> {
    /// Pretty JSON ending in a newline.
    ///
    /// Every input and part file carries the generation that added it
    /// (1 for a new output); `generations` lists each generation's counts,
    /// and `rows` and `columns` are totals over all of them.
    pub fn to_json(&self) -> Result<Vec<u8>> {
        use serde_json::Value;
        let earlier = self.earlier;
        let generation = earlier.map_or(1, |m| generation_of(m) + 1);
        let tag = |v: Value, g: u64| match v {
            Value::Object(mut o) => {
                o.entry("generation").or_insert(g.into());
                Value::Object(o)
            }
            other => other,
        };
        let carried = |key: &str| -> Vec<Value> {
            earlier
                .and_then(|m| m.get(key))
                .and_then(Value::as_array)
                .map(|a| a.iter().map(|v| tag(v.clone(), 1)).collect())
                .unwrap_or_default()
        };
        let mut inputs = carried("inputs");
        for i in self.inputs {
            inputs.push(tag(value(i)?, generation));
        }
        let mut files = carried("files");
        for f in self.files {
            files.push(tag(value(f)?, generation));
        }
        let read: u64 = self.inputs.iter().map(|i| i.rows_read).sum();
        let mut this = serde_json::json!({
            "generation": generation,
            "inputs": self.inputs.len(),
            "files": self.files.len(),
            "rows": {"read": read, "written": self.rows_written, "skipped": self.bad_rows},
        });
        if let (false, Some(o)) = (self.replaced.is_empty(), this.as_object_mut()) {
            o.insert("replaced".into(), Value::Array(self.replaced.to_vec()));
        }
        let mut generations = match earlier {
            None => Vec::new(),
            Some(m) => match m.get("generations").and_then(Value::as_array) {
                Some(g) => g.clone(),
                // A manifest written before generations were recorded.
                None => vec![serde_json::json!({
                    "generation": 1,
                    "inputs": carried("inputs").len(),
                    "files": carried("files").len(),
                    "rows": m.get("rows").cloned().unwrap_or(Value::Null),
                })],
            },
        };
        generations.push(this);
        let before = |k: &str| {
            earlier
                .and_then(|m| m.pointer(&format!("/rows/{k}")))
                .and_then(Value::as_u64)
                .unwrap_or(0)
        };
        let mut columns = Vec::with_capacity(self.columns.len());
        for c in self.columns {
            let mut v = value(c)?;
            let old = earlier
                .and_then(|m| m.get("columns"))
                .and_then(Value::as_array)
                .and_then(|a| a.iter().find(|o| o.get("name") == v.get("name")));
            if let (Some(old), Some(o)) = (old, v.as_object_mut()) {
                for k in ["nulls", "invalid", "invalid_tokenized"] {
                    let sum = o.get(k).and_then(Value::as_u64).unwrap_or(0)
                        + old.get(k).and_then(Value::as_u64).unwrap_or(0);
                    o.insert(k.into(), sum.into());
                }
            }
            columns.push(v);
        }
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
            "generation": generation,
            "generations": generations,
            "inputs": inputs,
            "rows": {
                "read": before("read") + read,
                "written": before("written") + self.rows_written,
                "skipped": before("skipped") + self.bad_rows,
            },
            "partition_by": self.partition_by,
            "files": files,
            "columns": columns,
            "privacy": self
                .privacy
                .iter()
                .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
                .collect::<serde_json::Map<String, serde_json::Value>>(),
        });
        let mut value = value;
        // Rows removed by `txanon erase` or `--replace-changed` stay
        // counted after an append.
        for k in ["erased", "replaced"] {
            if let (n @ 1.., Some(rows)) = (
                before(k),
                value.get_mut("rows").and_then(Value::as_object_mut),
            ) {
                rows.insert(k.into(), n.into());
            }
        }
        let mut bytes = serde_json::to_vec_pretty(&value)
            .map_err(|e| Error::Internal(format!("manifest: {e}")))?;
        bytes.push(b'\n');
        Ok(bytes)
    }
}

/// One part of the manifest as a JSON value.
fn value<T: serde::Serialize>(part: &T) -> Result<serde_json::Value> {
    serde_json::to_value(part).map_err(|e| Error::Internal(format!("manifest: {e}")))
}

/// Fill in every input's SHA-256 (a sequential read of each file).
pub fn hash_inputs(inputs: &mut [InputSummary], reporter: &dyn Reporter) -> Result<()> {
    for input in inputs {
        input.sha256 = Some(sha256_file(&input.path, reporter)?);
    }
    Ok(())
}

/// The SHA-256 of a file, in hex.
pub fn sha256_file(path: &std::path::Path, reporter: &dyn Reporter) -> Result<String> {
    if let Some(sig) = reporter.interrupted() {
        return Err(Error::Interrupted(sig));
    }
    let mut f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut hasher = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = match f.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Error::io(path, e)),
        };
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
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
            bytes: 99,
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
            earlier: None,
            replaced: &[],
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
