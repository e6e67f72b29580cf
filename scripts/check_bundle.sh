#!/usr/bin/env bash
# Checks that the bundle's statically linked FFmpeg (scripts/bundle.sh) gives the frames of the
# system FFmpeg build (`cargo build --bin vpipe`): every frame of the edge, Kinetics and mmaction2
# videos extracted to JPEG by both, compared byte for byte, and the TSM-R50 featurize rows of the
# mini list compared value for value. Prints the counts; exits 1 on a difference.
#   scripts/bundle.sh && scripts/check_bundle.sh
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bundle="${BUNDLE_DIR:-$root/.bundle}"
data="${VPIPE_TEST_DATA:-$root/../shared/data}"
eval "$("$root/scripts/setup.sh" --env)"
(cd "$root" && cargo build -q --bin vpipe)
system="$root/target/debug/vpipe"
work="$(mktemp -d "${TMPDIR:-/tmp}/vpipe-check-bundle.XXXXXX")"
trap 'rm -rf "$work"' EXIT

for name in bundle system; do
  bin="$bundle/vpipe"; [[ $name == system ]] && bin="$system"
  for src in edge kinetics mmaction2; do
    "$bin" extract-frames --level 1 "$data/$src" "$work/$name/$src" >/dev/null 2>&1 || true
  done
  (cd "$work/$name" && find . -name "*.jpg" | xargs md5sum | sort) > "$work/$name.md5"
  sed "s#\.\./shared/data#$data#g" "$root/pipelines/featurize_tsm.yaml" > "$work/featurize.yaml"
  (cd "$work" && "$bin" featurize --config featurize.yaml --device cpu --out "$name.parquet" >/dev/null 2>&1)
done
echo "JPEGs: bundle $(wc -l < "$work/bundle.md5"), system $(wc -l < "$work/system.md5"), byte-identical $(comm -12 "$work/bundle.md5" "$work/system.md5" | wc -l)"
echo "only the system build decodes: $(comm -13 "$work/bundle.md5" "$work/system.md5" | awk '{print $2}' | xargs -rn1 dirname | sort -u | tr '\n' ' ')"
"$VPIPE_PYTHON" - "$work" <<'PY'
import sys, pyarrow.parquet as pq
w = sys.argv[1]
a, b = (pq.read_table(f"{w}/{n}.parquet").to_pydict() for n in ("bundle", "system"))
same = a == b
print(f"featurize rows: {len(a['video'])}, equal value for value: {same}")
sys.exit(0 if same else 1)
PY
comm -23 "$work/bundle.md5" "$work/system.md5" | grep -q . && { echo "FAIL: the bundle wrote JPEGs the system build did not"; exit 1; }
echo "check_bundle: the bundle's frames are the system build's"
