#!/usr/bin/env bash
# Makes the AVA-format mini set that pipelines/ava_r2plus1d_r18_mini.yaml reads, from two real
# clips of ../shared/data (a Kinetics-400 segway ride, mmaction2's arm-wrestling demo), the way
# SEVERE's scripts/prepare-ava prepares AVA — frames at 30 fps as `<video>/<video>_%06d.jpg`
# (`ffmpeg -i V -r 30`), here by `vpipe extract-frames --fps 30` (frame-exact to that command) —
# and the frame lists (`original_vido_id video_id frame_id path labels`). AVA cuts minutes 15–30
# first (`--start 900 --duration 901`); these clips are 10 s, so the whole clip stands for the cut:
# its first frame is second 900, and the hand-drawn boxes of pipelines/ava_mini/ (seconds 902–908)
# fall inside it.
#   scripts/make_ava_mini.sh [OUT]        # default out/ava_mini; a second run keeps what is done
#   VPIPE=path/to/vpipe                   # default target/release/vpipe (cargo build --release)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-out/ava_mini}
data=${VPIPE_TEST_DATA:-../shared/data}
vpipe=${VPIPE:-target/release/vpipe}
[ -x "$vpipe" ] || { echo "no vpipe binary at $vpipe: cargo build --release, or set VPIPE" >&2; exit 1; }
mkdir -p "$out/videos" "$out/frame_lists"
ln -sfn "$(readlink -f "$data/kinetics/R6llTwEh07w.mp4")" "$out/videos/R6llTwEh07w.mp4"
ln -sfn "$(readlink -f "$data/mini/videos/arm_wrestling/demo.mp4")" "$out/videos/demo.mp4"
"$vpipe" extract-frames "$out/videos" "$out/frames" --level 1 --fps 30 --filename-tmpl '{video}_{:06d}.jpg' --workers 2
# Both splits list both videos (a smoke set: the test keyframes are the training ones, scored
# on the person boxes rather than the ground truth).
for split in train val; do
  {
    echo "original_vido_id video_id frame_id path labels"
    i=0
    for vid in R6llTwEh07w demo; do
      n=$(find "$out/frames/$vid" -name "${vid}_*.jpg" | wc -l)
      for ((f = 0; f < n; f++)); do printf '%s %d %d %s/%s_%06d.jpg ""\n' "$vid" "$i" "$f" "$vid" "$vid" $((f + 1)); done
      i=$((i + 1))
    done
  } > "$out/frame_lists/$split.csv.tmp"
  mv "$out/frame_lists/$split.csv.tmp" "$out/frame_lists/$split.csv"
done
echo "AVA mini set in $out: $(find "$out/frames" -name '*.jpg' | wc -l) frames"
