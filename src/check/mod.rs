//! `check` and `scan`: schema compliance and residual-PII gates for CI.
//!
//! - [`scan_files`]: schema-free detectors over every text column of CSV or
//!   Parquet files ([`crate::detect`]).
//! - [`check_files`]: lint a schema, then check each file against it. The
//!   kind of file is told from its content: a Parquet file is checked as a
//!   txanon *output* (Arrow schema, provenance metadata, key fingerprint,
//!   token shape, residual PII), anything else as an *input* dump (header,
//!   types, invalid-value rates, PII-looking `keep` columns), using the same
//!   reader, parsers and normalizers as `anonymize` ([`crate::pipeline::dry_run`]).
//! - [`crate::draft`]: drafting a schema from a dump lives beside this module.
//!
//! Findings ([`report::Finding`]) never carry data values.

pub(crate) mod output;
pub mod report;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use crate::detect::{Detector, PiiKind};
use crate::error::Result;
use crate::io::input::{
    for_each_batch, input_columns, is_txanon_output, sniff, FileKind, HeaderProblems, TextFormat,
};
use crate::io::source::TextEncoding;
use crate::key::{MasterKey, DEMO_KEY_HEX};
use crate::pipeline::{dry_run, AnonymizeOptions, SilentReporter, KNOWN_TOKEN_SPECS, TOKEN_SPEC};
use crate::schema::{Action, Column, Schema, TokenEncoding};
use output::check_output;
pub use output::REQUIRED_METADATA;
use report::{Finding, Status};

/// How many offending row numbers a finding lists.
const FIRST_ROWS: usize = 5;

/// PII hits of one column.
#[derive(Debug, Clone, Default)]
pub struct ColumnScan {
    /// Non-null values examined.
    pub values: u64,
    /// Per kind: hit count and first row numbers.
    pub hits: BTreeMap<PiiKind, (u64, Vec<u64>)>,
}

impl ColumnScan {
    /// Run the detector over `values`; `row(i)` is the row number of `values[i]`.
    pub fn add(
        &mut self,
        detector: &Detector,
        values: &arrow_array::StringArray,
        row: impl Fn(usize) -> u64,
    ) {
        for (i, v) in values.iter().enumerate() {
            let Some(v) = v else { continue };
            self.values += 1;
            let kinds = detector.detect(v);
            if kinds.is_empty() {
                continue;
            }
            for kind in PiiKind::ALL {
                if kinds.contains(kind) {
                    let e = self.hits.entry(kind).or_default();
                    e.0 += 1;
                    if e.1.len() < FIRST_ROWS {
                        e.1.push(row(i));
                    }
                }
            }
        }
    }

    /// Add the scan of a later part of the same column.
    pub fn merge(&mut self, later: ColumnScan) {
        self.values += later.values;
        for (kind, (n, rows)) in later.hits {
            let e = self.hits.entry(kind).or_default();
            e.0 += n;
            let room = FIRST_ROWS.saturating_sub(e.1.len());
            e.1.extend(rows.into_iter().take(room));
        }
    }
}

/// One column of a scanned file.
#[derive(Debug, Clone)]
pub struct ScannedColumn {
    /// 0-based position in the file.
    pub position: usize,
    /// Name in the file (may be data: see [`crate::detect::printable_names`]).
    pub name: String,
    /// Whether reports may print `name`; otherwise they name the position.
    pub printable: bool,
    /// What was found.
    pub scan: ColumnScan,
}

impl ScannedColumn {
    /// A finding about this column: named if printable, else by position.
    fn finding(&self, rule: &'static str, status: Status, file: &str, message: String) -> Finding {
        let f = Finding::new(rule, status, file, Some(&self.name), message);
        if self.printable {
            f
        } else {
            f.at_position(self.position + 1)
        }
    }
}

/// Scan one file: per column (in file order), values examined and PII hits.
/// `declared` tells the names a schema declares (see
/// [`crate::detect::printable_names`]; `None` without a schema).
pub fn scan_file(
    path: &Path,
    detector: &Detector,
    sample: Option<u64>,
    format: &TextFormat,
    declared: Option<&dyn Fn(&str) -> bool>,
) -> Result<Vec<ScannedColumn>> {
    let mut scans: HashMap<usize, ColumnScan> = HashMap::new();
    let names = for_each_batch(path, sample, format, |batch| {
        let results: Vec<(usize, ColumnScan)> = batch
            .columns
            .par_iter()
            .zip(batch.positions.par_iter())
            .map(|((_, values), &position)| {
                let mut scan = ColumnScan::default();
                scan.add(detector, values, |i| batch.rows[i]);
                (position, scan)
            })
            .collect();
        for (position, s) in results {
            scans.entry(position).or_default().merge(s);
        }
        Ok(())
    })?;
    let printable = crate::detect::printable_names(&names, declared);
    Ok(names
        .into_iter()
        .zip(printable)
        .enumerate()
        .filter_map(|(position, (name, printable))| {
            scans.remove(&position).map(|scan| ScannedColumn {
                position,
                name,
                printable,
                scan,
            })
        })
        .collect())
}

fn display(path: &Path) -> String {
    path.display().to_string()
}

/// `scan`: PII findings for every file. A file that cannot be read is an error.
pub fn scan_files(
    files: &[PathBuf],
    region: Option<&str>,
    sample: Option<u64>,
    encoding: TextEncoding,
) -> Result<Vec<Finding>> {
    let detector = Detector::new(region);
    let mut findings = Vec::new();
    for path in files {
        let scans = scan_file(
            path,
            &detector,
            sample,
            &TextFormat::with_encoding(encoding),
            None,
        )?;
        if scans.iter().any(|c| !c.printable) {
            findings.push(hidden_names_note(&display(path)));
        }
        let mut any = false;
        for column in &scans {
            for (kind, (n, rows)) in &column.scan.hits {
                any = true;
                findings.push(
                    column
                        .finding(
                            "pii",
                            Status::Fail,
                            &display(path),
                            format!("{} found", kind.name()),
                        )
                        .counted(*n, column.scan.values, rows.clone()),
                );
            }
        }
        if !any {
            findings.push(Finding::new(
                "pii",
                Status::Pass,
                display(path),
                None,
                format!("no personal data found in {} column(s)", scans.len()),
            ));
        }
    }
    Ok(findings)
}

/// The note that a file's column names are replaced by positions.
fn hidden_names_note(file: &str) -> Finding {
    Finding::new(
        "header",
        Status::Info,
        file,
        None,
        "some column names look like data (a headerless file?): those columns are named \
         by position (#1 is the first), their names are not shown",
    )
}

/// Whether a column name suggests personal data.
pub fn name_looks_personal(name: &str) -> bool {
    let n = name.to_lowercase();
    const PARTS: [&str; 14] = [
        "phone",
        "mobile",
        "email",
        "mail",
        "addr",
        "name",
        "id_card",
        "idcard",
        "passport",
        "birth",
        "ssn",
        "iban",
        "surname",
        "cellphone",
    ];
    const WORDS: [&str; 6] = ["tel", "ip", "dob", "card", "cell", "zip"];
    PARTS.iter().any(|p| n.contains(p))
        || n.split(|c: char| !c.is_ascii_alphanumeric())
            .any(|w| WORDS.contains(&w))
}

/// Schema lint: the parts of `check` that need only the schema.
pub fn lint(schema: &Schema) -> Vec<Finding> {
    let file = display(&schema.path);
    let mut findings = vec![Finding::new(
        "schema.parse",
        Status::Pass,
        file.clone(),
        None,
        format!(
            "{} column(s) declared, each with an action; names and outputs unique; token bits {}; \
             tokens made now follow token spec {TOKEN_SPEC}",
            schema.columns.len(),
            schema.tokens.bits
        ),
    )];
    for c in &schema.columns {
        if matches!(c.action, Action::Keep { .. }) && name_looks_personal(&c.name) {
            findings.push(keep_pii_finding(
                &file,
                c,
                "its name looks like personal data",
            ));
        }
    }
    findings
}

fn keep_pii_finding(file: &str, c: &Column, why: &str) -> Finding {
    match &c.allow_raw {
        Some(reason) => Finding::new(
            "schema.keep-pii",
            Status::Info,
            file,
            Some(&c.name),
            format!("kept raw although {why}; allow_raw: {reason}"),
        ),
        None => Finding::new(
            "schema.keep-pii",
            Status::Fail,
            file,
            Some(&c.name),
            format!(
                "action = \"keep\" but {why}; tokenize or drop it, or add allow_raw = \"<reason>\""
            ),
        ),
    }
}

/// `check`: lint the schema, then check every file against it.
pub fn check_files(
    schema: &Schema,
    files: &[PathBuf],
    key: Option<&MasterKey>,
    sample: Option<u64>,
) -> Result<Vec<Finding>> {
    let mut findings = lint(schema);
    for path in files {
        match sniff(path)? {
            FileKind::Parquet if is_txanon_output(path)? => {
                findings.extend(check_output(schema, path, key, sample)?)
            }
            FileKind::Csv | FileKind::Parquet => {
                findings.extend(check_input(schema, path, sample)?)
            }
        }
    }
    Ok(findings)
}

fn schema_phone_region(schema: &Schema) -> Option<String> {
    schema.columns.iter().find_map(|c| match &c.action {
        Action::Tokenize {
            kind: crate::transform::normalize::Kind::Phone { region: Some(r) },
            ..
        } => Some(r.to_string()),
        _ => None,
    })
}

/// Check an input dump against the schema.
fn check_input(schema: &Schema, path: &Path, sample: Option<u64>) -> Result<Vec<Finding>> {
    let file = display(path);
    let mut out = Vec::new();
    let columns = input_columns(path, schema)?;
    let problems = HeaderProblems::find(&columns, schema);
    let header_ok = problems.is_clean();
    if !problems.undeclared.is_empty() {
        out.push(Finding::new(
            "input.header.undeclared",
            Status::Fail,
            file.clone(),
            None,
            format!("undeclared column(s) {}", problems.describe_undeclared()),
        ));
    }
    if !problems.missing.is_empty() {
        out.push(Finding::new(
            "input.header.missing",
            Status::Fail,
            file.clone(),
            None,
            format!("declared column(s) {} missing", problems.describe_missing()),
        ));
    }
    for d in &problems.duplicated {
        // A name that may be data is not put in the report (see HeaderProblems::shown).
        let quoted = problems.shown(d) == format!("{d:?}");
        out.push(Finding::new(
            "input.header.duplicate",
            Status::Fail,
            file.clone(),
            quoted.then_some(d.as_str()),
            if quoted {
                "appears more than once in the header".to_string()
            } else {
                format!("{} appears more than once in the header", problems.shown(d))
            },
        ));
    }
    if header_ok {
        out.push(Finding::new(
            "input.header",
            Status::Pass,
            file.clone(),
            None,
            "header is exactly the declared columns",
        ));
    }
    if !problems.missing.is_empty() || !problems.duplicated.is_empty() {
        return Ok(out); // values cannot be checked against the declaration
    }

    // Values: the same decode and transform as anonymize, nothing written.
    let throwaway = MasterKey::from_hex(&crate::key::generate_hex()?)?;
    let opts = AnonymizeOptions {
        drop_undeclared: true,
        max_bad_rows: u64::MAX,
        max_records: sample,
        threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
        ..AnonymizeOptions::new(vec![path.to_path_buf()], PathBuf::new())
    };
    let summary = dry_run(schema, &throwaway, &opts, &SilentReporter)?;
    let total = summary.rows_read;
    // Decode-level problems (as opposed to values failing their column's
    // rule): counted over the whole file, lines from the first 1000 bad rows.
    let malformed: Vec<u64> = summary
        .bad_row_list
        .iter()
        .filter(|b| b.is_malformed())
        .map(|b| b.line)
        .collect();
    if summary.malformed_rows == 0 {
        out.push(Finding::new(
            "input.records",
            Status::Pass,
            file.clone(),
            None,
            format!("{total} records well-formed"),
        ));
    } else {
        let n = summary.malformed_rows;
        out.push(
            Finding::new(
                "input.records",
                Status::Fail,
                file.clone(),
                None,
                "malformed CSV records",
            )
            .counted(n, total, malformed.into_iter().take(FIRST_ROWS).collect()),
        );
    }
    for c in summary.columns.iter().filter(|c| c.action != "derive") {
        let Some(col) = schema.column(&c.name) else {
            continue;
        };
        let rows: Vec<u64> = summary
            .bad_row_list
            .iter()
            .filter(|b| b.column == c.name && b.rule != "invalid UTF-8")
            .take(FIRST_ROWS)
            .map(|b| b.line)
            .collect();
        let examined = total.saturating_sub(c.stats.nulls);
        match &col.action {
            Action::Keep { .. }
            | Action::Generalize { .. }
            | Action::Shift(_)
            | Action::Bucket(_)
            | Action::Age(_)
            | Action::TruncateIp { .. } => {
                let what = if matches!(col.action, Action::TruncateIp { .. }) {
                    "values are IP addresses".to_string()
                } else {
                    format!("values parse as {}", type_name(col))
                };
                if c.stats.invalid > 0 {
                    out.push(
                        Finding::new(
                            "input.type",
                            Status::Fail,
                            file.clone(),
                            Some(&c.name),
                            format!("not all {what}"),
                        )
                        .counted(c.stats.invalid, examined, rows),
                    );
                } else {
                    out.push(Finding::new(
                        "input.type",
                        Status::Pass,
                        file.clone(),
                        Some(&c.name),
                        format!("all {what}"),
                    ));
                }
            }
            Action::Tokenize { kind, .. } => out.push(
                Finding::new(
                    "input.invalid-rate",
                    if c.stats.invalid > 0 {
                        Status::Info
                    } else {
                        Status::Pass
                    },
                    file.clone(),
                    Some(&c.name),
                    format!("values that fail {} normalization", kind.name()),
                )
                .counted(c.stats.invalid, examined, rows),
            ),
            Action::Drop | Action::Mask(_) => {}
        }
    }
    if let Some(p) = &summary.privacy {
        out.push(Finding::new(
            "input.privacy",
            Status::Info,
            file.clone(),
            None,
            format!(
                "predicted before any suppression: {} over ({}); {} rows in {} classes with fewer than \
                 {} {} (measured with a throwaway key: shifted dates differ from a keyed run)",
                p.k_figure(),
                p.quasi.join(", "),
                p.rows_below_min_k,
                p.classes_below_min_k,
                p.min_k,
                p.unit()
            ),
        ));
    }
    // Content: keep columns that hold personal data.
    let detector = Detector::new(schema_phone_region(schema).as_deref().or(Some("CN")));
    // Read as anonymize reads it (encoding, dialect, header from [input]);
    // malformed records were counted above and are left out here.
    let format = TextFormat {
        skip_bad: true,
        ..TextFormat::for_schema(path, schema)
    };
    let declared = |n: &str| schema.column(n).is_some();
    for ScannedColumn { name, scan, .. } in
        scan_file(path, &detector, sample, &format, Some(&declared))?
    {
        let Some(col) = schema.column(&name) else {
            continue;
        };
        if !matches!(col.action, Action::Keep { .. }) || scan.hits.is_empty() {
            continue;
        }
        let kinds: Vec<&str> = scan.hits.keys().map(|k| k.name()).collect();
        let n: u64 = scan.hits.values().map(|h| h.0).max().unwrap_or(0);
        let rows = scan
            .hits
            .values()
            .next()
            .map(|h| h.1.clone())
            .unwrap_or_default();
        out.push(
            keep_pii_finding(
                &file,
                col,
                &format!("its values look like {}", kinds.join("/")),
            )
            .counted(n, scan.values, rows),
        );
    }
    Ok(out)
}

fn type_name(c: &Column) -> String {
    use crate::schema::ValueType as V;
    match c.value_type {
        V::String => "string".into(),
        V::Int => "int".into(),
        V::Float => "float".into(),
        V::Decimal { precision, scale } => format!("decimal({precision},{scale})"),
        V::Bool => "bool".into(),
        V::Date => format!("date ({})", c.format.as_deref().unwrap_or("%Y-%m-%d")),
        V::Timestamp => format!("timestamp ({})", c.format.as_deref().unwrap_or("ISO 8601")),
    }
}
