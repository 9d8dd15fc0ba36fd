//! `check` of a txanon *output* (a Parquet file with `txanon.*` footer
//! metadata, or a dataset's part files): Arrow schema against the schema
//! file, provenance metadata, token spec, key fingerprint, residual personal
//! data in kept columns, token shape, derived values and the `[privacy]`
//! figures recomputed from the released rows. Inputs are checked in
//! [`super`].

use super::*;

/// The metadata keys every txanon output carries.
pub const REQUIRED_METADATA: [&str; 10] = [
    "txanon.version",
    "txanon.schema.name",
    "txanon.schema.version",
    "txanon.schema.sha256",
    "txanon.token.spec",
    "txanon.token.context",
    "txanon.token.bits",
    "txanon.key.fingerprint",
    "txanon.rows",
    "txanon.label",
];

/// Check a Parquet output against the schema.
pub(super) fn check_output(
    schema: &Schema,
    path: &Path,
    key: Option<&MasterKey>,
    sample: Option<u64>,
) -> Result<Vec<Finding>> {
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    let file = display(path);
    let f = std::fs::File::open(path).map_err(|e| crate::Error::io(path, e))?;
    let builder =
        ParquetRecordBatchReaderBuilder::try_new(f).map_err(|e| crate::Error::ParquetRead {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
    let (mut out, kv) = footer_findings(schema, path, builder.metadata(), builder.schema(), key);

    // Content: residual PII, and token columns holding only tokens.
    let detector = output_detector(schema);
    let by_output = released_columns(schema);
    let is_output = |n: &str| by_output.contains_key(n);
    let scans = scan_file(
        path,
        &detector,
        sample,
        &TextFormat::default(),
        Some(&is_output),
    )?;
    out.extend(pii_findings(schema, &scans, &file));
    out.extend(check_token_shape(schema, path, &by_output, sample)?);
    out.extend(check_derived_values(schema, path, sample)?);
    if let Some(privacy) = &schema.privacy {
        out.extend(check_privacy(privacy, path, &kv)?);
    }
    Ok(out)
}

/// The released columns of the schema by output name (dropped ones excluded).
pub(crate) fn released_columns(schema: &Schema) -> HashMap<&str, &Column> {
    schema
        .columns
        .iter()
        .filter(|c| c.action != Action::Drop)
        .map(|c| (c.output.as_str(), c))
        .collect()
}

/// The detector `check` scans an output with (phones read in the schema's region).
pub(crate) fn output_detector(schema: &Schema) -> Detector {
    Detector::new(schema_phone_region(schema).as_deref().or(Some("CN")))
}

/// The checks that need only the file's footer: Arrow schema against the
/// schema file, provenance metadata, schema hash, token spec, demo key and
/// (with `key`) the key fingerprint. Also returns the footer's key-value
/// metadata.
pub(crate) fn footer_findings(
    schema: &Schema,
    path: &Path,
    metadata: &parquet::file::metadata::ParquetMetaData,
    actual: &arrow_schema::SchemaRef,
    key: Option<&MasterKey>,
) -> (Vec<Finding>, HashMap<String, String>) {
    let file = display(path);
    let mut out = Vec::new();
    let kv: HashMap<String, String> = metadata
        .file_metadata()
        .key_value_metadata()
        .map(|kv| {
            kv.iter()
                .map(|k| (k.key.clone(), k.value.clone().unwrap_or_default()))
                .collect()
        })
        .unwrap_or_default();

    // Arrow schema: names, order, types. A part file of a Hive-partitioned
    // output holds its partition column in its directory name (`col=value/`).
    let expected = schema.output_schema();
    let partition_columns: Vec<String> = path
        .parent()
        .map(|p| {
            p.components()
                .filter_map(|c| {
                    c.as_os_str()
                        .to_str()?
                        .split_once('=')
                        .map(|(k, _)| k.to_string())
                })
                .collect()
        })
        .unwrap_or_default();
    let exp: Vec<(String, String)> = expected
        .fields()
        .iter()
        .filter(|f| {
            !partition_columns.contains(f.name()) || actual.field_with_name(f.name()).is_ok()
        })
        .map(|f| (f.name().clone(), f.data_type().to_string()))
        .collect();
    let act: Vec<(String, String)> = actual
        .fields()
        .iter()
        .map(|f| (f.name().clone(), f.data_type().to_string()))
        .collect();
    if exp == act {
        out.push(Finding::new(
            "output.schema",
            Status::Pass,
            file.clone(),
            None,
            "columns, order and types match the schema",
        ));
    } else {
        for (name, ty) in &exp {
            match act.iter().find(|(n, _)| n == name) {
                None => out.push(Finding::new(
                    "output.schema",
                    Status::Fail,
                    file.clone(),
                    Some(name),
                    "declared output column is missing",
                )),
                Some((_, t)) if t != ty => out.push(Finding::new(
                    "output.schema",
                    Status::Fail,
                    file.clone(),
                    Some(name),
                    format!("type is {t}, the schema produces {ty}"),
                )),
                _ => {}
            }
        }
        let act_names: Vec<String> = act.iter().map(|a| a.0.clone()).collect();
        let is_output = |n: &str| exp.iter().any(|e| e.0 == n);
        let printable = crate::detect::printable_names(&act_names, Some(&is_output));
        if printable.contains(&false) {
            out.push(hidden_names_note(&file));
        }
        for (position, (name, printable)) in act_names.iter().zip(printable).enumerate() {
            if !is_output(name) {
                let f = Finding::new(
                    "output.schema",
                    Status::Fail,
                    file.clone(),
                    Some(name),
                    "column is not an output of the schema",
                );
                out.push(if printable {
                    f
                } else {
                    f.at_position(position + 1)
                });
            }
        }
        let common_exp: Vec<&String> = exp
            .iter()
            .map(|e| &e.0)
            .filter(|n| act.iter().any(|a| &a.0 == *n))
            .collect();
        let common_act: Vec<&String> = act
            .iter()
            .map(|a| &a.0)
            .filter(|n| exp.iter().any(|e| &e.0 == *n))
            .collect();
        if common_exp != common_act {
            out.push(Finding::new(
                "output.schema",
                Status::Fail,
                file.clone(),
                None,
                "columns are not in the declared order",
            ));
        }
    }

    // Provenance metadata.
    let missing: Vec<&str> = REQUIRED_METADATA
        .iter()
        .copied()
        .filter(|k| !kv.contains_key(*k))
        .collect();
    if missing.is_empty() {
        out.push(Finding::new(
            "output.metadata",
            Status::Pass,
            file.clone(),
            None,
            "txanon metadata present",
        ));
    } else {
        out.push(Finding::new(
            "output.metadata",
            Status::Fail,
            file.clone(),
            None,
            format!("missing metadata key(s): {}", missing.join(", ")),
        ));
    }
    let meta_check = |rule: &'static str, ok: bool, pass: String, fail: String| {
        Finding::new(
            rule,
            if ok { Status::Pass } else { Status::Fail },
            file.clone(),
            None,
            if ok { pass } else { fail },
        )
    };
    if let Some(sha) = kv.get("txanon.schema.sha256") {
        out.push(meta_check(
            "output.schema-hash",
            *sha == schema.sha256,
            "made with this exact schema file".into(),
            "txanon.schema.sha256 does not match the schema file: made with another schema or version".into(),
        ));
    }
    if let Some(spec) = kv.get("txanon.token.spec") {
        out.push(meta_check(
            "output.token-spec",
            KNOWN_TOKEN_SPECS.contains(&spec.as_str()),
            if *spec == TOKEN_SPEC {
                format!("token spec {spec}")
            } else {
                format!(
                    "token spec {spec}: e-mail domains checked more loosely than in {TOKEN_SPEC}, \
                     same tokens for values valid under both (docs/TOKEN-SPEC.md, versions)"
                )
            },
            "txanon.token.spec is not a known token spec version".into(),
        ));
    }
    if let Some(fp) = kv.get("txanon.key.fingerprint") {
        let demo_fp = MasterKey::from_hex(DEMO_KEY_HEX)
            .map(|k| k.fingerprint())
            .unwrap_or_default();
        out.push(meta_check(
            "output.demo-key",
            *fp != demo_fp,
            "not made with the published demo key".into(),
            "made with the published demo key: its tokens protect nothing".into(),
        ));
        if let Some(key) = key {
            out.push(meta_check(
                "output.key",
                *fp == key.fingerprint(),
                "key fingerprint matches --key-file".into(),
                "key fingerprint does not match the given key".into(),
            ));
        }
    }

    (out, kv)
}

/// Findings from residual-PII scans of an output's columns: a detector's
/// hit fails unless the column is kept raw with `allow_raw` (info).
pub(crate) fn pii_findings(schema: &Schema, scans: &[ScannedColumn], file: &str) -> Vec<Finding> {
    let by_output = released_columns(schema);
    let file = file.to_string();
    let mut out = Vec::new();
    let mut clean = true;
    for column in scans {
        let col = by_output.get(column.name.as_str()).copied();
        for (kind, (n, rows)) in &column.scan.hits {
            clean = false;
            let allowed = col
                .is_some_and(|c| matches!(c.action, Action::Keep { .. }) && c.allow_raw.is_some());
            let mut f = column
                .finding(
                    "output.pii",
                    if allowed { Status::Info } else { Status::Fail },
                    &file,
                    format!(
                        "{} found{}",
                        kind.name(),
                        if allowed {
                            " (column kept raw with allow_raw)"
                        } else {
                            ""
                        }
                    ),
                )
                .counted(*n, column.scan.values, rows.clone());
            if allowed {
                f.rule = "output.pii-allowed";
            }
            out.push(f);
        }
    }
    if clean {
        out.push(Finding::new(
            "output.pii",
            Status::Pass,
            file.clone(),
            None,
            "no residual personal data found",
        ));
    }
    out
}

/// Recompute the risk figures of an output file (always over every row:
/// k is a property of the whole file) and gate on `[privacy].min_k`.
fn check_privacy(
    privacy: &crate::schema::PrivacyOptions,
    path: &Path,
    kv: &HashMap<String, String>,
) -> Result<Vec<Finding>> {
    let file = display(path);
    let mut meter = crate::risk::RiskMeter::new(privacy, None);
    let wanted = meter.columns();
    // The columns are read with their Parquet types and measured as the
    // writer measured them (the meter casts each to text), so dates,
    // decimals and numbers count as well as strings.
    let mut pq = crate::io::parquet_reader::ParquetInput::open(path)?;
    let missing: Vec<String> = wanted
        .iter()
        .filter(|w| !pq.columns.contains(w))
        .cloned()
        .collect();
    if missing.is_empty() {
        let projection: Vec<usize> = wanted
            .iter()
            .filter_map(|w| pq.columns.iter().position(|c| c == w))
            .collect();
        pq.start(&projection, 8192)?;
        while let Some(batch) = pq.next_batch()? {
            meter.observe(&crate::risk::columns_of(&batch, &wanted)?)?;
        }
    }
    if !missing.is_empty() {
        return Ok(vec![privacy_columns_missing(&file, &missing)]);
    }
    recomputed_findings(&meter.finish()?, &file, Some(kv))
}

/// The finding when a file lacks columns the risk figures need.
pub(crate) fn privacy_columns_missing(file: &str, missing: &[String]) -> Finding {
    Finding::new(
        "output.privacy.k",
        Status::Fail,
        file,
        None,
        format!(
            "cannot measure k: quasi-identifier/sensitive/entity column(s) {} missing",
            missing.join(", ")
        ),
    )
}

/// Findings from a risk report: k against min_k (fail), l and unicity (info).
pub(crate) fn recomputed_findings(
    r: &crate::risk::PrivacyReport,
    file: &str,
    kv: Option<&HashMap<String, String>>,
) -> Result<Vec<Finding>> {
    let mut out = Vec::new();
    let summary = format!(
        "{} over ({}) in {} classes of {} rows (min_k {})",
        r.k_figure(),
        r.quasi.join(", "),
        r.classes,
        r.rows,
        r.min_k
    );
    out.push(if r.passed {
        Finding::new("output.privacy.k", Status::Pass, file, None, summary)
    } else {
        Finding::new(
            "output.privacy.k",
            Status::Fail,
            file,
            None,
            format!(
                "{summary}: rows in classes with fewer than min_k {}",
                r.unit()
            ),
        )
        .counted(r.rows_below_min_k, r.rows, Vec::new())
    });
    if let Some(kv) = kv {
        // A footer k that counted rows (written before k counted entities)
        // is not the figure recomputed here: say so rather than compare.
        if kv.contains_key("txanon.privacy.k") {
            let counts = kv.get("txanon.privacy.k_counts").map(String::as_str);
            let entity = kv.get("txanon.privacy.entity").map(String::as_str);
            let same = counts == Some(r.k_counts) && entity == Some(r.entity.as_str());
            out.push(Finding::new(
                "output.privacy.metadata",
                if same { Status::Pass } else { Status::Fail },
                file,
                None,
                if same {
                    format!(
                        "txanon.privacy.k counts entities ({}), as the schema's [privacy].entity",
                        r.unit()
                    )
                } else {
                    format!(
                        "txanon.privacy.k_counts = {} and txanon.privacy.entity = {} in the footer, but the \
                         schema counts k in {} (k_counts = \"entities\", entity = {}): the file's k is \
                         not the schema's figure; re-run anonymize",
                        counts.unwrap_or("(absent: k counted rows)"),
                        entity.unwrap_or("(absent)"),
                        r.unit(),
                        r.entity
                    )
                },
            ));
        }
        if let Some(written) = kv.get("txanon.privacy.k") {
            let same = *written == r.k.to_string();
            out.push(Finding::new(
                "output.privacy.metadata",
                if same { Status::Pass } else { Status::Fail },
                file,
                None,
                if same {
                    "txanon.privacy.k matches the recomputed k".to_string()
                } else {
                    format!(
                        "txanon.privacy.k = {written} but the recomputed k is {}",
                        r.k
                    )
                },
            ));
        }
    }
    for l in &r.l_diversity {
        out.push(Finding::new(
            "output.privacy.l",
            Status::Info,
            file,
            Some(&l.column),
            format!(
                "l-diversity l = {} ({} classes with a single value)",
                l.l, l.classes_with_one_value
            ),
        ));
    }
    if let Some(u) = &r.unicity {
        for f in &u.figures {
            out.push(
                Finding::new(
                    "output.privacy.unicity",
                    Status::Info,
                    file,
                    Some(&u.entity),
                    format!(
                        "entities unique on p = {} of their own points (seed {})",
                        f.p, u.seed
                    ),
                )
                .counted(f.unique, f.entities, Vec::new()),
            );
        }
    }
    Ok(out)
}

/// Per checked output column: (bad values, non-null values, first rows of
/// bad values).
pub(crate) type BadValues = BTreeMap<String, (u64, u64, Vec<u64>)>;

/// Add one column's values to `bad`: counts the non-null values `is_bad`
/// rejects and keeps the first [`FIRST_ROWS`] rows of them (never the
/// values). `rows[i]` is the row number of `values[i]`.
pub(crate) fn tally_bad_values(
    bad: &mut BadValues,
    name: &str,
    values: &arrow_array::StringArray,
    rows: impl Fn(usize) -> u64,
    mut is_bad: impl FnMut(&str) -> bool,
) {
    use arrow_array::Array;
    let e = bad.entry(name.to_string()).or_default();
    for i in 0..values.len() {
        if values.is_null(i) {
            continue;
        }
        e.1 += 1;
        if is_bad(values.value(i)) {
            e.0 += 1;
            if e.2.len() < FIRST_ROWS {
                e.2.push(rows(i));
            }
        }
    }
}

/// Add the tallies of a later part of the file (`more`, rows after those of `bad`).
pub(crate) fn merge_bad_values(bad: &mut BadValues, more: BadValues) {
    for (name, (n, total, rows)) in more {
        let e = bad.entry(name).or_default();
        e.0 += n;
        e.1 += total;
        let room = FIRST_ROWS.saturating_sub(e.2.len());
        e.2.extend(rows.into_iter().take(room));
    }
}

/// Reads `path` once, only the columns `select` picks (giving what the
/// column is checked against), and tallies the values `is_bad` rejects.
fn count_bad_values<T>(
    path: &Path,
    sample: Option<u64>,
    select: impl Fn(&str) -> Option<T>,
    is_bad: impl Fn(&T, &str) -> bool,
) -> Result<BadValues> {
    let mut bad = BadValues::new();
    for_each_batch(path, sample, &TextFormat::default(), |batch| {
        for (name, values) in &batch.columns {
            let Some(rule) = select(name) else {
                continue;
            };
            tally_bad_values(
                &mut bad,
                name,
                values,
                |i| batch.rows[i],
                |v| is_bad(&rule, v),
            );
        }
        Ok(())
    })?;
    Ok(bad)
}

/// The derived outputs of the schema by output name.
pub(crate) fn derived_columns(schema: &Schema) -> HashMap<&str, &crate::schema::Derived> {
    schema
        .columns
        .iter()
        .flat_map(|c| c.derive.iter().map(|d| (d.output.as_str(), d)))
        .collect()
}

/// Every value of a derived output must belong to its allow-list
/// ([`crate::transform::rules::derived_value_allowed`]): an output made by
/// an older txanon, another tool or an edited file may hold raw text there.
fn check_derived_values(schema: &Schema, path: &Path, sample: Option<u64>) -> Result<Vec<Finding>> {
    use crate::transform::rules::derived_value_allowed;
    let derived = derived_columns(schema);
    if derived.is_empty() {
        return Ok(Vec::new());
    }
    let bad = count_bad_values(
        path,
        sample,
        |name| derived.get(name).copied(),
        |d, v| !derived_value_allowed(d, v),
    )?;
    Ok(derived_findings(&derived, bad, &display(path)))
}

/// Findings from the derived columns' allow-list tallies.
pub(crate) fn derived_findings(
    derived: &HashMap<&str, &crate::schema::Derived>,
    bad: BadValues,
    file: &str,
) -> Vec<Finding> {
    bad.into_iter()
        .map(|(name, (n, total, rows))| {
            let kind = derived.get(name.as_str()).map_or("", |d| d.kind.name());
            if n == 0 {
                Finding::new(
                    "output.derived",
                    Status::Pass,
                    file,
                    Some(&name),
                    format!("every value is in the {kind} allow-list"),
                )
            } else {
                Finding::new(
                    "output.derived",
                    Status::Fail,
                    file,
                    Some(&name),
                    format!(
                        "values outside the {kind} allow-list in a derived column (raw text may \
                         have been released)"
                    ),
                )
                .counted(n, total, rows)
            }
        })
        .collect()
}

/// What a token of the schema looks like: its length in characters and alphabet.
#[derive(Clone, Copy)]
pub(crate) struct TokenShape {
    chars: usize,
    encoding: TokenEncoding,
}

impl TokenShape {
    /// The shape of the schema's tokens (`[tokens].bits` and `encoding`).
    pub(crate) fn of(schema: &Schema) -> TokenShape {
        let len = usize::from(schema.tokens.bits / 8);
        let encoding = schema.tokens.encoding;
        let chars = match encoding {
            TokenEncoding::Hex => len * 2,
            TokenEncoding::Base64Url => (len * 4).div_ceil(3),
        };
        TokenShape { chars, encoding }
    }

    /// Whether `v` is not a token of this shape. The alphabet test is
    /// written out per encoding (not a function pointer per byte): it runs
    /// over every byte of every token of a release.
    pub(crate) fn is_bad(&self, v: &str) -> bool {
        let b = v.as_bytes();
        b.len() != self.chars
            || match self.encoding {
                TokenEncoding::Hex => !b.iter().all(|&c| matches!(c, b'0'..=b'9' | b'a'..=b'f')),
                TokenEncoding::Base64Url => !b
                    .iter()
                    .all(|&c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'),
            }
    }
}

/// Every value of a tokenize column must be a token of the declared length and alphabet.
fn check_token_shape(
    schema: &Schema,
    path: &Path,
    by_output: &HashMap<&str, &Column>,
    sample: Option<u64>,
) -> Result<Vec<Finding>> {
    let shape = TokenShape::of(schema);
    let bad = count_bad_values(
        path,
        sample,
        |name| {
            by_output
                .get(name)
                .filter(|col| matches!(col.action, Action::Tokenize { .. }))
                .map(|_| ())
        },
        |(), v| shape.is_bad(v),
    )?;
    Ok(token_shape_findings(shape, bad, &display(path)))
}

/// Findings from the token columns' shape tallies.
pub(crate) fn token_shape_findings(shape: TokenShape, bad: BadValues, file: &str) -> Vec<Finding> {
    let chars = shape.chars;
    bad.into_iter()
        .map(|(name, (n, total, rows))| {
            if n == 0 {
                Finding::new(
                    "output.token-shape",
                    Status::Pass,
                    file,
                    Some(&name),
                    "every value is a token",
                )
            } else {
                Finding::new(
                    "output.token-shape",
                    Status::Fail,
                    file,
                    Some(&name),
                    format!("values that are not {chars}-character tokens in a tokenize column"),
                )
                .counted(n, total, rows)
            }
        })
        .collect()
}
