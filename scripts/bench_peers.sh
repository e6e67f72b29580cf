#!/usr/bin/env bash
# Decoding against the peers (issue 6), in one run, on the same clips:
#   (a) open + 8 TSM segment-centre frames, (b) open + a 32x2 dense clip, (c) full decode (vpipe's
#   full-decode path, `decode_all` as in `vpipe extract-frames`: no packet index, one pass),
# timed in-process with vpipe (benches/decode.rs) and with PyAV, decord, OpenCV, torchcodec and
# video_reader-rs (scripts/bench_peers.py), each process pinned to one core with one decoding
# thread, interleaved round by round; medians of ROUNDS rounds (each itself a median of 3).
# The floor is the FFmpeg CLI with -threads 1: `-f null` and rgb24 for (c); for (a)/(b) the CLI's
# time to decode exactly the packets vpipe decoded (benches/decode.rs --subset copies them into a
# file, MPEG-4 Part 2 through mpeg4_unpack_bframes so that a packed B-VOP is copied only where
# vpipe decoded it; the CLI decodes it with -f null, -stream_loop'ed so that the timing's 1 ms resolution
# does not matter, its open amortised over the passes) plus its per-frame rgb24 conversion cost
# ((rgb24 - null) / frames on the whole clip) for each kept frame. `avcodec` is libavcodec alone
# decoding that subset from memory (benches/decode.rs --task avcodec: no demuxing, probing or
# conversion): the least any FFmpeg-based library can spend on those frames; ÷avc is vpipe's
# time over it.
# Every library's (a) frames are compared with the FFmpeg CLI's (scripts/bench_frames.py: max abs
# difference in levels, and whether they are the wanted frames converted otherwise, other frames or
# not rotated), on every clip and on four colour/orientation clips (BT.709 limited and full range,
# BT.2020 10-bit, a 90° display matrix). ÷right is vpipe's time over the fastest peer that returned
# the wanted frames (colours aside).
#
# Peers install into .bench/venv (PyPI only); torchcodec with a full torch into .bench/venv-torch
# (several GB; PEERS="pyav decord opencv video_reader_rs" leaves it out).
# Clips: ../shared/data (mini, kinetics, mmaction2) plus a synthetic set made here: 320x240 xvid
# GOP 12 AVI, H.264 GOP 12 with B-frames, H.264 one GOP, 720p H.264 GOP 12.
# Last, the whole TSM train loader (SampleFrames 1x1x8 train, decode, Resize(-1,256),
# MultiScaleCrop(224, 13 fixed crops), Resize(224,224), Flip, Normalize, NCHW, batch 8) over the mini
# list repeated 11 times (88 clips), 2 workers on 2 cores: vpipe (benches/loader.rs) against decord
# + OpenCV transforms in a torch DataLoader (scripts/bench_loader_peer.py).
# Env: ROUNDS (default 5), CORE (default 1), PEERS, CLIPS (a space-separated list to override;
# the word `synthetic` stands for the generated set), TASKS (default "tsm8 dense32x2 full"),
# LOADER=0 skips the loader comparison.
source "$(dirname "${BASH_SOURCE[0]}")/bench_common.sh"
rounds="${ROUNDS:-5}"
core="${CORE:-1}"
peers="${PEERS:-pyav decord opencv torchcodec video_reader_rs}"
tasks="${TASKS:-tsm8 dense32x2 full}"
pin=(taskset -c "$core")

# --- peers ------------------------------------------------------------------------------------
venv="$root/.bench/venv"
if ! "$venv/bin/python" -c "import av, decord, cv2, numpy, PIL" 2>/dev/null || ! ls "$venv"/lib/python3*/site-packages/video_reader >/dev/null 2>&1; then
  echo "bench_peers: installing PyAV, decord, OpenCV, video-reader-rs into $venv" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --upgrade pip >&2
  "$venv/bin/pip" install -q numpy pillow av decord opencv-python-headless video-reader-rs >&2
fi
# video-reader-rs 0.4.5's wheel needs a libsharpyuv it does not ship: lend it Pillow's copy.
vr_libs=$(echo "$venv"/lib/python3*/site-packages/video_reader_rs.libs)
if [[ ! -e "$vr_libs/libsharpyuv-48a062bd.so.0" ]]; then
  cp "$(ls "$venv"/lib/python3*/site-packages/pillow.libs/libsharpyuv-*.so* | head -1)" "$vr_libs/libsharpyuv-48a062bd.so.0"
fi
export LD_LIBRARY_PATH="$vr_libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
tvenv="$root/.bench/venv-torch"
if [[ " $peers " == *" torchcodec "* ]] && ! "$tvenv/bin/python" -c "import torchcodec.decoders, numpy" 2>/dev/null; then
  echo "bench_peers: installing torch + torchcodec into $tvenv (large download)" >&2
  python3 -m venv "$tvenv"
  "$tvenv/bin/pip" install -q --upgrade pip >&2
  "$tvenv/bin/pip" install -q numpy torch torchcodec decord opencv-python-headless >&2 || { echo "bench_peers: torchcodec unavailable, left out" >&2; peers="${peers/torchcodec/}"; }
fi
python_of() { if [[ "$1" == torchcodec ]]; then echo "$tvenv/bin/python"; else echo "$venv/bin/python"; fi; }

# --- vpipe ------------------------------------------------------------------------------------
bench_bin=$(cargo bench --no-run --bench decode 2>&1 | grep -o 'target/release/deps/decode-[0-9a-f]*' | tail -1)
[[ -x "$root/$bench_bin" ]] || { echo "bench_peers: could not build benches/decode.rs" >&2; exit 1; }
bench_bin="$root/$bench_bin"

# --- clips ------------------------------------------------------------------------------------
syn="$work/synthetic"; mkdir -p "$syn"
src=(-f lavfi -i "testsrc2=size=320x240:rate=25" -t 10)
ffmpeg -v error -y "${src[@]}" -c:v libxvid -g 12 -bf 0 "$syn/xvid_gop12.avi"
ffmpeg -v error -y "${src[@]}" -c:v libx264 -g 12 -bf 3 -pix_fmt yuv420p "$syn/h264_gop12_bframes.mp4"
ffmpeg -v error -y "${src[@]}" -c:v libx264 -g 1000 -bf 3 -pix_fmt yuv420p "$syn/h264_one_gop.mp4"
ffmpeg -v error -y -f lavfi -i "testsrc2=size=1280x720:rate=25" -t 10 -c:v libx264 -g 12 -bf 3 -pix_fmt yuv420p "$syn/h264_720p.mp4"
# Colour and orientation clips, for the frame check only (docs/decoding.md, "who converts how").
conv="$work/conversion"; mkdir -p "$conv"
csrc=(-f lavfi -i "testsrc2=size=320x240:rate=25" -t 2 -c:v libx264 -g 12)
ffmpeg -v error -y "${csrc[@]}" -pix_fmt yuv420p -colorspace bt709 -color_range tv "$conv/bt709_tv.mp4"
ffmpeg -v error -y "${csrc[@]}" -pix_fmt yuvj420p -colorspace bt709 -color_range pc "$conv/bt709_pc.mp4"
ffmpeg -v error -y "${csrc[@]}" -pix_fmt yuv420p10le -colorspace bt2020nc -color_range tv "$conv/bt2020_10bit.mp4"
ffmpeg -v error -y -i "$conv/bt709_tv.mp4" -c copy -metadata:s:v:0 rotate=90 "$conv/rotated_90.mp4"
if [[ -n "${CLIPS:-}" ]]; then
  clips=(); for c in $CLIPS; do if [[ "$c" == synthetic ]]; then clips+=("$syn"/*); else clips+=("$c"); fi; done
else
  clips=("$data"/mini/videos/*/* "$data"/kinetics/*.mp4 "$data"/mmaction2/test.mp4 "$data"/mmaction2/test.avi "$syn"/*)
fi

# --- helpers ----------------------------------------------------------------------------------
json_ms() { "$venv/bin/python" -c 'import json,sys; d=json.loads(sys.stdin.read().strip().splitlines()[-1]); print(d.get("ms", "nan"))'; }
cli_ms() { # the FFmpeg CLI's own time (-benchmark rtime: open + decode + convert, without the
  # process start and library loading a library call does not pay), one core, one thread:
  # $1 clip, $2 null|rgb24, $3 passes over the clip (default 1; the time printed is per pass)
  local fmt=(-f null -); [[ "$2" == rgb24 ]] && fmt=(-pix_fmt rgb24 -f rawvideo -y /dev/null)
  local passes="${3:-1}"
  "${pin[@]}" ffmpeg -hide_banner -nostats -v info -benchmark -threads 1 -stream_loop $((passes - 1)) -i "$1" -map 0:v:0 \
    -fps_mode passthrough "${fmt[@]}" 2>&1 | sed -n 's/.*rtime=\([0-9.]*\)s.*/\1/p' | awk -v p="$passes" '{print $1 * 1000 / p}'
}
cli_frames() { # the CLI's frames at the tsm8 indices and their neighbours (±2) as raw RGB24 into
  # $2, vpipe's tsm8 frames into $2.vpipe; prints "WANTED WINDOW WxH" for bench_frames.py compare
  "$bench_bin" --task tsm8 --clip "$1" --reps 1 --dump "$2.vpipe" >/dev/null
  local sel wanted window size
  read -r sel wanted window size < <("$venv/bin/python" "$root/scripts/bench_frames.py" select "$1" "$vpipe")
  ffmpeg -v error -i "$1" -map 0:v:0 -vf "select=$sel" -fps_mode passthrough -pix_fmt rgb24 -f rawvideo -y "$2" 2>/dev/null
  echo "$wanted $window $size"
}

echo "ms, medians of $rounds rounds; vpipe: first epoch (no index cache), +cache: index cached; ÷peer: vpipe ÷ fastest peer;"
echo "÷right: vpipe (first epoch) ÷ the fastest peer whose tsm8 frames are the wanted ones (the frame check below each clip)"
frame_check() { # each library's tsm8 frames against the CLI's (scripts/bench_frames.py: the
  # largest level difference, and whether they are the wanted frames converted otherwise, other
  # frames, or not rotated); "err" when the library cannot read the clip. The peers that returned
  # the wanted frames are listed in $work/right, for the ÷right column.
  local ref="$work/ref.rgb" out lib verdict args
  args=$(cli_frames "$1" "$ref")
  out="vpipe=$("$venv/bin/python" "$root/scripts/bench_frames.py" compare "$ref.vpipe" "$ref" $args)"
  : >"$work/right"
  for lib in $peers; do
    "${pin[@]}" "$(python_of "$lib")" "$root/scripts/bench_peers.py" --lib "$lib" --task tsm8 --clip "$1" --reps 1 --dump "$work/$lib.rgb" >/dev/null 2>&1 || true
    verdict=$([[ -s "$work/$lib.rgb" ]] && "$venv/bin/python" "$root/scripts/bench_frames.py" compare "$work/$lib.rgb" "$ref" $args || echo err)
    out+=" $lib=$verdict"
    [[ "$verdict" == 0 || "$verdict" == *colours* ]] && echo "$lib" >>"$work/right"
    rm -f "$work/$lib.rgb"
  done
  echo "$out"
}

printf '%-40s %-9s %8s %8s %9s %9s %9s %9s %9s %8s %8s %6s %6s %6s %6s %6s\n' clip task vpipe +cache pyav decord opencv torchcodec vr-rs floor avcodec \
  "÷peer" "(+c)" "÷floor" "÷avc" "÷right"
for clip in "${clips[@]}"; do
  name=$(basename "$clip")
  check=$(frame_check "$clip")
  frames=$("$bench_bin" --task full --clip "$clip" --reps 1 | "$venv/bin/python" -c 'import json,sys; print(json.loads(sys.stdin.read())["decoded"])')
  # Full-decode floors (seconds → ms), measured in the same rounds.
  ext=mkv; [[ "$clip" == *.avi ]] && ext=avi # AVI keeps streams without pts
  for task in $tasks; do
    declare -A t=()
    subset="$clip"; passes=1
    if [[ "$task" != full ]]; then # the packets the task decodes, for the floor
      subset="$work/subset.$ext"
      traced=$(VPIPE_INDEX_CACHE=off "$bench_bin" --task "$task" --clip "$clip" --subset "$subset" |
        "$venv/bin/python" -c 'import json,sys; print(json.loads(sys.stdin.read())["packets"])')
      n=$(ffprobe -v error -select_streams v:0 -count_packets -show_entries stream=nb_read_packets -of csv=p=0 "$subset")
      passes=$(( (1500 + n - 1) / n )) # about 1500 frames per timing
    fi
    for ((r = 0; r < rounds; r++)); do
      # First epoch (no index cache) and later epochs (index cache warm).
      out=$(VPIPE_INDEX_CACHE=off "${pin[@]}" "$bench_bin" --task "$task" --clip "$clip" --reps 3)
      t[vpipe]+="$(echo "$out" | json_ms) "
      t[cached]+="$(VPIPE_INDEX_CACHE="$work/cache" "${pin[@]}" "$bench_bin" --task "$task" --clip "$clip" --reps 3 | json_ms) "
      read -r decoded kept < <(echo "$out" | "$venv/bin/python" -c 'import json,sys; d=json.loads(sys.stdin.read()); print(d["decoded"], d["kept"])')
      for lib in $peers; do
        t[$lib]+="$("${pin[@]}" "$(python_of "$lib")" "$root/scripts/bench_peers.py" --lib "$lib" --task "$task" --clip "$clip" --reps 3 2>/dev/null | json_ms) "
      done
      t[rgb]+="$(cli_ms "$clip" rgb24) "
      t[null]+="$(cli_ms "$clip" null) "
      [[ "$task" != full ]] && t[subset]+="$(cli_ms "$subset" null "$passes") "
      avc_out=$("${pin[@]}" "$bench_bin" --task avcodec --clip "$subset" --reps 3 2>/dev/null)
      t[avcodec]+="$(echo "$avc_out" | json_ms) "
    done
    med() { local v; v=$(tr ' ' '\n' <<<"${t[$1]:-}" | grep -v -e '^$' -e nan || true); [[ -n "$v" ]] && median <<<"$v"; }
    v=$(med vpipe); vc=$(med cached); rgb=$(med rgb); avc=$(med avcodec)
    if [[ "$task" == full ]]; then floor=$rgb; else floor=$(calc "$(med subset) + $kept * ($rgb - $(med null)) / $frames"); fi
    best=""; best_right=""; row=()
    for lib in pyav decord opencv torchcodec video_reader_rs; do
      m=$([[ " $peers " == *" $lib "* ]] && med "$lib" || true)
      row+=("${m:-—}")
      [[ -n "$m" ]] && { [[ -z "$best" ]] || awk "BEGIN{exit !($m < $best)}"; } && best=$m
      [[ -n "$m" ]] && grep -qx "$lib" "$work/right" && { [[ -z "$best_right" ]] || awk "BEGIN{exit !($m < $best_right)}"; } && best_right=$m
    done
    ratio() { [[ -n "$2" ]] && printf '%.2f' "$(calc "$1 / $2")" || echo —; }
    printf '%-40s %-9s %8.2f %8.2f %9s %9s %9s %9s %9s %8.2f %8.2f %6s %6s %6s %6s %6s\n' "${name:0:40}" "$task" "$v" "$vc" "${row[@]}" "$floor" "$avc" \
      "$(ratio "$v" "$best")" "$(ratio "$vc" "$best")" "$(ratio "$v" "$floor")" "$(ratio "$v" "$avc")" "$(ratio "$v" "$best_right")"
    [[ "$task" == full ]] && printf '%-40s %-9s (FFmpeg CLI -f null: %.2f ms)\n' "" "" "$(med null)"
    # The floor holds only if the subset decodes a picture for each packet vpipe's decoder did
    # (the frames it output, plus references decoded but never output before the fetch stopped).
    if [[ "$task" != full ]]; then
      sub=$(echo "$avc_out" | "$venv/bin/python" -c 'import json,sys; print(json.loads(sys.stdin.read())["decoded"])')
      if ((sub < traced - 1 || sub > traced + 1)); then
        printf '%-40s %-9s (floor, avcodec: the subset decodes %d frames; vpipe decoded %d pictures, output %d)\n' "" "" "$sub" "$traced" "$decoded"
      fi
    fi
    unset t
  done
  echo "  frames vs FFmpeg CLI (tsm8: max level difference, and which frames): $check"
done

echo
echo "Colour and orientation: each library's 8 TSM frames against the FFmpeg CLI's (max level difference, and which frames):"
for clip in "$conv"/*; do printf '  %-18s %s\n' "$(basename "$clip")" "$(frame_check "$clip")"; done

# --- the TSM train loader -----------------------------------------------------------------------
[[ "${LOADER:-1}" == 0 ]] && exit 0
loader_bin=$(cargo bench --no-run --bench loader 2>&1 | grep -o 'target/release/deps/loader-[0-9a-f]*' | tail -1)
tsm_train_loader "$work"
list="$work/mini_x11.txt"
cps() { "$venv/bin/python" -c 'import json,sys; print(json.loads(sys.stdin.read().strip().splitlines()[-1])["clips_per_s"])'; }
declare -A l=()
for ((r = 0; r < rounds; r++)); do
  l[vpipe]+="$(VPIPE_INDEX_CACHE=off taskset -c 0,1 "$root/$loader_bin" --pipeline "$work/tsm_train.yaml" --workers 2 --epoch "$r" | cps) "
  l[cached]+="$(VPIPE_INDEX_CACHE="$work/loader-cache" taskset -c 0,1 "$root/$loader_bin" --pipeline "$work/tsm_train.yaml" --workers 2 --epoch "$r" | cps) "
  l[peer]+="$(taskset -c 0,1 "$tvenv/bin/python" "$root/scripts/bench_loader_peer.py" --ann "$list" --root "$data/mini/videos" --workers 2 2>/dev/null | cps) "
done
lc=$(tr ' ' '\n' <<<"${l[cached]}" | grep -v '^$' | median)
lv=$(tr ' ' '\n' <<<"${l[vpipe]}" | grep -v '^$' | median); lp=$(tr ' ' '\n' <<<"${l[peer]}" | grep -v '^$' | median)
echo
echo "TSM train loader, 88 clips, batch 8, 2 workers on 2 cores, clips/s (median of $rounds epochs):"
printf '  vpipe %.1f   decord + OpenCV in a torch DataLoader %.1f   ratio %.2fx\n' "$lv" "$lp" "$(calc "$lv / $lp")"
printf '  vpipe with its index cache (the default; every epoch after the first) %.1f   ratio %.2fx\n' "$lc" "$(calc "$lc / $lp")"
