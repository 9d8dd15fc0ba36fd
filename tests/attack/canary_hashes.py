#!/usr/bin/env python3
"""Issue 7, promise 2: unkeyed hashes of the canaries never appear.

Runs `txanon anonymize` over data-samples/invalid/canaries.csv (normal,
--json, error and bad-row paths) and searches stdout, stderr, the output
bytes and every output value for the MD5, SHA-1 and SHA-256 hex (lower and
upper case) of every canary value outside the `keep` columns, in each
spelling a careless tool might hash: as written, trimmed, lowercased, digits
only, and with +86; each hash also cut to the token length the schema
declares ([tokens].bits, as hex), the way an unkeyed "token" would be made.
Zero hits expected. A planted hash, and a planted truncated hash, show the
search works.

    python3 tests/attack/canary_hashes.py [path/to/txanon]
"""
import csv
import hashlib
import os
import subprocess
import sys
import tempfile
import tomllib

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


def token_hex_len():
    with open(SCHEMA, "rb") as f:
        bits = tomllib.load(f).get("tokens", {}).get("bits", 128)
    if bits % 8 or not 96 <= bits <= 256:
        sys.exit(f"unexpected [tokens].bits {bits} in {SCHEMA}")
    return bits // 4


TOKEN_HEX = token_hex_len()


def hashes(text):
    data = text.encode("utf-8")
    out = set()
    for algo in (hashlib.md5, hashlib.sha1, hashlib.sha256):
        h = algo(data).hexdigest()
        out |= {h, h.upper(), h[:TOKEN_HEX], h[:TOKEN_HEX].upper()}
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
    if len(needles) <= 100:
        sys.exit(f"only {len(needles)} needles: the canary file lost its canaries")

    def hits(hay):
        return sorted(n for n in needles if n in hay)

    # Positive controls: a full hash and one cut to the token length (the
    # SHA-256 of the first canary mobile, which is longer than a token).
    planted = "x " + next(iter(needles)) + " y"
    if not hits(planted):
        sys.exit("the search does not find a planted hash")
    cut = hashlib.sha256(rows[0]["mobile"].encode("utf-8")).hexdigest()[:TOKEN_HEX]
    if len(cut) != TOKEN_HEX or not hits("token=" + cut + ";"):
        sys.exit("the search does not find a hash truncated to the token length")

    key = os.path.join(ROOT, "data-samples/demo.key")
    failures = []
    with tempfile.TemporaryDirectory() as tmp:
        cases = [
            ("text", [], {2}),  # stops at the bad record on line 4
            ("json", ["--json"], {2}),
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
    print(f"canary hashes: {len(needles)} MD5/SHA-1/SHA-256 spellings (full and cut to "
          f"{TOKEN_HEX} hex) of {len(rows)} rows' canaries, none in stdout, stderr, output bytes or values")


if __name__ == "__main__":
    main()
