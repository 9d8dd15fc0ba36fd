#!/usr/bin/env python3
"""Three implementations of the e-mail tokens of token spec v1.1 on a fresh
set of random tricky addresses: txanon (Rust, the `idna` crate), reference.py
(Python, the `idna` package) and email_tokens.js (JavaScript, `tr46`, written
from docs/TOKEN-SPEC.md alone).  Exit 0 when all three give the same token
(or none) for every address.

Not part of tests/run.sh (it needs node and npm).  Usage, from the
repository root:

    (cd tests/vectors/tr46 && npm install --no-save)
    cargo build --locked
    python3 tests/vectors/tr46/check.py [--count 3000] [--seed 20261201]
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import subprocess
import sys
import tempfile
import unicodedata
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
sys.path.insert(0, str(HERE.parent))
import reference  # noqa: E402

POOLS = {
    "ascii": "abcdefghijklmnopqrstuvwxyz0123456789",
    "hyphen": "-",
    "not_ldh": "_!$%&'*+=?^`{|}~()[]<>,;:\"/\\",
    "latin": "àáâãäåæçèéêëìíîïðñòóôõöøùúûüýþÿāăąćĉċčďđēĕėęěğġģĥħĩīĭįıĳĵķĸĺļľŀłńņňŉŋōŏőœŕŗřśŝşšţťŧũūŭůűųŵŷźżžßÀÉÖÜẞ",
    "greek": "αβγδεζηθικλμνξοπρσςτυφχψωάέήίόύώΑΒΓΔΣΩ",
    "cyrillic": "абвгдежзийклмнопрстуфхцчшщъыьэюяАБВЁ",
    "cjk": "中国例子测试公司网络邮件北京上海日本語한국어ひらがなカタカナ〇",
    "arabic": "ابتثجحخدذرزسشصضطظعغفقكلمنهوي٠١٢٣۰۱۲",
    "hebrew": "אבגדהוזחטיכלמנסעפצקרשת",
    "indic": "कखगघङचछजझञटठडढणतथदधनपफबभमयरलवशषसह\u094d\u093e\u093fශරී\u0dca",
    "joiners": "\u200c\u200d",
    "marks": "\u0300\u0301\u0308\u0338\u064b\u05b0",
    "symbols": "☃😀❤¡¢£·≠≮★♥✓⌘᧚",
    "compat": "ＡＢＣａｂｃ１２３ⓐⓑ⑴⑵ⅨⅪﬁﬀ㈱㍻",
    "dots": "。．｡",
    "ignored": "\u00ad\u200b\u2060\ufe0f",
}
WEIGHTS = [("ascii", 30), ("hyphen", 6), ("not_ldh", 3), ("latin", 8), ("greek", 4),
           ("cyrillic", 4), ("cjk", 6), ("arabic", 4), ("hebrew", 3), ("indic", 4),
           ("joiners", 3), ("marks", 3), ("symbols", 4), ("compat", 4), ("dots", 2),
           ("ignored", 2)]


def addresses(count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    names = [n for n, w in WEIGHTS for _ in range(w)]

    def label() -> str:
        r = rng.random()
        if r < 0.08:      # an A-label of a random Unicode label, sometimes damaged
            u = "".join(rng.choice(POOLS[rng.choice(["latin", "cyrillic", "cjk", "greek",
                                                      "symbols", "arabic"])])
                        for _ in range(rng.randint(1, 5)))
            a = "xn--" + u.encode("punycode").decode("ascii")
            if rng.random() < 0.3:
                i = rng.randrange(4, len(a))
                a = a[:i] + rng.choice("a0-") + a[i + 1:]
            return a
        if r < 0.1:       # xn-- and random letters
            return "xn--" + "".join(rng.choice(POOLS["ascii"]) for _ in range(rng.randint(0, 6)))
        n = rng.choice([1, 2, 3, 4, 5, 6, 8, 12, 63, 64]) if rng.random() < 0.1 else rng.randint(1, 8)
        return "".join(rng.choice(POOLS[rng.choice(names)]) for _ in range(n))

    out = []
    while len(out) < count:
        labels = [label() for _ in range(rng.randint(1, 4))]
        labels.append(rng.choice(["com", "cn", "de", "рф", "中国", "net", label()]))
        domain = ".".join(labels)
        if rng.random() < 0.03:
            domain = ".".join(["a" * 63] * 4)[: rng.randint(250, 256)]
        address = rng.choice(["user", "Li.Wei", "用户", "a+b"]) + "@" + domain
        # Only characters every implementation's Unicode version knows.
        if all(unicodedata.category(c) != "Cn" for c in address):
            out.append(address)
    return out


SCHEMA = """[dataset]
name = "tr46-check"
version = 1

[input]
format = "csv"
delimiter = ","
header = true

[tokens]
context = ""
bits = 128
encoding = "hex"

[[columns]]
name = "id"
action = "keep"

[[columns]]
name = "email"
action = "tokenize"
as = "email"
output = "email_token"
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--count", type=int, default=3000)
    ap.add_argument("--seed", type=int, default=20261201)
    ap.add_argument("--txanon", default=str(ROOT / "target" / "debug" / "txanon"))
    args = ap.parse_args()
    import pyarrow.parquet as pq

    rows = addresses(args.count, args.seed)
    key_hex = random.Random(args.seed).randbytes(32).hex()
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        (t / "k.key").write_text(key_hex)
        (t / "k.key").chmod(0o600)
        (t / "schema.toml").write_text(SCHEMA)
        with open(t / "in.csv", "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(["id", "email"])
            w.writerows(enumerate(rows))
        subprocess.run([args.txanon, "anonymize", "--schema", str(t / "schema.toml"),
                        "--key-file", str(t / "k.key"), "-q", "-o", str(t / "out.parquet"),
                        str(t / "in.csv")], check=True)
        rust = pq.read_table(t / "out.parquet").column("email_token").to_pylist()
        (t / "raw.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
        subprocess.run(["node", str(HERE / "email_tokens.js"), str(t / "k.key"),
                        str(t / "raw.jsonl"), str(t / "js.jsonl")], check=True, cwd=HERE)
        js = [json.loads(line)[2] for line in
              (t / "js.jsonl").read_text(encoding="utf-8").splitlines()]
    key = bytes.fromhex(key_hex)
    py = [reference.tokenize(key, "", "email", "email", r)[2] for r in rows]
    bad = [i for i in range(len(rows)) if not rust[i] == py[i] == js[i]]
    valid = sum(t is not None for t in rust)
    print(f"{len(rows)} addresses (seed {args.seed}), {valid} valid: "
          f"{len(rows) - len(bad)} give the same token or none in txanon, reference.py and tr46")
    for i in bad[:20]:
        print(f"  {rows[i]!r}: txanon {rust[i]}, reference.py {py[i]}, tr46 {js[i]}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
