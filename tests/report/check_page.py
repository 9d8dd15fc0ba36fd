#!/usr/bin/env python3
"""Check a release report as headless Chromium rendered it (tests/report/screenshot.sh).

Fails (exit 1) when:
- Chromium logged a console message or a refused/failed request (the page's
  Content-Security-Policy forbids every fetch, so any request shows up here);
- the rendered DOM holds a script, an external resource or a link off the page;
- a chart named with --chart is missing or its SVG draws no bar;
- the page's text lacks the key fingerprint of the release or the row counts
  of its manifest;
- a planted canary value, or any token of the release, appears in the page.
"""

import argparse
import json
import re
import sys
from html.parser import HTMLParser
from pathlib import Path

import pyarrow.parquet as pq


VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta",
        "source", "track", "wbr"}


class Dom(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.text = []
        self.problems = []
        self.stack = []
        self.charts = {}  # figure id -> number of bar rects inside
        self.svg_in_chart = {}

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag in ("script", "iframe", "object", "embed", "link", "base"):
            self.problems.append(f"<{tag}> element")
        for name in ("src", "href", "action", "poster", "data", "srcset", "xlink:href"):
            v = a.get(name)
            if v is not None and not (v.startswith("#") or v.startswith("data:")):
                self.problems.append(f"<{tag} {name}={v!r}>")
        if any(k.startswith("on") for k in a):
            self.problems.append(f"<{tag}> event handler")
        if tag == "figure" and a.get("id"):
            self.charts[a["id"]] = 0
            self.svg_in_chart[a["id"]] = False
        current = next((i for t, i in reversed(self.stack) if i in self.charts), None)
        if current:
            if tag == "svg":
                self.svg_in_chart[current] = True
            if tag == "rect" and "bar" in (a.get("class") or "").split():
                self.charts[current] += 1
        if tag not in VOID:
            self.stack.append((tag, a.get("id")))

    def handle_endtag(self, tag):
        # Pop up to the matching start tag (tolerates unclosed elements).
        if any(t == tag for t, _ in self.stack):
            while self.stack and self.stack.pop()[0] != tag:
                pass

    def handle_data(self, data):
        self.text.append(data)


def grouped(n):
    return f"{n:,}"


def tokens_in(parquet_files, columns):
    found = set()
    for f in parquet_files:
        pf = pq.ParquetFile(f)
        names = [c for c in pf.schema_arrow.names if c in columns]
        for batch in pf.iter_batches(columns=names, batch_size=262144):
            for col in batch.columns:
                found.update(v for v in col.to_pylist() if v)
    return found


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--html", required=True)
    ap.add_argument("--dom", required=True)
    ap.add_argument("--log", required=True, help="Chromium's stderr")
    ap.add_argument("--release", required=True, help="the Parquet file or dataset directory")
    ap.add_argument("--manifest", required=True)
    ap.add_argument("--canaries", required=True, help="file with one canary value per line")
    ap.add_argument("--chart", action="append", default=[])
    args = ap.parse_args()

    errors = []
    html = Path(args.html).read_text(encoding="utf-8")
    dom_text = Path(args.dom).read_text(encoding="utf-8")
    log = Path(args.log).read_text(encoding="utf-8", errors="replace")
    for line in log.splitlines():
        if "CONSOLE" in line or "Refused to" in line or "net::ERR" in line:
            errors.append(f"browser log: {line.strip()[:200]}")

    dom = Dom()
    dom.feed(dom_text)
    errors += [f"DOM: {p}" for p in dom.problems]
    for chart in args.chart:
        if chart not in dom.charts:
            errors.append(f"chart {chart} missing")
        elif not dom.svg_in_chart[chart] or dom.charts[chart] == 0:
            errors.append(f"chart {chart} has no SVG bars")
    text = " ".join(dom.text)

    manifest = json.loads(Path(args.manifest).read_text())
    release = Path(args.release)
    files = sorted(release.rglob("*.parquet")) if release.is_dir() else [release]
    fp = pq.ParquetFile(files[0]).metadata.metadata[b"txanon.key.fingerprint"].decode()
    if fp != manifest["key_fingerprint"]:
        errors.append("manifest and footer fingerprints differ")
    if fp not in text:
        errors.append("key fingerprint not in the page text")
    for what in ("read", "written", "skipped"):
        n = grouped(manifest["rows"][what])
        if n not in text:
            errors.append(f"rows {what} ({n}) not in the page text")

    pages = (html, dom_text)
    for canary in Path(args.canaries).read_text(encoding="utf-8").splitlines():
        if canary and any(canary in p for p in pages):
            errors.append(f"canary {canary!r} in the page")

    token_columns = [c["output"] for c in manifest["columns"]
                     if c["action"] == "tokenize" and c.get("output")]
    tokens = tokens_in(files, token_columns)
    if len(tokens) < 100:
        errors.append(f"only {len(tokens)} tokens read: nothing to look for")
    length = len(next(iter(tokens))) if tokens else 32
    windows = set()
    for p in pages:
        for run in re.findall(r"[A-Za-z0-9_-]{%d,}" % length, p):
            windows.update(run[i:i + length] for i in range(len(run) - length + 1))
    leaked = windows & tokens
    if leaked:
        errors.append(f"{len(leaked)} token(s) of the release in the page")

    for e in errors:
        print(f"FAIL {args.html}: {e}")
    print(f"{args.html}: {len(dom.charts)} chart(s) {dom.charts}, "
          f"{len(tokens):,} tokens and the canaries absent: {'ok' if not errors else 'FAILED'}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
