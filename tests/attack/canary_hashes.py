#!/usr/bin/env python3
"""Issue 7, promise 2: unkeyed hashes of the canaries never appear.

Runs `txanon anonymize` over data-samples/invalid/canaries.csv (normal,
--json, error and bad-row paths) and searches stdout, stderr, the output
bytes and every output value for the MD5, SHA-1 and SHA-256 hex (lower and
upper case) of every canary value outside the `keep` columns, in each
spelling a careless tool might hash: as written, trimmed, lowercased, digits
only, and with +86. Zero hits expected. A planted hash shows the search works.

    python3 tests/attack/canary_hashes.py [path/to/txanon]
"""
import csv
import hashlib
import os
import subprocess
import sys
import tempfile

import pyarrow.parquet as pq

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCHEMA = os.path.join(ROOT, "schemas/transactions.toml")
CANARIES = os.path.join(ROOT, "data-samples/invalid/canaries.csv")
KEEP = {"txn_id", "amount", "currency", "merchant_id", "channel", "is_refund", "item_count"}


def spellings(value):
    out = {value, value.strip(), value.strip().lower()}
    digits = "".join(c for c in value if c.isdigit())
    if len(digits) >= 7:
        out |= {digits, "+86" + digits, "86" + digits}
    return {s for s in out if s}


def hashes(text):
    data = text.encode("utf-8")
    out = set()
    for algo in (hashlib.md5, hashlib.sha1, hashlib.sha256):
        h = algo(data).hexdigest()
        out |= {h, h.upper()}
    return out


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "target/debug/txanon")
    with open(CANARIES, encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    needles = set()
    for row in rows:
        for column, value in row.items():
            if column not in KEEP and value:
                for s in spellings(value):
                    needles |= hashes(s)
    assert len(needles) > 100, len(needles)

    def hits(hay):
        return sorted(n for n in needles if n in hay)

    planted = "x " + next(iter(needles)) + " y"
    assert hits(planted), "the search finds a planted hash"

    key = os.path.join(ROOT, "data-samples/demo.key")
    failures = []
    with tempfile.TemporaryDirectory() as tmp:
        cases = [
            ("text", [], {0, 2}),
            ("json", ["--json"], {0, 2}),
            ("bad-rows", ["--max-bad-rows", "5"], {0}),
            ("bad-rows-json", ["--max-bad-rows", "5", "--json"], {0}),
        ]
        checked_outputs = 0
        for name, extra, codes in cases:
            out = os.path.join(tmp, name + ".parquet")
            run = subprocess.run(
                [binary, "anonymize", "--schema", SCHEMA, "--key-file", key, *extra, "-o", out, CANARIES],
                capture_output=True,
                text=True,
            )
            if run.returncode not in codes:
                failures.append(f"{name}: exit {run.returncode}\n{run.stderr}")
            for stream, text in (("stdout", run.stdout), ("stderr", run.stderr)):
                found = hits(text)
                if found:
                    failures.append(f"{name}: {stream} holds canary hashes {found[:3]}")
            if os.path.exists(out):
                checked_outputs += 1
                raw = open(out, "rb").read().decode("latin-1")
                found = hits(raw)
                if found:
                    failures.append(f"{name}: output bytes hold canary hashes {found[:3]}")
                table = pq.read_table(out)
                values = " ".join(str(v) for col in table.columns for v in col.to_pylist())
                found = hits(values)
                if found:
                    failures.append(f"{name}: output values hold canary hashes {found[:3]}")
        if checked_outputs < 2:
            failures.append(f"only {checked_outputs} outputs were written; expected the bad-row runs to succeed")
    if failures:
        print("\n".join(failures))
        sys.exit(1)
    print(f"canary hashes: {len(needles)} MD5/SHA-1/SHA-256 spellings of {len(rows)} rows' canaries, "
          "none in stdout, stderr, output bytes or values")


if __name__ == "__main__":
    main()
