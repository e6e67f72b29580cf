#!/usr/bin/env bash
# vpipe.Loader (the Python package) against the Python loaders it replaces, on the TSM train
# pipeline of scripts/bench_peers.sh's loader section (SampleFrames 1x1x8 train, decode,
# Resize(-1,256), MultiScaleCrop(224, 13 fixed crops), Resize(224,224), Flip, Normalize, NCHW,
# batch 8) over the mini list repeated 11 times (88 clips), 2 workers on 2 cores (taskset 0,1),
# each consumed by a Python loop that touches every batch:
#   vpipe.Loader                       scripts/bench_python_loader.py (release build of python/)
#   vpipe bench --no-model             the same loader without Python (the boundary's cost)
#   torchcodec + OpenCV in a DataLoader  scripts/bench_loader_peer.py --decoder torchcodec
#   decord + OpenCV in a DataLoader      scripts/bench_loader_peer.py --decoder decord
# Rounds interleave them (ROUNDS, default 5; vpipe loads epoch 0 each time, as `vpipe bench
# --epochs 1` does); medians. vpipe runs with its index cache off (a first epoch: the peers keep
# nothing between epochs either) and, as vpipe.Loader+cache, with it warm (vpipe's default, every
# epoch after a video's first). Then RSS over 10 epochs of one vpipe.Loader (flat: within 10%).
# Peers and a release build of the package install into .bench/venv-py (torch 2.11 from PyPI,
# torchcodec 0.11, decord, OpenCV; several GB the first time).
source "$(dirname "${BASH_SOURCE[0]}")/bench_common.sh"
rounds="${ROUNDS:-5}"
pyvenv="$root/.bench/venv-py"
if ! "$pyvenv/bin/python" -c "import torch, torchcodec.decoders, decord, cv2, numpy" 2>/dev/null; then
  echo "bench_python_loader: installing torch 2.11, torchcodec, decord, OpenCV into $pyvenv" >&2
  python3 -m venv "$pyvenv"
  "$pyvenv/bin/pip" install -q --upgrade pip >&2
  "$pyvenv/bin/pip" install -q torch==2.11.0 "torchcodec==0.11.*" decord opencv-python-headless numpy maturin >&2
fi
echo "bench_python_loader: building the package (release) into $pyvenv" >&2
VIRTUAL_ENV="$pyvenv" PATH="$pyvenv/bin:$PATH" "$pyvenv/bin/maturin" build --release -q -m python/Cargo.toml \
  -i "$pyvenv/bin/python" --auditwheel skip -o "$work/wheels" >&2
"$pyvenv/bin/pip" install -q --force-reinstall --no-deps "$work"/wheels/vpipe-*.whl >&2
py="$pyvenv/bin/python"

tsm_train_loader "$work"
list="$work/mini_x11.txt"
cps() { "$py" -c 'import json,sys; print(json.loads(sys.stdin.read().strip().splitlines()[-1])["clips_per_s"])'; }
cli_cps() { "$py" -c 'import json,sys; print(json.load(sys.stdin)["epochs"][-1]["clips_per_s"])'; }
declare -A l=()
VPIPE_INDEX_CACHE="$work/index-cache" "$py" scripts/bench_python_loader.py --pipeline "$work/tsm_train.yaml" >/dev/null  # warms the cache
last() { awk '{print $NF}' <<<"$1"; }
for ((r = 0; r < rounds; r++)); do
  l[py]+="$(VPIPE_INDEX_CACHE=off taskset -c 0,1 "$py" scripts/bench_python_loader.py --pipeline "$work/tsm_train.yaml" | cps) "
  l[pyc]+="$(VPIPE_INDEX_CACHE="$work/index-cache" taskset -c 0,1 "$py" scripts/bench_python_loader.py --pipeline "$work/tsm_train.yaml" | cps) "
  l[cli]+="$(VPIPE_INDEX_CACHE=off taskset -c 0,1 "$vpipe" bench "$work/tsm_train.yaml" --no-model --workers 2 --json --epochs 1 | cli_cps) "
  l[tc]+="$(taskset -c 0,1 "$py" scripts/bench_loader_peer.py --ann "$list" --root "$data/mini/videos" --workers 2 --decoder torchcodec 2>/dev/null | cps) "
  l[decord]+="$(taskset -c 0,1 "$py" scripts/bench_loader_peer.py --ann "$list" --root "$data/mini/videos" --workers 2 --decoder decord 2>/dev/null | cps) "
  echo "round $((r + 1)): vpipe.Loader $(last "${l[py]}"), +cache $(last "${l[pyc]}"), vpipe bench $(last "${l[cli]}"), torchcodec $(last "${l[tc]}"), decord $(last "${l[decord]}")" >&2
done
med() { tr ' ' '\n' <<<"$1" | grep -v '^$' | median; }
py_=$(med "${l[py]}"); pyc=$(med "${l[pyc]}"); cli=$(med "${l[cli]}"); tc=$(med "${l[tc]}"); dec=$(med "${l[decord]}")
echo "TSM train loader, 88 clips, batch 8, 2 workers on 2 cores, clips/s (medians of $rounds interleaved rounds):"
printf '  vpipe.Loader %.1f   vpipe bench --no-model %.1f (Python boundary costs %.1f%%)\n' "$py_" "$cli" "$(calc "100 * (1 - $py_ / $cli)")"
printf '  torchcodec + OpenCV DataLoader %.1f (vpipe.Loader %.2fx)   decord + OpenCV DataLoader %.1f (vpipe.Loader %.2fx)\n' \
  "$tc" "$(calc "$py_ / $tc")" "$dec" "$(calc "$py_ / $dec")"
printf '  vpipe.Loader with its index cache %.1f: %.2fx torchcodec, %.2fx decord\n' "$pyc" "$(calc "$pyc / $tc")" "$(calc "$pyc / $dec")"
echo "RSS over 10 epochs of one vpipe.Loader (KiB after each epoch):"
rss=$(VPIPE_INDEX_CACHE=off taskset -c 0,1 "$py" scripts/bench_python_loader.py --pipeline "$work/tsm_train.yaml" --epochs 10 |
  "$py" -c 'import json,sys; print(" ".join(str(json.loads(l)["rss_kib"]) for l in sys.stdin if l.strip()))')
echo "  $rss"
read -r -a r <<<"$rss"
printf '  epoch 10 / epoch 2: %.3f (epoch 1 allocates the pools)\n' "$(calc "${r[9]} / ${r[1]}")"
