#!/usr/bin/env python3
"""Write the fuzz targets' seed corpora from data-samples/ and schemas/.

    python3 fuzz/seeds.py OUT_DIR      # OUT_DIR/<target>/<n> files

Seeds are derived from the committed sample (no external corpora): column
values for the normalizers (with the selector byte each target expects),
date/timestamp values with and without their declared formats, the sample
schema and variants, and slices of the sample dump plus the deliberately bad
files in data-samples/invalid/.
"""
import csv
import hashlib
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
PER_TARGET = 64


def main() -> None:
    out = pathlib.Path(sys.argv[1])
    text = (ROOT / "data-samples/transactions.csv").read_text(encoding="utf-8")
    rows = list(csv.DictReader(text.splitlines()))
    seeds: dict[str, list[bytes]] = {}

    def column(name: str) -> list[str]:
        values = []
        for r in rows:
            v = r[name]
            if v not in values:
                values.append(v)
            if len(values) >= PER_TARGET:
                break
        return values

    # normalize_phone: selector byte (region index) then the value.
    seeds["normalize_phone"] = [
        bytes([i % 7]) + v.encode() for i, v in enumerate(column("mobile"))
    ]
    seeds["normalize_email"] = [v.encode() for v in column("email")]
    seeds["normalize_address"] = [
        v.encode() for v in column("home_address") + column("shipping_address")
    ][:PER_TARGET]
    seeds["normalize_id"] = [v.encode() for v in column("account_id") + column("txn_id")][
        :PER_TARGET
    ]
    # temporal: selector (bit 0 timestamp, bits 1-3 unit, bits 4-6 zone, bit 7 format).
    temporal = []
    for i, v in enumerate(column("created_at")[:24]):
        unit, zone = i % 6, i % 5
        temporal.append(bytes([0x81 | unit << 1 | zone << 4]) + b"%Y-%m-%d %H:%M:%S\n" + v.encode())
        temporal.append(bytes([0x01 | unit << 1 | zone << 4]) + v.replace(" ", "T").encode())
    for i, v in enumerate(column("birth_date")[:16]):
        temporal.append(bytes([(i % 6) << 1]) + v.encode())
    temporal.append(bytes([0x81]) + b"%d/%m/%Y %H:%M %z\n31/05/2008 23:30 +0800")
    seeds["temporal"] = temporal
    # schema: the sample schema and small variants.
    schema = (ROOT / "schemas/transactions.toml").read_text(encoding="utf-8")
    seeds["schema"] = [
        schema.encode(),
        schema.replace('encoding = "hex"', 'encoding = "base64url"').encode(),
        schema.replace('to = "month"', 'to = "hour"').encode(),
        b'[dataset]\nname = "t"\nversion = 1\n[[columns]]\nname = "a"\naction = "keep"\n',
    ]
    # csv_to_batch: selector (bits 0-3 records per chunk - 1, bit 6 drop
    # undeclared, bit 7 the target prepends the header) then the file.
    lines = text.splitlines(keepends=True)
    header, body = lines[0], lines[1:]
    csv_seeds = []
    for i in range(0, 40, 4):
        csv_seeds.append(bytes([0x80 | (i % 16)]) + "".join(body[i : i + 4]).encode())
    csv_seeds.append(bytes([0x00]) + (header + "".join(body[:6])).encode())
    for bad in sorted((ROOT / "data-samples/invalid").glob("*.csv")):
        csv_seeds.append(bytes([0x02]) + bad.read_bytes()[:8192])
    seeds["csv_to_batch"] = csv_seeds

    for target, items in seeds.items():
        d = out / target
        d.mkdir(parents=True, exist_ok=True)
        for item in items:
            (d / hashlib.sha1(item).hexdigest()).write_bytes(item)
    print(f"seeds: {sum(len(v) for v in seeds.values())} files for {len(seeds)} targets in {out}")


if __name__ == "__main__":
    main()
