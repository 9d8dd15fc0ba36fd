#!/usr/bin/env bash
# Write faults: a full file system and a read-only one (small tmpfs mounts;
# needs root, as CI and the project machines run; skipped visibly otherwise,
# and a failure under CI=true, where a skip would count as a pass).
# Each must end in exit 2 with a clear message and nothing at the target:
# neither the output nor a temporary file.
#
#   bash tests/faults/full_disk.sh [path/to/txanon]
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${1:-target/debug/txanon}
work=$(mktemp -d)
full="$work/full"
ro="$work/ro"
mkdir -p "$full" "$ro"
cleanup() { umount "$full" 2>/dev/null || true; umount "$ro" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
if ! mount -t tmpfs -o size=64k tmpfs "$full" 2>/dev/null || ! mount -t tmpfs -o size=64k,ro tmpfs "$ro" 2>/dev/null; then
    if [ "${CI:-}" = true ] || [ "${CI:-}" = 1 ]; then
        echo "FAILED: cannot mount a tmpfs here (needs root); under CI=true the write-fault tests must run"
        exit 1
    fi
    echo "SKIPPED: cannot mount a tmpfs here (needs root); write-fault tests did not run"
    exit 0
fi
key="$work/k.key"
printf '%s\n' "$(printf '6d%.0s' $(seq 32))" > "$key"
chmod 600 "$key"

check() { # name dir expected-message
    local name=$1 dir=$2 expect=$3 rc=0
    "$BIN" anonymize --schema schemas/transactions.toml --key-file "$key" -q \
        -o "$dir/out.parquet" data-samples/transactions.csv 2>"$work/stderr" || rc=$?
    if [ "$rc" -ne 2 ]; then echo "$name: exit $rc, expected 2"; cat "$work/stderr"; return 1; fi
    if ! grep -q "$expect" "$work/stderr"; then echo "$name: message lacks '$expect'"; cat "$work/stderr"; return 1; fi
    if [ -n "$(ls -A "$dir")" ]; then echo "$name: left files behind:"; ls -la "$dir"; return 1; fi
    echo "$name: exit 2, '$(head -c 160 "$work/stderr" | tr '\n' ' ')', nothing left"
}
check "full disk (64 KiB tmpfs)" "$full" "No space left on device"
check "read-only file system" "$ro" "Read-only file system"
# The manifest on the full file system, the data elsewhere: the data is
# complete but must not appear without its manifest (issue 14).
dd if=/dev/zero of="$full/filler" bs=1k count=64 2>/dev/null || true
rc=0
"$BIN" anonymize --schema schemas/transactions.toml --key-file "$key" -q \
    --manifest "$full/m.json" -o "$work/out.parquet" data-samples/transactions.csv 2>"$work/stderr" || rc=$?
if [ "$rc" -ne 2 ] || ! grep -q "No space left on device" "$work/stderr"; then
    echo "manifest on a full disk: exit $rc"; cat "$work/stderr"; exit 1
fi
if [ -e "$work/out.parquet" ] || [ "$(ls -A "$full")" != filler ] || ls -A "$work" | grep -q txanon-tmp; then
    echo "manifest on a full disk: left files behind"; ls -la "$work" "$full"; exit 1
fi
echo "manifest on a full disk (data elsewhere): exit 2, neither the data nor the manifest left"
