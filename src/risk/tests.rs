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
    let r = m.finish();
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
    let s = first.suppression();
    assert_eq!(s.len(), 1);
    let mut second = RiskMeter::new(&opts(2), Some(s));
    let keep = second.observe(&arrays()).unwrap().unwrap();
    let kept: Vec<bool> = keep.iter().map(|b| b.unwrap()).collect();
    assert_eq!(kept, vec![true, true, true, true, true, false]);
    let r = second.finish();
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
        m.finish().unicity.unwrap()
    };
    assert_eq!(run(1, 1024), run(1, 1024));
    let u = run(1, 1024);
    assert_eq!(u.sampled_entities, 0);
    assert!(u.figures[1].share >= u.figures[0].share, "{u:?}");
    // A small reservoir samples, reproducibly.
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
    let r = m.finish();
    assert_eq!((r.rows, r.classes, r.k), (25, 2, 1));
    assert_eq!((r.classes_below_min_k, r.rows_below_min_k), (1, 20));
    assert!(!r.passed);
    // Suppression removes the one-customer class, whatever its row count.
    let mut second = RiskMeter::new(
        &entity_opts(5, PrivacyEntity::Column("e".into())),
        Some(m.suppression()),
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
    let r = second.finish();
    assert_eq!((r.rows, r.k, r.suppressed_rows), (5, 5, 20));
    assert!(r.passed);

    // With entity = "row" the same table counts rows: both classes pass.
    let mut rows = RiskMeter::new(&entity_opts(5, PrivacyEntity::Row), None);
    assert_eq!(rows.columns(), vec!["a"]);
    rows.observe(&arrays[..1]).unwrap();
    let r = rows.finish();
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
    let r = m.finish();
    assert_eq!((r.rows, r.k, r.null_entity_rows), (15, 0, 13));
    assert_eq!((r.classes_below_min_k, r.rows_below_min_k), (2, 15));
    assert_eq!(m.suppression().len(), 2);
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
    let r = m.finish();
    assert_eq!(
        (r.k, r.k_counted_up_to),
        (K_COUNTED_UP_TO, Some(K_COUNTED_UP_TO))
    );
    assert!(r
        .k_figure()
        .starts_with("k >= 1000 (distinct e values, counted up to 1000)"));
    assert!(r.passed);
}
