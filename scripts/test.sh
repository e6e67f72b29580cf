#!/usr/bin/env bash
# Installs what is missing (scripts/setup.sh, which also builds the Python package into .venv),
# then runs every test: cargo's, the Python package's (pytest), then the real-Slurm array test
# (scripts/test_slurm.sh).
# Real-data tests read $VPIPE_TEST_DATA, else ../shared/data; under CI=true a missing data folder
# (or, for pytest, a missing torch or vpipe package) fails.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
# A one-off build gains nothing from incremental state, which costs gigabytes of disk; set before
# setup.sh so that its package build and cargo test share one build of the library.
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"
scripts/setup.sh
eval "$(scripts/setup.sh --env)"
# The fuzz targets of src/fuzz.rs run 10 s each (issue 11; 3 s in a plain `cargo test`).
VPIPE_FUZZ_SECS="${VPIPE_FUZZ_SECS:-10}" cargo test "$@"
# The Python package (issue 12): against the CLI binary cargo test built.
VPIPE_BIN="$root/target/debug/vpipe" "$root/.venv/bin/python" -m pytest -q -p no:cacheprovider python/tests
# The real-Slurm array test (issue 9) with the binary cargo test built.
scripts/test_slurm.sh "$root/target/debug/vpipe"
