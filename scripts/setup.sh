#!/usr/bin/env bash
# Installs everything vpipe needs to build, test and run the demo; idempotent, and takes
# seconds when all of it is already present.
#   - Debian packages: FFmpeg's -dev libraries (ffmpeg-next), clang (bindgen), cmake + nasm
#     (bundled libjpeg-turbo), the ffmpeg CLI (test oracle and demo data), python3-venv, and
#     Slurm 22.05 + munge for the single-node cluster of scripts/test_slurm.sh.
#   - A light libtorch: torch==2.11.0 wheel without its CUDA dependencies, in .venv (DESIGN §6).
# Prints the environment to use: `eval "$(scripts/setup.sh --env)"` exports LIBTORCH etc.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${VPIPE_VENV:-$root/.venv}"
torch_version=2.11.0

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

if ! "$venv/bin/python" -c "import importlib.metadata as m; assert m.version('torch')=='$torch_version'; import pyarrow, numpy, safetensors, PIL" 2>/dev/null; then
  echo "setup: installing torch $torch_version (light, no CUDA deps), numpy, pyarrow into $venv" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --upgrade pip >&2
  # Light install (DESIGN §6): the CUDA runtime wheels torch links against, nothing else.
  "$venv/bin/pip" install -q --no-deps "torch==$torch_version" nvidia-cuda-runtime==13.0.96 nvidia-cuda-cupti==13.0.85 >&2
  "$venv/bin/pip" install -q numpy pyarrow safetensors pillow >&2
fi
print_env >/dev/null
