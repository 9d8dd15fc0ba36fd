"""What the risk cross-checks share: run the txanon binary on a dump with the
demo key and read a Parquet footer's key-value metadata."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "data-samples" / "transactions.csv"
KEY = ROOT / "data-samples" / "demo.key"


def anonymize(binary: str, schema: Path, data: Path, out: Path) -> dict:
    """`txanon anonymize --json` of `data` into `out`; its summary, or exit."""
    proc = subprocess.run(
        [binary, "anonymize", "--schema", str(schema), "--key-file", str(KEY), "--json",
         "--quiet", "-o", str(out), str(data)],
        capture_output=True, text=True)
    if proc.returncode != 0:
        print(proc.stderr, file=sys.stderr)
        raise SystemExit(f"txanon exited {proc.returncode} on {schema.name}")
    return json.loads(proc.stdout)


def footer(path: Path) -> dict[str, str]:
    meta = pq.ParquetFile(path).metadata.metadata or {}
    return {k.decode(): v.decode() for k, v in meta.items()}
