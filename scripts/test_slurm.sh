#!/usr/bin/env bash
# The real-Slurm tests on a single-node Slurm cluster (scripts/slurm/single-node.sh):
# 1. scripts/slurm/featurize.sbatch submitted as --array=1-3 over ../shared/data (mini +
#    kinetics), one task cancelled mid-run and requeued, then the union of the shards compared row
#    for row with an unsharded run (issue 9);
# 2. scripts/slurm/train.sbatch training a tiny TSM on the mini list, stopped mid-epoch twice —
#    by the time-limit signal (SIGUSR1 to the batch shell: vpipe requeues itself) and by
#    `scontrol requeue` (preemption) — then its final weights compared bit for bit with an
#    uninterrupted run's (issue 13).
# Stops the daemons by PID. Needs root and Slurm (scripts/setup.sh installs it);
# without them it says it is skipped, and fails under CI=true.
# Usage: scripts/test_slurm.sh [VPIPE_BINARY]   (default target/debug/vpipe, built if missing)
# VPIPE_SLURM_TESTS="featurize train" (the default) picks the tests.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
skip() {
  if [[ "${CI:-}" == "true" ]]; then echo "test_slurm: FAILED: $*" >&2; exit 1; fi
  echo "test_slurm: skipped: $*" >&2; exit 0
}
data="${VPIPE_TEST_DATA:-$root/../shared/data}"
[[ -d "$data/mini" && -d "$data/kinetics" ]] || skip "no test data at $data"
[[ $(id -u) -eq 0 ]] || skip "needs root to start slurmctld/slurmd/munged"
command -v sbatch >/dev/null && [[ -x /usr/sbin/slurmctld ]] || skip "Slurm is not installed (scripts/setup.sh installs it)"
eval "$(scripts/setup.sh --env)"
vpipe="${1:-$root/target/debug/vpipe}"
[[ -x "$vpipe" ]] || cargo build --bin vpipe
vpipe="$(cd "$(dirname "$vpipe")" && pwd)/$(basename "$vpipe")"
py="$VPIPE_PYTHON"

work="$(mktemp -d /tmp/vpipe-slurm-test.XXXXXX)"
export SLURM_STATE="$work/slurm"
cluster() { scripts/slurm/single-node.sh "$1"; }
cleanup() { cluster down || true; }
trap cleanup EXIT
cluster up
echo "test_slurm: cluster up ($(sinfo -h -o '%N %c CPUs %T'))" >&2

wants() { [[ " ${VPIPE_SLURM_TESTS:-featurize train} " == *" $1 "* ]]; }

# --- 1. featurize.sbatch: sharded, one shard cancelled and requeued -------------------------
if wants featurize; then
# The list: the mini videos three times and the Kinetics clips, paths relative to the data root.
list="$work/list.txt"
for _ in 1 2 3; do sed 's|^|mini/videos/|' "$data/mini/mini_videos.txt"; done > "$list"
for f in "$data"/kinetics/*.mp4; do echo "kinetics/$(basename "$f") 0"; done >> "$list"
flags=(--ann "$list" --root "$data" --model tsn-r18 --num-classes 5 --batch-size 1 --commit-every 1)

"$vpipe" featurize "${flags[@]}" --workers 2 --out "$work/whole" 2> "$work/whole.log"

out="$work/out"
job=$(cd "$work" && VPIPE="$vpipe" sbatch --parsable --array=1-3 --cpus-per-task=1 \
  "$root/scripts/slurm/featurize.sbatch" "${flags[@]}" --out "$out")
echo "test_slurm: submitted array job $job" >&2

# Cancel task 2 (shard 1) once it has committed its first chunk, then requeue it.
victim="${job}_2"
for _ in $(seq 600); do
  [[ -e "$out/.part-00001-of-00003.work/chunk-000000.json" ]] && break
  sleep 0.1
done
[[ -e "$out/.part-00001-of-00003.work/chunk-000000.json" ]] || { echo "test_slurm: shard 1 never committed" >&2; exit 1; }
scancel "$victim"
for _ in $(seq 300); do
  squeue -h -r -j "$victim" -t RUNNING,COMPLETING 2>/dev/null | grep -q . || break
  sleep 0.1
done
[[ ! -e "$out/part-00001-of-00003.json" ]] || { echo "test_slurm: shard 1 finished before the cancel; nothing was tested" >&2; exit 1; }
echo "test_slurm: cancelled $victim mid-run:" >&2
"$vpipe" shards "$out" >&2 || true
scontrol requeue "$victim"
scontrol update JobId="$victim" StartTime=now
for _ in $(seq 1200); do
  [[ -z "$(squeue -h -j "$job")" ]] && break
  sleep 0.25
done
[[ -z "$(squeue -h -j "$job")" ]] || { echo "test_slurm: array job $job still queued after 300 s" >&2; squeue -j "$job" >&2; exit 1; }

"$vpipe" shards "$out" --json > "$work/shards.json"
"$vpipe" shards "$out" --merge "$work/merged.parquet" >&2
"$py" - "$work" <<'PY'
import json, sys, pyarrow.parquet as pq
work = sys.argv[1]
s = json.load(open(f"{work}/shards.json"))
assert s["shards"] == 3 and s["complete"] == 3, s
resumed = [st["resumed_at"] for st in s["states"]]
assert resumed[1] > 0, f"the requeued shard 1 resumed after its committed videos: {resumed}"
def rows(path):
    t = pq.read_table(path)
    return sorted(zip(t["video"].to_pylist(), t["clip"].to_pylist(), [tuple(l) for l in t["logits"].to_pylist()]))
whole, union = rows(f"{work}/whole/part-00000-of-00001.parquet"), rows(f"{work}/merged.parquet")
assert len(whole) == 27, len(whole)
assert union == whole, "the union of the shards differs from the unsharded run"
print(f"test_slurm: OK: 3 shards (shard 1 cancelled, requeued, resumed after {resumed[1]} videos), {len(union)} rows equal to the unsharded run")
PY
fi

# --- 2. train.sbatch: stopped twice mid-epoch, requeued, resumed to the same weights ----------
wants train || exit 0
# 4 epochs of 4 iterations (batch 2 of the 8 mini videos).
sed -e "s#\.\./shared/data#$data#g" -e 's/epochs: 50/epochs: 4/' -e '0,/batch_size: 4/s//batch_size: 2/' \
    -e 's/milestones: \[40\]/milestones: [3]/' -e 's/max_keep_ckpts: 2/max_keep_ckpts: -1/' \
    pipelines/tsm_r18_mini.yaml > "$work/train.yaml"
"$vpipe" run "$work/train.yaml" --work-dir "$work/train_whole" 2> "$work/train_whole.log"
tw="$work/train_slurm"
job=$(cd "$work" && VPIPE="$vpipe" sbatch --parsable --cpus-per-task=2 "$root/scripts/slurm/train.sbatch" \
  "$work/train.yaml" --work-dir "$tw")
echo "test_slurm: submitted training job $job" >&2
# Waits until log.jsonl has iteration $2 of epoch $1, then sends what $3… says.
stop_at() {
  local epoch=$1 iter=$2; shift 2
  for _ in $(seq 1200); do
    grep -qE "\"epoch\":$epoch,.*\"iter\":$iter," "$tw/log.jsonl" 2>/dev/null && break
    sleep 0.1
  done
  grep -qE "\"epoch\":$epoch,.*\"iter\":$iter," "$tw/log.jsonl" || { echo "test_slurm: training never reached epoch $epoch iteration $iter" >&2; cat "$work/vpipe-train-$job.log" >&2; exit 1; }
  "$@"
}
# Waits for the job to run again after a requeue, moving its start (~120 s after a requeue) to
# now once it is pending, the node has finished with its last run, and a whole second has passed:
# slurmd compares credentials by the second, so a relaunch within the second of the kill is
# "Job credential revoked" and Slurm kills the job for good.
restart() {
  local pending=0
  for _ in $(seq 600); do
    case "$(squeue -h -j "$job" -o %T):$(sinfo -h -o %T | head -1)" in
      PENDING:idle) pending=$((pending + 1)); ((pending > 10)) && { scontrol update JobId="$job" StartTime=now 2>/dev/null || true; } ;;
      RUNNING:*) grep -q "restart $1)" "$work/vpipe-train-$job.log" 2>/dev/null && return ;;
      :*) echo "test_slurm: job $job left the queue instead of running again" >&2; cat "$work/vpipe-train-$job.log" >&2; exit 1 ;;
    esac
    sleep 0.2
  done
  echo "test_slurm: job $job did not run again after its requeue" >&2; cat "$work/vpipe-train-$job.log" >&2; exit 1
}
stop_at 2 2 scancel --signal=USR1 --batch "$job"   # the time limit is near (--signal=B:USR1@120)
restart 1
stop_at 3 2 scontrol requeue "$job"                # preemption
restart 2
for _ in $(seq 1200); do
  [[ -z "$(squeue -h -j "$job")" ]] && break
  sleep 0.25
done
[[ -z "$(squeue -h -j "$job")" ]] || { echo "test_slurm: training job $job still queued after 300 s" >&2; exit 1; }
log="$work/vpipe-train-$job.log"
[[ $(grep -c "resumed from" "$log") -eq 2 ]] || { echo "test_slurm: expected two resumes in $log" >&2; cat "$log" >&2; exit 1; }
grep -q "requeued Slurm job $job" "$log" || { echo "test_slurm: vpipe did not requeue itself on SIGUSR1" >&2; cat "$log" >&2; exit 1; }
"$py" - "$work" <<'PY'
import json, sys
from safetensors.torch import load_file
work = sys.argv[1]
a, b = load_file(f"{work}/train_whole/epoch_4.safetensors"), load_file(f"{work}/train_slurm/epoch_4.safetensors")
assert a.keys() == b.keys() and all((a[k] == b[k]).all() for k in a), "the requeued run ended with other weights"
steps = [(r["epoch"], r["iter"]) for r in map(json.loads, open(f"{work}/train_slurm/log.jsonl")) if r["mode"] == "train"]
assert steps == [(e, i) for e in range(1, 5) for i in range(1, 5)], f"log.jsonl repeats or lacks iterations: {steps}"
print(f"test_slurm: OK: training stopped twice mid-epoch (SIGUSR1 + self-requeue, scontrol requeue), resumed to weights bit-identical to an uninterrupted run ({len(a)} tensors)")
PY
