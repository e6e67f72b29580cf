#!/usr/bin/env bash
# `resize_in_decoder: true` against the usual Resize (docs/decoding.md): on a generated 720p H.264
# clip (testsrc2, GOP 12, 2 B-frames, 10 s) listed 8 times, TSM test pipeline (8 segments,
# Resize(-1, 256), CenterCrop 224), `vpipe bench --no-model --workers 1` pinned to one core,
# ROUNDS interleaved runs (default 3): clips/s and decode/transform busy seconds, medians.
# Then the pixel difference between the two pipelines' frames of the first sample (vpipe inspect
# --dump, mean and max level difference over 8 frames).
source "$(dirname "${BASH_SOURCE[0]}")/bench_common.sh"
rounds="${ROUNDS:-3}"
mkdir -p "$work/v"
ffmpeg -v error -y -f lavfi -i testsrc2=size=1280x720:rate=25 -t 10 -c:v libx264 -g 12 -bf 2 -pix_fmt yuv420p "$work/v/hd.mp4"
for _ in $(seq 8); do echo "hd.mp4 0"; done >"$work/list.txt"
pipeline() {
  cat <<YAML
seed: 0
data:
  test:
    source: {type: VideoList, ann_file: $work/list.txt, root: $work/v}
    pipeline:
      - {type: SampleFrames, clip_len: 1, frame_interval: 1, num_clips: 8, test_mode: true}
      - {type: DecordDecode, resize_in_decoder: $1}
      - {type: Resize, scale: [-1, 256]}
      - {type: CenterCrop, crop_size: 224}
      - {type: FormatShape, input_format: NCHW}
    batch_size: 8
YAML
}
pipeline false >"$work/usual.yaml"
pipeline true >"$work/fused.yaml"
py="$VPIPE_PYTHON"
stats() { "$py" -c 'import json,sys; j=json.load(sys.stdin); s={x["name"]: x["busy_s"] for x in j["stages"]}; print(j["rate_per_s"], s["decode"], s["transform"])'; }
declare -A rows=()
for ((r = 0; r < rounds; r++)); do
  for p in usual fused; do
    rows[$p]+="$(VPIPE_INDEX_CACHE=off taskset -c "${CORE:-1}" "$vpipe" bench "$work/$p.yaml" --split test --no-model --json --workers 1 2>/dev/null | stats)"$'\n'
  done
done
echo "720p H.264, 8 clips x 8 TSM frames, 1 worker on one core, medians of $rounds runs:"
for p in usual fused; do
  col() { grep -v '^$' <<<"${rows[$p]}" | awk -v c="$1" '{print $c}' | median; }
  printf '  %-6s %6.2f clips/s   decode %.2f s   transform %.2f s\n' "$p" "$(col 1)" "$(col 2)" "$(col 3)"
done
"$vpipe" inspect "$work/usual.yaml" --split test --limit 1 --dump "$work/d_usual" >/dev/null
"$vpipe" inspect "$work/fused.yaml" --split test --limit 1 --dump "$work/d_fused" >/dev/null
"$py" - "$work/d_usual" "$work/d_fused" <<'PY'
import glob, sys
import numpy as np
from PIL import Image
a = sorted(glob.glob(sys.argv[1] + "/*/*.png")); b = sorted(glob.glob(sys.argv[2] + "/*/*.png"))
d = [np.abs(np.asarray(Image.open(x)).astype(int) - np.asarray(Image.open(y)).astype(int)) for x, y in zip(a, b)]
print(f"frames fused vs usual Resize ({len(a)} frames): mean difference {np.mean([x.mean() for x in d]):.2f} levels, max {max(x.max() for x in d)}")
PY
