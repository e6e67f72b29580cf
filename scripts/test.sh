#!/usr/bin/env bash
# Installs what is missing (scripts/setup.sh), then runs every test: cargo's, then the real-Slurm
# array test (scripts/test_slurm.sh).
# Real-data tests read $VPIPE_TEST_DATA, else ../shared/data; under CI=true a missing data folder fails.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
scripts/setup.sh
eval "$(scripts/setup.sh --env)"
# A one-off build gains nothing from incremental state, which costs gigabytes of disk.
# The fuzz targets of src/fuzz.rs run 10 s each (issue 11; 3 s in a plain `cargo test`).
VPIPE_FUZZ_SECS="${VPIPE_FUZZ_SECS:-10}" CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}" cargo test "$@"
# The real-Slurm array test (issue 9) with the binary cargo test built.
scripts/test_slurm.sh "$root/target/debug/vpipe"
