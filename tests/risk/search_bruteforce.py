#!/usr/bin/env python3
"""Check `[privacy] search = "auto"` against a brute force over every node.

Usage (from the repository root, after `cargo build`):

    python3 tests/risk/search_bruteforce.py target/debug/txanon [--rows N]

For schemas/transactions-search.toml over data-samples/transactions.csv, and
over a dump made by data-samples/generate.py (N rows, default 8,000, seed 7):

1. runs the search (`anonymize --json`) and reads the chosen node from the
   footer (`txanon.privacy.search.node`, `.loss`, `.suppressed_rows`);
2. writes, for every level index L, the schema with each ladder pinned at its
   level min(L, last) (lists reduced to one value, `removable`, `search` and
   `max_suppression` taken out, min_k = 1 so nothing is suppressed) and
   anonymizes with it: the per-row values of every quasi-identifier at every
   level, matched by txn_id;
3. enumerates every node of the lattice in Python: classes are the tuples of
   the row values at the node's levels (a removal level is null), a class's
   entities are its distinct non-null account tokens, classes with fewer than
   min_k are suppressed; a node passes when the suppressed rows S satisfy
   S <= max_suppression * R (IEEE doubles) and S < R; the loss
   (1 - S/R) * H + S/R, H the mean of level/top over the columns with levels,
   is computed with exact fractions; the best node is the least loss, ties to
   the smaller level vector (README, "Choosing the generalization");
4. requires txanon's node to be that node (same loss, same suppressed rows,
   and no passing node with a lower loss), and recomputes with DuckDB on the
   released file: count(DISTINCT account_token) per class >= min_k and
   R - S rows.

Only the per-value transforms come from txanon (each level written as a
plain single-level schema); the lattice, the entity counting, the suppression
and the choice are recomputed here. Exits non-zero listing every mismatch.
"""

from __future__ import annotations

import itertools
import json
import re
import subprocess
import sys
import tempfile
import time
import tomllib
from fractions import Fraction
from pathlib import Path

import duckdb
import pyarrow.parquet as pq

from txrun import KEY, SAMPLE, anonymize, footer  # tests/risk/txrun.py

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = ROOT / "schemas" / "transactions-search.toml"
LADDER_KEYS = ("to", "width", "breaks", "round", "prefix_v4", "prefix_v6")


def is_ladder(key: str, value) -> bool:
    if not isinstance(value, list):
        return False
    if key == "breaks":
        return all(isinstance(v, list) for v in value)
    return True


def ladders(text: str) -> dict[str, tuple[int, bool]]:
    """Output column -> (number of declared levels, removable) for quasi columns."""
    out = {}
    for c in tomllib.loads(text)["columns"]:
        if c.get("quasi"):
            n = max([len(v) for k, v in c.items() if k in LADDER_KEYS and is_ladder(k, v)] or [1])
            out[c.get("output", c["name"])] = (n, bool(c.get("removable")))
        for d in c.get("derive", []):
            if d.get("quasi"):
                out[d["output"]] = (1, bool(d.get("removable")))
    return out


def pinned(text: str, level: int) -> str:
    """The schema with every ladder at min(level, last), no search, min_k = 1."""
    lines = []
    for line in text.splitlines():
        m = re.match(r"^(\w+) = (\[.*\])\s*$", line)
        if m and m.group(1) in LADDER_KEYS:
            value = tomllib.loads(f"v = {m.group(2)}")["v"]
            if is_ladder(m.group(1), value):
                line = f"{m.group(1)} = {json.dumps(value[min(level, len(value) - 1)])}"
        if re.match(r"^(removable|search|max_suppression) = ", line):
            continue
        line = line.replace(", removable = true", "")
        line = re.sub(r"^min_k = \d+", "min_k = 1", line)
        lines.append(line)
    return "\n".join(lines) + "\n"


def brute_force(columns, entities, tops, min_k, max_sup):
    """Every node: (node, loss, suppressed, passes)."""
    rows = len(entities)
    ladder_cols = [i for i, t in enumerate(tops) if t > 0]
    results = []
    for node in itertools.product(*[range(t + 1) for t in tops]):
        classes: dict[tuple, list] = {}
        for r in range(rows):
            key = tuple(columns[i][lvl][r] for i, lvl in enumerate(node))
            c = classes.get(key)
            if c is None:
                c = classes[key] = [0, set()]
            c[0] += 1
            if entities[r] is not None:
                c[1].add(entities[r])
        s = sum(n for n, people in classes.values() if len(people) < min_k)
        passes = rows == 0 or (s < rows and float(s) <= max_sup * float(rows))
        h = (sum(Fraction(node[i], tops[i]) for i in ladder_cols) / len(ladder_cols)
             if ladder_cols else Fraction(0))
        loss = Fraction(0) if rows == 0 else (1 - Fraction(s, rows)) * h + Fraction(s, rows)
        results.append((node, loss, s, passes))
    return results


def check(binary: str, data: Path, label: str, tmp: Path, errors: list[str]) -> None:
    def expect(what, got, want):
        status = "ok" if got == want else "MISMATCH"
        print(f"  {what}: {got!r} (expected {want!r}) {status}")
        if got != want:
            errors.append(f"{label}: {what}: {got!r} != {want!r}")

    text = SCHEMA.read_text(encoding="utf-8")
    conf = tomllib.loads(text)["privacy"]
    min_k, max_sup = conf["min_k"], conf["max_suppression"]
    started = time.monotonic()
    released = tmp / f"{label}-search.parquet"
    summary = anonymize(binary, SCHEMA, data, released)
    meta = footer(released)
    quasi = meta["txanon.privacy.quasi"].split(",")
    entity = meta["txanon.privacy.entity"]
    declared = ladders(text)
    # Per quasi column: its values at each level (a removal level is all null).
    per_level = []
    most = max(n for n, _ in declared.values())
    for level in range(most):
        schema = tmp / f"{label}-level{level}.toml"
        schema.write_text(pinned(text, level), encoding="utf-8")
        out = tmp / f"{label}-level{level}.parquet"
        anonymize(binary, schema, data, out)
        per_level.append(pq.read_table(out, columns=["txn_id", entity, *quasi]).to_pydict())
    ids = per_level[0]["txn_id"]
    expect("every level run holds the same rows", all(t["txn_id"] == ids for t in per_level), True)
    entities = per_level[0][entity]
    columns, tops = [], []
    for q in quasi:
        n, removable = declared[q]
        levels = [per_level[lvl][q] for lvl in range(n)]
        if removable:
            levels.append([None] * len(ids))
        columns.append(levels)
        tops.append(len(levels) - 1)
    results = brute_force(columns, entities, tops, min_k, max_sup)
    passing = [r for r in results if r[3]]
    print(f"{label}: {len(ids)} rows, {len(results)} nodes, {len(passing)} passing "
          f"(brute force and level runs {time.monotonic() - started:.1f}s)")
    if not passing:
        errors.append(f"{label}: no passing node; choose another max_suppression for this check")
        return
    best = min(passing, key=lambda r: (r[1], r[0]))
    node = tuple(int(x) for x in meta["txanon.privacy.search.node"].split(","))
    mine = next(r for r in results if r[0] == node)
    expect("txanon's node passes", mine[3], True)
    expect("txanon's node == brute-force best node", node, best[0])
    expect("txanon's loss == brute-force least loss", mine[1], best[1])
    expect("footer loss (6 decimals)", meta["txanon.privacy.search.loss"], f"{float(best[1]):.6f}")
    expect("no passing node has a lower loss", any(r[1] < mine[1] for r in passing), False)
    expect("suppressed rows", int(meta["txanon.privacy.search.suppressed_rows"]), best[2])
    expect("nodes in the lattice", summary["privacy"]["search"]["nodes"], len(results))
    cols = ", ".join(f'"{q}"' for q in quasi)
    k, rows = duckdb.connect().execute(
        f"SELECT min(people), sum(n) FROM (SELECT {cols}, count(DISTINCT \"{entity}\") AS people, "
        f"count(*) AS n FROM read_parquet('{released}') GROUP BY ALL)").fetchone()
    expect(f"DuckDB entity-k of the release >= {min_k}", k >= min_k, True)
    expect("DuckDB entity-k == txanon.privacy.k", str(k), meta["txanon.privacy.k"])
    expect("released rows == R - S", int(rows), len(ids) - best[2])


def main() -> int:
    args = sys.argv[1:]
    rows = 8_000
    if "--rows" in args:
        i = args.index("--rows")
        rows = int(args[i + 1])
        del args[i:i + 2]
    binary = args[0] if args else str(ROOT / "target" / "debug" / "txanon")
    errors: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        check(binary, SAMPLE, "sample", tmp, errors)
        dump = tmp / "generated.csv"
        subprocess.run([sys.executable, str(ROOT / "data-samples" / "generate.py"), "--rows",
                        str(rows), "--seed", "7", "--invalid-rate", "0", "--out", str(dump)],
                       check=True)
        check(binary, dump, f"generated{rows}", tmp, errors)
    if errors:
        print(f"{len(errors)} mismatch(es):", file=sys.stderr)
        for e in errors:
            print("  " + e, file=sys.stderr)
        return 1
    print("the brute force agrees: txanon's node has the least loss of every passing node")
    return 0


if __name__ == "__main__":
    sys.exit(main())
