#!/usr/bin/env bash
# The main job, end to end, on video it makes itself (no network, no weights to download):
#   scripts/demo.sh        synthesizes three classes of video with FFmpeg (testsrc, mandelbrot,
#                          life; 12 training and 6 held-out videos each), trains a small TSN-R18
#                          on them with `vpipe run` (pipelines/demo_synthetic.yaml) to a printed
#                          validation and test accuracy, then featurizes the held-out videos with
#                          the trained weights into Parquet and scores that file with `vpipe eval`.
#                          ~1 minute on 2 CPU cores after the build.
#   scripts/demo.sh DIR    featurizes your own DIR/<class>/<video> (random-init TSM-R50: plumbing).
# Output: out/demo_work/ (run.log, log.jsonl, checkpoints), out/demo.parquet, and a summary.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
scripts/setup.sh
eval "$(scripts/setup.sh --env)"
# As scripts/test.sh builds (no incremental state), so the two share one build of the dependencies.
CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}" cargo build --quiet --bin vpipe
vpipe="$root/target/debug/vpipe"

summary() {
  "$VPIPE_PYTHON" - "$1" <<'PY'
import sys, pyarrow.parquet as pq
t = pq.read_table(sys.argv[1])
print(f"Parquet: {sys.argv[1]}: {t.num_rows} rows, columns {t.column_names}")
for r in t.slice(0, min(4, t.num_rows)).to_pylist():
    print(f"  {r['video']:<28} label={r['label']} clip={r['clip']} logits[:3]={[round(x, 4) for x in r['logits'][:3]]} |feature|={len(r['feature'])}")
PY
}

if [[ -n "${1:-}" ]]; then
  out="$root/out/demo.parquet"
  # --force: recompute even when an earlier demo run left a complete output (and its manifest).
  "$vpipe" featurize --root "$1" --model tsm-r50 --num-classes 3 --clips 2 --force --out "$out"
  summary "$out"
  exit 0
fi

data="$root/out/demo_synthetic"
if [[ ! -d "$data" ]]; then
  echo "demo: synthesizing 3 classes × 18 videos with FFmpeg in $data" >&2
  tmp="$data.tmp"; rm -rf "$tmp"
  gen() { ffmpeg -v error -y -f lavfi -i "$1" -t 2 -r 25 -pix_fmt yuv420p -c:v libx264 -g 12 -bf 2 "$2"; }
  i=0
  for split in train train train train train train val val val; do
    i=$((i+1))
    for c in testsrc mandelbrot life; do mkdir -p "$tmp/$split/$c"; done
    gen "testsrc=size=$((160+i*16))x120:rate=25" "$tmp/$split/testsrc/v$i.mp4"
    gen "testsrc2=size=160x$((112+i*8)):rate=25" "$tmp/$split/testsrc/w$i.mp4"
    gen "mandelbrot=size=160x120:rate=25:start_scale=$((i+1)):start_x=-0.$i" "$tmp/$split/mandelbrot/v$i.mp4"
    gen "mandelbrot=size=176x128:rate=25:end_pts=$((200+i*100))" "$tmp/$split/mandelbrot/w$i.mp4"
    gen "life=size=160x120:rate=25:mold=$((i*5)):seed=$i" "$tmp/$split/life/v$i.mp4"
    gen "life=size=160x120:rate=25:ratio=0.$((i+1)):seed=$((i+10))" "$tmp/$split/life/w$i.mp4"
  done
  mv "$tmp" "$data"
fi
pipeline=pipelines/demo_synthetic.yaml
# --force: a new run over the work dir an earlier demo left.
"$vpipe" run "$pipeline" --test-last --force 2>&1 | grep -v '^.* - vpipe - INFO - Epoch \[' >&2
epochs=$(sed -n 's/^  epochs: //p' "$pipeline")
out="$root/out/demo.parquet"
"$vpipe" featurize --config "$pipeline" --split val --weights "out/demo_work/epoch_$epochs.safetensors" --force --out "$out"
summary "$out"
echo "vpipe eval $out:"
"$vpipe" eval "$out"
