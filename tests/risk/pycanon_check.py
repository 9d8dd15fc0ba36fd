#!/usr/bin/env python3
"""Cross-check txanon's k-anonymity, l-diversity and suppression against an
independent implementation (pyCANON, https://pypi.org/project/pycanon/).

Usage (from the repository root, after `cargo build`):

    python3 tests/risk/pycanon_check.py target/debug/txanon

It anonymizes the sample (data-samples/transactions.csv) with
schemas/transactions-private.toml and two variants made by editing that file:

1. as written (min_k = 5, on_violation = "suppress"): txanon's k counts
   distinct entities (account_token) per class, so pyCANON's k is taken over
   the output reduced to one row per (class, entity) with null entities
   dropped (txanon counts them as no one); it must equal txanon.privacy.k and
   be at least 5, and pyCANON's l of amount_band (over all rows: l counts
   values, not people) must equal txanon.privacy.l.amount_band;
2. min_k = 1 (nothing suppressed): pyCANON's entity-k must equal txanon's,
   and the rows in classes with fewer than 5 distinct entities, counted here
   with pandas, must be exactly the rows the suppressing run removed (count
   reported in the summary and the footer, and the same txn_ids);
3. on_violation = "fail": exit 2 and no output file.

It also recomputes unicity (p = 2 and 4) from the suppressed output with an
independent Python copy of the documented draw procedure (SplitMix64 seeded
with `seed XOR p * 0x9e3779b97f4a7c15`, partial Fisher-Yates over each
entity's distinct points in class-id order; see src/risk/mod.rs), and
compares it with txanon.privacy.unicity.p2 / .p4.

Quasi-identifier nulls are replaced by a marker before pyCANON sees them
(pandas' groupby drops NaN keys; txanon counts a null as a value of its own).
Exits non-zero listing every mismatch.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
from pycanon import anonymity

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = ROOT / "schemas" / "transactions-private.toml"
SAMPLE = ROOT / "data-samples" / "transactions.csv"
KEY = ROOT / "data-samples" / "demo.key"
NULL = "\x00(null)"


def variant(text: str, old: str, new: str) -> str:
    if old not in text:
        raise SystemExit(f"{SCHEMA} no longer contains {old!r}; update this script")
    return text.replace(old, new)


def run(binary: str, schema: Path, out: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [binary, "anonymize", "--schema", str(schema), "--key-file", str(KEY), "--json",
         "--quiet", "-o", str(out), str(SAMPLE)],
        capture_output=True, text=True)


def load(path: Path) -> tuple[pd.DataFrame, dict[str, str]]:
    f = pq.ParquetFile(path)
    meta = {k.decode(): v.decode() for k, v in (f.metadata.metadata or {}).items()}
    return f.read().to_pandas(), meta


def prepared(df: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    df = df.copy()
    for c in columns:
        df[c] = df[c].astype(object).where(df[c].notna(), NULL)
    return df


def per_entity(df: pd.DataFrame, quasi: list[str], entity: str) -> pd.DataFrame:
    """One row per (class, entity), null entities dropped: pyCANON's k of
    this table is the number of distinct entities in the smallest class."""
    return prepared(df, quasi)[quasi + [entity]].dropna(subset=[entity]).drop_duplicates()


MASK64 = (1 << 64) - 1
PHI = 0x9E3779B97F4A7C15


class SplitMix64:
    def __init__(self, seed: int) -> None:
        self.state = seed & MASK64

    def next(self) -> int:
        self.state = (self.state + PHI) & MASK64
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
        return z ^ (z >> 31)

    def below(self, n: int) -> int:
        return (self.next() * n) >> 64


def draw_figures(points: dict[str, list[int]], seed: int, p: int) -> tuple[int, int]:
    """(eligible, unique) entities for draws of p points: `points` maps each
    entity, in order of first appearance, to its distinct class numbers,
    ascending; one SplitMix64 stream per p draws every eligible entity's
    points (a partial Fisher-Yates shuffle of their positions)."""
    sets = {e: set(pts) for e, pts in points.items()}
    rng = SplitMix64(seed ^ ((p * PHI) & MASK64))
    eligible = unique = 0
    for pts in points.values():
        if len(pts) < p:
            continue
        eligible += 1
        idx = list(range(len(pts)))
        draw = []
        for i in range(p):
            j = i + rng.below(len(idx) - i)
            idx[i], idx[j] = idx[j], idx[i]
            draw.append(pts[idx[i]])
        matches = sum(1 for other in sets.values() if set(draw) <= other)
        unique += matches == 1
    return eligible, unique


def unicity(df: pd.DataFrame, quasi: list[str], entity: str, seed: int, p: int) -> float:
    """Share of entities (with >= p distinct points) that no other entity
    matches on p of their points drawn at random.  Classes and entities are
    numbered in order of first appearance; an entity's points are its
    distinct class numbers, ascending."""
    class_ids: dict[tuple, int] = {}
    points: dict[str, set[int]] = {}
    order: list[str] = []
    for row in df[quasi + [entity]].itertuples(index=False):
        key = tuple(None if pd.isna(v) else v for v in row[:-1])
        cid = class_ids.setdefault(key, len(class_ids))
        ent = row[-1]
        if ent is None or (isinstance(ent, float) and pd.isna(ent)):
            continue
        if ent not in points:
            points[ent] = set()
            order.append(ent)
        points[ent].add(cid)
    eligible, unique = draw_figures({e: sorted(points[e]) for e in order}, seed, p)
    return unique / eligible if eligible else 0.0


def main() -> int:
    binary = sys.argv[1] if len(sys.argv) > 1 else str(ROOT / "target" / "debug" / "txanon")
    errors: list[str] = []

    def expect(what: str, got, want) -> None:
        status = "ok" if got == want else "MISMATCH"
        print(f"  {what}: {got!r} (expected {want!r}) {status}")
        if got != want:
            errors.append(f"{what}: {got!r} != {want!r}")

    text = SCHEMA.read_text(encoding="utf-8")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        schemas = {
            "suppress": SCHEMA,
            "lenient": tmp / "lenient.toml",
            "fail": tmp / "fail.toml",
        }
        schemas["lenient"].write_text(variant(text, "min_k = 5", "min_k = 1"), encoding="utf-8")
        schemas["fail"].write_text(
            variant(text, 'on_violation = "suppress"', 'on_violation = "fail"'), encoding="utf-8")
        outs = {name: tmp / f"{name}.parquet" for name in schemas}
        procs = {name: run(binary, schemas[name], outs[name]) for name in schemas}

        print("on_violation = \"fail\":")
        expect("exit code", procs["fail"].returncode, 2)
        expect("output exists", outs["fail"].exists(), False)
        expect("left-over files", sorted(p.name for p in tmp.iterdir()
                                         if p.name.startswith(".fail")), [])
        for name in ("suppress", "lenient"):
            if procs[name].returncode != 0:
                print(procs[name].stderr, file=sys.stderr)
                raise SystemExit(f"txanon failed on the {name} schema")

        summary = json.loads(procs["suppress"].stdout)["privacy"]
        df, meta = load(outs["suppress"])
        quasi = meta["txanon.privacy.quasi"].split(",")
        entity = meta.get("txanon.privacy.entity", "account_token")
        sensitive = "amount_band"
        print(f"min_k = 5, suppress ({len(df)} rows, quasi-identifiers {quasi}, k in {entity}):")
        expect("txanon.privacy.k_counts", meta.get("txanon.privacy.k_counts"), "entities")
        k = anonymity.k_anonymity(per_entity(df, quasi, entity), quasi)
        expect("pyCANON k == txanon.privacy.k", str(k), meta["txanon.privacy.k"])
        expect("pyCANON k == summary k", k, summary["k"])
        expect("k >= 5", k >= 5, True)
        l_div = anonymity.l_diversity(prepared(df, quasi + [sensitive]), quasi, [sensitive])
        expect(f"pyCANON l({sensitive}) == txanon", str(l_div),
               meta[f"txanon.privacy.l.{sensitive}"])

        full, full_meta = load(outs["lenient"])
        print(f"min_k = 1 ({len(full)} rows):")
        k_full = anonymity.k_anonymity(per_entity(full, quasi, entity), quasi)
        expect("pyCANON k == txanon.privacy.k", str(k_full), full_meta["txanon.privacy.k"])
        people = prepared(full, quasi).groupby(quasi)[entity].transform("nunique")
        small = people < 5
        print("suppression:")
        expect("rows in classes with < 5 entities (pandas) == suppressed_rows (summary)",
               int(small.sum()), summary["suppressed_rows"])
        expect("== txanon.privacy.suppressed_rows", str(int(small.sum())),
               meta["txanon.privacy.suppressed_rows"])
        expect("rows written == rows - suppressed", len(df), len(full) - int(small.sum()))
        kept, wanted = df["txn_id"].tolist(), full.loc[~small, "txn_id"].tolist()
        expect("kept txn_ids are those of classes >= 5, in order (mismatching positions)",
               sum(1 for a, b in zip(kept, wanted) if a != b) + abs(len(kept) - len(wanted)), 0)
        print("unicity (independent Python copy of the draws):")
        entity, seed = meta["txanon.privacy.unicity.entity"], int(meta["txanon.privacy.unicity.seed"])
        for p in (2, 4):
            expect(f"p={p} share", f"{unicity(df, quasi, entity, seed, p):.6f}",
                   meta[f"txanon.privacy.unicity.p{p}"])

    if errors:
        print(f"{len(errors)} mismatch(es):", file=sys.stderr)
        for e in errors:
            print("  " + e, file=sys.stderr)
        return 1
    print("pyCANON agrees with txanon")
    return 0


if __name__ == "__main__":
    sys.exit(main())
