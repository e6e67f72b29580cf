#!/usr/bin/env bash
# Builds a self-contained vpipe for machines that have PyTorch 2.11 but no FFmpeg, no Rust and
# no network: the lent GPU machines (scripts/gpu_check.sh runs there) and cluster nodes.
#
#   scripts/bundle.sh            # → .bundle/ (≈ 40 MB; BUNDLE_DIR=… to put it elsewhere)
#
# .bundle/ holds
#   bin/vpipe   a release build with FFmpeg 5.1 linked statically: Debian's own FFmpeg 5.1.9
#               source (`apt-get source`, the version the tests compare against), configured with
#               only what vpipe uses (native video decoders, the mov/avi/matroska/… demuxers, the
#               filters of the colour conversion, swscale) and no external libraries;
#               libjpeg-turbo is static as always. libtorch stays dynamic: the node's own
#               PyTorch 2.11 (tch 0.24's libtorch) provides it, with CUDA where there is a GPU.
#   vpipe       the command to run: finds python3's torch (or $LIBTORCH), sets LD_LIBRARY_PATH and
#               LIBTORCH, then runs bin/vpipe.
#   wheels/     the Python package (python/) built the same way: a release abi3 wheel with FFmpeg
#               static, libtorch from the node's torch (`import torch` loads it first).
#   data/       the real test videos gpu_check.sh uses (mini, kinetics, mmaction2 from
#               $VPIPE_TEST_DATA or ../shared/data), pipelines/ and scripts/gpu_check.sh.
# The build tree (FFmpeg prefix, cargo target) stays in .bundle-build/ so a second run is quick.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${BUNDLE_DIR:-$root/.bundle}"
build="$root/.bundle-build"
ff_version=5.1.9
ff_prefix="$build/ffmpeg-$ff_version"
data="${VPIPE_TEST_DATA:-$root/../shared/data}"
jobs="$(nproc)"

"$root/scripts/setup.sh"
eval "$("$root/scripts/setup.sh" --env)"
sudo_cmd=(); [[ $(id -u) -ne 0 ]] && sudo_cmd=(sudo)

fetch_ffmpeg_source() {
  # Debian's source package; its deb-src entry is added once if the machine has none.
  local versions
  versions="$(apt-cache showsrc ffmpeg 2>/dev/null || true)"
  if ! grep -q "^Version: .*:$ff_version-" <<<"$versions"; then
    echo "bundle: adding Debian's deb-src entries" >&2
    sed 's/^Types: deb$/Types: deb-src/' /etc/apt/sources.list.d/debian.sources \
      | "${sudo_cmd[@]}" tee /etc/apt/sources.list.d/vpipe-deb-src.sources >/dev/null
    "${sudo_cmd[@]}" apt-get update -qq
  fi
  command -v dpkg-source >/dev/null || DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq dpkg-dev >&2
  mkdir -p "$build/src"
  local version
  version="$(apt-cache showsrc ffmpeg | sed -n "s/^Version: \(.*:$ff_version-.*\)/\1/p" | head -1)"
  (cd "$build/src" && apt-get source -qq "ffmpeg=$version" >&2)
}

build_ffmpeg() {
  local src="$build/src/ffmpeg-$ff_version"
  [[ -d "$src" ]] || fetch_ffmpeg_source
  echo "bundle: building a static FFmpeg $ff_version (decoders only) in $ff_prefix" >&2
  (cd "$src" && make distclean >/dev/null 2>&1 || true)
  (cd "$src" && ./configure --prefix="$ff_prefix" --enable-static --disable-shared --enable-pic \
    --disable-programs --disable-doc --disable-network --disable-autodetect --disable-everything \
    --disable-avdevice --disable-swresample --disable-postproc \
    --enable-avcodec --enable-avformat --enable-avfilter --enable-swscale \
    --enable-decoder=h264,hevc,mpeg4,msmpeg4v1,msmpeg4v2,msmpeg4v3,h263,h263p,h263i,flv,mpeg1video,mpeg2video,vp8,vp9,mjpeg,rawvideo,theora,wmv1,wmv2,wmv3,vc1,prores,dnxhd,ffv1,huffyuv,png,gif \
    --enable-demuxer=mov,avi,matroska,flv,mpegts,mpegps,mpegvideo,m4v,h264,hevc,ivf,ogg,asf,gif,rawvideo \
    --enable-parser=h264,hevc,mpeg4video,mpegvideo,h263,vp8,vp9,mjpeg,vc1,dnxhd,png,gif \
    --enable-protocol=file,pipe \
    --enable-filter=buffer,buffersink,format,scale,transpose,hflip,vflip,null,copy >/dev/null)
  make -C "$src" -j"$jobs" >/dev/null
  make -C "$src" install >/dev/null
}

[[ -f "$ff_prefix/lib/libavcodec.a" ]] || build_ffmpeg

echo "bundle: cargo build --release --features static-ffmpeg" >&2
FFMPEG_DIR="$ff_prefix" PKG_CONFIG_PATH="$ff_prefix/lib/pkgconfig" CARGO_TARGET_DIR="$build/target" \
  cargo build --release --features static-ffmpeg --bin vpipe
bin="$build/target/release/vpipe"
if ldd "$bin" | grep -E "libav|libsw"; then
  echo "bundle: $bin still links FFmpeg's shared libraries" >&2
  exit 1
fi

echo "bundle: maturin build --release --features static-ffmpeg (the Python package)" >&2
rm -rf "$build/wheels"
FFMPEG_DIR="$ff_prefix" PKG_CONFIG_PATH="$ff_prefix/lib/pkgconfig" CARGO_TARGET_DIR="$build/target" \
  VIRTUAL_ENV="$root/.venv" PATH="$root/.venv/bin:$PATH" "$root/.venv/bin/maturin" build --release -q \
  -m "$root/python/Cargo.toml" --features static-ffmpeg -i "$root/.venv/bin/python" --auditwheel skip -o "$build/wheels" >&2
so="$(unzip -Z1 "$build"/wheels/vpipe-*.whl | grep '_vpipe.*\.so$')"
(cd "$build/wheels" && unzip -o -q vpipe-*.whl "$so")
if ldd "$build/wheels/$so" | grep -E "libav|libsw"; then
  echo "bundle: the wheel's $so still links FFmpeg's shared libraries" >&2
  exit 1
fi

rm -rf "$out"
mkdir -p "$out/bin" "$out/data" "$out/pipelines" "$out/scripts" "$out/wheels"
cp "$build"/wheels/vpipe-*.whl "$out/wheels/"
strip -o "$out/bin/vpipe" "$bin"
cat > "$out/vpipe" <<'WRAP'
#!/usr/bin/env bash
# Runs the bundled vpipe on the node's own libtorch: $LIBTORCH, else python3's torch package.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [[ -z "${LIBTORCH:-}" ]]; then
  LIBTORCH="$(python3 -c 'import importlib.util as u; print(u.find_spec("torch").submodule_search_locations[0])' 2>/dev/null)" \
    || { echo "vpipe bundle: no libtorch: set LIBTORCH or install PyTorch 2.11 for python3" >&2; exit 1; }
fi
export LIBTORCH
export LD_LIBRARY_PATH="$LIBTORCH/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
exec "$here/bin/vpipe" "$@"
WRAP
chmod +x "$out/vpipe"
for d in mini kinetics mmaction2; do
  [[ -d "$data/$d" ]] && cp -r "$data/$d" "$out/data/"
done
cp "$root"/pipelines/{tsm_r18_mini,featurize_tsm,tsm_r50_ucf101}.yaml "$out/pipelines/"
cp "$root/scripts/gpu_check.sh" "$out/scripts/"
cp "$root/examples/train_torch.py" "$out/scripts/"
echo "bundle: $out ($(du -sh "$out" | cut -f1)); FFmpeg linked statically:" >&2
ldd "$out/bin/vpipe" | sed 's/^/  /' >&2
