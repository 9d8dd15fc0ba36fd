//! Figures on small hand-computed tables.

use std::sync::Arc;

use super::*;
use crate::schema::{OnViolation, PrivacyOptions};

fn opts(min_k: u64) -> PrivacyOptions {
    PrivacyOptions {
        min_k,
        on_violation: OnViolation::Suppress,
        quasi: vec!["a".into()],
        sensitive: vec!["s".into()],
        entity: Some("e".into()),
        seed: 7,
        max_points: 1024,
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
    assert_eq!((r.rows, r.classes, r.k), (6, 3, 1));
    assert_eq!((r.classes_below_min_k, r.rows_below_min_k), (1, 1));
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
