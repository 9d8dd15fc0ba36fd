//! The search on a lattice small enough to evaluate by hand: every node's
//! classes, suppressed rows, loss and the frontier are written out in the
//! comments, not computed by the code under test.

use std::path::Path;
use std::sync::Arc;

use arrow_array::{ArrayRef, RecordBatch, StringArray};

use super::*;

/// `region` (kept, removable: levels declared and remove) and `n` (bucket
/// widths 5 and 50), min_k = 2 distinct `acct_token` values (or rows).
fn schema(max_suppression: f64, entity: &str) -> Schema {
    Schema::from_toml(
        &format!(
            "[dataset]\nname = \"t\"\nversion = 1\n\
             [privacy]\nmin_k = 2\non_violation = \"suppress\"\nentity = \"{entity}\"\n\
             search = \"auto\"\nmax_suppression = {max_suppression}\n\
             [[columns]]\nname = \"acct\"\naction = \"tokenize\"\nas = \"id\"\noutput = \"acct_token\"\n\
             [[columns]]\nname = \"region\"\naction = \"keep\"\nquasi = true\nremovable = true\n\
             [[columns]]\nname = \"n\"\ntype = \"int\"\naction = \"bucket\"\nwidth = [5, 50]\nquasi = true\n"
        ),
        Path::new("t.toml"),
    )
    .unwrap()
}

/// The collecting pass's output for eight rows (entity, region, n at width
/// 5, n at width 50):
///
/// ```text
/// A north 0 0 | A north 0 0 | B north 0 0 | C north 5 0
/// D south 5 0 | E south 5 0 | F south 50 50 | (null) south 50 50
/// ```
///
/// Heights: top 1 per ladder, H = (region level + n level) / 2. Per node,
/// classes as (region, n): entities (rows); S the rows of classes with fewer
/// than 2 entities; loss = ((8 - S) * H + S) / 8:
///
/// - (0,0) H 0:   (north,0) A B (3), (north,5) C (1), (south,5) D E (2),
///   (south,50) F + null (2): S = 3, k = 2, loss 3/8
/// - (0,1) H 1/2: (north,0) A B C (4), (south,0) D E (2), (south,50) F (2):
///   S = 2, k = 2, loss (6/2 + 2)/8 = 5/8
/// - (1,0) H 1/2: (-,0) A B (3), (-,5) C D E (3), (-,50) F (2): S = 2, k = 2,
///   loss 5/8
/// - (1,1) H 1:   (-,0) A B C D E (6), (-,50) F (2): S = 2, k = 5, loss 1
///
/// Distinct (region, n vector, entity) pairs: 7 (A's two rows are one).
fn collected(schema: &Schema) -> Collector {
    let col = |v: &[Option<&str>]| -> ArrayRef { Arc::new(StringArray::from(v.to_vec())) };
    let batch = RecordBatch::try_from_iter([
        (
            "acct_token",
            col(&[
                Some("A"),
                Some("A"),
                Some("B"),
                Some("C"),
                Some("D"),
                Some("E"),
                Some("F"),
                None,
            ]),
        ),
        (
            "region",
            col(&[
                Some("north"),
                Some("north"),
                Some("north"),
                Some("north"),
                Some("south"),
                Some("south"),
                Some("south"),
                Some("south"),
            ]),
        ),
        (
            "n",
            col(&[
                Some("0"),
                Some("0"),
                Some("0"),
                Some("5"),
                Some("5"),
                Some("5"),
                Some("50"),
                Some("50"),
            ]),
        ),
        (
            &level_output("n", 1),
            col(&[
                Some("0"),
                Some("0"),
                Some("0"),
                Some("0"),
                Some("0"),
                Some("0"),
                Some("50"),
                Some("50"),
            ]),
        ),
    ])
    .unwrap();
    let mut c = Collector::new(schema, Path::new(".")).unwrap();
    // Two batches: counts add up across batches.
    c.observe(&batch.slice(0, 3)).unwrap();
    c.observe(&batch.slice(3, 5)).unwrap();
    c
}

fn levels(c: &Chosen) -> Vec<usize> {
    c.levels.iter().map(|l| l.level).collect()
}

fn never() -> Option<i32> {
    None
}

#[test]
fn the_least_loss_passing_node_is_chosen_and_the_frontier_is_undominated() {
    // max_suppression 0.4 allows S <= 3.2: every node passes; (0,0) has the
    // least loss 3/8. Frontier (H, S): (0,0) (0, 3), (0,1) and (1,0)
    // (1/2, 2); (1,1) (1, 2) is beaten by (0,1).
    let s = schema(0.4, "acct_token");
    let f = collected(&s).frontier(1, &never).unwrap();
    assert_eq!((f.nodes, f.passing, f.rows, f.pairs), (4, 4, 8, 7));
    let best = f.chosen.unwrap();
    assert_eq!(levels(&best), [0, 0]);
    assert_eq!(
        (best.loss, best.height, best.k, best.suppressed_rows),
        (0.375, 0.0, 2, 3)
    );
    let front: Vec<(Vec<usize>, u64)> = f
        .frontier
        .iter()
        .map(|c| (levels(c), c.suppressed_rows))
        .collect();
    assert_eq!(front, [(vec![0, 0], 3), (vec![0, 1], 2), (vec![1, 0], 2)]);

    let (pinned, suppression, chosen) = collected(&s).choose(&s, 1, &never).unwrap();
    assert_eq!(levels(&chosen), [0, 0]);
    assert_eq!(
        (
            chosen.nodes,
            chosen.nodes_evaluated,
            chosen.pairs,
            chosen.rows
        ),
        (4, 4, 7, 8)
    );
    // (north,5) and (south,50) are removed by the writing pass.
    assert_eq!(suppression.len(), 2);
    let p = pinned.privacy.unwrap();
    assert!(p.search.is_none() && p.removed.is_empty());
    assert_eq!(p.chosen.map(|c| levels(&c)), Some(vec![0, 0]));
}

#[test]
fn equal_losses_go_to_the_smaller_level_vector() {
    // 0.3 allows S <= 2.4: (0,0) fails; (0,1) and (1,0) tie at 5/8.
    let s = schema(0.3, "acct_token");
    let f = collected(&s).frontier(2, &never).unwrap();
    assert_eq!(f.passing, 3);
    let best = f.chosen.unwrap();
    assert_eq!(levels(&best), [0, 1]);
    assert_eq!(
        (best.loss, best.height, best.k, best.suppressed_rows),
        (0.625, 0.5, 2, 2)
    );
    let front: Vec<Vec<usize>> = f.frontier.iter().map(levels).collect();
    assert_eq!(front, [vec![0, 1], vec![1, 0]]);
    let (pinned, suppression, chosen) = collected(&s).choose(&s, 2, &never).unwrap();
    assert_eq!((levels(&chosen), chosen.loss), (vec![0, 1], 0.625));
    assert_eq!(suppression.len(), 1);
    // n is written at width 50.
    let n = pinned.columns.iter().find(|c| c.output == "n").unwrap();
    let declared = s.columns.iter().find(|c| c.output == "n").unwrap();
    assert_ne!(n.action, declared.action);
    assert!(pinned.privacy.unwrap().removed.is_empty());
}

#[test]
fn no_passing_node_is_a_privacy_error_naming_the_coarsest_node() {
    // 0.2 allows S <= 1.6; every node suppresses at least 2 rows.
    let s = schema(0.2, "acct_token");
    let f = collected(&s).frontier(1, &never).unwrap();
    assert_eq!(
        (f.passing, f.chosen.is_none(), f.frontier.len()),
        (0, true, 0)
    );
    let err = collected(&s).choose(&s, 1, &never).unwrap_err();
    let Error::Privacy(msg) = err else {
        panic!("{err:?}")
    };
    assert!(
        msg.starts_with(
            "search: no node of the 4-node lattice reaches [privacy].min_k = 2 distinct entities \
             with at most [privacy].max_suppression = 0.2 of the 8 rows suppressed (the coarsest \
             node suppresses 2 rows, 25.00%)"
        ),
        "{msg}"
    );
}

#[test]
fn entity_row_counts_rows() {
    // Every row its own entity, min_k = 2 rows: (0,0) suppresses only
    // (north,5) (1 row); loss 1/8.
    let s = schema(0.2, "row");
    let f = collected(&s).frontier(1, &never).unwrap();
    let best = f.chosen.unwrap();
    assert_eq!(levels(&best), [0, 0]);
    assert_eq!((best.loss, best.k, best.suppressed_rows), (0.125, 2, 1));
}

#[test]
fn the_collecting_pass_drops_only_unread_columns_that_cannot_reject_a_row() {
    // Read by the search: acct_token (entity), region and n (ladders).
    // Not read: mail (tokenize, invalid values become null: dropped, with
    // its derived domain), ip (truncate_ip, on_invalid = "error": kept, it
    // can make a row bad), qty (int kept, error by default: kept), note
    // (text kept with on_invalid = "null": dropped).
    let s = Schema::from_toml(
        "[dataset]\nname = \"t\"\nversion = 1\n\
         [privacy]\nmin_k = 2\non_violation = \"suppress\"\nentity = \"acct_token\"\n\
         search = \"auto\"\nmax_suppression = 0.1\n\
         [[columns]]\nname = \"acct\"\naction = \"tokenize\"\nas = \"id\"\noutput = \"acct_token\"\n\
         [[columns]]\nname = \"mail\"\naction = \"tokenize\"\nas = \"email\"\noutput = \"mail_token\"\n\
         derive = [{ kind = \"email_domain\", output = \"mail_domain\" }]\n\
         [[columns]]\nname = \"ip\"\naction = \"truncate_ip\"\non_invalid = \"error\"\n\
         [[columns]]\nname = \"qty\"\ntype = \"int\"\naction = \"keep\"\n\
         [[columns]]\nname = \"note\"\naction = \"keep\"\non_invalid = \"null\"\n\
         [[columns]]\nname = \"region\"\naction = \"keep\"\nquasi = true\nremovable = true\n\
         [[columns]]\nname = \"n\"\ntype = \"int\"\naction = \"bucket\"\nwidth = [5, 50]\nquasi = true\n",
        Path::new("t.toml"),
    )
    .unwrap();
    let e = expand(&s).unwrap();
    let action = |name: &str| {
        let c = e.columns.iter().find(|c| c.output == name).unwrap();
        (c.action == Action::Drop, c.derive.len())
    };
    assert_eq!(action("acct_token"), (false, 0));
    assert_eq!(action("mail_token"), (true, 0));
    assert_eq!(action("ip"), (false, 0));
    assert_eq!(action("qty"), (false, 0));
    assert_eq!(action("note"), (true, 0));
    assert_eq!(action("region"), (false, 0));
    assert_eq!(action("n"), (false, 0));
    assert_eq!(action(&level_output("n", 1)), (false, 0));
    // The pass's output schema has no field of a dropped column.
    let fields: Vec<String> = e
        .output_schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    assert!(!fields
        .iter()
        .any(|f| f == "mail_token" || f == "mail_domain" || f == "note"));
}

#[test]
fn dense_and_hashed_class_tables_hold_the_same_classes() {
    let mut dense = ClassSizes::new(Some(6), 8);
    let mut sparse = ClassSizes::new(Some(6), 4);
    assert!(matches!(dense, ClassSizes::Dense(_)));
    assert!(matches!(sparse, ClassSizes::Sparse(_)));
    for t in [&mut dense, &mut sparse] {
        for (class, rows) in [(5u128, 2u64), (0, 1), (5, 3)] {
            let e = t.entry(class);
            e.0 += rows;
            e.1 += 1;
        }
    }
    for t in [&dense, &sparse] {
        assert_eq!(t.get(5), Some(&(5, 2, NO_ONE)));
        assert_eq!(t.get(0), Some(&(1, 1, NO_ONE)));
        assert_eq!(t.get(3), None);
        let mut v: Vec<Sizes> = t.values().copied().collect();
        v.sort_unstable();
        assert_eq!(v, [(1, 1, NO_ONE), (5, 2, NO_ONE)]);
    }
}

/// `rows` rows of the collecting pass's output over `entities` customers
/// (every 20th row's entity null), three regions and n in 0..300 (60 bands
/// of 5: 180 classes at the finest node, more than the 64 an evaluation
/// table holds at a tiny `max_search_pairs`, so nodes are split in parts),
/// as (entity, region, n at width 5, n at width 50).
type Row = (Option<String>, &'static str, String, String);

fn many_rows(rows: usize, entities: u64) -> Vec<Row> {
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let mut next = || {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        x >> 33
    };
    (0..rows)
        .map(|i| {
            let entity = (i % 20 != 7).then(|| format!("cust-{}", next() % entities));
            let region = ["north", "south", "east"][(next() % 3) as usize];
            let n = next() % 300;
            (
                entity,
                region,
                (n / 5 * 5).to_string(),
                (n / 50 * 50).to_string(),
            )
        })
        .collect()
}

/// The rows collected in batches of 97 (an entity's rows spread over many
/// batches and, at a tiny `max_search_pairs`, over many spill runs).
fn collect_rows(schema: &Schema, rows: &[Row]) -> Collector {
    let mut c = Collector::new(schema, &std::env::temp_dir()).unwrap();
    for chunk in rows.chunks(97) {
        let text = |f: &dyn Fn(&Row) -> Option<String>| -> ArrayRef {
            Arc::new(StringArray::from(chunk.iter().map(f).collect::<Vec<_>>()))
        };
        let batch = RecordBatch::try_from_iter([
            ("acct_token", text(&|r| r.0.clone())),
            ("region", text(&|r| Some(r.1.to_string()))),
            ("n", text(&|r| Some(r.2.clone()))),
            (&level_output("n", 1), text(&|r| Some(r.3.clone()))),
        ])
        .unwrap();
        c.observe(&batch).unwrap();
    }
    c
}

/// A node's (suppressed rows, k, classes) counted directly from the rows:
/// per class (region or nothing, n at the node's width), its rows and the
/// set of its non-null entities (row numbers with `entity = "row"`).
fn by_hand(rows: &[Row], node: &[usize], row_entities: bool, min_k: u64) -> (u64, u64, u64) {
    use std::collections::{BTreeMap, BTreeSet};
    // (region, n) -> (rows, entities)
    let mut classes: BTreeMap<_, (u64, BTreeSet<String>)> = BTreeMap::new();
    for (i, r) in rows.iter().enumerate() {
        let region = (node[0] == 0).then_some(r.1);
        let n = if node[1] == 0 { &r.2 } else { &r.3 };
        let class = classes.entry((region, n.as_str())).or_default();
        class.0 += 1;
        let entity = if row_entities {
            Some(i.to_string())
        } else {
            r.0.clone()
        };
        class.1.extend(entity);
    }
    let (mut suppressed, mut k, mut kept) = (0, u64::MAX, 0);
    for (rows, people) in classes.values() {
        let people = people.len() as u64;
        if people < min_k {
            suppressed += rows;
        } else {
            kept += 1;
            k = k.min(people);
        }
    }
    (suppressed, if kept == 0 { 0 } else { k }, kept)
}

#[test]
fn many_entities_spilled_over_many_runs_count_as_in_memory_and_by_hand() {
    let rows = many_rows(4000, 150);
    // min_k 2 suppresses nothing at any node of this data; 15 suppresses
    // rows at the finer nodes, so the summed rows of the spill's merge count.
    for (entity, min_k) in [("acct_token", 2), ("row", 2), ("acct_token", 15)] {
        let with_pairs = |max_pairs: u64| {
            let mut s = schema(0.5, entity);
            if let Some(p) = s.privacy.as_mut() {
                p.min_k = min_k;
                if let Some(search) = p.search.as_mut() {
                    search.max_pairs = max_pairs;
                }
            }
            s
        };
        let (memory, spilled) = (with_pairs(1_000_000), with_pairs(40));
        let c = collect_rows(&spilled, &rows);
        assert!(c.runs.len() > 20, "{entity}: {} runs", c.runs.len());
        let lattice_spilled = Lattice::new(c).unwrap();
        assert!(matches!(lattice_spilled.pairs, spill::Pairs::Disk { .. }));
        let c = collect_rows(&memory, &rows);
        assert!(c.runs.is_empty());
        let lattice_memory = Lattice::new(c).unwrap();
        assert!(matches!(lattice_memory.pairs, spill::Pairs::Memory { .. }));
        assert_eq!(lattice_spilled.pairs.len(), lattice_memory.pairs.len());
        for node in lattice_memory.ordered_nodes() {
            let want = by_hand(&rows, &node, entity == "row", min_k);
            for lattice in [&lattice_memory, &lattice_spilled] {
                let r = lattice.evaluate(&node).unwrap();
                assert_eq!((r.suppressed, r.k, r.classes), want, "{entity} {node:?}");
            }
        }
        // The finest node's classes do not fit one table of the spilled
        // search (64 classes): it was evaluated in parts.
        assert!(lattice_spilled.first_parts(&[0, 0]) > 1);
        if min_k > 2 {
            let finest = by_hand(&rows, &[0, 0], entity == "row", min_k);
            assert!(
                finest.0 > 0,
                "min_k {min_k} suppresses rows at the finest node"
            );
        }

        let (pinned_m, suppression_m, chosen_m) = collect_rows(&memory, &rows)
            .choose(&memory, 2, &never)
            .unwrap();
        let (pinned_s, suppression_s, chosen_s) = collect_rows(&spilled, &rows)
            .choose(&spilled, 2, &never)
            .unwrap();
        assert_eq!(chosen_m, chosen_s, "{entity}");
        assert_eq!(suppression_m.classes, suppression_s.classes, "{entity}");
        assert_eq!(
            pinned_m.privacy.map(|p| p.chosen),
            pinned_s.privacy.map(|p| p.chosen)
        );
        let f_m = collect_rows(&memory, &rows).frontier(2, &never).unwrap();
        let f_s = collect_rows(&spilled, &rows).frontier(1, &never).unwrap();
        assert_eq!(
            serde_json::to_string(&f_m).unwrap(),
            serde_json::to_string(&f_s).unwrap()
        );
    }
}
