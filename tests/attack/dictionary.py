#!/usr/bin/env python3
"""Dictionary-attack regression: the key is the whole protection.

Anonymizes a dump whose phones all lie in one block of 10^6 CN mobile numbers
(138 0000 0000 .. 138 0099 9999), then plays the attacker who enumerates that
block:

1. unkeyed SHA-256, SHA-1 and MD5 of every number, with and without "+86",
   hex-encoded (full and truncated to the token length): no output token matches;
2. HMAC under a wrong key (token spec v1, same context and namespace): no match;
3. HMAC under the right key: every phone in the dump is re-identified.

(3) is the point of the README's warning: whoever holds the key can reverse
phone tokens in seconds. Usage (from the repository root, after `cargo build`):

    python3 tests/attack/dictionary.py [path/to/txanon]
"""

import csv
import hashlib
import hmac
import os
import random
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "vectors"))

BLOCK = range(13800000000, 13801000000)  # 10^6 numbers
KEY_HEX = "3c" * 16 + "a5" * 16
WRONG_KEY_HEX = "3c" * 16 + "a6" * 16

SCHEMA = """
[dataset]
name = "attack"
version = 1
[[columns]]
name = "id"
action = "keep"
[[columns]]
name = "mobile"
action = "tokenize"
as = "phone"
region = "CN"
"""


def ns_key(master_hex: str, context: str, namespace: str) -> bytes:
    info = f"txanon/v1/{context}/{namespace}".encode() + b"\x01"
    return hmac.new(bytes.fromhex(master_hex), info, hashlib.sha256).digest()


def main() -> int:
    binary = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "target", "debug", "txanon")
    rng = random.Random(7)
    phones = sorted(rng.sample(BLOCK, 500))
    with tempfile.TemporaryDirectory() as tmp:
        dump = os.path.join(tmp, "dump.csv")
        with open(dump, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["id", "mobile"])
            for i, p in enumerate(phones):
                spelled = [str(p), f"+86 {str(p)[:3]} {str(p)[3:7]} {str(p)[7:]}", f"0086-{p}"][i % 3]
                w.writerow([f"r{i}", spelled])
        schema = os.path.join(tmp, "s.toml")
        key = os.path.join(tmp, "k.key")
        out = os.path.join(tmp, "out.parquet")
        open(schema, "w").write(SCHEMA)
        open(key, "w").write(KEY_HEX + "\n")
        os.chmod(key, 0o600)
        subprocess.run([binary, "anonymize", "--schema", schema, "--key-file", key, "-q", "-o", out, dump], check=True)
        import pyarrow.parquet as pq

        tokens = set(t for t in pq.read_table(out).column("mobile").to_pylist() if t)
    assert len(tokens) == len(phones), (len(tokens), len(phones))
    n = len(next(iter(tokens)))

    # 1. Unkeyed hashes, with and without +86, full and truncated hex.
    unkeyed_hits = 0
    for p in BLOCK:
        for s in (str(p).encode(), b"+86" + str(p).encode()):
            for h in (hashlib.sha256, hashlib.sha1, hashlib.md5):
                d = h(s).hexdigest()
                if d in tokens or d[:n] in tokens:
                    unkeyed_hits += 1
    # 2. HMAC under a wrong key.
    wrong = ns_key(WRONG_KEY_HEX, "", "phone")
    wrong_hits = sum(
        hmac.new(wrong, f"+86{p}".encode(), hashlib.sha256).hexdigest()[:n] in tokens for p in BLOCK
    )
    # 3. HMAC under the right key: the key holder re-identifies everyone.
    right = ns_key(KEY_HEX, "", "phone")
    found = {p for p in BLOCK if hmac.new(right, f"+86{p}".encode(), hashlib.sha256).hexdigest()[:n] in tokens}

    print(f"dictionary attack over {len(BLOCK)} numbers: unkeyed hits {unkeyed_hits}, "
          f"wrong-key hits {wrong_hits}, right-key re-identified {len(found)}/{len(phones)}")
    if unkeyed_hits or wrong_hits or found != set(phones):
        print("FAILED: the key must be the whole protection", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
