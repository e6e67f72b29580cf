#!/usr/bin/env bash
# Temporal-median benchmark, one run, same rawframes for all three:
#   vpipe median            (all cores, radix-select median, JPEG out)
#   the NumPy reference     (scripts/median_reference.py: PIL + np.median, one process, as CDAR runs it)
#   vpipe median --decode-only (reading and decoding the same selected frames, nothing else)
#   vpipe median --workers 1   (one core, to compare per core with the one-core NumPy script)
# prints medians of REPS runs and the ratios. Targets: >= 10x the NumPy script; <= 1.5x decode-only.
#
# Usage: scripts/bench_median.sh [VIDEO_DIR]   (default ../shared/data/mini/videos, extracted first
#        with vpipe extract-frames; COPIES (default 3) lists each extracted video that many times)
source "$(dirname "${BASH_SOURCE[0]}")/bench_common.sh"
src="${1:-$data/mini/videos}"
copies="${COPIES:-3}"

"$vpipe" extract-frames "$src" "$work/extracted" 2>/dev/null
rm -f "$work/extracted/build_report.txt"
mkdir -p "$work/raw"
for c in $(seq "$copies"); do cp -r "$work/extracted" "$work/raw/copy$c"; done
videos=$(find "$work/raw" -name 'img_00001.jpg' | wc -l)


# Warm the page cache once.
"$vpipe" median "$work/raw" "$work/warm" --decode-only >/dev/null 2>&1
tv=(); tn=(); td=(); t1=()
for _ in $(seq "$reps"); do
  rm -rf "$work/out_v" "$work/out_n" "$work/out_1"
  tv+=("$(timed "$vpipe" median "$work/raw" "$work/out_v")")
  tn+=("$(timed "$VPIPE_PYTHON" scripts/median_reference.py "$work/raw" "$work/out_n")")
  td+=("$(timed "$vpipe" median "$work/raw" "$work/out_d" --decode-only)")
  t1+=("$(timed "$vpipe" median "$work/raw" "$work/out_1" --workers 1)")
done
mv=$(printf '%s\n' "${tv[@]}" | median); mn=$(printf '%s\n' "${tn[@]}" | median); md=$(printf '%s\n' "${td[@]}" | median)
m1=$(printf '%s\n' "${t1[@]}" | median)
# Process start-up (libtorch is linked into vpipe) is in every vpipe time above.
ts=(); for _ in $(seq "$reps"); do ts+=("$(timed "$vpipe" --version)"); done
mst=$(printf '%s\n' "${ts[@]}" | median)
echo "videos: $videos ($copies copies of $src), cores: $(nproc), runs: $reps (medians)"
printf '%-40s %8.3f s\n' "vpipe median" "$mv" "NumPy reference (one process)" "$mn" "vpipe decode-only (same frames)" "$md" \
  "vpipe median --workers 1" "$m1" "vpipe start-up (--version)" "$mst"
printf 'vpipe vs NumPy: %.1fx faster (target >= 10x)\n' "$(calc "$mn / $mv")"
printf 'vpipe median / decode-only: %.2fx (target <= 1.5x)\n' "$(calc "$mv / $md")"
printf 'per core (vpipe --workers 1 vs NumPy, both one core): %.1fx\n' "$(calc "$mn / $m1")"
