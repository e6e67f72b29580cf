#!/usr/bin/env bash
# The GPU proof (issue 8), run on a machine with an NVIDIA GPU and PyTorch 2.11 as python3 (the
# lent device machine: no FFmpeg, no Rust, no network) from the bundle scripts/bundle.sh makes:
#
#   here:    scripts/bundle.sh                                  # → .bundle/ (≈ 40 MB)
#   device:  scripts/gpu_check.sh        (with `.bundle` carried; the run tool's carry)
#
# Prints, and fails (exit 1) when one does not hold:
#   1. featurize on CUDA vs the CPU (TSM-R50, mini list, same seed): logits within 1e-3
#      relative, uint8 upload through vpipe's copy stream and float32 upload both;
#   2. `vpipe run pipelines/tsm_r18_mini.yaml` on CUDA and on the CPU: final val top1_acc
#      (the training set), CUDA no more than one video below the CPU;
#   3. the fp16 loss-scale trace (autocast + dynamic scaling from 2^24, growth_interval 10):
#      overflowed steps skipped and halved, growth after 10 finite steps, a finite loss;
#   4. `vpipe bench` of TSM-R50 training, batch 8 × 8 segments × 224², on the mini list ×12:
#      clips/s, the bottleneck stage, the upload stage's H2D GB/s;
#   5. the Python package (the bundle's wheel, unpacked beside python3's torch): vpipe.Loader's
#      device="cuda" batches equal the CPU batches moved to the GPU (train and val, two epochs,
#      float32 and uint8), on cuda:LOCAL_RANK; then examples/train_torch.py for 2 epochs on it.
# GPU_CHECK_DEVICE=cpu runs the same steps with the CPU in place of CUDA (a dry run of this
# script on a machine without a GPU; the comparisons then compare the CPU with itself), and
# BENCH_REPEAT=N lists the mini videos N times in step 4 instead of 12, and GPU_CHECK_STEPS="4 5"
# runs only those steps (default all; step 5 reuses step 2's pipeline file, which it writes itself).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# The bundle: this script's own folder's parent when run from inside one, else the checkout's .bundle.
if [[ -x "$root/bin/vpipe" ]]; then bundle="${BUNDLE_DIR:-$root}"; else bundle="${BUNDLE_DIR:-$root/.bundle}"; fi
vpipe="$bundle/vpipe"
data="$bundle/data"
dev="${GPU_CHECK_DEVICE:-cuda}"
py="${PYTHON:-python3}"
[[ "$py" == */* ]] && py="$(cd "$(dirname "$py")" && pwd)/$(basename "$py")"  # steps cd elsewhere
steps=" ${GPU_CHECK_STEPS:-1 2 3 4 5} "
want() { [[ "$steps" == *" $1 "* ]]; }
work="$(mktemp -d "${TMPDIR:-/tmp}/vpipe-gpu-check.XXXXXX")"
fail=0
[[ -x "$vpipe" && -d "$data/mini" ]] || { echo "gpu_check: no bundle at $bundle (run scripts/bundle.sh)" >&2; exit 2; }

say() { printf '\n== %s\n' "$*"; }
bad() { echo "FAIL: $*"; fail=1; }
# A pipeline from pipelines/NAME with the data paths pointed at the bundle's copy, edited by sed.
pipeline() { sed -e "s#\.\./shared/data#$data#g" "${@:2}" "$root/pipelines/$1"; }

say "device"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null || echo "(no nvidia-smi)"
"$py" -c 'import torch; print("python3 torch", torch.__version__, "cuda", torch.cuda.is_available())' 2>/dev/null || true

if want 1; then
say "1. featurize: $dev vs cpu (TSM-R50 random init from seed 0, mini list, 8 segments, 224²)"
pipeline featurize_tsm.yaml > "$work/featurize.yaml"
(cd "$work" && "$vpipe" featurize --config featurize.yaml --device cpu --upload f32 --out cpu.parquet)
(cd "$work" && "$vpipe" featurize --config featurize.yaml --device "$dev" --upload u8 --out dev_u8.parquet)
(cd "$work" && "$vpipe" featurize --config featurize.yaml --device "$dev" --upload f32 --out dev_f32.parquet)
"$py" - "$work" <<'PY' || bad "featurize rows differ"
import sys, pyarrow.parquet as pq, numpy as np
w = sys.argv[1]
def rows(name):
    t = pq.read_table(f"{w}/{name}").to_pydict()
    return t["video"], np.array(t["logits"], dtype=np.float64), np.array(t["feature"], dtype=np.float64)
v0, l0, f0 = rows("cpu.parquet")
ok = True
for name in ("dev_u8.parquet", "dev_f32.parquet"):
    v, l, f = rows(name)
    same_rows = v == v0
    rel_l = np.abs(l - l0).max() / max(np.abs(l0).max(), 1e-12)
    rel_f = np.abs(f - f0).max() / max(np.abs(f0).max(), 1e-12)
    print(f"{name}: {len(v)} rows (cpu {len(v0)}), same videos in order: {same_rows}, "
          f"logits max |diff| / max |cpu| = {rel_l:.2e}, features {rel_f:.2e}")
    ok &= same_rows and rel_l <= 1e-3 and rel_f <= 1e-3
sys.exit(0 if ok else 1)
PY

fi
if want 2; then
say "2. vpipe run tsm_r18_mini.yaml (50 epochs) on $dev and on the cpu"
pipeline tsm_r18_mini.yaml > "$work/mini.yaml"
acc() { "$py" -c 'import json,sys; v=[json.loads(l) for l in open(sys.argv[1]) if "\"val\"" in l]; print(v[-1]["top1_acc"])' "$1/log.jsonl"; }
for d in "$dev" cpu; do
  start=$(date +%s)
  (cd "$work" && "$vpipe" run mini.yaml --device "$d" --work-dir "run_$d" > "run_$d.txt" 2>&1) || { bad "vpipe run on $d"; tail -20 "$work/run_$d.txt"; }
  echo "$d: final val top1_acc $(acc "$work/run_$d") in $(( $(date +%s) - start )) s"
done
"$py" -c 'import sys; a,b=map(float,sys.argv[1:]); sys.exit(0 if a >= b - 1/8 else 1)' "$(acc "$work/run_$dev")" "$(acc "$work/run_cpu")" \
  || bad "top1_acc on $dev is more than one video below the cpu's"

fi
if want 3; then
say "3. fp16 on $dev: loss-scale trace (init_scale 2^24, growth_interval 10, 15 epochs × 2 iterations)"
pipeline tsm_r18_mini.yaml -e 's/^  epochs: 50/  epochs: 15/' \
  -e 's/^  grad_clip: 20/  grad_clip: 20\n  fp16: {loss_scale: {init_scale: 16777216, growth_interval: 10}}/' > "$work/fp16.yaml"
(cd "$work" && "$vpipe" run fp16.yaml --device "$dev" --work-dir run_fp16 > run_fp16.txt 2>&1) || { bad "fp16 run"; tail -20 "$work/run_fp16.txt"; }
grep -m1 "fp16" "$work/run_fp16.txt" || true
"$py" - "$work/run_fp16/log.jsonl" "$dev" <<'PY' || bad "the loss scale did not behave"
import json, math, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
steps = [r for r in recs if r.get("mode") == "train" and "loss_scale" in r]
for r in steps:
    print(f"epoch {r['epoch']:2d} iter {r['iter']}: loss {r['loss']:.4f} scale {r['loss_scale']:>10.0f} {'skipped' if r['skipped'] else ''}")
if sys.argv[2] == "cpu":
    print("(cpu: fp16 needs CUDA, no trace expected)"); sys.exit(0)
scales = [r["loss_scale"] for r in steps]
skipped = [r for r in steps if r["skipped"]]
halved = any(b == a / 2 for a, b in zip(scales, scales[1:]))
grew = any(b == a * 2 for a, b in zip(scales, scales[1:]))
finite = all(math.isfinite(r["loss"]) for r in steps)
print(f"{len(steps)} steps, {len(skipped)} skipped, halved: {halved}, grew: {grew}, finite losses: {finite}")
sys.exit(0 if steps and skipped and halved and grew and finite else 1)
PY

repeat="${BENCH_REPEAT:-12}"
fi
if want 4; then
say "4. vpipe bench: TSM-R50 training on $dev, batch 8 × 8 segments × 224², mini list ×$repeat ($((8 * repeat)) clips)"
for _ in $(seq "$repeat"); do cat "$data/mini/mini_videos.txt"; done > "$work/mini_list.txt"
# pipelines/tsm_r50_ucf101.yaml (mmaction2's TSM-R50 pipelines) on the mini list, 5 classes.
pipeline tsm_r50_ucf101.yaml -e "s#ann_file: data/ucf101/[a-z0-9_]*\.txt#ann_file: $work/mini_list.txt#" \
  -e "s#root: data/ucf101/videos#root: $data/mini/videos#" -e "s/num_classes: 101/num_classes: 5/" > "$work/bench.yaml"
"$vpipe" bench "$work/bench.yaml" --device "$dev" --epochs 2 --json > "$work/bench.json" || bad "bench"
"$py" - "$work/bench.json" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
stages = {s["name"]: s for s in j.get("stages", [])}
up = stages.get("upload", {})
print(f"device {j.get('device')} {j.get('device_note') or ''}")
print("clips/s per epoch:", [round(e["clips_per_s"], 1) for e in j["epochs"]])
print("bottleneck:", j.get("bottleneck"))
print(f"upload (H2D): {up.get('bytes', 0) / 1e9:.3f} GB, {up.get('gb_per_s') or 0:.2f} GB/s while busy, "
      f"blocked {up.get('blocked_s', 0):.2f} s (waiting on the model)")
for name, s in stages.items():
    print(f"  {name:10s} threads {s.get('workers'):2d}  busy {s.get('busy_s', 0):7.2f} s  "
          f"starved {s.get('starved_s', 0):7.2f} s  blocked {s.get('blocked_s', 0):7.2f} s  {100 * s.get('utilization', 0):5.1f} %")
PY

fi
if want 5; then
say "5. Python: vpipe.Loader(device=\"$dev\") against the CPU loader"
mkdir -p "$work/py"
[[ -f "$work/mini.yaml" ]] || pipeline tsm_r18_mini.yaml > "$work/mini.yaml"
(cd "$work/py" && "$py" -m zipfile -e "$(ls "$bundle"/wheels/vpipe-*.whl | head -1)" .) || bad "unpacking the wheel"
PYTHONPATH="$work/py" "$py" - "$work/mini.yaml" "$dev" <<'PY' || bad "Python CUDA batches differ"
import sys, torch, vpipe
cfg, dev = sys.argv[1], sys.argv[2]
print("vpipe from", vpipe.__file__, "torch", torch.__version__)
ok = True
for split in ("train", "val"):
    for output in ("float32", "uint8"):
        gpu = vpipe.Loader(cfg, split=split, workers=2, device=dev, output=output)
        cpu = vpipe.Loader(cfg, split=split, workers=2, output=output)
        for epoch in (0, 1):
            gpu.set_epoch(epoch); cpu.set_epoch(epoch)
            n = 0
            for g, c in zip(gpu, cpu):
                same = g.inputs.device == gpu.device and torch.equal(g.inputs, c.inputs.to(gpu.device)) and torch.equal(g.indices, c.indices)
                ok &= bool(same)
                n += 1
            print(f"{split} {output} epoch {epoch}: {n} batches on {gpu.device}, equal to the CPU's moved there: {ok}")
sys.exit(0 if ok else 1)
PY
(cd "$work" && PYTHONPATH="$work/py" VPIPE_TEST_DATA="$data" "$py" "$bundle/scripts/train_torch.py" --epochs 2 --device "$dev") \
  || bad "examples/train_torch.py on $dev"

fi

say "result"
if ((fail)); then echo "gpu_check: FAILED (work files in $work)"; exit 1; fi
echo "gpu_check: all checks passed on $dev (work files in $work)"
