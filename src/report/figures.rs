//! The report's figures from the pass over the released rows
//! ([`super::pass`]): the risk figures (k in distinct entities, l,
//! unicity) recomputed by [`crate::risk`], the class-size histogram, and
//! rows per month with the gaps marked. [`super`] gathers the footer,
//! manifest and run record and renders the page.

use super::*;

/// Rows per (year, month).
pub(super) type Months = BTreeMap<(i32, u32), u64>;

/// The date column rows per month are counted on: a month-or-coarser
/// `generalize` column first, then any other date or timestamp column.
pub(super) fn month_column(out: &Output, schema: Option<&Schema>) -> Option<String> {
    let dated = |n: &str| {
        out.fields.iter().any(|(f, t)| {
            f == n
                && matches!(
                    t,
                    DataType::Date32 | DataType::Timestamp(TimeUnit::Microsecond, _)
                )
        })
    };
    if let Some(s) = schema {
        if let Some(c) = s
            .columns
            .iter()
            .find(|c| matches!(c.action, Action::Generalize { .. }) && dated(&c.output))
        {
            return Some(c.output.clone());
        }
    }
    out.fields
        .iter()
        .find(|(n, _)| dated(n))
        .map(|(n, _)| n.clone())
}

/// Add a date/timestamp column's rows per month; returns its nulls.
pub(super) fn count_months(
    col: &arrow_array::ArrayRef,
    months: &mut BTreeMap<(i32, u32), u64>,
) -> u64 {
    use arrow_array::cast::AsArray;
    use arrow_array::types::{Date32Type, TimestampMicrosecondType};
    let mut nulls = 0;
    let mut add = |d: Option<NaiveDate>| match d {
        Some(d) => *months.entry((d.year(), d.month())).or_insert(0) += 1,
        None => nulls += 1,
    };
    match col.data_type() {
        DataType::Date32 => {
            let a = col.as_primitive::<Date32Type>();
            for i in 0..a.len() {
                add(a.is_valid(i).then(|| a.value_as_date(i)).flatten());
            }
        }
        DataType::Timestamp(TimeUnit::Microsecond, _) => {
            let a = col.as_primitive::<TimestampMicrosecondType>();
            for i in 0..a.len() {
                add(a
                    .is_valid(i)
                    .then(|| a.value_as_datetime(i).map(|t| t.date()))
                    .flatten());
            }
        }
        _ => {}
    }
    nulls
}

pub(super) fn risk(
    out: &Output,
    run: &RunRecord,
    schema: Option<&Schema>,
    pass: &DataPass,
) -> Option<Risk> {
    let mut recorded: BTreeMap<String, String> = run.privacy.clone();
    for (k, v) in &out.footer {
        if k.starts_with("txanon.privacy.") {
            recorded.insert(k.clone(), v.clone());
        }
    }
    let privacy = schema.and_then(|s| s.privacy.as_ref());
    if recorded.is_empty() && privacy.is_none() {
        return None;
    }
    let get = |k: &str| recorded.get(&format!("txanon.privacy.{k}"));
    let unit = get("k_counts").cloned().unwrap_or_else(|| "rows".into());
    let r = pass.report.as_ref();
    let k_recorded = get("k").cloned();
    let k_now = r.map(|r| r.k.to_string());
    let k_text = match (&k_recorded, &k_now) {
        (Some(a), Some(b)) if a == b => format!("{} {unit}", fmt_num(a)),
        (Some(a), Some(b)) => format!(
            "{} {unit} recorded, {} recomputed: they DIFFER",
            fmt_num(a),
            fmt_num(b)
        ),
        (Some(a), None) => format!("{} {unit}", fmt_num(a)),
        (None, Some(b)) => format!("{} {unit} (recomputed; not recorded)", fmt_num(b)),
        (None, None) => "-".into(),
    };
    let min_k = get("min_k")
        .cloned()
        .or_else(|| privacy.map(|p| p.min_k.to_string()))
        .unwrap_or_else(|| "-".into());
    let passed = match r {
        Some(r) => r.passed,
        None => match (
            k_recorded.as_ref().and_then(|k| k.parse::<u64>().ok()),
            min_k.parse::<u64>().ok(),
        ) {
            (Some(k), Some(m)) => k >= m,
            _ => false,
        },
    };
    let quasi = get("quasi")
        .cloned()
        .or_else(|| privacy.map(|p| p.quasi.join(",")))
        .unwrap_or_default();
    let mut figures = vec![
        (
            "k".to_string(),
            k_text,
            format!(
                "the smallest group of {unit}{} sharing one combination of the quasi-identifiers ({})",
                get("entity")
                    .filter(|e| *e != "row")
                    .map_or(String::new(), |e| format!(" (distinct {e})")),
                quasi.replace(',', ", ")
            ),
        ),
        (
            "min_k".into(),
            fmt_num(&min_k),
            format!(
                "the release gate; on a smaller group: {}",
                get("on_violation").map_or("-", String::as_str)
            ),
        ),
    ];
    if let Some(c) = get("classes")
        .cloned()
        .or_else(|| r.map(|r| r.classes.to_string()))
    {
        figures.push((
            "Classes".into(),
            fmt_num(&c),
            "distinct combinations of the quasi-identifiers".into(),
        ));
    }
    figures.push((
        "Suppressed rows".into(),
        get("suppressed_rows").map_or_else(|| "0".into(), |s| fmt_num(s)),
        match run.suppressed_classes {
            Some(c) => format!(
                "removed with their {} class(es) smaller than min_k",
                group(c)
            ),
            None => "removed with their classes smaller than min_k".into(),
        },
    ));
    if let Some(b) = get("rows_below_min_k") {
        figures.push((
            "Rows below min_k".into(),
            fmt_num(b),
            "rows still in classes smaller than min_k in the release".into(),
        ));
    }
    let histogram = if pass.class_sizes.is_empty() {
        String::new()
    } else {
        let min_k = privacy.map_or(1, |p| p.min_k);
        class_histogram(&pass.class_sizes, min_k, &unit)
    };
    let l = match r {
        Some(r) => r
            .l_diversity
            .iter()
            .map(|l| {
                (
                    l.column.clone(),
                    group(l.l),
                    group(l.classes_with_one_value),
                )
            })
            .collect(),
        None => recorded
            .iter()
            .filter_map(|(k, v)| {
                k.strip_prefix("txanon.privacy.l.")
                    .map(|c| (c.to_string(), fmt_num(v), "-".to_string()))
            })
            .collect(),
    };
    let unicity = match r.and_then(|r| r.unicity.as_ref()) {
        Some(u) => u
            .figures
            .iter()
            .map(|f| {
                (
                    f.p.to_string(),
                    format!("{:.1} %", f.share * 100.0),
                    format!("{} of {} {}", group(f.unique), group(f.entities), u.entity),
                )
            })
            .collect(),
        None => recorded
            .iter()
            .filter_map(|(k, v)| {
                let p = k.strip_prefix("txanon.privacy.unicity.p")?;
                let share: f64 = v.parse().ok()?;
                Some((
                    p.to_string(),
                    format!("{:.1} %", share * 100.0),
                    "-".to_string(),
                ))
            })
            .collect(),
    };
    let levels = match (schema, privacy) {
        (Some(s), Some(p)) => p
            .quasi
            .iter()
            .map(|q| {
                let level = s
                    .columns
                    .iter()
                    .find_map(|c| {
                        if c.output == *q && c.action != Action::Drop {
                            return Some(describe(&c.action));
                        }
                        c.derive
                            .iter()
                            .find(|d| d.output == *q)
                            .map(|d| format!("derive {} from {}", d.kind.name(), c.name))
                    })
                    .unwrap_or_else(|| "-".into());
                (q.clone(), level)
            })
            .collect(),
        _ => Vec::new(),
    };
    Some(Risk {
        figures,
        passed,
        unit,
        histogram,
        l,
        unicity,
        levels,
        recorded: recorded.into_iter().collect(),
    })
}

/// Class sizes in bands; bands below `min_k` are drawn in the warning colour.
pub(super) fn class_histogram(sizes: &[u64], min_k: u64, unit: &str) -> String {
    let mut edges: Vec<u64> = vec![1, 2, 3, 5, 10, 20, 50, 100, 200, 500, 1000, 10_000, 100_000];
    if min_k > 1 && !edges.contains(&min_k) {
        edges.push(min_k);
        edges.sort_unstable();
    }
    let max = sizes.iter().copied().max().unwrap_or(1);
    edges.retain(|&e| e <= max);
    let mut counts = vec![0u64; edges.len()];
    for &s in sizes {
        let i = edges.partition_point(|&e| e <= s).saturating_sub(1);
        if let Some(c) = counts.get_mut(i) {
            *c += 1;
        }
    }
    let bars: Vec<Bar> = edges
        .iter()
        .enumerate()
        .map(|(i, &lo)| {
            let hi = edges.get(i + 1).map(|h| h - 1);
            let label = match hi {
                Some(h) if h == lo => group(lo),
                Some(h) => format!("{}–{}", group(lo), group(h)),
                None => format!("{}+", group(lo)),
            };
            Bar {
                label,
                value: counts[i],
                warn: lo < min_k && counts[i] > 0,
            }
        })
        .collect();
    svg::bar_chart(&format!("Classes by size (in {unit})"), &bars, "classes")
}

/// Whether a partition column's values may be shown: the schema coarsens it.
pub(super) fn partition_labels_allowed(
    column: &str,
    values: &[String],
    schema: Option<&Schema>,
) -> bool {
    match schema {
        Some(s) => s.columns.iter().any(|c| {
            (c.output == column
                && matches!(
                    c.action,
                    Action::Generalize { .. } | Action::Bucket(_) | Action::Age(_)
                ))
                || c.derive.iter().any(|d| d.output == column)
        }),
        // Without the schema only first-of-month dates are shown (a month).
        None => values.iter().all(|v| {
            v == NULL_PARTITION
                || NaiveDate::parse_from_str(v, "%Y-%m-%d").is_ok_and(|d| d.day() == 1)
        }),
    }
}

pub(super) fn month_bars(months: &BTreeMap<(i32, u32), u64>) -> (Vec<Bar>, usize) {
    let (Some(&first), Some(&last)) = (months.keys().next(), months.keys().next_back()) else {
        return (Vec::new(), 0);
    };
    let mut bars = Vec::new();
    let mut gaps = 0;
    let (mut y, mut m) = first;
    // At most 600 months (50 years) are drawn; beyond that, only months with rows.
    let span = (last.0 - first.0) * 12 + last.1 as i32 - first.1 as i32;
    if span > 600 {
        return (
            months
                .iter()
                .map(|(&(y, m), &n)| Bar {
                    label: format!("{y:04}-{m:02}"),
                    value: n,
                    warn: false,
                })
                .collect(),
            0,
        );
    }
    while (y, m) <= last {
        let n = months.get(&(y, m)).copied().unwrap_or(0);
        if n == 0 {
            gaps += 1;
        }
        bars.push(Bar {
            label: format!("{y:04}-{m:02}"),
            value: n,
            warn: n == 0,
        });
        m += 1;
        if m == 13 {
            m = 1;
            y += 1;
        }
    }
    (bars, gaps)
}

pub(super) fn shape(
    out: &Output,
    schema: Option<&Schema>,
    pass: &DataPass,
    notes: &mut Vec<String>,
) -> Option<Shape> {
    if let Some((col, values)) = &out.partition {
        let mut per: BTreeMap<&str, u64> = BTreeMap::new();
        for (v, r) in values.iter().zip(&out.rows) {
            *per.entry(v.as_str()).or_insert(0) += r;
        }
        let months: Option<BTreeMap<(i32, u32), u64>> = per
            .iter()
            .map(|(v, n)| {
                NaiveDate::parse_from_str(v, "%Y-%m-%d")
                    .ok()
                    .filter(|d| d.day() == 1)
                    .map(|d| ((d.year(), d.month()), *n))
            })
            .collect();
        let allowed = partition_labels_allowed(col, values, schema);
        let (bars, gaps) = match months {
            Some(m) if allowed => month_bars(&m),
            _ => (
                per.iter()
                    .enumerate()
                    .map(|(i, (v, n))| Bar {
                        label: if allowed {
                            if *v == NULL_PARTITION {
                                "(null)".into()
                            } else {
                                (*v).to_string()
                            }
                        } else {
                            format!("#{}", i + 1)
                        },
                        value: *n,
                        warn: false,
                    })
                    .collect(),
                0,
            ),
        };
        if !allowed {
            notes.push(format!(
                "Partitions of {col} are numbered, not named: the schema does not coarsen {col}, \
                 so its values are not shown."
            ));
        }
        return Some(Shape {
            title: format!("Rows per partition of {col}"),
            svg: svg::bar_chart(&format!("Rows per partition of {col}"), &bars, "rows"),
            note: gap_note(bars.len(), gaps, "partition"),
        });
    }
    let (col, months, nulls) = pass.months.as_ref()?;
    let (bars, gaps) = month_bars(months);
    let mut note = gap_note(bars.len(), gaps, "month");
    if *nulls > 0 {
        note.push_str(&format!(" {} row(s) have no {col}.", group(*nulls)));
    }
    Some(Shape {
        title: format!("Rows per month of {col}"),
        svg: svg::bar_chart(&format!("Rows per month of {col}"), &bars, "rows"),
        note,
    })
}

pub(super) fn gap_note(bars: usize, gaps: usize, what: &str) -> String {
    match gaps {
        0 => format!("{bars} {what}(s), none empty."),
        n => format!("{bars} {what}(s); {n} month(s) without any row are marked in red."),
    }
}
