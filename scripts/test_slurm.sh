#!/usr/bin/env bash
# Issue 9's real-Slurm test: a single-node Slurm cluster (scripts/slurm/single-node.sh), the real
# scripts/slurm/featurize.sbatch submitted as --array=1-3 over ../shared/data (mini + kinetics),
# one task cancelled mid-run and requeued, then the union of the shards compared row for row with
# an unsharded run. Stops the daemons by PID. Needs root and Slurm (scripts/setup.sh installs it);
# without them it says it is skipped, and fails under CI=true.
# Usage: scripts/test_slurm.sh [VPIPE_BINARY]   (default target/debug/vpipe, built if missing)
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
