#!/usr/bin/env bash
# Installs everything vpipe needs to build, test and run the demo; idempotent, and takes
# seconds when all of it is already present.
#   - Debian packages: FFmpeg's -dev libraries (ffmpeg-next), clang (bindgen), cmake + nasm
#     (bundled libjpeg-turbo), the ffmpeg CLI (test oracle and demo data), python3-venv, and
#     Slurm 22.05 + munge for the single-node cluster of scripts/test_slurm.sh.
#   - PyTorch 2.11.0 (the full PyPI wheel, which `import torch` accepts; ~4.5 GB with its CUDA
#     wheels, DESIGN §6), torchvision, numpy, pyarrow, pytest and maturin in .venv; its libtorch
#     also serves the Rust build.
#   - The Python package `vpipe` (python/), built by maturin and installed into .venv, so that
#     `.venv/bin/python -c "import vpipe"` works (rebuilt when its sources changed: seconds).
# Prints the environment to use: `eval "$(scripts/setup.sh --env)"` exports LIBTORCH etc.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${VPIPE_VENV:-$root/.venv}"
torch_version=2.11.0
torchvision_version=0.26.0

print_env() {
  local torch_dir="$venv/lib/python3.11/site-packages/torch"
  echo "export LIBTORCH='$torch_dir'"
  echo "export LIBTORCH_BYPASS_VERSION_CHECK=1"
  echo "export LD_LIBRARY_PATH='$torch_dir/lib'\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}"
  echo "export VPIPE_PYTHON='$venv/bin/python'"
}
if [[ "${1:-}" == "--env" ]]; then print_env; exit 0; fi

apt_pkgs=(pkg-config clang libclang-dev libavcodec-dev libavformat-dev libavutil-dev
  libswscale-dev libswresample-dev libavfilter-dev libavdevice-dev ffmpeg cmake nasm python3-venv
  slurmctld slurmd slurm-client munge)
missing=()
for p in "${apt_pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing Debian packages: ${missing[*]}" >&2
  sudo_cmd=(); [[ $(id -u) -ne 0 ]] && sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi

if ! "$venv/bin/python" -c "import importlib.metadata as m; assert m.version('torch')=='$torch_version'; import torch, torchvision, pyarrow, numpy, safetensors, PIL, pytest, maturin" 2>/dev/null; then
  echo "setup: installing torch $torch_version (full wheel, ~4.5 GB), torchvision, numpy, pyarrow, pytest, maturin into $venv" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --upgrade pip >&2
  # The full wheel: the light --no-deps one links but cannot `import torch` (DESIGN §6). Over a
  # light install, pip keeps torch and adds the dependencies it lacked.
  "$venv/bin/pip" install -q "torch==$torch_version" "torchvision==$torchvision_version" numpy pyarrow safetensors pillow pytest "maturin>=1.5,<2" >&2
fi

# The Python package: maturin builds python/ (a workspace member of its own, so the CLI never
# links Python) in cargo's dev profile, sharing target/ with `cargo test`; abi3, so one wheel
# serves every CPython ≥ 3.9. libtorch and FFmpeg are never copied into it (--auditwheel skip):
# torch and the system provide them. Skipped when the installed build matches the sources.
eval "$(print_env)"
stamp="$venv/.vpipe-package-stamp"
sources_hash=$(cd "$root" && cat Cargo.toml Cargo.lock build.rs $(git ls-files -co --exclude-standard src python | grep -v -e '/tests/' -e '__pycache__' | sort) 2>/dev/null | sha256sum | cut -c1-16)
if [[ "$(cat "$stamp" 2>/dev/null)" != "$sources_hash" ]] || ! (cd / && "$venv/bin/python" -c "import vpipe") 2>/dev/null; then
  echo "setup: building the Python package (maturin) into $venv" >&2
  wheels="$root/target/wheels"
  rm -rf "$wheels"
  (cd "$root" && VIRTUAL_ENV="$venv" PATH="$venv/bin:$PATH" "$venv/bin/maturin" build -q -m python/Cargo.toml \
    -i "$venv/bin/python" --auditwheel skip -o "$wheels" >&2)
  "$venv/bin/pip" install -q --force-reinstall --no-deps "$wheels"/vpipe-*.whl >&2
  echo "$sources_hash" > "$stamp"
fi
