//! Figures on small hand-computed tables.

use std::sync::Arc;

use super::*;
use crate::schema::{OnViolation, PrivacyEntity, PrivacyOptions};

fn opts(min_k: u64) -> PrivacyOptions {
    PrivacyOptions {
        min_k,
        on_violation: OnViolation::Suppress,
        quasi: vec!["a".into()],
        sensitive: vec!["s".into()],
        entity: PrivacyEntity::Column("e".into()),
        seed: 7,
        max_points: 1024,
        search: None,
        chosen: None,
        removed: Vec::new(),
    }
}

fn arrays() -> Vec<ArrayRef> {
    let a = StringArray::from(vec![
        Some("x"),
        Some("x"),
        Some("x"),
        Some("y"),
        Some("y"),
        None,
    ]);
    let s = StringArray::from(vec!["1", "2", "1", "3", "3", "1"]);
    let e = StringArray::from(vec!["A", "A", "B", "B", "C", "C"]);
    vec![Arc::new(a), Arc::new(s), Arc::new(e)]
}

#[test]
fn k_l_and_rows_below() {
    let mut m = RiskMeter::new(&opts(2), None);
    assert_eq!(m.columns(), vec!["a", "s", "e"]);
    assert!(m.observe(&arrays()).unwrap().is_none());
    let r = m.finish().unwrap();
    // x: A, A, B (2 people); y: B, C (2); null: C (1).
    assert_eq!((r.rows, r.classes, r.k), (6, 3, 1));
    assert_eq!((r.classes_below_min_k, r.rows_below_min_k), (1, 1));
    assert_eq!((r.k_counts, r.entity.as_str()), ("entities", "e"));
    assert_eq!(r.k_figure(), "k = 1 (distinct e values)");
    assert!(!r.passed);
    assert_eq!(r.l_diversity[0].l, 1);
    assert_eq!(r.l_diversity[0].classes_with_one_value, 2);
    // A: {x}; B: {x, y}; C: {y, null}. p = 2: B and C are eligible, and
    // nobody else has both of their points.
    let u = r.unicity.unwrap();
    assert_eq!(u.entities, 3);
    assert_eq!(u.figures[0].p, 2);
    assert_eq!((u.figures[0].entities, u.figures[0].unique), (2, 2));
    assert_eq!(u.figures[1].entities, 0);
}

#[test]
fn suppression_removes_exactly_the_small_classes() {
    let mut first = RiskMeter::new(&opts(2), None);
    first.observe(&arrays()).unwrap();
    let s = first.suppression().unwrap();
    assert_eq!(s.len(), 1);
    let mut second = RiskMeter::new(&opts(2), Some(s));
    let keep = second.observe(&arrays()).unwrap().unwrap();
    let kept: Vec<bool> = keep.iter().map(|b| b.unwrap()).collect();
    assert_eq!(kept, vec![true, true, true, true, true, false]);
    let r = second.finish().unwrap();
    assert_eq!(
        (r.rows, r.k, r.suppressed_rows, r.suppressed_classes),
        (5, 2, 1, 1)
    );
    assert!(r.passed);
}

#[test]
fn unicity_is_reproducible_and_depends_on_the_seed_only() {
    // 200 entities with 6 points each out of 30; figures must be stable.
    let n = 1200;
    let a: Vec<String> = (0..n)
        .map(|i| format!("p{}", (i * 7 + i / 6) % 30))
        .collect();
    let s: Vec<&str> = vec!["v"; n];
    let e: Vec<String> = (0..n).map(|i| format!("E{}", i / 6)).collect();
    let arrays: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from(a)),
        Arc::new(StringArray::from(s)),
        Arc::new(StringArray::from(e)),
    ];
    let run = |seed: u64, max_points: usize| {
        let mut o = opts(1);
        o.seed = seed;
        o.max_points = max_points;
        let mut m = RiskMeter::new(&o, None);
        m.observe(&arrays).unwrap();
        m.finish().unwrap().unicity.unwrap()
    };
    assert_eq!(run(1, 1024), run(1, 1024));
    let u = run(1, 1024);
    assert_eq!(u.sampled_entities, 0);
    assert!(u.figures[1].share >= u.figures[0].share, "{u:?}");
    // A small max_points samples each entity's points, reproducibly.
    assert_eq!(run(3, 4), run(3, 4));
    assert!(run(3, 4).sampled_entities > 0);
}

/// One quasi-identifier column `a`, no sensitive column, entity `e`.
fn entity_opts(min_k: u64, entity: PrivacyEntity) -> PrivacyOptions {
    PrivacyOptions {
        sensitive: Vec::new(),
        entity,
        ..opts(min_k)
    }
}

fn strings(v: &[Option<&str>]) -> ArrayRef {
    Arc::new(StringArray::from(v.to_vec()))
}

#[test]
fn k_counts_distinct_entities_not_rows() {
    // Class "x": 20 rows of one customer. Class "y": 5 customers, 1 row each.
    let mut a = vec![Some("x"); 20];
    a.extend([Some("y"); 5]);
    let mut e = vec![Some("C1"); 20];
    e.extend([Some("C2"), Some("C3"), Some("C4"), Some("C5"), Some("C6")]);
    let arrays = vec![strings(&a), strings(&e)];
    let mut m = RiskMeter::new(&entity_opts(5, PrivacyEntity::Column("e".into())), None);
    m.observe(&arrays).unwrap();
    let r = m.finish().unwrap();
    assert_eq!((r.rows, r.classes, r.k), (25, 2, 1));
    assert_eq!((r.classes_below_min_k, r.rows_below_min_k), (1, 20));
    assert!(!r.passed);
    // Suppression removes the one-customer class, whatever its row count.
    let mut second = RiskMeter::new(
        &entity_opts(5, PrivacyEntity::Column("e".into())),
        Some(m.suppression().unwrap()),
    );
    let kept: Vec<bool> = second
        .observe(&arrays)
        .unwrap()
        .unwrap()
        .iter()
        .map(|b| b.unwrap())
        .collect();
    assert_eq!(kept.iter().filter(|&&k| !k).count(), 20);
    assert!(kept[20..].iter().all(|&k| k));
    let r = second.finish().unwrap();
    assert_eq!((r.rows, r.k, r.suppressed_rows), (5, 5, 20));
    assert!(r.passed);

    // With entity = "row" the same table counts rows: both classes pass.
    let mut rows = RiskMeter::new(&entity_opts(5, PrivacyEntity::Row), None);
    assert_eq!(rows.columns(), vec!["a"]);
    rows.observe(&arrays[..1]).unwrap();
    let r = rows.finish().unwrap();
    assert_eq!(
        (r.k, r.k_counted_up_to, r.unicity.is_none()),
        (5, None, true)
    );
    assert_eq!(r.k_figure(), "k = 5 (rows, one per person)");
    assert!(r.passed);
}

#[test]
fn null_entities_count_as_no_one() {
    // Class "x": 2 customers and 10 rows with a null entity; class "z": only nulls.
    let mut a = vec![Some("x"); 12];
    a.extend([Some("z"); 3]);
    let mut e = vec![Some("C1"), Some("C2")];
    e.extend([None; 13]);
    let mut m = RiskMeter::new(&entity_opts(3, PrivacyEntity::Column("e".into())), None);
    m.observe(&[strings(&a), strings(&e)]).unwrap();
    let r = m.finish().unwrap();
    assert_eq!((r.rows, r.k, r.null_entity_rows), (15, 0, 13));
    assert_eq!((r.classes_below_min_k, r.rows_below_min_k), (2, 15));
    assert_eq!(m.suppression().unwrap().len(), 2);
    assert!(r
        .lines()
        .iter()
        .any(|l| l.contains("rows with a null e: 13")));
}

#[test]
fn counting_stops_at_the_cap_and_says_so() {
    let n = K_COUNTED_UP_TO as usize + 10;
    let a = vec![Some("x"); n];
    let names: Vec<String> = (0..n).map(|i| format!("C{i}")).collect();
    let e: Vec<Option<&str>> = names.iter().map(|s| Some(s.as_str())).collect();
    let mut m = RiskMeter::new(&entity_opts(5, PrivacyEntity::Column("e".into())), None);
    m.observe(&[strings(&a), strings(&e)]).unwrap();
    let r = m.finish().unwrap();
    assert_eq!(
        (r.k, r.k_counted_up_to),
        (K_COUNTED_UP_TO, Some(K_COUNTED_UP_TO))
    );
    assert!(r
        .k_figure()
        .starts_with("k >= 1000 (distinct e values, counted up to 1000)"));
    assert!(r.passed);
}

#[test]
fn suppression_is_empty_exactly_when_no_class_is_below_min_k() {
    // arrays(): x has entities {A, B}, y {B, C}, the null class {C}.
    for (min_k, classes) in [(1, 0), (2, 1), (3, 3)] {
        let mut m = RiskMeter::new(&opts(min_k), None);
        m.observe(&arrays()).unwrap();
        let s = m.suppression().unwrap();
        assert_eq!(
            (s.len(), s.is_empty()),
            (classes, classes == 0),
            "min_k {min_k}"
        );
    }
}

#[test]
fn splitmix64_is_the_reference_stream() {
    // From tests/risk/unicity_vectors.py (pycanon_check.py's SplitMix64).
    let mut r = SplitMix64::new(7);
    assert_eq!(
        [r.next(), r.next(), r.next()],
        [
            0x63cb_e1e4_5932_0dd7,
            0x044c_3cd7_f43c_661c,
            0xe698_4080_bab1_2a02
        ]
    );
    let mut r = SplitMix64::new(7);
    assert_eq!(
        [r.below(10), r.below(1000), r.below(1 << 63)],
        [3, 16, 8_308_050_873_407_804_673]
    );
}

/// The table of tests/risk/unicity_vectors.py: entity k (of 40) has a row in
/// class c (of 30) when (3k² + 5c² + 7kc + k) % 23 < 4, entity by entity,
/// class by class; entities whose number is a multiple of 4 have every row twice.
fn unicity_table() -> Vec<ArrayRef> {
    let (mut a, mut e) = (Vec::new(), Vec::new());
    for k in 0..40u64 {
        for c in 0..30u64 {
            if (k * k * 3 + c * c * 5 + k * c * 7 + k) % 23 < 4 {
                for _ in 0..if k % 4 == 0 { 2 } else { 1 } {
                    a.push(format!("c{c}"));
                    e.push(format!("E{k}"));
                }
            }
        }
    }
    assert_eq!(a.len(), 257);
    let s = vec!["v"; a.len()];
    vec![
        Arc::new(StringArray::from(a)),
        Arc::new(StringArray::from(s)),
        Arc::new(StringArray::from(e)),
    ]
}

#[test]
fn unicity_figures_match_an_independent_python_draw() {
    // (seed, max_points, sampled entities, p = 2 (eligible, unique),
    // p = 4 (eligible, unique)), printed by `python3 tests/risk/unicity_vectors.py`
    // (36 of the 40 entities have a row).
    let expected = [
        (7, 1024, 0, (35, 5), (33, 5)),
        (11, 1024, 0, (35, 2), (33, 5)),
        (7, 3, 33, (35, 22), (0, 0)),
        (12, 4, 30, (35, 12), (33, 31)),
    ];
    let table = unicity_table();
    for (seed, max_points, sampled, p2, p4) in expected {
        let mut o = opts(1);
        o.seed = seed;
        o.max_points = max_points;
        let mut m = RiskMeter::new(&o, None);
        m.observe(&table).unwrap();
        let u = m.finish().unwrap().unicity.unwrap();
        let got: Vec<(usize, u64, u64)> = u
            .figures
            .iter()
            .map(|f| (f.p, f.entities, f.unique))
            .collect();
        assert_eq!(
            (u.entities, u.sampled_entities, got),
            (36, sampled, vec![(2, p2.0, p2.1), (4, p4.0, p4.1)]),
            "seed {seed}, max_points {max_points}"
        );
        let share = |(eligible, unique): (u64, u64)| {
            if eligible == 0 {
                0.0
            } else {
                unique as f64 / eligible as f64
            }
        };
        assert_eq!(
            (u.figures[0].share, u.figures[1].share),
            (share(p2), share(p4))
        );
    }
}

#[test]
fn footer_entries_and_lines_of_a_hand_computed_report() {
    let mut m = RiskMeter::new(&opts(2), None);
    m.observe(&arrays()).unwrap();
    let r = m.finish().unwrap();
    let kv = |v: &[(&str, &str)]| -> Vec<(String, String)> {
        v.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    // Classes x {A, B}, y {B, C}, null {C}: k = 1, one row below min_k = 2;
    // s has one value in y and in the null class; p = 2: B and C unique of 2.
    assert_eq!(
        r.metadata(),
        kv(&[
            ("txanon.privacy.quasi", "a"),
            ("txanon.privacy.min_k", "2"),
            ("txanon.privacy.k", "1"),
            ("txanon.privacy.k_counts", "entities"),
            ("txanon.privacy.entity", "e"),
            ("txanon.privacy.classes", "3"),
            ("txanon.privacy.rows_below_min_k", "1"),
            ("txanon.privacy.on_violation", "suppress"),
            ("txanon.privacy.suppressed_rows", "0"),
            ("txanon.privacy.k_counted_up_to", "1000"),
            ("txanon.privacy.null_entity_rows", "0"),
            ("txanon.privacy.l.s", "1"),
            ("txanon.privacy.unicity.entity", "e"),
            ("txanon.privacy.unicity.seed", "7"),
            ("txanon.privacy.unicity.p2", "1.000000"),
            ("txanon.privacy.unicity.p4", "0.000000"),
        ])
    );
    assert_eq!(
        r.lines(),
        [
            "privacy: k = 1 (distinct e values) over (a) in 3 classes of 6 rows; min_k 2 (suppress): FAIL",
            "  rows in classes with fewer than 2 distinct e values: 1 (16.67%) in 1 classes; suppressed 0 rows in 0 classes",
            "  l-diversity of s: l = 1 (2 classes with one value)",
            "  unicity by e (seed 7): p=2: 100.0% of 2 entities unique; p=4: 0.0% of 0 entities unique",
        ]
    );
}

#[test]
fn class_sizes_count_entities_per_class() {
    // arrays(): x {A, B}, y {B, C}, null {C}; with entity = "row": 3, 2, 1 rows.
    let mut m = RiskMeter::new(&opts(2), None);
    m.observe(&arrays()).unwrap();
    let mut sizes = m.class_sizes().unwrap();
    sizes.sort_unstable();
    assert_eq!(sizes, [1, 2, 2]);
    let mut rows = RiskMeter::new(
        &PrivacyOptions {
            entity: PrivacyEntity::Row,
            ..opts(2)
        },
        None,
    );
    rows.observe(&arrays()[..2]).unwrap();
    let mut sizes = rows.class_sizes().unwrap();
    sizes.sort_unstable();
    assert_eq!(sizes, [1, 2, 3]);
}

#[test]
fn an_empty_input_passes_and_a_fully_suppressed_one_does_not() {
    let mut m = RiskMeter::new(&opts(2), None);
    let r = m.finish().unwrap();
    assert_eq!(
        (r.rows, r.k, r.share_below_min_k, r.passed),
        (0, 0, 0.0, true)
    );
    // min_k = 3: every class of arrays() has fewer than 3 entities.
    let mut first = RiskMeter::new(&opts(3), None);
    first.observe(&arrays()).unwrap();
    let mut second = RiskMeter::new(&opts(3), Some(first.suppression().unwrap()));
    second.observe(&arrays()).unwrap();
    let r = second.finish().unwrap();
    assert_eq!(
        (
            r.rows,
            r.suppressed_rows,
            r.suppressed_classes,
            r.share_below_min_k,
            r.passed
        ),
        (0, 6, 3, 0.0, false)
    );
    assert!(
        matches!(second.verdict(true), Err(Error::Privacy(m)) if m.starts_with("no rows left to measure (6 suppressed)"))
    );
}

#[test]
fn the_verdict_releases_asks_for_suppression_or_refuses() {
    let verdict = |min_k: u64, on_violation: OnViolation, enforce: bool| {
        let mut m = RiskMeter::new(
            &PrivacyOptions {
                on_violation,
                ..opts(min_k)
            },
            None,
        );
        m.observe(&arrays()).unwrap();
        m.verdict(enforce)
    };
    // min_k = 2: the null class (C alone) is below it.
    match verdict(2, OnViolation::Suppress, true) {
        Ok(Verdict::Suppress(s)) => assert_eq!(s.len(), 1),
        other => panic!("{other:?}"),
    }
    match verdict(2, OnViolation::Fail, true) {
        Err(Error::Privacy(m)) => assert!(
            m.starts_with(
                "k = 1 (distinct e values) is below [privacy].min_k = 2: 1 row(s) in 1 class(es) \
                 with fewer than 2 distinct e values over (a); on_violation = \"fail\""
            ),
            "{m}"
        ),
        other => panic!("{other:?}"),
    }
    // A dry run reports; a passing meter releases either way.
    for (min_k, on_violation, enforce, passed) in [
        (2, OnViolation::Fail, false, false),
        (2, OnViolation::Suppress, false, false),
        (1, OnViolation::Fail, true, true),
        (1, OnViolation::Suppress, true, true),
    ] {
        match verdict(min_k, on_violation, enforce) {
            Ok(Verdict::Release(r)) => assert_eq!(r.passed, passed),
            other => panic!("{other:?}"),
        }
    }
}

/// A generated table with many small classes and many entities: 60,000
/// rows of 6,000 entities (skewed: low numbers have more rows), each
/// entity's rows in a handful of the ~4,000 classes near its home class,
/// every tenth row in one large class (more than the counting cap of
/// distinct entities), every 97th row with a null entity; fed in batches of
/// 4,096 rows.
fn generated_batches() -> Vec<Vec<ArrayRef>> {
    let mut rng = SplitMix64::new(20261201);
    let (mut a, mut s, mut e) = (Vec::new(), Vec::new(), Vec::new());
    for row in 0..60_000u64 {
        let r = rng.next();
        let entity = (r % 6000) * ((r >> 20) % 6000) / 6000;
        let home = entity.wrapping_mul(2654435761) % 4000;
        let class = if row % 10 == 0 {
            "big".to_string()
        } else {
            format!("c{}", (home + (r >> 40) % 5) % 4000)
        };
        a.push(class);
        s.push(format!("{}", (r >> 50) % 3));
        e.push((row % 97 != 0).then(|| format!("E{entity}")));
    }
    (0..a.len())
        .step_by(4096)
        .map(|at| {
            let end = (at + 4096).min(a.len());
            let col: Vec<ArrayRef> = vec![
                Arc::new(StringArray::from(a[at..end].to_vec())),
                Arc::new(StringArray::from(s[at..end].to_vec())),
                Arc::new(StringArray::from(e[at..end].to_vec())),
            ];
            col
        })
        .collect()
}

/// Everything the meter measures on `batches` with the spill in
/// `partitions` partitions matched `block_bytes` at a time: the report, the
/// sorted class sizes and the suppressing second pass's report.
fn measure_all(
    o: &PrivacyOptions,
    batches: &[Vec<ArrayRef>],
    partitions: usize,
    block_bytes: u64,
) -> (PrivacyReport, Vec<u64>, PrivacyReport) {
    let dir = tempfile::tempdir().unwrap();
    let meter = |suppress| {
        RiskMeter::new(o, suppress)
            .with_spill_dir(dir.path())
            .with_spill_shape(partitions, block_bytes)
    };
    let mut m = meter(None);
    for b in batches {
        m.observe(b).unwrap();
    }
    let r = m.finish().unwrap();
    let mut sizes = m.class_sizes().unwrap();
    sizes.sort_unstable();
    let mut second = meter(Some(m.suppression().unwrap()));
    for b in batches {
        second.observe(b).unwrap();
    }
    let second = second.finish().unwrap();
    // The spill files had no name.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    (r, sizes, second)
}

/// The figures of a report as one comparable tuple.
type Figures = (
    (u64, u64, u64, u64, u64),
    (u64, u64, u64, u64, u64),
    (u64, u64, Vec<(u64, u64)>),
);

fn figures(r: &PrivacyReport) -> Figures {
    let u = r.unicity.as_ref().unwrap();
    (
        (
            r.rows,
            r.classes,
            r.k,
            r.classes_below_min_k,
            r.rows_below_min_k,
        ),
        (
            r.null_entity_rows,
            r.suppressed_rows,
            r.suppressed_classes,
            r.l_diversity[0].l,
            r.l_diversity[0].classes_with_one_value,
        ),
        (
            u.entities,
            u.sampled_entities,
            u.figures.iter().map(|f| (f.entities, f.unique)).collect(),
        ),
    )
}

#[test]
fn spilled_figures_equal_the_in_memory_meters_whatever_the_partitions() {
    let batches = generated_batches();
    let o = opts(3);
    let one = measure_all(&o, &batches, 1, entities::BLOCK_BYTES);
    // Seven partitions, each its own matching block (queries carried
    // from block to block).
    let seven = measure_all(&o, &batches, 7, 1);
    let default = measure_all(&o, &batches, entities::PARTITIONS, entities::BLOCK_BYTES);
    assert_eq!(one, seven);
    assert_eq!(one, default);
    // The figures of the meter that kept every entity in memory (commit
    // 178a7d2) on the same table: k, suppression, l and unicity.
    let (r, sizes, second) = one;
    assert_eq!(
        figures(&r),
        (
            (60000, 4001, 1, 95, 491),
            (619, 0, 0, 1, 12),
            (5439, 0, vec![(4837, 552), (3472, 2287)])
        )
    );
    // Class sizes: the large class is counted up to the cap.
    let weighted: u64 = sizes.iter().zip(1u64..).map(|(s, i)| s * i).sum();
    assert_eq!(
        (
            sizes.len(),
            sizes.iter().sum::<u64>(),
            weighted,
            sizes.last()
        ),
        (4001, 20143, 47_401_973, Some(&K_COUNTED_UP_TO))
    );
    assert_eq!(
        figures(&second),
        (
            (59509, 3906, 3, 0, 0),
            (616, 491, 95, 2, 0),
            (5437, 0, vec![(4834, 515), (3444, 2236)])
        )
    );
    // Sampled points (max_points 3) do not depend on the partitions either.
    let small = PrivacyOptions {
        max_points: 3,
        ..opts(3)
    };
    let sampled = measure_all(&small, &batches, 1, entities::BLOCK_BYTES);
    assert!(sampled.0.unicity.as_ref().unwrap().sampled_entities > 0);
    assert_eq!(sampled, measure_all(&small, &batches, 7, 1));
}

#[test]
fn spilled_figures_do_not_depend_on_the_thread_count() {
    let batches = generated_batches();
    let run = |threads: usize| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(|| measure_all(&opts(3), &batches, 7, 1))
    };
    assert_eq!(run(1), run(4));
}
