#!/usr/bin/env bash
# The main job, end to end: featurize a folder-per-class video dataset into Parquet.
#   scripts/demo.sh          synthesizes a small dataset with FFmpeg (no network) and featurizes it
#   scripts/demo.sh DIR      featurizes DIR/<class>/<video> (your own dataset)
# Output: out/demo.parquet (logits + 2048-d TSM-R50 features per clip), and a short summary.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
scripts/setup.sh
eval "$(scripts/setup.sh --env)"
# As scripts/test.sh builds (no incremental state), so the two share one build of the dependencies.
CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}" cargo build --quiet --bin vpipe
vpipe="$root/target/debug/vpipe"

data="${1:-}"
if [[ -z "$data" ]]; then
  data="$root/out/demo_dataset"
  if [[ ! -d "$data" ]]; then
    echo "demo: synthesizing a 3-class, 6-video dataset with FFmpeg in $data" >&2
    tmp="$data.tmp"; rm -rf "$tmp"
    mkdir -p "$tmp/testsrc" "$tmp/mandelbrot" "$tmp/life"
    gen() { ffmpeg -v error -y -f lavfi -i "$1" -t 3 -r 25 -pix_fmt yuv420p -c:v libx264 -g 12 -bf 2 "$2"; }
    gen "testsrc=size=320x240:rate=25" "$tmp/testsrc/a.mp4"
    gen "testsrc2=size=320x240:rate=25" "$tmp/testsrc/b.mp4"
    gen "mandelbrot=size=320x240:rate=25" "$tmp/mandelbrot/a.mp4"
    gen "mandelbrot=size=320x240:rate=25:start_scale=1" "$tmp/mandelbrot/b.mp4"
    gen "life=size=320x240:rate=25:mold=10" "$tmp/life/a.mp4"
    gen "life=size=320x240:rate=25:ratio=0.3" "$tmp/life/b.mp4"
    mv "$tmp" "$data"
  fi
fi
out="$root/out/demo.parquet"
# --force: recompute even when an earlier demo run left a complete output (and its manifest).
"$vpipe" featurize --root "$data" --model tsm-r50 --num-classes 3 --clips 2 --force --out "$out"
"$VPIPE_PYTHON" - "$out" <<'PY'
import sys, pyarrow.parquet as pq
t = pq.read_table(sys.argv[1])
print(f"Parquet: {sys.argv[1]}: {t.num_rows} rows, columns {t.column_names}")
for r in t.slice(0, min(4, t.num_rows)).to_pylist():
    print(f"  {r['video']:<28} label={r['label']} clip={r['clip']} logits[:3]={[round(x, 4) for x in r['logits'][:3]]} |feature|={len(r['feature'])}")
PY
