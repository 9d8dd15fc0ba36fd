#!/usr/bin/env python3
"""Write the encoded and compressed variants of the sample dump.

    python3 data-samples/encode_variants.py

reads data-samples/transactions.csv and writes, beside it:
- transactions.csv.gz: the same bytes, gzip-compressed (mtime 0, so the
  output is reproducible byte for byte);
- transactions-gb18030.csv: the same text encoded in GB18030, as older
  Chinese back-office systems export it.

Anonymizing either (the GB18030 one with `[input] encoding = "gb18030"`)
gives exactly the tokens of the UTF-8 original (tests/formats.rs checks it).
Standard library only.
"""
import gzip
import pathlib

here = pathlib.Path(__file__).resolve().parent
raw = (here / "transactions.csv").read_bytes()
with open(here / "transactions.csv.gz", "wb") as f:
    with gzip.GzipFile(filename="", mode="wb", fileobj=f, mtime=0, compresslevel=9) as g:
        g.write(raw)
(here / "transactions-gb18030.csv").write_bytes(raw.decode("utf-8").encode("gb18030"))
