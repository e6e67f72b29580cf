# Sourced by scripts/bench_*.sh: installs what is missing, builds the release binary, and defines
# the shared settings and helpers.
#   root, vpipe (release binary), data (real test data), reps (REPS, default 5), work (temp dir,
#   removed on exit); median (of numbers on stdin), calc EXPR, now, timed CMD... (seconds).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
scripts/setup.sh >/dev/null
eval "$(scripts/setup.sh --env)"
cargo build --release --bin vpipe 2>&1 | tail -1
vpipe="$root/target/release/vpipe"
data="${VPIPE_TEST_DATA:-$root/../shared/data}"
reps="${REPS:-5}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
now() { date +%s.%N; }
calc() { awk "BEGIN { print $1 }"; }
timed() { local t0 t1; t0=$(now); "$@" >/dev/null 2>&1; t1=$(now); calc "$t1 - $t0"; }
