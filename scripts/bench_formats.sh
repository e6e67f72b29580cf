#!/usr/bin/env bash
# The format table (issue 16): the same videos stored five ways, and what each costs and buys.
#   (a) originals                 as they are
#   (b) long-GOP                  vpipe resize-videos --scale 256 --to-mp4            (libx264, -g 250)
#   (c) dense                     vpipe resize-videos --scale 256 --to-mp4 --dense    (-g 16)
#   (d) all-intra                 vpipe resize-videos --scale 256 --to-mp4 --gop 1
#   (e) rawframes                 vpipe extract-frames --quality 95                   (img_{:05d}.jpg)
# For each: bytes on disk (the media files), preparation time (2 workers on 2 cores), frames decoded
# per frame kept (`vpipe bench`), and the TSM train loader's clips/s — vpipe (`vpipe bench
# --no-model`, 2 workers) against decord + OpenCV in a torch DataLoader (2 workers;
# scripts/bench_loader_peer.py, `--decoder rawframes` for (e): mmaction2's RawFrameDecode) on the
# same format. The loader is scripts/bench_common.sh's TSM pipeline (SampleFrames 1x1x8 train,
# Resize(-1,256), MultiScaleCrop, Resize(224,224), Flip, Normalize, NCHW, batch 8) over the set's
# list repeated to about 96 clips. vpipe runs twice per round: with its index cache off (a first
# epoch; the peer keeps nothing between epochs either) and warm (vpipe's default, every later
# epoch). Rounds interleave every (format, loader) pair; medians of ROUNDS rounds. Everything
# runs under `taskset -c 0,1`.
# Preparation is timed against mmaction2's tools/data/resize_videos.py for the same settings —
# its FFmpeg CLI command per video (ffprobe, then `ffmpeg -vf scale=-2:256 -c:v libx264 [-g 16]
# -an`), 2 at a time as its Pool(2) runs them (the script's os.popen does not wait for FFmpeg:
# xargs -P 2 does) — interleaved, medians of PREP_ROUNDS rounds.
# Two sets: a synthetic Kinetics-like set (real clips of ../shared/data re-encoded to 10 s,
# 340x256, 30 fps, H.264 with one keyframe per 250 frames and 3 B-frames: the case the dense cache
# is for) and ../shared/data's own clips (UCF101/HMDB51 AVIs, Kinetics and mmaction2 MP4s, an MKV).
# Last, the dense cache's fetch against libavcodec alone (`avcodec`, the floor of
# scripts/bench_peers.sh) on the Kinetics-like set, originals and dense (FETCH=0 skips it).
# Env: ROUNDS (default 5), PREP_ROUNDS (default 3), SETS (default "kinetics_like real"), FETCH,
# FETCH_CLIPS (default 4), FETCH_ROUNDS (default 3). About 20 minutes on 2 cores.
source "$(dirname "${BASH_SOURCE[0]}")/bench_common.sh"
rounds="${ROUNDS:-5}"
prep_rounds="${PREP_ROUNDS:-3}"
sets="${SETS:-kinetics_like real}"
pin=(taskset -c 0,1)

# --- the peer: decord and OpenCV beside the project's torch (.venv, from scripts/setup.sh) -------
py="$root/.venv/bin/python"
peer_libs="$root/.bench/loader-peer"
if ! PYTHONPATH="$peer_libs" "$py" -c "import decord, cv2, torch" 2>/dev/null; then
  echo "bench_formats: installing decord and OpenCV into $peer_libs" >&2
  "$py" -m pip install -q --no-deps --target "$peer_libs" decord opencv-python-headless >&2
fi
peer() { PYTHONPATH="$peer_libs" "${pin[@]}" "$py" "$root/scripts/bench_loader_peer.py" --workers 2 "$@" 2>/dev/null; }
json() { # $1: an expression of d, the JSON object on stdin (vpipe bench's, or the last line's)
  "$py" -c "import json,sys; s=sys.stdin.read().strip(); d=json.loads(s if s.startswith('{') else s.splitlines()[-1]); print($1)"
}

# --- the sets ---------------------------------------------------------------------------------
make_real_set() { # $1/<class>/<video>: the mini list's clips, the Kinetics clips, mmaction2's test.mp4
  local c f
  while read -r f _; do mkdir -p "$1/$(dirname "$f")"; ln -s "$data/mini/videos/$f" "$1/$f"; done <"$data/mini/mini_videos.txt"
  mkdir -p "$1/kinetics"
  for f in "$data"/kinetics/*.mp4 "$data/mmaction2/test.mp4"; do ln -s "$f" "$1/kinetics/$(basename "$f")"; done
}
make_kinetics_like() { # $1/k/<name>.mp4 from 8 real clips: 10 s, 340x256, 30 fps, -g 250 (no scene-cut keyframes), 3 B-frames
  mkdir -p "$1/k"
  local srcs=("$data"/kinetics/*.mp4 "$data/mmaction2/test.mp4" "$data"/mini/videos/*/*)
  local i=0 s
  for s in "${srcs[@]:0:8}"; do
    # Looped sources restart their timestamps: frames are renumbered at 30 fps, 300 kept.
    ffmpeg -nostdin -v error -stream_loop -1 -i "$s" -an -frames:v 300 -r 30 \
      -vf "setpts=N/30/TB,scale=340:256:force_original_aspect_ratio=increase,crop=340:256,setsar=1" \
      -c:v libx264 -g 250 -sc_threshold 0 -bf 3 -pix_fmt yuv420p "$1/k/clip$i.mp4"
    i=$((i + 1))
  done
}

media_bytes() { find -L "$1" -type f \( -name '*.jpg' -o -name '*.mp4' -o -name '*.avi' -o -name '*.mkv' \) -printf '%s\n' 2>/dev/null | awk '{s+=$1} END {print s+0}'; }
# find -L above: the originals are links.

prepare() { # $1 format, $2 originals, $3 output; prints seconds
  rm -rf "$3"
  local t0; t0=$(now)
  case "$1" in
    b_longgop) "$vpipe" resize-videos "$2" "$3" --to-mp4 --workers 2 ;;
    c_dense) "$vpipe" resize-videos "$2" "$3" --to-mp4 --workers 2 --dense ;;
    d_intra) "$vpipe" resize-videos "$2" "$3" --to-mp4 --workers 2 --gop 1 ;;
    e_rawframes) "$vpipe" extract-frames "$2" "$3" --workers 2 --quality 95 ;;
  esac >/dev/null 2>&1
  calc "$(now) - $t0"
}
mmaction2_resize() { # $1 format, $2 originals, $3 output: resize_videos.py's commands; prints seconds
  rm -rf "$3"
  local g=""; [[ "$1" == c_dense ]] && g="-g 16"; [[ "$1" == d_intra ]] && g="-g 1"
  local t0; t0=$(now)
  find -L "$2" -mindepth 2 -maxdepth 2 -type f | sort | xargs -P 2 -I{} bash -c '
    v="$1"; rel="${v#$2/}"; out="$3/${rel%.*}.mp4"; mkdir -p "$(dirname "$out")"
    IFS=, read -r w h < <(ffprobe -hide_banner -loglevel error -select_streams v:0 -show_entries stream=width,height -of csv=p=0 "$v")
    if ((w > h)); then s=-2:256; else s=256:-2; fi
    ffmpeg -nostdin -hide_banner -loglevel error -i "$v" -vf scale=$s -c:v libx264 $4 -an "$out" -y' _ {} "$2" "$3" "$g"
  calc "$(now) - $t0"
}

write_lists() { # $1 format dir, $2 kind (video|rawframes), $3 copies → $1.list
  local f
  for _ in $(seq "$3"); do
    if [[ "$2" == rawframes ]]; then
      for f in "$1"/*/*/; do f="${f%/}"; echo "${f#$1/} $(find "$f" -name 'img_*.jpg' | wc -l) 0"; done
    else
      find -L "$1" -mindepth 2 -maxdepth 2 -type f \( -name '*.mp4' -o -name '*.avi' -o -name '*.mkv' \) | sort | sed "s|^$1/||; s|\$| 0|"
    fi
  done >"$1.list"
}
write_pipeline() { # $1 format dir, $2 kind → $1.yaml: bench_common.sh's TSM train pipeline on this format
  sed -e "s|ann_file: [^,}]*|ann_file: $1.list|" -e "s|root: [^,}]*|root: $1|" "$work/tsm_train.yaml" >"$1.yaml"
  if [[ "$2" == rawframes ]]; then
    sed -i -e 's|type: VideoList|type: RawframeDataset|' -e 's|{type: DecordDecode}|{type: RawFrameDecode}|' "$1.yaml"
  fi
}

tsm_train_loader "$work" # the pipeline text; its list is replaced per format
formats=(a_originals b_longgop c_dense d_intra e_rawframes)
declare -A label=([a_originals]="(a) originals" [b_longgop]="(b) long-GOP 256p" [c_dense]="(c) dense -g 16" [d_intra]="(d) all-intra" [e_rawframes]="(e) rawframes q95")
echo "bench_formats: $(nproc) cores, taskset 0,1; loader medians of $rounds rounds, preparation medians of $prep_rounds"
for set in $sets; do
  dir="$work/$set"; mkdir -p "$dir"
  orig="$dir/a_originals"
  if [[ "$set" == kinetics_like ]]; then make_kinetics_like "$orig"; else make_real_set "$orig"; fi
  n_videos=$(find -L "$orig" -mindepth 2 -maxdepth 2 -type f | wc -l)
  copies=$(( (96 + n_videos - 1) / n_videos ))

  # Preparation, interleaved with mmaction2's commands; the last vpipe output is kept.
  declare -A prep=() mm=()
  for ((r = 0; r < prep_rounds; r++)); do
    for f in "${formats[@]:1}"; do
      prep[$f]+="$(prepare "$f" "$orig" "$dir/$f") "
      [[ "$f" != e_rawframes ]] && mm[$f]+="$(mmaction2_resize "$f" "$orig" "$work/mm_$f") "
    done
  done
  rm -rf "$work"/mm_*
  for f in "${formats[@]}"; do
    kind=video; [[ "$f" == e_rawframes ]] && kind=rawframes
    write_lists "$dir/$f" "$kind" "$copies"
    write_pipeline "$dir/$f" "$kind"
    VPIPE_INDEX_CACHE="$dir/cache_$f" "$vpipe" bench "$dir/$f.yaml" --no-model --workers 2 >/dev/null 2>&1 # warms the cache
  done

  # The loaders, interleaved.
  declare -A first=() cached=() peer_cps=() dpk=()
  for ((r = 0; r < rounds; r++)); do
    for f in "${formats[@]}"; do
      out=$(VPIPE_INDEX_CACHE=off "${pin[@]}" "$vpipe" bench "$dir/$f.yaml" --no-model --workers 2 --json 2>/dev/null)
      first[$f]+="$(json 'd["epochs"][-1]["clips_per_s"]' <<<"$out") "
      dpk[$f]=$(json 'd["decoded_per_kept"]' <<<"$out")
      cached[$f]+="$(VPIPE_INDEX_CACHE="$dir/cache_$f" "${pin[@]}" "$vpipe" bench "$dir/$f.yaml" --no-model --workers 2 --json 2>/dev/null | json 'd["epochs"][-1]["clips_per_s"]') "
      dec=decord; [[ "$f" == e_rawframes ]] && dec=rawframes
      peer_cps[$f]+="$(peer --ann "$dir/$f.list" --root "$dir/$f" --decoder "$dec" | json 'd["clips_per_s"]') "
    done
  done

  med() { tr ' ' '\n' <<<"$1" | grep -v -e '^$' -e nan | median; }
  orig_bytes=$(media_bytes "$orig")
  echo
  echo "== $set: $n_videos videos, loader epoch $((n_videos * copies)) clips =="
  printf '%-20s %10s %7s %8s %9s %8s %9s %9s %8s %8s %8s\n' format MB "×bytes" "prep s" "mm2 s" "÷mm2" "dec/kept" "vpipe" "+cache" "decord" "÷peer"
  for f in "${formats[@]}"; do
    b=$(media_bytes "$dir/$f")
    p="—"; m="—"; pr="—"
    if [[ "$f" != a_originals ]]; then p=$(printf '%.1f' "$(med "${prep[$f]}")"); fi
    if [[ -n "${mm[$f]:-}" ]]; then m=$(printf '%.1f' "$(med "${mm[$f]}")"); pr=$(printf '%.2f' "$(calc "$(med "${mm[$f]}") / $(med "${prep[$f]}")")"); fi
    v=$(med "${first[$f]}"); c=$(med "${cached[$f]}"); q=$(med "${peer_cps[$f]}")
    printf '%-20s %10.1f %7.2f %8s %9s %8s %9.1f %9.1f %8.1f %8.1f %8.2f\n' "${label[$f]}" "$(calc "$b / 1e6")" "$(calc "$b / $orig_bytes")" \
      "$p" "$m" "$pr" "${dpk[$f]}" "$v" "$c" "$q" "$(calc "$v / $q")"
    eval "v_$f=$v c_$f=$c q_$f=$q"
  done
  echo "targets (dense): vpipe ÷ its originals $(printf '%.2f' "$(calc "$v_c_dense / $v_a_originals")")x first epoch, $(printf '%.2f' "$(calc "$c_c_dense / $c_a_originals")")x cached (≥ 3);" \
    "÷ decord on the originals $(printf '%.2f' "$(calc "$v_c_dense / $q_a_originals")")x (≥ 4); bytes $(printf '%.2f' "$(calc "$(media_bytes "$dir/c_dense") / $orig_bytes")")x (≤ 2.5);" \
    "resize-videos ÷ mmaction2's script: throughput $(printf '%.2f' "$(calc "$(med "${mm[c_dense]}") / $(med "${prep[c_dense]}")")")x (≥ 0.9)"
  unset prep mm first cached peer_cps dpk
done

# --- the dense cache's fetch against libavcodec alone ------------------------------------------
# The first FETCH_CLIPS (default 4) clips of the Kinetics-like set, originals and dense, in one
# scripts/bench_peers.sh run (8 TSM test-mode frames, decord as the peer, FETCH_ROUNDS rounds).
if [[ "${FETCH:-1}" != 0 && " $sets " == *" kinetics_like "* ]]; then
  echo
  echo "== fetch of 8 TSM frames against libavcodec alone (÷avc), Kinetics-like set: scripts/bench_peers.sh =="
  n="${FETCH_CLIPS:-4}" clips=""
  for ((i = 0; i < n; i++)); do
    for f in a_originals c_dense; do
      mkdir -p "$work/fetch/$f"; ln -sf "$work/kinetics_like/$f/k/clip$i.mp4" "$work/fetch/$f/clip${i}_$f.mp4"
      clips+=" $work/fetch/$f/clip${i}_$f.mp4"
    done
  done
  CLIPS="$clips" TASKS=tsm8 PEERS=decord LOADER=0 ROUNDS="${FETCH_ROUNDS:-3}" "$root/scripts/bench_peers.sh" | grep -E '^(clip |clip[0-9]+_)'
fi
