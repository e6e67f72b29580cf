#!/usr/bin/env bash
# Frame-extraction benchmark: `vpipe extract-frames` vs the FFmpeg CLI (`ffmpeg -i V -q:v 2
# img_%05d.jpg`) over the same videos in one run; prints frames/s (median of REPS runs) and ratios.
#
# FFmpeg is measured two ways, both on all cores: one video at a time with FFmpeg's own threading
# (the usual shell loop), and one single-threaded FFmpeg per core in parallel (xargs -P). The ratio
# that counts is against the faster of the two.
#
# Usage: scripts/bench_extract.sh [VIDEO_DIR ...]   (default: ../shared/data/mini/videos and
#        ../shared/data/kinetics, i.e. UCF101/HMDB51 AVIs and Kinetics H.264 clips)
#        Environment: REPS (runs, default 5), COPIES (times each video is listed, default 3).
source "$(dirname "${BASH_SOURCE[0]}")/bench_common.sh"
cores="$(nproc)"
if [ $# -eq 0 ]; then set -- "$data/mini/videos" "$data/kinetics"; fi
# One level-2 tree of symlinks, so every tool sees the same list; each video COPIES times (a
# dataset-sized job rather than a handful of files, so start-up costs weigh as they do in use).
copies="${COPIES:-3}"
mkdir -p "$work/src/all"
for d in "$@"; do
  find "$d" -type f \( -iname '*.avi' -o -iname '*.mp4' -o -iname '*.mkv' -o -iname '*.webm' \) -print0 |
    while IFS= read -r -d '' f; do
      for c in $(seq "$copies"); do ln -sf "$f" "$work/src/all/c${c}_$(basename "$f")"; done
    done
done
videos=("$work"/src/all/*)
frames=0


run_vpipe() {
  rm -rf "$work/vp"
  local t0; t0=$(now)
  "$vpipe" extract-frames "$work/src" "$work/vp" --workers "$cores" --quality 95 2>/dev/null
  calc "$(now) - $t0"
}
run_ffmpeg_loop() {
  rm -rf "$work/ff"
  local t0; t0=$(now)
  for v in "${videos[@]}"; do
    local o="$work/ff/$(basename "${v%.*}")"; mkdir -p "$o"
    ffmpeg -nostdin -loglevel error -i "$v" -q:v 2 "$o/img_%05d.jpg"
  done
  calc "$(now) - $t0"
}
run_ffmpeg_parallel() {
  rm -rf "$work/ff"
  local t0; t0=$(now)
  printf '%s\n' "${videos[@]}" | xargs -P "$cores" -I{} sh -c \
    'o="$1/ff/$(basename "${2%.*}")"; mkdir -p "$o"; ffmpeg -nostdin -loglevel error -threads 1 -i "$2" -q:v 2 "$o/img_%05d.jpg"' _ "$work" {}
  calc "$(now) - $t0"
}

# Warm the page cache and count frames once.
run_vpipe >/dev/null
frames=$(find "$work/vp" -name 'img_*.jpg' | wc -l)
run_ffmpeg_loop >/dev/null
ff_frames=$(find "$work/ff" -name 'img_*.jpg' | wc -l)
echo "videos: ${#videos[@]}, frames: vpipe $frames, ffmpeg $ff_frames, cores: $cores, runs: $reps (medians)"

tv=(); tl=(); tp=()
for _ in $(seq "$reps"); do   # interleaved, so drift in machine load hits all three alike
  tv+=("$(run_vpipe)"); tl+=("$(run_ffmpeg_loop)"); tp+=("$(run_ffmpeg_parallel)")
done
mv=$(printf '%s\n' "${tv[@]}" | median)
ml=$(printf '%s\n' "${tl[@]}" | median)
mp=$(printf '%s\n' "${tp[@]}" | median)
fps() { printf '%.0f' "$(calc "$frames / $1")"; }
printf '%-44s %8.3f s %8s frames/s\n' "vpipe extract-frames --workers $cores" "$mv" "$(fps "$mv")"
printf '%-44s %8.3f s %8s frames/s\n' "ffmpeg -q:v 2, one video at a time" "$ml" "$(fps "$ml")"
printf '%-44s %8.3f s %8s frames/s\n' "ffmpeg -q:v 2 -threads 1, $cores in parallel" "$mp" "$(fps "$mp")"
best=$(printf '%s\n%s\n' "$ml" "$mp" | sort -g | head -1)
printf 'ratio vpipe / ffmpeg: %.2fx (vs loop %.2fx, vs parallel %.2fx; target >= 2x)\n' \
  "$(calc "$best / $mv")" "$(calc "$ml / $mv")" "$(calc "$mp / $mv")"
