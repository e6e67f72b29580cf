# Sourced by scripts/bench_*.sh: installs what is missing, builds the release binary, and defines
# the shared settings and helpers.
#   root, vpipe (release binary), data (real test data), reps (REPS, default 5), work (temp dir,
#   removed on exit); median (of numbers on stdin), calc EXPR, now, timed CMD... (seconds);
#   tsm_train_loader DIR (the peers' loader comparison: DIR/mini_x11.txt, DIR/tsm_train.yaml).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
scripts/setup.sh >/dev/null
eval "$(scripts/setup.sh --env)"
cargo build --release --bin vpipe 2>&1 | tail -1
vpipe="$root/target/release/vpipe"
data="${VPIPE_TEST_DATA:-$root/../shared/data}"
reps="${REPS:-5}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
now() { date +%s.%N; }
calc() { awk "BEGIN { print $1 }"; }
timed() { local t0 t1; t0=$(now); "$@" >/dev/null 2>&1; t1=$(now); calc "$t1 - $t0"; }

# The loader comparison's pipeline (scripts/bench_peers.sh, scripts/bench_python_loader.sh):
# mmaction2 0.x TSM train (SampleFrames 1x1x8, Resize(-1,256), MultiScaleCrop(224, 13 fixed
# crops), Resize(224,224), Flip, Normalize, NCHW), batch 8, 2 workers, over the mini list
# repeated 11 times (88 clips): writes DIR/mini_x11.txt and DIR/tsm_train.yaml.
tsm_train_loader() {
  local list="$1/mini_x11.txt"
  for _ in $(seq 11); do cat "$data/mini/mini_videos.txt"; done >"$list"
  cat >"$1/tsm_train.yaml" <<YAML
seed: 0
data:
  train:
    source: {type: VideoList, ann_file: $list, root: $data/mini/videos}
    pipeline:
      - {type: SampleFrames, clip_len: 1, frame_interval: 1, num_clips: 8}
      - {type: DecordDecode}
      - {type: Resize, scale: [-1, 256]}
      - {type: MultiScaleCrop, input_size: 224, scales: [1, 0.875, 0.75, 0.66], random_crop: false, max_wh_scale_gap: 1, num_fixed_crops: 13}
      - {type: Resize, scale: [224, 224], keep_ratio: false}
      - {type: Flip, flip_ratio: 0.5}
      - {type: Normalize, mean: [123.675, 116.28, 103.53], std: [58.395, 57.12, 57.375], to_bgr: false}
      - {type: FormatShape, input_format: NCHW}
    batch_size: 8
    workers: 2
YAML
}
