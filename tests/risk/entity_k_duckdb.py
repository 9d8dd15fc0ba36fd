#!/usr/bin/env python3
"""Recompute the README showcase's entity-k with DuckDB, independently of
txanon's meter.

Usage (from the repository root, after `cargo build`):

    python3 tests/risk/entity_k_duckdb.py target/debug/txanon

It anonymizes data-samples/transactions.csv with
schemas/transactions-private.toml (min_k = 5, on_violation = "suppress") and,
reading the released file with DuckDB:

1. `GROUP BY` the quasi-identifiers named in the footer, `count(DISTINCT
   entity)` per class (DuckDB groups nulls together, as txanon does, and
   count(DISTINCT) skips null entities, which txanon counts as no one): the
   smallest count must be >= 5 and equal txanon.privacy.k, and the footer must
   say k_counts = "entities" and name the same entity;
2. the same schema with min_k = 1 (nothing suppressed): the rows in classes
   with fewer than 5 distinct entities, counted by DuckDB, must be exactly the
   rows the suppressing run removed (count and txn_ids), so the check above
   is not vacuous (the unsuppressed release has classes of one customer).

Exits non-zero listing every mismatch.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import duckdb

from txrun import SAMPLE, anonymize, footer  # tests/risk/txrun.py

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = ROOT / "schemas" / "transactions-private.toml"
MIN_K = 5


def ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def people_per_class(path: Path, quasi: list[str], entity: str) -> str:
    cols = ", ".join(ident(q) for q in quasi)
    return (f"SELECT {cols}, count(DISTINCT {ident(entity)}) AS people, count(*) AS n "
            f"FROM read_parquet('{path}') GROUP BY ALL")


def main() -> int:
    binary = sys.argv[1] if len(sys.argv) > 1 else str(ROOT / "target" / "debug" / "txanon")
    errors: list[str] = []

    def expect(what: str, got, want) -> None:
        status = "ok" if got == want else "MISMATCH"
        print(f"  {what}: {got!r} (expected {want!r}) {status}")
        if got != want:
            errors.append(f"{what}: {got!r} != {want!r}")

    text = SCHEMA.read_text(encoding="utf-8")
    if f"min_k = {MIN_K}" not in text:
        raise SystemExit(f"{SCHEMA} no longer sets min_k = {MIN_K}; update this script")
    con = duckdb.connect()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        released, everything = tmp / "released.parquet", tmp / "all.parquet"
        lenient = tmp / "lenient.toml"
        lenient.write_text(text.replace(f"min_k = {MIN_K}", "min_k = 1"), encoding="utf-8")
        summary = anonymize(binary, SCHEMA, SAMPLE, released)["privacy"]
        anonymize(binary, lenient, SAMPLE, everything)

        meta = footer(released)
        quasi = meta["txanon.privacy.quasi"].split(",")
        entity = meta.get("txanon.privacy.entity", "account_token")
        print(f"released file, classes over {quasi}, people = count(DISTINCT {entity}):")
        expect("txanon.privacy.k_counts", meta.get("txanon.privacy.k_counts"), "entities")
        expect("footer entity == summary entity", entity, summary.get("entity"))
        k, classes, rows = con.execute(
            f"SELECT min(people), count(*), sum(n) FROM ({people_per_class(released, quasi, entity)})"
        ).fetchone()
        expect(f"DuckDB entity-k >= {MIN_K}", k >= MIN_K, True)
        expect("DuckDB entity-k == txanon.privacy.k", str(k), meta["txanon.privacy.k"])
        expect("DuckDB classes == txanon.privacy.classes", str(classes), meta["txanon.privacy.classes"])
        expect("DuckDB rows == summary rows", int(rows), summary["rows"])

        print(f"unsuppressed file (min_k = 1), classes with fewer than {MIN_K} {entity} values:")
        small = people_per_class(everything, quasi, entity)
        k_all, small_rows = con.execute(
            f"SELECT min(people), sum(n) FILTER (WHERE people < {MIN_K}) FROM ({small})").fetchone()
        expect(f"unsuppressed entity-k < {MIN_K} (the gate has work to do)", k_all < MIN_K, True)
        expect("rows in classes < min_k == suppressed_rows", int(small_rows), summary["suppressed_rows"])
        kept = [r[0] for r in con.execute(
            f"WITH c AS ({small}), t AS (SELECT *, file_row_number AS pos "
            f"FROM read_parquet('{everything}', file_row_number = true)) "
            f"SELECT t.txn_id FROM t JOIN c ON ({' AND '.join(f't.{ident(q)} IS NOT DISTINCT FROM c.{ident(q)}' for q in quasi)}) "
            f"WHERE c.people >= {MIN_K} ORDER BY t.pos").fetchall()]
        released_ids = [r[0] for r in con.execute(f"SELECT txn_id FROM read_parquet('{released}')").fetchall()]
        expect("released txn_ids == those of classes with >= 5 people, in order", kept == released_ids, True)

    if errors:
        print(f"{len(errors)} mismatch(es):", file=sys.stderr)
        for e in errors:
            print("  " + e, file=sys.stderr)
        return 1
    print(f"DuckDB agrees: the showcase release has entity-k >= {MIN_K}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
