#!/usr/bin/env bash
# Installs what is missing (scripts/setup.sh), then runs every test.
# Real-data tests read $VPIPE_TEST_DATA, else ../shared/data; under CI=true a missing data folder fails.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
scripts/setup.sh
eval "$(scripts/setup.sh --env)"
cargo test "$@"
