#!/usr/bin/env python3
"""Real readers on a partitioned txanon dataset (issue 5), from the README's
test command.

    python3 tests/formats/check_dataset.py TXANON_BINARY

Splits the sample dump into a directory of a plain CSV, a gzip CSV, a
GB18030 CSV and a Parquet file (written by pyarrow), anonymizes the directory
into a month-partitioned dataset, anonymizes the plain sample into one file,
and checks with DuckDB, Polars and pyarrow (none written here) that:
- the dataset reads back with hive partitioning, `created_month` as DATE;
- per-month row counts and every row (tokens included) equal the single run;
- DuckDB prunes partitions: a one-month filter scans one file;
- the same dumps appended one by one (`--append`, issue 17) read back
  equal through the same glob with DuckDB, Polars and pyarrow.
Exit status 0 on success, 1 with the failed checks listed. The checks are
plain `if`s, not `assert` (which `python -O` strips).
"""
import csv
import gzip
import io
import pathlib
import subprocess
import sys
import tempfile

import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

ROOT = pathlib.Path(__file__).resolve().parents[2]
SCHEMA = ROOT / "schemas/transactions.toml"
KEY = ROOT / "data-samples/demo.key"
SAMPLE = ROOT / "data-samples/transactions.csv"


def csv_text(header, rows):
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue()


FAILURES = []


def check(ok, what):
    """Record a failed check; unlike `assert`, survives `python -O`."""
    if not ok:
        FAILURES.append(str(what))
    return ok


def run(binary, *args):
    subprocess.run([binary, "anonymize", "--quiet", "--key-file", str(KEY), *args],
                   check=True, stderr=subprocess.DEVNULL)


def main() -> int:
    binary = sys.argv[1]
    with open(SAMPLE, encoding="utf-8", newline="") as f:
        records = list(csv.reader(f))
    header, rows = records[0], records[1:]
    q = len(rows) // 4
    parts = [rows[:q], rows[q:2 * q], rows[2 * q:3 * q], rows[3 * q:]]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = pathlib.Path(tmp)
        dumps = tmp / "dumps"
        dumps.mkdir()
        (dumps / "a.csv").write_text(csv_text(header, parts[0]), encoding="utf-8")
        (dumps / "b.csv.gz").write_bytes(gzip.compress(csv_text(header, parts[1]).encode()))
        (dumps / "c-gb18030.csv").write_bytes(csv_text(header, parts[2]).encode("gb18030"))
        cols = {h: [r[i] if r[i] != "" else None for r in parts[3]] for i, h in enumerate(header)}
        pq.write_table(pa.table(cols), dumps / "d.parquet")
        schema = tmp / "schema.toml"
        schema.write_text(SCHEMA.read_text(encoding="utf-8").replace(
            'timezone = "Asia/Shanghai"',
            'timezone = "Asia/Shanghai"\nencodings = { "*-gb18030.csv" = "gb18030" }'), encoding="utf-8")
        run(binary, "--schema", str(schema), "--partition-by", "created_month", "-o", str(tmp / "out") + "/", str(dumps))
        run(binary, "--schema", str(SCHEMA), "-o", str(tmp / "ref.parquet"), str(SAMPLE))

        con = duckdb.connect()
        glob = f"{tmp}/out/**/*.parquet"
        kind = con.sql(f"SELECT typeof(created_month) FROM read_parquet('{glob}', hive_partitioning = true) LIMIT 1").fetchall()[0][0]
        check(kind == "DATE", f"created_month is {kind}, not DATE")
        cols_sql = "txn_id, account_token, mobile_token, email_token, home_address_token, shipping_address_token, birth_year, amount, currency, merchant_id, channel, is_refund, item_count, created_month"
        got = con.sql(f"SELECT {cols_sql} FROM read_parquet('{glob}', hive_partitioning = true) ORDER BY ALL").fetchall()
        want = con.sql(f"SELECT {cols_sql} FROM read_parquet('{tmp}/ref.parquet') ORDER BY ALL").fetchall()
        check(len(got) == len(rows) == len(want), f"row counts: dataset {len(got)}, sample {len(rows)}, single file {len(want)}")
        check(got == want, "dataset rows differ from the single-file run")
        per_month = con.sql(f"SELECT created_month, count(*) FROM read_parquet('{glob}', hive_partitioning = true) GROUP BY 1 ORDER BY 1").fetchall()
        ref_month = con.sql(f"SELECT created_month, count(*) FROM read_parquet('{tmp}/ref.parquet') GROUP BY 1 ORDER BY 1").fetchall()
        check(per_month == ref_month, f"per-month counts differ: {per_month} vs {ref_month}")
        month = per_month[len(per_month) // 2][0]
        plan = con.sql(f"EXPLAIN ANALYZE SELECT count(*) FROM read_parquet('{glob}', hive_partitioning = true) WHERE created_month = DATE '{month}'").fetchall()[0][1]
        check(f"Scanning Files: 1/{len(per_month)}" in plan, f"no partition pruning:\n{plan}")

        lf = pl.scan_parquet(glob, hive_partitioning=True).collect()
        check(lf.schema["created_month"] == pl.Date, f"Polars schema {lf.schema}")
        check(lf.height == len(rows), f"Polars reads {lf.height} rows, expected {len(rows)}")
        table = ds.dataset(tmp / "out", format="parquet", partitioning="hive").to_table()
        check(table.num_rows == len(rows), f"pyarrow reads {table.num_rows} rows, expected {len(rows)}")
        check(table.schema.field("amount").type == pa.decimal128(12, 2), f"amount is {table.schema.field('amount').type}")

        # Issue 17: the same dumps appended one by one (generations 2-4 in
        # grown/gNNNNN/) read back equal through the same glob by all three.
        grown = tmp / "grown"
        first, *rest = sorted(dumps.iterdir())
        run(binary, "--schema", str(schema), "--partition-by", "created_month", "-o", str(grown) + "/", str(first))
        for dump in rest:
            run(binary, "--schema", str(schema), "--append", "-o", str(grown) + "/", str(dump))
        gglob = f"{grown}/**/*.parquet"
        check(sorted(p.name for p in grown.iterdir() if p.name.startswith("g0")) == ["g00002", "g00003", "g00004"],
              f"generations: {sorted(p.name for p in grown.iterdir())}")
        appended = con.sql(f"SELECT {cols_sql} FROM read_parquet('{gglob}', hive_partitioning = true) ORDER BY ALL").fetchall()
        check(appended == got, f"appended dataset: {len(appended)} rows, not the {len(got)} of one run")
        gl = pl.scan_parquet(gglob, hive_partitioning=True).collect()
        check(gl.schema["created_month"] == pl.Date and gl.height == len(rows), f"Polars on the appended dataset: {gl.height} rows, {gl.schema}")
        gt = ds.dataset(grown, format="parquet", partitioning="hive").to_table()
        check(gt.num_rows == len(rows), f"pyarrow reads {gt.num_rows} rows of the appended dataset")
        if FAILURES:
            print("dataset check FAILED:\n" + "\n".join(FAILURES))
            return 1
        print(f"dataset ok: {len(rows)} rows in {len(per_month)} month partitions; "
              f"DuckDB, Polars and pyarrow agree with the single-file run; a one-month query scans 1/{len(per_month)} files; "
              f"the four dumps appended one by one read back the same")
    return 0


if __name__ == "__main__":
    sys.exit(main())
