#!/usr/bin/env bash
# Mutation testing of the modules behind txanon's guarantees, with
# cargo-mutants (https://mutants.rs): each mutant (a function body replaced,
# an operator flipped, a condition negated) must make a test fail. A mutant
# that survives is a test gap: kill it with a test, or list it as equivalent,
# with the reason, in docs/MUTANTS.md, where the counts per file are recorded.
#
#   cargo install --locked cargo-mutants
#   bash tests/mutants.sh                  # every group below
#   bash tests/mutants.sh tokenize key     # some groups
#   MUTANTS_MINUTES=20 bash tests/mutants.sh shift
#
# Groups (files, the functions mutated, the tests that must catch them):
#   tokenize   src/transform/tokenize.rs        token derivation      --lib
#   normalize  src/transform/normalize.rs       normalization         --lib
#   key        src/key.rs                       key handling          --lib
#   dates      src/transform/generalize.rs,
#              src/transform/shift.rs           truncation, shift     --lib
#   qi         src/transform/rules.rs,
#              src/values.rs                    quasi-identifier rules, value parsers --lib
#   qibatch    src/transform/batch/qi.rs        their column builders --lib --test privacy
#   paths      src/io/output.rs: check_targets and the checks it calls
#              (kind, identity, inode), parse_mode  output-path safety --lib
#   staging    src/io/output.rs: Staged, commit, create_file/create_dir,
#              temporary names and stale-temporary removal  atomic outputs --lib
#   header     src/io/input.rs: HeaderProblems, check_header,
#              shown_name, projection           header checks         --lib
#   risk       src/risk/mod.rs                  the risk meter        --lib --test privacy
#   search     src/risk/search.rs,
#              src/risk/chosen.rs               the generalization search --lib --test search
# Unit tests (--lib) pin these functions' behaviour with expected values
# written from outside the code; the qibatch and risk groups also run
# tests/privacy.rs, and search tests/search.rs, which run the binary on
# sample data.
#
# Groups with an integration test run in two stages: first the unit tests
# alone (a mutant costs one library build and about 5 s of tests), then,
# with --iterate, the integration test only for the mutants the unit tests
# missed (it costs the binary's link and 15-25 s more). A mutant the unit
# tests catch would fail the combined run too (cargo stops at the first
# failing test target, the library's), so the counts are those of a
# single run with both targets. MUTANTS_LIB_FIRST=0 runs one stage.
# MUTANTS_RE='Lattice::passes|Lattice::loss_num' limits a group to the
# mutants whose names match (cargo-mutants' --re), to run a large group
# by function.
#
# Cost: each mutant rebuilds the txanon library's test binary (incremental,
# --in-place: the worktree's target/debug is reused, no cold copy). The
# group's targets go to every cargo call (--cargo-arg=--lib): arguments
# after `--` reach only the test step, and the build step then links every
# integration test binary too, which made a mutant several times dearer.
# The whole run is bounded by MUTANTS_MINUTES (default 45); each test run
# by --timeout. Not a CI stage: it does not fit CI's time next to the other
# stages. Run it before changing one of these files, and after adding
# tests for a survivor; docs/MUTANTS.md has measured times per group.
#
# --in-place edits the source files while it runs (each mutant is reverted
# before the next); the script refuses to start with uncommitted changes in
# the mutated files and stops cargo-mutants with SIGINT, which makes it
# restore the file, when the time bound is hit. Results: target/mutants/
# <group>/mutants.out/ (caught.txt, missed.txt, timeout.txt, unviable.txt)
# and a per-file table printed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
MINUTES=${MUTANTS_MINUTES:-45}
if ! cargo mutants --version >/dev/null 2>&1; then
    echo "cargo-mutants is not installed: cargo install --locked cargo-mutants" >&2
    exit 2
fi

group_args() {
    case $1 in
    tokenize) echo "--file src/transform/tokenize.rs --cargo-arg=--lib" ;;
    normalize) echo "--file src/transform/normalize.rs --cargo-arg=--lib" ;;
    key) echo "--file src/key.rs --cargo-arg=--lib" ;;
    dates) echo "--file src/transform/generalize.rs --file src/transform/shift.rs --cargo-arg=--lib" ;;
    qi) echo "--file src/transform/rules.rs --file src/values.rs --cargo-arg=--lib" ;;
    qibatch) echo "--file src/transform/batch/qi.rs --cargo-arg=--lib --cargo-arg=--test=privacy" ;;
    paths) echo "--file src/io/output.rs --re check_targets --re check_kind --re special_kind \
        --re target_identity --re existing_identity --re inode --re Identity::same \
        --re Target --re parse_mode --cargo-arg=--lib" ;;
    staging) echo "--file src/io/output.rs --re temporaries --re Staged --re commit \
        --re create_file --re create_dir --re temp_path_for \
        --re remove_stale_temps --re remove_temp --re process_alive --re sync_dir --cargo-arg=--lib" ;;
    header) echo "--file src/io/input.rs --re HeaderProblems --re check_header --re shown_name \
        --re projection --cargo-arg=--lib" ;;
    risk) echo "--file src/risk/mod.rs --cargo-arg=--lib --cargo-arg=--test=privacy" ;;
    search) echo "--file src/risk/search.rs --file src/risk/chosen.rs --cargo-arg=--lib \
        --cargo-arg=--test=search" ;;
    *) echo "unknown group $1" >&2; return 1 ;;
    esac
}
GROUPS_ALL=(tokenize key paths staging header dates qi qibatch risk search normalize)
if [ $# -gt 0 ]; then GROUPS_RUN=("$@"); else GROUPS_RUN=("${GROUPS_ALL[@]}"); fi

if ! git diff --quiet HEAD -- src; then
    echo "uncommitted changes under src/: commit or stash them first (--in-place mutates src/)" >&2
    exit 2
fi

# A mutant caught by a property test would otherwise leave a
# proptest-regressions/ file in the worktree.
export PROPTEST_DISABLE_FAILURE_PERSISTENCE=1

deadline=$(( $(date +%s) + MINUTES * 60 ))
status=0
for g in "${GROUPS_RUN[@]}"; do
    left=$(( deadline - $(date +%s) ))
    if [ "$left" -le 60 ]; then
        echo "== $g: not run, the ${MINUTES}-minute bound is used up"
        status=1
        continue
    fi
    read -r -a args <<<"$(group_args "$g")"
    if [ -n "${MUTANTS_RE:-}" ]; then args+=(--re "$MUTANTS_RE"); fi
    out="target/mutants/$g"
    mkdir -p "$out"
    rm -rf "$out/mutants.out" "$out/mutants.out.old" "$out/unviable-unit-stage.txt"
    rc=0
    if [ "${MUTANTS_LIB_FIRST:-1}" = 1 ] && [[ " ${args[*]} " == *" --cargo-arg=--test="* ]]; then
        lib_args=()
        for a in "${args[@]}"; do [[ $a == --cargo-arg=--test=* ]] || lib_args+=("$a"); done
        echo "== $g, unit tests first: cargo mutants ${lib_args[*]} (at most $left s)"
        timeout -s INT -k 120 "$left" cargo mutants --in-place --no-shuffle \
            --timeout 60 --output "$out" "${lib_args[@]}" || rc=$?
        git diff --quiet HEAD -- src || { echo "src/ differs from HEAD after $g: a mutant was left in place" >&2; exit 2; }
        left=$(( deadline - $(date +%s) ))
        # --iterate folds these into previously_caught.txt: keep them apart.
        cp "$out/mutants.out/unviable.txt" "$out/unviable-unit-stage.txt" 2>/dev/null || true
        case $rc in
        0) args=() ;; # every mutant caught or unviable: nothing left to test
        2 | 3) rc=0; args+=(--iterate) ;;
        *) [ "$rc" = 124 ] || echo "== $g: cargo mutants exited $rc in the unit-test stage"; args=() ;;
        esac
    fi
    if [ ${#args[@]} -gt 0 ] && [ "$left" -gt 60 ]; then
        echo "== $g: cargo mutants ${args[*]} (at most $left s)"
        # shellcheck disable=SC2086 # the --file globs expand here
        timeout -s INT -k 120 "$left" cargo mutants --in-place --no-shuffle \
            --timeout 60 --output "$out" ${args[@]} || rc=$?
    fi
    # 0 all caught, 2 survivors, 3 timeouts, 4 baseline failed (cargo-mutants' exit codes).
    case $rc in
    0) ;;
    2 | 3) status=1 ;;
    124) echo "== $g: stopped at the time bound; counts below are partial"; status=1 ;;
    *) echo "== $g: cargo mutants exited $rc"; status=1 ;;
    esac
    git diff --quiet HEAD -- src || { echo "src/ differs from HEAD after $g: a mutant was left in place" >&2; exit 2; }
done

# Per-file counts from every group's lists.
python3 - "${GROUPS_RUN[@]}" <<'PY'
import collections, os, re, sys
counts = collections.defaultdict(collections.Counter)
for g in sys.argv[1:]:
    d = f"target/mutants/{g}/mutants.out"
    # --iterate lists the unit-test stage's caught and unviable mutants
    # together in previously_caught.txt; the unviable ones were kept apart.
    staged = f"target/mutants/{g}/unviable-unit-stage.txt"
    unviable = set(open(staged, encoding="utf-8")) if os.path.exists(staged) else set()
    files = [("caught", f"{d}/caught.txt"), ("missed", f"{d}/missed.txt"),
             ("timeout", f"{d}/timeout.txt"), ("unviable", f"{d}/unviable.txt")]
    if os.path.exists(f"{d}/previously_caught.txt"):
        files += [("caught", f"{d}/previously_caught.txt"), ("unviable", staged)]
    for kind, p in files:
        if not os.path.exists(p):
            continue
        for line in open(p, encoding="utf-8"):
            if kind == "caught" and p.endswith("previously_caught.txt") and line in unviable:
                continue
            m = re.match(r"([^:]+):\d+:\d+: ", line)
            if m:
                counts[(g, m.group(1))][kind] += 1
print(f"{'group':10} {'file':34} {'mutants':>7} {'caught':>6} {'missed':>6} {'timeout':>7} {'unviable':>8}")
for (g, f), c in sorted(counts.items()):
    print(f"{g:10} {f:34} {sum(c.values()):7} {c['caught']:6} {c['missed']:6} {c['timeout']:7} {c['unviable']:8}")
PY
exit "$status"
