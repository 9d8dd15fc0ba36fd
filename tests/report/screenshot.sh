#!/usr/bin/env bash
# The release report in a real browser (issue 18): renders the report of the
# sample release (the README's first command, and the same sample through
# schemas/transactions-private.toml) and of a generated 1,000,000-row
# month-partitioned release in headless Chromium, takes full-page
# screenshots, and checks each page with check_page.py: no console message
# and no request (the page's Content-Security-Policy would refuse and log
# any), no script or external resource in the DOM, every chart present with
# SVG bars, the key fingerprint and the manifest's row counts in the text,
# and no planted canary value or token of the release anywhere.
#
# Usage: bash tests/report/screenshot.sh [--update-docs] [TXANON_BINARY]
#   --update-docs  render the README's first command through the private
#                  schema (relative paths, no canaries) to docs/report.png
#                  (the picture the README shows).
# Screenshots (desktop and phone width) go to target/report-screenshots/.
# Installs Debian's `chromium` when missing (apt-get) and Pillow for
# cropping (pip). Builds target/release/txanon when no binary is given.
# Not a tests/run.sh stage: with the Chromium install and the release build
# it takes several minutes on a fresh machine; .ci/run runs it.
set -euo pipefail
cd "$(dirname "$0")/../.."

update_docs=0
if [ "${1:-}" = "--update-docs" ]; then
    update_docs=1
    shift
fi
bin=${1:-}
if [ -z "$bin" ]; then
    cargo build --release --locked --quiet
    bin=target/release/txanon
fi

if ! command -v chromium >/dev/null 2>&1; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo=sudo
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null
fi
python3 -m pip install --quiet --disable-pip-version-check -r tests/requirements.txt -r tests/report/requirements.txt

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
key=data-samples/demo.key

# Canary rows appended to the sample: every column of six payments carries a
# planted value; none may reach a report.
cat >"$tmp/canaries.txt" <<'CANARIES'
TCANARY20090515
Zebulon Canaryfield
110105198905149999
138-0013-9999
canary.bird@163.com
北京市 朝阳区 金丝雀路 77 号
MCANARY9931
77.66.55.44
CANARIES
cp data-samples/transactions.csv "$tmp/sample.csv"
for i in 0 1 2 3 4 5; do
    echo "TCANARY20090515$i,2009-05-15 17:41:31,2088185182619999,Zebulon Canaryfield,110105198905149999,138-0013-9999,canary.bird@163.com,北京市 朝阳区 金丝雀路 77 号,北京市 朝阳区 金丝雀路 77 号,1989-05-14,64.60,CNY,MCANARY9931,pos,false,19,77.66.55.44" >>"$tmp/sample.csv"
done

# Chromium in a throwaway profile; --no-sandbox because CI runs as root.
browse() {
    chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --no-first-run \
        --user-data-dir="$tmp/profile" --enable-logging=stderr --v=0 "$@"
}
render() { # NAME HTML RELEASE MANIFEST CHART...
    local name=$1 html=$2 release=$3 manifest=$4
    shift 4
    local charts=() url
    for c in "$@"; do charts+=(--chart "$c"); done
    url="file://$(realpath "$html")"
    browse --dump-dom "$url" >"$tmp/$name.dom" 2>"$tmp/$name.log"
    browse --window-size=1100,7000 --screenshot="$tmp/$name.full.png" "$url" \
        >/dev/null 2>>"$tmp/$name.log"
    browse --window-size=390,9000 --screenshot="$tmp/$name.phone.png" "$url" \
        >/dev/null 2>>"$tmp/$name.log"
    local ok=0
    python3 tests/report/check_page.py --html "$html" --dom "$tmp/$name.dom" \
        --log "$tmp/$name.log" --release "$release" --manifest "$manifest" \
        --canaries "$tmp/canaries.txt" "${charts[@]}" || ok=1
    python3 tests/report/crop.py "$tmp/$name.full.png" "$shots/$name.png" || ok=1
    python3 tests/report/crop.py "$tmp/$name.phone.png" "$shots/$name-phone.png" || ok=1
    return $ok
}

mkdir -p "$tmp/r"
shots=target/report-screenshots
mkdir -p "$shots"
status=0

# 1. The README's first command, with --report.
"$bin" anonymize --quiet --schema schemas/transactions.toml --key-file "$key" \
    --manifest "$tmp/r/sample.json" --report "$tmp/r/sample.html" \
    -o "$tmp/r/sample.parquet" "$tmp/sample.csv" 2>/dev/null
render sample "$tmp/r/sample.html" "$tmp/r/sample.parquet" "$tmp/r/sample.json" \
    chart-shape || status=1

# 2. The same sample released with quasi-identifiers and the risk gate.
"$bin" anonymize --quiet --schema schemas/transactions-private.toml --key-file "$key" \
    --manifest "$tmp/r/private.json" --report "$tmp/r/private.html" \
    -o "$tmp/r/private.parquet" "$tmp/sample.csv" 2>/dev/null
render private "$tmp/r/private.html" "$tmp/r/private.parquet" "$tmp/r/private.json" \
    chart-classes chart-shape || status=1

# 3. 1,000,000 generated rows, partitioned by month, the report written
#    afterwards by `txanon report` (timed).
python3 data-samples/generate.py --rows 1000000 --seed 18 --out "$tmp/big.csv"
tail -n 6 "$tmp/sample.csv" >>"$tmp/big.csv"
"$bin" anonymize --quiet --schema schemas/transactions.toml --key-file "$key" \
    --partition-by created_month -o "$tmp/r/big/" "$tmp/big.csv" 2>/dev/null
rm -f "$tmp/big.csv"
start=$(date +%s%N)
"$bin" report --schema schemas/transactions.toml -o "$tmp/r/big.html" "$tmp/r/big"
echo "report of the 1,000,000-row dataset: $((($(date +%s%N) - start) / 1000000)) ms"
render big "$tmp/r/big.html" "$tmp/r/big" "$tmp/r/big/_manifest.json" chart-shape || status=1

if [ "$update_docs" = 1 ]; then
    # The README's first command through the private schema, run in a copy
    # of its relative paths: the page names data-samples/transactions.csv,
    # not a temporary path, and holds no canary rows.
    readme=$tmp/readme
    mkdir -p "$readme/schemas" "$readme/data-samples"
    cp schemas/transactions-private.toml "$readme/schemas/"
    cp data-samples/transactions.csv "$key" "$readme/data-samples/"
    abs_bin=$(realpath "$bin")
    (cd "$readme" && "$abs_bin" anonymize --quiet --schema schemas/transactions-private.toml \
        --key-file data-samples/demo.key -o transactions.parquet --report report.html \
        data-samples/transactions.csv 2>/dev/null)
    browse --window-size=1100,7000 --screenshot="$tmp/readme.full.png" \
        "file://$readme/report.html" >/dev/null 2>&1
    python3 tests/report/crop.py "$tmp/readme.full.png" docs/report.png
    echo "docs/report.png updated"
fi
echo "screenshots: $shots/*.png"
exit $status
