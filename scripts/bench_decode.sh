#!/usr/bin/env bash
# Decode benchmark: TSM 8-frame sparse fetch vs full decode per clip, medians, with their ratio.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
scripts/setup.sh
eval "$(scripts/setup.sh --env)"
cargo bench --bench decode
