#!/usr/bin/env bash
# The privacy search beside the plain anonymize run, in one run (issue 15).
#
#   bash bench/search.sh [ROWS] [RUNS] [RSS_ROWS]
#
# ROWS defaults to 5000000, RUNS to 3, RSS_ROWS (comma-separated row counts
# for the peak-RSS scaling of the search run) to 1000000,5000000,15000000;
# RSS_ROWS=none skips it. Dumps go to $TXANON_BENCH_DATA (default bench/out,
# gitignored): dump-N.csv from data-samples/generate.py --rows N --seed 42,
# reused when their .size marker matches. Outputs are written there and
# removed after every run.
#
# Timed, interleaved (plain, search, plain, search, ...), each under
# /usr/bin/time -v (wall clock and peak RSS of that process):
#   plain:  txanon anonymize --schema schemas/transactions.toml
#   search: txanon anonymize --schema schemas/transactions-search.toml
#           ([privacy] search = "auto", entity-k 5, max_suppression 0.02)
# both --threads 2 with the demo key. Results: stdout and
# $TXANON_BENCH_DATA/search-results.md.
set -euo pipefail

ROWS="${1:-5000000}"
RUNS="${2:-3}"
RSS_ROWS="${3:-1000000,5000000,15000000}"
cd "$(dirname "$0")/.."           # repository root
DATA="${TXANON_BENCH_DATA:-bench/out}"
mkdir -p "$DATA"

case "$ROWS$RUNS" in *[!0-9]*) echo "search.sh: ROWS and RUNS must be integers" >&2; exit 2;; esac

dump() {
    local n="$1" f="$DATA/dump-$1.csv"
    if [[ -f "$f" && -f "$f.size" && "$(cat "$f.size")" == "$(stat -c %s "$f")" ]]; then
        echo "== dump: $f exists, reusing it" >&2
    else
        echo "== dump: generating $f ($n rows, seed 42)" >&2
        rm -f "$f.size"
        python3 data-samples/generate.py --rows "$n" --seed 42 --out "$f.tmp"
        mv "$f.tmp" "$f"
        stat -c %s "$f" > "$f.size"
    fi
}

dump "$ROWS"
if [[ "$RSS_ROWS" != none ]]; then
    for n in ${RSS_ROWS//,/ }; do dump "$n"; done
fi

echo "== build: cargo build --release --locked" >&2
cargo build --release --locked

exec python3 bench/search.py --data "$DATA" --rows "$ROWS" --runs "$RUNS" --rss-rows "$RSS_ROWS"
