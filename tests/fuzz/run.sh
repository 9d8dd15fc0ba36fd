#!/usr/bin/env bash
# Bounded fuzzing of every fuzz target (fuzz/fuzz_targets/), for CI.
#
#   bash tests/fuzz/run.sh [SECONDS_PER_TARGET] [TARGET...]
#
# Builds the targets with plain cargo on the stable toolchain: the
# instrumentation flags cargo-fuzz passes (SanitizerCoverage through
# `-Cpasses=sancov-module` and `-Cllvm-args`) are stable; only AddressSanitizer
# (`-Zsanitizer=address`) is not, and the txanon library forbids unsafe code, so the
# properties checked are panics, aborts, timeouts, memory (-rss_limit_mb) and
# the asserts inside the targets. Seeds come from data-samples/ (fuzz/seeds.py).
# A crash leaves its input in fuzz/artifacts/TARGET/; turn it into a
# regression test in tests/ and fix the cause (fuzz/README.md).
set -euo pipefail
cd "$(dirname "$0")/../.."
SECONDS_PER_TARGET=${1:-20}
# A fixed seed makes a CI run explore the same mutations as the local runs
# that preceded it (libFuzzer is deterministic for a given seed, corpus and
# binary, up to thread timing inside csv_to_batch); FUZZ_SEED=0 picks a
# random seed for exploratory runs.
FUZZ_SEED=${FUZZ_SEED:-1}
shift || true
ALL=(normalize_phone normalize_email normalize_address normalize_id temporal schema csv_to_batch)
if [ $# -gt 0 ]; then TARGETS=("$@"); else TARGETS=("${ALL[@]}"); fi
TRIPLE=$(rustc -vV | sed -n 's/^host: //p')

# The same coverage flags as `cargo fuzz build --sanitizer none`, without
# -Ccodegen-units=1 (halves the build time here).
export RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares -Cllvm-args=-sanitizer-coverage-stack-depth \
--cfg fuzzing -Cdebug-assertions -Coverflow-checks"
t0=$(date +%s)
# --target keeps build scripts and proc macros uninstrumented. Not --locked:
# fuzz/Cargo.lock follows the root lock, and a dependency added to txanon
# must not break this script (cargo keeps the locked versions it can).
cargo build --release --manifest-path fuzz/Cargo.toml --target "$TRIPLE" --bins
build_s=$(( $(date +%s) - t0 ))
bin_dir=fuzz/target/$TRIPLE/release

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 fuzz/seeds.py "$work/corpus" >/dev/null

passed=0
failed=0
for t in "${TARGETS[@]}"; do
    max_len=4096
    [ "$t" = csv_to_batch ] && max_len=65536
    [ "$t" = schema ] && max_len=16384
    mkdir -p "fuzz/artifacts/$t"
    log="$work/$t.log"
    if "$bin_dir/$t" "$work/corpus/$t" -max_total_time="$SECONDS_PER_TARGET" \
        -max_len=$max_len -seed="$FUZZ_SEED" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="fuzz/artifacts/$t/" >"$log" 2>&1; then
        runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
        cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1)
        echo "fuzz $t: ok, ${runs:-?} runs in ${SECONDS_PER_TARGET}s, $cov"
        passed=$((passed + 1))
    else
        echo "fuzz $t: FAILED (input saved under fuzz/artifacts/$t/)"
        grep -E -A12 'panicked|ERROR: libFuzzer|==[0-9]+==' "$log" | head -40
        failed=$((failed + 1))
    fi
done
echo "fuzz build ${build_s}s, ${SECONDS_PER_TARGET}s per target, seed $FUZZ_SEED"
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
