#!/usr/bin/env bash
# Benchmark txanon against DuckDB, side by side, in one run.
#
#   bash bench/run.sh [ROWS] [RUNS] [extra bench.py flags...]
#
# ROWS defaults to 5000000, RUNS to 3. Extra flags go to bench/bench.py, e.g.
#   bash bench/run.sh 5000000 3 --threads-scaling --rss-scaling 1000000,5000000 --other-shape
#
# --other-shape also compares on a dump of bench/generate_other.py (another
# generator: other spellings, more distinct values), generated once.
#
# Steps: generate bench/out/dump-ROWS.csv once (deterministic, seed 42),
# build txanon (release), install duckdb==2.0.1 if missing, then time
# everything with bench/bench.py. Results: stdout and bench/out/results.md.
set -euo pipefail

ROWS="${1:-5000000}"
RUNS="${2:-3}"
shift $(( $# < 2 ? $# : 2 ))
DUCKDB_VERSION="2.0.1"

cd "$(dirname "$0")/.."           # repository root
mkdir -p bench/out

case "$ROWS$RUNS" in *[!0-9]*) echo "run.sh: ROWS and RUNS must be integers" >&2; exit 2;; esac

# 1. The dump. The size marker is written only after the generator finished,
#    so a dump interrupted half-way is regenerated rather than benchmarked.
DUMP="bench/out/dump-${ROWS}.csv"
MARKER="${DUMP}.size"
if [[ -f "$DUMP" && -f "$MARKER" && "$(cat "$MARKER")" == "$(stat -L -c %s "$DUMP")" ]]; then
    echo "== dump: $DUMP exists, reusing it"
else
    echo "== dump: generating $DUMP ($ROWS rows, seed 42)"
    rm -f "$MARKER"
    python3 data-samples/generate.py --rows "$ROWS" --seed 42 --out "$DUMP.tmp"
    mv "$DUMP.tmp" "$DUMP"
    stat -c %s "$DUMP" > "$MARKER"
fi

# 2. txanon, release build.
echo "== build: cargo build --release --locked"
cargo build --release --locked

# 3. DuckDB for Python, the pinned version.
if ! python3 -c "import duckdb, sys; sys.exit(duckdb.__version__ != '$DUCKDB_VERSION')" 2>/dev/null; then
    echo "== installing duckdb==$DUCKDB_VERSION"
    python3 -m pip install --quiet "duckdb==$DUCKDB_VERSION"
fi

# 4. The timings.
exec python3 bench/bench.py --dump "$DUMP" --rows "$ROWS" --runs "$RUNS" "$@"
