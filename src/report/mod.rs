//! The release report: one self-contained HTML page about an output file or
//! dataset, for the people who decide whether a release may go.
//!
//! [`build`] gathers everything from the *output* only: the Parquet footer
//! (`txanon.*` keys, row counts, per-column null counts from the column
//! statistics), the run manifest (inputs with sizes and SHA-256, row counts)
//! or the summary of the run that just wrote it, and one pass over the
//! columns the checks, the risk figures and the month chart need
//! ([`pass`]: `check`'s checks, residual personal data on a stated sample
//! of a large release, everything else over every row). [`render`] fills
//! the template (`report.html`, minijinja with HTML autoescaping) with inline
//! CSS and inline SVG ([`svg`]); the page needs no script and makes no
//! network request (its Content-Security-Policy forbids both).
//!
//! No value from the data reaches the page: counts, shares, column names,
//! file names and hashes only, plus month labels of date columns and the
//! partition labels of columns the schema generalizes (`generalize`,
//! `bucket`, `age`, derived regions), which are already coarse columns of the
//! release. Tokens and class keys never leave the risk meter.

// Why this file is long (about 870 lines of code): the page model the
// template reads (the serde structs) and the code that fills each of its
// fields from the footer, the manifest or the run record stay side by side.
// The figures from the released rows are in `figures.rs`, the charts in `svg.rs`.

mod figures;
mod pass;
pub mod svg;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use arrow_array::Array;
use arrow_schema::{DataType, TimeUnit};
use chrono::{Datelike, NaiveDate};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde::Serialize;

use crate::check::report::{Finding, Status};
use crate::error::{Error, Result};
use crate::key::{MasterKey, DEMO_KEY_HEX};
use crate::pipeline::Summary;
use crate::schema::{Action, Schema};
use figures::*;
use pass::{data_pass, DataPass};
use svg::{group, Bar};

/// The page template (HTML, autoescaped; charts are inserted as markup).
const TEMPLATE: &str = include_str!("report.html");

/// Name of a dataset's manifest file.
const MANIFEST: &str = "_manifest.json";

/// Hive's name for the null partition.
const NULL_PARTITION: &str = "__HIVE_DEFAULT_PARTITION__";

/// What the report is built from, besides the output itself.
#[derive(Debug, Default, Clone, Copy)]
pub struct Sources<'a> {
    /// The schema the output was written with: enables `check`, the column
    /// actions, the recomputed risk figures and the class-size chart.
    pub schema: Option<&'a Schema>,
    /// A manifest written by `--manifest` (a dataset's own `_manifest.json`
    /// is found without it).
    pub manifest: Option<&'a Path>,
    /// The summary of the run that wrote the output (`anonymize --report`).
    pub run: Option<&'a Summary>,
}

/// Everything the template shows. Strings are formatted for display.
#[derive(Debug, Clone, Serialize)]
pub struct Page {
    /// Page title.
    pub title: String,
    /// The output file or directory.
    pub target: String,
    /// txanon version that made the page.
    pub made_by: String,
    /// Verdict section.
    pub verdict: Verdict,
    /// Provenance section.
    pub provenance: Provenance,
    /// Column rows.
    pub columns: Vec<ColumnRow>,
    /// Whether any column has an invalid count.
    pub has_invalid: bool,
    /// Risk section, when the release declares `[privacy]`.
    pub risk: Option<Risk>,
    /// Rows per month or partition.
    pub shape: Option<Shape>,
    /// Notes on what could not be shown and why.
    pub notes: Vec<String>,
    /// The rows the residual-PII scan examined, in words.
    pub pii_scope: String,
}

/// Plain-language verdict.
#[derive(Debug, Clone, Serialize)]
pub struct Verdict {
    /// The label written into the file (`pseudonymised personal data`).
    pub label: String,
    /// Key fingerprint.
    pub fingerprint: String,
    /// Made with the published demo key.
    pub demo_key: bool,
    /// `check` outcome: `pass`, `fail` or `not run`.
    pub check: String,
    /// Checks run and failed.
    pub checks_run: usize,
    /// Failed checks, one line each (rule, column, message; no values).
    pub failures: Vec<String>,
    /// What the checks read: which rows, which columns.
    pub scope: String,
}

/// One input of the run.
#[derive(Debug, Clone, Serialize)]
pub struct InputRow {
    /// Path as given to the run.
    pub path: String,
    /// Size, human-readable.
    pub size: String,
    /// Bytes.
    pub bytes: u64,
    /// SHA-256 or an empty string when not recorded.
    pub sha256: String,
    /// Records read.
    pub rows: String,
    /// The generation that added it (empty unless the dataset has several).
    pub generation: String,
}

/// One generation of a dataset grown by `anonymize --append`: counts from
/// the manifest, and the rows its part files hold now (their footers).
#[derive(Debug, Clone, Serialize)]
pub struct GenerationRow {
    /// Its number (1 for the run that created the dataset).
    pub generation: String,
    /// Inputs it added.
    pub inputs: String,
    /// Part files it wrote.
    pub files: String,
    /// Records it read.
    pub read: String,
    /// Rows it wrote, as the manifest records them.
    pub written: String,
    /// Bad records it skipped.
    pub skipped: String,
    /// Rows in its part files now, with a note when they differ from `written`.
    pub in_files: String,
}

/// Provenance section.
#[derive(Debug, Clone, Serialize)]
pub struct Provenance {
    /// `key: value` rows (dataset, schema hash, token spec, ...).
    pub facts: Vec<(String, String)>,
    /// Inputs, when recorded.
    pub inputs: Vec<InputRow>,
    /// The dataset's generations, when it has more than one.
    pub generations: Vec<GenerationRow>,
    /// Row counts: (label, figure, explanation).
    pub rows: Vec<(String, String, String)>,
    /// Output files.
    pub files: usize,
}

/// One column of the release.
#[derive(Debug, Clone, Serialize)]
pub struct ColumnRow {
    /// Input name (empty when unknown).
    pub input: String,
    /// Output name, or empty when dropped.
    pub output: String,
    /// Action (with its parameters in short).
    pub action: String,
    /// Output type.
    pub kind: String,
    /// Null share as text.
    pub null_rate: String,
    /// Null share bar.
    pub null_bar: String,
    /// Invalid share as text (empty when not recorded).
    pub invalid_rate: String,
    /// Invalid share bar.
    pub invalid_bar: String,
    /// Residual-PII or token-shape result.
    pub scan: String,
    /// `pass`, `fail`, `info` or empty.
    pub scan_status: String,
}

/// Risk section.
#[derive(Debug, Clone, Serialize)]
pub struct Risk {
    /// Headline figures: (label, value, explanation).
    pub figures: Vec<(String, String, String)>,
    /// Whether the gate passed.
    pub passed: bool,
    /// The unit k counts (`rows`, `entities`, ...), as the file declares it.
    pub unit: String,
    /// Class-size histogram (SVG) or empty.
    pub histogram: String,
    /// l-diversity rows: (column, l, classes with one value).
    pub l: Vec<(String, String, String)>,
    /// Unicity rows: (p, share, unique of eligible entities).
    pub unicity: Vec<(String, String, String)>,
    /// Generalization per quasi-identifier: (column, level).
    pub levels: Vec<(String, String)>,
    /// Every `txanon.privacy.*` figure recorded with the release.
    pub recorded: Vec<(String, String)>,
}

/// Rows per month or partition.
#[derive(Debug, Clone, Serialize)]
pub struct Shape {
    /// Chart title.
    pub title: String,
    /// The chart.
    pub svg: String,
    /// What the chart shows and any gaps.
    pub note: String,
}

/// Figures read from one output: footer, statistics, manifest.
struct Output {
    files: Vec<PathBuf>,
    /// Footer keys of the first file.
    footer: BTreeMap<String, String>,
    /// Rows per file.
    rows: Vec<u64>,
    /// The generation of each file: N below a dataset's `gNNNNN/`, else 1.
    generations: Vec<u64>,
    /// Output column names and types (first file), partition column excluded.
    fields: Vec<(String, DataType)>,
    /// Null counts per column, summed over files (None when a file lacks statistics).
    nulls: HashMap<String, Option<u64>>,
    /// The dataset's partition column and each file's partition value.
    partition: Option<(String, Vec<String>)>,
}

/// The run's record: from `anonymize`'s summary or a manifest.
#[derive(Default)]
struct RunRecord {
    inputs: Vec<InputRow>,
    /// A dataset's generations as its manifest records them (JSON objects).
    generations: Vec<serde_json::Value>,
    read: Option<u64>,
    written: Option<u64>,
    skipped: Option<u64>,
    /// (input name, output name) -> (nulls, invalid, rows read)
    columns: HashMap<(String, Option<String>), (u64, u64)>,
    privacy: BTreeMap<String, String>,
    suppressed_classes: Option<u64>,
    source: &'static str,
}

/// Build the page for `target` (a Parquet file or a dataset directory).
pub fn build(target: &Path, sources: Sources<'_>) -> Result<Page> {
    let out = read_output(target)?;
    let run = run_record(target, &out, sources)?;
    let mut notes = Vec::new();
    let schema = sources.schema;
    if schema.is_none() {
        notes.push(
            "No --schema given: check was not run, and column actions and the recomputed \
             risk figures are not shown."
                .to_string(),
        );
    }
    if let Some(schema) = schema {
        if out.footer.get("txanon.schema.sha256") != Some(&schema.sha256) {
            notes.push(
                "The schema given is not the one the release was made with (schema SHA-256 \
                 differs): actions and checks below are those of the given schema."
                    .to_string(),
            );
        }
    }

    let pass = data_pass(&out, schema)?;
    let findings = pass.findings.clone();
    let (sampled, total) = pass.pii_rows;
    let pii_scope = if sampled >= total {
        format!("every row ({})", group(total))
    } else {
        format!(
            "a sample of {} of {} rows (the first rows of every row group, in proportion to its size)",
            group(sampled),
            group(total)
        )
    };
    let scope = if findings.is_none() {
        String::new()
    } else {
        format!(
            "Checked here as check checks them: the footer (columns and types, provenance \
             metadata, schema hash, token spec, key); every row of the tokenize columns (token \
             shape), of the derived columns (allow-lists) and of the [privacy] columns (k, l, \
             unicity recomputed); residual personal data in the other columns on {pii_scope}.{}",
            if sampled < total {
                " txanon check --schema on the file scans every row."
            } else {
                ""
            }
        )
    };
    let fingerprint = out
        .footer
        .get("txanon.key.fingerprint")
        .cloned()
        .unwrap_or_default();
    let demo_fp = MasterKey::from_hex(DEMO_KEY_HEX)
        .map(|k| k.fingerprint())
        .unwrap_or_default();
    let verdict = Verdict {
        label: out
            .footer
            .get("txanon.label")
            .cloned()
            .unwrap_or_else(|| crate::pipeline::OUTPUT_LABEL.to_string()),
        demo_key: fingerprint == demo_fp,
        fingerprint,
        check: match &findings {
            None => "not run".into(),
            Some(f) if f.iter().any(|f| f.status == Status::Fail) => "fail".into(),
            Some(_) => "pass".into(),
        },
        checks_run: findings.as_ref().map_or(0, Vec::len),
        failures: findings
            .iter()
            .flatten()
            .filter(|f| f.status == Status::Fail)
            .map(|f| {
                format!(
                    "{}{}: {}{}",
                    f.rule,
                    f.column
                        .as_ref()
                        .map_or(String::new(), |c| format!(" [{c}]")),
                    f.message,
                    f.count
                        .map_or(String::new(), |n| format!(" ({})", group(n)))
                )
            })
            .collect(),
        scope,
    };
    let written: u64 = out.rows.iter().sum();
    let provenance = provenance(&out, &run, written, &mut notes);
    let columns = columns(&out, &run, schema, findings.as_deref(), written, &pii_scope);
    let has_invalid = columns.iter().any(|c| !c.invalid_rate.is_empty());
    let risk = risk(&out, &run, schema, &pass);
    let shape = shape(&out, schema, &pass, &mut notes);
    Ok(Page {
        title: format!(
            "Release report: {}",
            out.footer
                .get("txanon.schema.name")
                .map_or("txanon output", String::as_str)
        ),
        target: target.display().to_string(),
        made_by: env!("CARGO_PKG_VERSION").to_string(),
        verdict,
        provenance,
        columns,
        has_invalid,
        risk,
        shape,
        notes,
        pii_scope,
    })
}

/// Render the page as one HTML document.
pub fn render(page: &Page) -> Result<String> {
    let mut env = minijinja::Environment::new();
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::Html);
    env.add_template("report.html", TEMPLATE)
        .map_err(|e| Error::Internal(format!("report template: {e}")))?;
    let tmpl = env
        .get_template("report.html")
        .map_err(|e| Error::Internal(format!("report template: {e}")))?;
    tmpl.render(minijinja::context! { page => minijinja::value::Serde(page) })
        .map_err(|e| Error::Internal(format!("rendering the report: {e}")))
}

/// Write the page like every other output: a new file with `mode` (0600
/// by default: it describes personal data), staged beside its target,
/// fsync'd and renamed into place ([`crate::io::output`]).
pub fn write(path: &Path, html: &str, mode: u32) -> Result<()> {
    use crate::io::output::{commit, Staged};
    commit(vec![Staged::file(path, html.as_bytes(), mode)?])
}

/// The Parquet files of a dataset directory (sorted), or the file itself.
fn output_files(target: &Path) -> Result<Vec<PathBuf>> {
    if !target.is_dir() {
        return Ok(vec![target.to_path_buf()]);
    }
    let mut files = Vec::new();
    let mut stack = vec![target.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).map_err(|e| Error::io(&dir, e))? {
            let entry = entry.map_err(|e| Error::io(&dir, e))?;
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') || name.starts_with('_') {
                continue;
            }
            let ty = entry.file_type().map_err(|e| Error::io(&path, e))?;
            if ty.is_dir() {
                stack.push(path);
            } else if ty.is_file() && name.ends_with(".parquet") {
                files.push(path);
            }
        }
    }
    files.sort();
    if files.is_empty() {
        return Err(Error::Usage(format!(
            "{} holds no Parquet files",
            target.display()
        )));
    }
    Ok(files)
}

/// Undo Hive's `%XX` escaping of a partition directory name.
fn unescape(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn read_output(target: &Path) -> Result<Output> {
    let files = output_files(target)?;
    let mut footer = BTreeMap::new();
    let mut rows = Vec::with_capacity(files.len());
    let mut fields = Vec::new();
    let mut nulls: HashMap<String, Option<u64>> = HashMap::new();
    let mut partition_values = Vec::new();
    let mut partition_column = None;
    let mut generations = Vec::with_capacity(files.len());
    for (i, path) in files.iter().enumerate() {
        let f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
        let builder =
            ParquetRecordBatchReaderBuilder::try_new(f).map_err(|e| Error::ParquetRead {
                path: path.clone(),
                message: e.to_string(),
            })?;
        let meta = builder.metadata();
        let kv: BTreeMap<String, String> = meta
            .file_metadata()
            .key_value_metadata()
            .map(|kv| {
                kv.iter()
                    .filter(|k| k.key.starts_with("txanon."))
                    .map(|k| (k.key.clone(), k.value.clone().unwrap_or_default()))
                    .collect()
            })
            .unwrap_or_default();
        if !kv.contains_key("txanon.version") {
            return Err(Error::Usage(format!(
                "{} is not a txanon output (no txanon.* footer metadata); a report describes a release",
                path.display()
            )));
        }
        rows.push(u64::try_from(meta.file_metadata().num_rows()).unwrap_or(0));
        if i == 0 {
            footer = kv;
            fields = builder
                .schema()
                .fields()
                .iter()
                .map(|f| (f.name().clone(), f.data_type().clone()))
                .collect();
        }
        let schema_descr = meta.file_metadata().schema_descr();
        for (ci, col) in schema_descr.columns().iter().enumerate() {
            let name = col.path().parts().first().cloned().unwrap_or_default();
            let mut sum = Some(0u64);
            for rg in meta.row_groups() {
                let n = rg.column(ci).statistics().and_then(|s| s.null_count_opt());
                sum = sum.zip(n).map(|(a, b)| a + b);
            }
            let e = nulls.entry(name).or_insert(Some(0));
            *e = e.zip(sum).map(|(a, b)| a + b);
        }
        // `col=value` directories between the dataset root (or the
        // `gNNNNN` directory of an appended generation) and the file.
        let rel = path.strip_prefix(target).unwrap_or(path);
        let mut dirs = rel
            .parent()
            .into_iter()
            .flat_map(Path::components)
            .filter_map(|c| c.as_os_str().to_str())
            .peekable();
        let generation = dirs
            .next_if(|d| crate::dataset::generation_in_name(d).is_some())
            .and_then(crate::dataset::generation_in_name);
        generations.push(generation.unwrap_or(1));
        if target.is_dir() {
            let part = dirs
                .next()
                .and_then(|c| c.split_once('='))
                .map(|(k, v)| (unescape(k), unescape(v)));
            if let Some((k, v)) = part {
                partition_column.get_or_insert(k);
                partition_values.push(v);
            }
        }
    }
    let partition = partition_column
        .filter(|_| partition_values.len() == files.len())
        .map(|c| (c, partition_values));
    Ok(Output {
        files,
        footer,
        rows,
        generations,
        fields,
        nulls,
        partition,
    })
}

fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

fn run_record(target: &Path, out: &Output, sources: Sources<'_>) -> Result<RunRecord> {
    if let Some(s) = sources.run {
        let mut columns = HashMap::new();
        for c in &s.columns {
            columns.insert(
                (c.name.clone(), c.output.clone()),
                (c.stats.nulls, c.stats.invalid),
            );
        }
        return Ok(RunRecord {
            inputs: s
                .inputs
                .iter()
                .map(|i| InputRow {
                    path: i.path.display().to_string(),
                    size: human_bytes(i.bytes),
                    bytes: i.bytes,
                    sha256: i.sha256.clone().unwrap_or_default(),
                    rows: group(i.rows_read),
                    generation: String::new(),
                })
                .collect(),
            generations: Vec::new(),
            read: Some(s.rows_read),
            written: Some(s.rows_written),
            skipped: Some(s.bad_rows),
            columns,
            privacy: s
                .privacy
                .as_ref()
                .map(|p| p.metadata().into_iter().collect())
                .unwrap_or_default(),
            suppressed_classes: s.privacy.as_ref().map(|p| p.suppressed_classes),
            source: "the run that wrote it",
        });
    }
    let path = match sources.manifest {
        Some(p) => Some(p.to_path_buf()),
        None if target.is_dir() && target.join(MANIFEST).is_file() => Some(target.join(MANIFEST)),
        None => None,
    };
    let Some(path) = path else {
        return Ok(RunRecord::default());
    };
    // A dataset's own manifest as `txanon dataset` reads it: the newest
    // generation's when an append stopped before replacing `_manifest.json`.
    let own = (sources.manifest.is_none())
        .then(|| crate::dataset::open(target).ok())
        .flatten();
    let m: serde_json::Value = match own {
        Some(current) => current.manifest,
        None => {
            let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
            serde_json::from_str(&text).map_err(|e| {
                Error::Usage(format!("{}: not a txanon manifest: {e}", path.display()))
            })?
        }
    };
    // Generations are shown when the dataset has grown by appends.
    let generations: Vec<serde_json::Value> = m
        .get("generations")
        .and_then(|v| v.as_array())
        .filter(|g| g.len() > 1)
        .cloned()
        .unwrap_or_default();
    if let (Some(a), Some(b)) = (
        m.get("key_fingerprint").and_then(|v| v.as_str()),
        out.footer.get("txanon.key.fingerprint"),
    ) {
        if a != b {
            return Err(Error::Usage(format!(
                "{} belongs to another release (its key fingerprint differs from the output's)",
                path.display()
            )));
        }
    }
    let num = |v: Option<&serde_json::Value>| v.and_then(serde_json::Value::as_u64);
    let inputs = m
        .get("inputs")
        .and_then(|v| v.as_array())
        .map(|a| {
            a.iter()
                .map(|i| {
                    let bytes = num(i.get("bytes")).unwrap_or(0);
                    InputRow {
                        path: i
                            .get("path")
                            .and_then(|v| v.as_str())
                            .unwrap_or("?")
                            .to_string(),
                        size: human_bytes(bytes),
                        bytes,
                        sha256: i
                            .get("sha256")
                            .and_then(|v| v.as_str())
                            .unwrap_or("")
                            .to_string(),
                        rows: num(i.get("rows_read")).map_or(String::new(), group),
                        generation: if generations.is_empty() {
                            String::new()
                        } else {
                            num(i.get("generation")).unwrap_or(1).to_string()
                        },
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    let rows = m.get("rows");
    let mut columns = HashMap::new();
    for c in m
        .get("columns")
        .and_then(|v| v.as_array())
        .into_iter()
        .flatten()
    {
        let (Some(name), Some(nulls), Some(invalid)) = (
            c.get("name").and_then(|v| v.as_str()),
            num(c.get("nulls")),
            num(c.get("invalid")),
        ) else {
            continue;
        };
        let output = c.get("output").and_then(|v| v.as_str()).map(str::to_string);
        columns.insert((name.to_string(), output), (nulls, invalid));
    }
    Ok(RunRecord {
        inputs,
        generations,
        read: num(rows.and_then(|r| r.get("read"))),
        written: num(rows.and_then(|r| r.get("written"))),
        skipped: num(rows.and_then(|r| r.get("skipped"))),
        columns,
        privacy: m
            .get("privacy")
            .and_then(|v| v.as_object())
            .map(|o| {
                o.iter()
                    .map(|(k, v)| {
                        (
                            k.clone(),
                            v.as_str().map_or_else(|| v.to_string(), str::to_string),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default(),
        suppressed_classes: None,
        source: "the manifest",
    })
}

fn provenance(out: &Output, run: &RunRecord, written: u64, notes: &mut Vec<String>) -> Provenance {
    let f = |k: &str| out.footer.get(k).cloned().unwrap_or_else(|| "-".into());
    let mut facts = vec![
        (
            "Dataset".to_string(),
            format!(
                "{} version {}",
                f("txanon.schema.name"),
                f("txanon.schema.version")
            ),
        ),
        ("Schema SHA-256".into(), f("txanon.schema.sha256")),
        (
            "Token spec".into(),
            format!(
                "{} ({} bits, {})",
                f("txanon.token.spec"),
                f("txanon.token.bits"),
                out.footer
                    .get("txanon.token.encoding")
                    .map_or("hex", String::as_str)
            ),
        ),
        (
            "Token context".into(),
            match out.footer.get("txanon.token.context") {
                Some(c) if c.is_empty() => "(none)".into(),
                Some(c) => c.clone(),
                None => "-".into(),
            },
        ),
        ("Written by txanon".into(), f("txanon.version")),
    ];
    if let Some(s) = out.footer.get("txanon.shift.spec") {
        facts.push(("Date shift spec".into(), s.clone()));
    }
    if let Some((col, _)) = &out.partition {
        facts.push(("Partitioned by".into(), col.clone()));
    }
    if run.inputs.is_empty() {
        notes.push(
            "Inputs are not recorded in a single output file: pass --manifest PATH (written by \
             anonymize --manifest), or write the report with anonymize --report."
                .into(),
        );
    }
    let mut rows = Vec::new();
    let opt = |v: Option<u64>| v.map_or_else(|| "not recorded".to_string(), group);
    rows.push((
        "Read".to_string(),
        opt(run.read),
        "input records (headers and blank lines excluded)".to_string(),
    ));
    rows.push((
        "Written".into(),
        group(written),
        format!(
            "rows in {} output file(s){}",
            out.files.len(),
            match run.written {
                Some(w) if w != written =>
                    format!("; {} says {}: they DIFFER", run.source, group(w)),
                Some(_) => format!("; equals {}", run.source),
                None => String::new(),
            }
        ),
    ));
    rows.push((
        "Skipped".into(),
        opt(run.skipped),
        "bad records skipped under --max-bad-rows".into(),
    ));
    let suppressed = out
        .footer
        .get("txanon.privacy.suppressed_rows")
        .or_else(|| run.privacy.get("txanon.privacy.suppressed_rows"));
    rows.push((
        "Suppressed".into(),
        suppressed.map_or_else(|| "0".into(), |s| fmt_num(s)),
        "rows removed by the risk gate (on_violation = \"suppress\")".into(),
    ));
    Provenance {
        facts,
        inputs: run.inputs.clone(),
        generations: generation_rows(out, run),
        rows,
        files: out.files.len(),
    }
}

/// One row per generation of the manifest: its recorded counts beside the
/// rows its part files hold now (from their footers). Counts only.
fn generation_rows(out: &Output, run: &RunRecord) -> Vec<GenerationRow> {
    let count = |g: &serde_json::Value, p: &str| g.pointer(p).and_then(serde_json::Value::as_u64);
    let shown = |n: Option<u64>| n.map_or_else(|| "not recorded".to_string(), group);
    run.generations
        .iter()
        .map(|g| {
            let n = count(g, "/generation").unwrap_or(0);
            let written = count(g, "/rows/written");
            let files: Vec<u64> = out
                .generations
                .iter()
                .zip(&out.rows)
                .filter(|(f, _)| **f == n)
                .map(|(_, r)| *r)
                .collect();
            let held: u64 = files.iter().sum();
            let in_files = match written {
                Some(w) if w != held => format!(
                    "{} in {} file(s): they DIFFER from the manifest",
                    group(held),
                    files.len()
                ),
                _ => format!("{} in {} file(s)", group(held), files.len()),
            };
            GenerationRow {
                generation: n.to_string(),
                inputs: shown(count(g, "/inputs")),
                files: shown(count(g, "/files")),
                read: shown(count(g, "/rows/read")),
                written: shown(written),
                skipped: shown(count(g, "/rows/skipped")),
                in_files,
            }
        })
        .collect()
}

/// Group the digits of a recorded integer; other text unchanged.
fn fmt_num(s: &str) -> String {
    s.parse::<u64>().map_or_else(|_| s.to_string(), group)
}

fn type_name(t: &DataType) -> String {
    match t {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => "text".into(),
        DataType::Int64 | DataType::Int32 => "integer".into(),
        DataType::Float64 => "float".into(),
        DataType::Boolean => "boolean".into(),
        DataType::Date32 => "date".into(),
        DataType::Timestamp(_, _) => "timestamp (UTC)".into(),
        DataType::Decimal128(p, s) => format!("decimal({p},{s})"),
        other => other.to_string(),
    }
}

/// A column's action in a few words (schema constants only, no data).
fn describe(action: &Action) -> String {
    use crate::schema::BucketRule;
    match action {
        Action::Keep { .. } => "keep".into(),
        Action::Drop => "drop".into(),
        Action::Tokenize { kind, .. } => format!("tokenize ({})", kind.name()),
        Action::Generalize { to, .. } => {
            format!("generalize to {}", format!("{to:?}").to_lowercase())
        }
        Action::Shift(s) => format!("shift by up to ±{} days per {}", s.max_days, s.by),
        Action::Bucket(b) => match &b.rule {
            BucketRule::Width(_) => "bucket (equal widths)".into(),
            BucketRule::Breaks(v) => format!("bucket ({} bands)", v.len()),
            BucketRule::Round(d) => format!("round to {d} significant digits"),
        },
        Action::Mask(m) => format!("mask (keep {} first, {} last)", m.keep_first, m.keep_last),
        Action::TruncateIp { v4, v6, .. } => format!("truncate IP to /{v4} (IPv6 /{v6})"),
        Action::Age(a) => match &a.bands {
            Some(b) => format!("age in {} bands", b.breaks.len()),
            None => "age in years".into(),
        },
    }
}

fn share(n: u64, of: u64) -> f64 {
    if of == 0 {
        0.0
    } else {
        n as f64 / of as f64
    }
}

fn pct(x: f64) -> String {
    if x == 0.0 {
        "0 %".into()
    } else if x < 0.001 {
        "< 0.1 %".into()
    } else {
        format!("{:.1} %", x * 100.0)
    }
}

fn columns(
    out: &Output,
    run: &RunRecord,
    schema: Option<&Schema>,
    findings: Option<&[Finding]>,
    written: u64,
    pii_scope: &str,
) -> Vec<ColumnRow> {
    let types: HashMap<&str, &DataType> = out.fields.iter().map(|(n, t)| (n.as_str(), t)).collect();
    let partition = out.partition.as_ref().map(|(c, _)| c.as_str());
    let null_count = |name: &str| -> Option<u64> {
        if Some(name) == partition {
            let (_, values) = out.partition.as_ref()?;
            return Some(
                values
                    .iter()
                    .zip(&out.rows)
                    .filter(|(v, _)| *v == NULL_PARTITION)
                    .map(|(_, r)| r)
                    .sum(),
            );
        }
        out.nulls.get(name).copied().flatten()
    };
    let sampled = pii_scope.starts_with("a sample");
    let derived = |output: &str| {
        schema.is_some_and(|s| {
            s.columns
                .iter()
                .any(|c| c.derive.iter().any(|d| d.output == output))
        })
    };
    let scan_of = |output: &str, tokenized: bool| -> (String, String) {
        let Some(findings) = findings else {
            return (String::new(), String::new());
        };
        let derived = derived(output);
        let mine: Vec<&Finding> = findings
            .iter()
            .filter(|f| f.column.as_deref() == Some(output))
            .filter(|f| {
                f.rule.starts_with("output.pii")
                    || (tokenized && f.rule == "output.token-shape")
                    || (derived && f.rule == "output.derived")
            })
            .collect();
        // The detectors read text and integers (as check does).
        let text = types.get(output).is_some_and(|t| {
            matches!(
                t,
                DataType::Utf8
                    | DataType::LargeUtf8
                    | DataType::Utf8View
                    | DataType::Int32
                    | DataType::Int64
            )
        });
        if mine.is_empty() {
            return if tokenized {
                ("tokens".into(), String::new())
            } else if !text {
                ("not scanned (no text)".into(), String::new())
            } else if sampled {
                ("none found in the sample".into(), "pass".into())
            } else {
                ("no personal data found".into(), "pass".into())
            };
        }
        let status = if mine.iter().any(|f| f.status == Status::Fail) {
            "fail"
        } else if mine.iter().any(|f| f.status == Status::Info) {
            "info"
        } else {
            "pass"
        };
        let text = mine
            .iter()
            .map(|f| match f.rate {
                Some(r) => format!("{} in {}", f.message, pct(r)),
                None => f.message.clone(),
            })
            .collect::<Vec<_>>()
            .join("; ");
        (text, status.into())
    };
    let row = |input: &str,
               output: Option<&str>,
               action: String,
               tokenized: bool,
               counts: Option<(u64, u64)>| {
        let kind = output
            .and_then(|o| types.get(o).map(|t| type_name(t)))
            .or_else(|| {
                output
                    .filter(|o| Some(*o) == partition)
                    .map(|_| "partition (directory name)".to_string())
            })
            .unwrap_or_default();
        let nulls = output.and_then(null_count);
        let (null_rate, null_bar) = match nulls {
            Some(n) => (
                pct(share(n, written)),
                svg::rate_bar(share(n, written), false),
            ),
            None if output.is_none() => (String::new(), String::new()),
            None => ("not recorded".into(), String::new()),
        };
        let (invalid_rate, invalid_bar) = match counts {
            Some((_, invalid)) if output.is_some() => {
                let s = share(invalid, run.read.unwrap_or(written));
                (pct(s), svg::rate_bar(s, invalid > 0))
            }
            _ => (String::new(), String::new()),
        };
        let (scan, scan_status) = match output {
            Some(o) => scan_of(o, tokenized),
            None => ("not released".into(), String::new()),
        };
        ColumnRow {
            input: input.to_string(),
            output: output.unwrap_or("").to_string(),
            action,
            kind,
            null_rate,
            null_bar,
            invalid_rate,
            invalid_bar,
            scan,
            scan_status,
        }
    };
    let Some(schema) = schema else {
        let mut rows: Vec<ColumnRow> = out
            .fields
            .iter()
            .map(|(n, _)| row("", Some(n), String::new(), false, None))
            .collect();
        if let Some(p) = partition {
            rows.push(row("", Some(p), String::new(), false, None));
        }
        return rows;
    };
    let mut rows = Vec::new();
    for c in &schema.columns {
        let dropped = c.action == Action::Drop;
        let output = (!dropped).then_some(c.output.as_str());
        let counts = run
            .columns
            .get(&(c.name.clone(), output.map(str::to_string)))
            .copied();
        rows.push(row(
            &c.name,
            output,
            describe(&c.action),
            matches!(c.action, Action::Tokenize { .. }),
            counts,
        ));
        for d in &c.derive {
            let counts = run
                .columns
                .get(&(c.name.clone(), Some(d.output.clone())))
                .copied();
            rows.push(row(
                &c.name,
                Some(&d.output),
                format!("derive {}", d.kind.name()),
                false,
                counts,
            ));
        }
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_bands_include_min_k() {
        let svg = class_histogram(&[1, 3, 4, 5, 7, 120], 5, "rows");
        assert!(svg.contains("3–4"));
        assert!(svg.contains("5–9"));
        assert!(svg.contains("100+"));
        // 1, 3-4 below min_k hold classes; 2 is empty and not marked.
        assert_eq!(svg.matches("class=\"bar warn\"").count(), 2);
    }

    #[test]
    fn months_fill_gaps() {
        let mut m = BTreeMap::new();
        m.insert((2007, 11), 3);
        m.insert((2008, 2), 1);
        let (bars, gaps) = month_bars(&m);
        assert_eq!(bars.len(), 4);
        assert_eq!(gaps, 2);
        assert_eq!(bars[2].label, "2008-01");
        assert!(bars[1].warn && !bars[0].warn);
    }

    #[test]
    fn partition_names_unescape() {
        assert_eq!(unescape("a%2Fb%3Dc"), "a/b=c");
        assert_eq!(unescape("100%"), "100%");
        assert_eq!(unescape("%4"), "%4");
    }
}
