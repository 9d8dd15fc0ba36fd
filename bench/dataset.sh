#!/usr/bin/env bash
# Datasets that live (issue 17): build, append, erase, timed and checked
# with DuckDB, side by side.
#
#   bash bench/dataset.sh [ROWS] [DAYS]        # default 5000000 100
#   bash bench/dataset.sh 200000 10            # a quick check (about 2-4 min)
#
# What it does (bench/dataset.py holds the steps; everything goes to
# bench/out/dataset-ROWS-DAYS/, gitignored):
#
# 0. The dump: $DUMP if set, else $TXANON_BENCH_DATA/dump-ROWS.csv or
#    bench/out/dump-ROWS.csv when one exists, else generated there with
#    data-samples/generate.py --rows ROWS --seed 42 (as bench/run.sh does).
#    It is split by created_at into DAYS "daily" files of about ROWS/DAYS
#    records each (consecutive date ranges, cut at quantiles of a sample of
#    the dates; records parsed and rewritten with Python's csv module, so
#    quoted fields survive). One more day of ROWS/DAYS records (seed 43) is
#    generated for (b).
# (a) Builds the month-partitioned dataset from the DAYS files in one run
#     (`anonymize --partition-by created_month -o one/ day*.csv`) and by one
#     run of the first day plus DAYS-1 successive `--append` runs of one file
#     each (app/); checks with DuckDB that both are equal as multisets of
#     rows (EXCEPT ALL both ways over read_parquet('DIR/**/*.parquet',
#     hive_partitioning = true), and equal counts), that `txanon dataset`
#     verifies app/, and that re-running the append with all DAYS files adds
#     nothing (exit 0, rows_written 0, every file of app/ unchanged).
# (b) Times appending the extra day to (a hard-linked copy of) the ROWS-row
#     dataset beside anonymizing that day alone into a new partitioned
#     directory, without [privacy]: 3 runs each, interleaved (A B A B A B),
#     medians of wall time, and their ratio (target: at most 2x).
# (c) Erases one customer by phone (a valid phone from the first day) from
#     a hard-linked copy of one/: times `txanon erase` beside a full rewrite
#     of the dataset without that customer (DuckDB COPY ... PARTITION_BY,
#     same rows) and beside the one-run build of (a); counts the files the
#     erasure rewrote against the files that held the customer's token
#     (DuckDB, filename = true); checks with DuckDB that no row holds the
#     phone's token, that every other row is unchanged (EXCEPT ALL both
#     ways), and reports the rows left with the erased rows' account tokens
#     (rows of that customer with another or no phone are not erased by phone).
#
# Bounded: every command runs under a timeout (TIMEOUT seconds, default
# 3600); ROWS = 5,000,000 with 100 days takes about 20-40 min on a 2-core
# machine (the 100 appends and the one-run build dominate). Exits 1 when a
# check fails, 2 on a usage error.
#
# The binary: target/release/txanon, built here (cargo build --release
# --locked) unless TXANON names another binary (e.g. TXANON=target/debug/txanon
# for a quick functional check; the timings then say nothing). DuckDB for
# Python (duckdb==2.0.1) is installed with pip when missing.
set -euo pipefail

ROWS="${1:-5000000}"
DAYS="${2:-100}"
case "$ROWS$DAYS" in *[!0-9]*) echo "dataset.sh: ROWS and DAYS must be integers" >&2; exit 2;; esac
DUCKDB_VERSION="2.0.1"

cd "$(dirname "$0")/.."           # repository root
mkdir -p bench/out

if [[ -z "${DUMP:-}" ]]; then
    for d in "${TXANON_BENCH_DATA:-bench/out}/dump-${ROWS}.csv" "bench/out/dump-${ROWS}.csv"; do
        if [[ -f "$d" && -f "$d.size" && "$(cat "$d.size")" == "$(stat -L -c %s "$d")" ]]; then
            DUMP="$d"
            break
        fi
    done
fi
if [[ -z "${DUMP:-}" ]]; then
    DUMP="bench/out/dump-${ROWS}.csv"
    echo "== dump: generating $DUMP ($ROWS rows, seed 42)"
    rm -f "$DUMP.size"
    python3 data-samples/generate.py --rows "$ROWS" --seed 42 --out "$DUMP.tmp"
    mv "$DUMP.tmp" "$DUMP"
    stat -c %s "$DUMP" > "$DUMP.size"
fi
echo "== dump: $DUMP"

if [[ -z "${TXANON:-}" ]]; then
    echo "== build: cargo build --release --locked"
    cargo build --release --locked
    TXANON=target/release/txanon
fi

if ! python3 -c "import duckdb, sys; sys.exit(duckdb.__version__ != '$DUCKDB_VERSION')" 2>/dev/null; then
    echo "== installing duckdb==$DUCKDB_VERSION"
    python3 -m pip install --quiet "duckdb==$DUCKDB_VERSION"
fi

exec python3 bench/dataset.py --dump "$DUMP" --rows "$ROWS" --days "$DAYS" \
    --txanon "$TXANON" --timeout "${TIMEOUT:-3600}"
