#!/usr/bin/env bash
# Makes the AVA-format mini set that pipelines/ava_r2plus1d_r18_mini.yaml reads, from two real
# clips of ../shared/data (a Kinetics-400 segway ride, mmaction2's arm-wrestling demo), with
# AVA's own preparation commands (SEVERE's scripts/prepare-ava): frames at 30 fps as
# `<video>/<video>_%06d.jpg` (`ffmpeg -i V -r 30 -q:v 1`), and the frame lists
# (`original_vido_id video_id frame_id path labels`). AVA cuts minutes 15–30 first
# (`ffmpeg -ss 900 -t 901`); these clips are 10 s, so the whole clip stands for that cut: its
# first frame is second 900, and the hand-drawn boxes of pipelines/ava_mini/ (seconds 902–908)
# fall inside it.
#   scripts/make_ava_mini.sh [OUT]        # default out/ava_mini; a second run keeps what is done
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-out/ava_mini}
data=${VPIPE_TEST_DATA:-../shared/data}
declare -A videos=([R6llTwEh07w]="$data/kinetics/R6llTwEh07w.mp4" [demo]="$data/mini/videos/arm_wrestling/demo.mp4")
mkdir -p "$out/frames" "$out/frame_lists"
for vid in R6llTwEh07w demo; do
  dest="$out/frames/$vid"
  [ -d "$dest" ] && continue
  tmp="$out/frames/.$vid.partial"
  rm -rf "$tmp" && mkdir -p "$tmp"
  ffmpeg -nostdin -loglevel error -i "${videos[$vid]}" -r 30 -q:v 1 "$tmp/${vid}_%06d.jpg"
  mv "$tmp" "$dest"
done
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
