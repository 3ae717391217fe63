#!/bin/bash
# tests/gpu/bundle.sh [BUILDDIR]: packs the GPU test and benchmark programs,
# built here, with the shared libraries a bare GPU machine lacks (GLib,
# json-glib, oneDNN, ...) into build-gpu-bundle/hyrsm-gpu-bundle.tar.xz, for
# tests/gpu/run.sh on the device machine (which has CUDA, cuDNN and cuBLAS,
# but no GLib development files and no package registry).
#
# Left out on purpose: glibc itself, libstdc++/libgcc_s (the GPU image's
# are newer), the driver (libcuda), cuDNN and cuBLAS (hundreds of MB; run.sh
# takes the GPU machine's own). libcudart is included (small, and the
# binaries were linked against this CUDA 13 runtime).
#
# build-gpu-bundle/ matches the repository's /build*/ ignore rule, so the
# device tool carries it with `carry: ["build-gpu-bundle"]`.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${1:-$ROOT/build-cuda}
DEST=$ROOT/build-gpu-bundle
ninja -C "$BUILD" tests/gpu/test-gpu tests/gpu/bench-gpu >/dev/null

STAGE=$(mktemp -d)
trap 'rm -rf "$STAGE"' EXIT
mkdir -p "$STAGE/bin" "$STAGE/lib"
cp "$BUILD/tests/gpu/test-gpu" "$BUILD/tests/gpu/bench-gpu" "$STAGE/bin/"
for lib in $(ldd "$STAGE"/bin/* | awk '/=> \// { print $3 }' | sort -u); do
  case $(basename "$lib") in
    libc.so*|libm.so*|libpthread.so*|libdl.so*|librt.so*|ld-linux*) ;;
    libstdc++.so*|libgcc_s.so*|libcuda.so*|libcudnn*|libcublas*) ;;
    *) cp -L "$lib" "$STAGE/lib/" ;;
  esac
done
mkdir -p "$DEST"
rm -f "$DEST/hyrsm-gpu-bundle.tar.xz"
tar -C "$STAGE" -cJf "$DEST/hyrsm-gpu-bundle.tar.xz" bin lib
(cd "$STAGE" && ls bin lib) > "$DEST/CONTENTS"
git -C "$ROOT" rev-parse HEAD > "$DEST/BUILT_FROM" 2>/dev/null || true
echo "$DEST/hyrsm-gpu-bundle.tar.xz: $(du -h "$DEST/hyrsm-gpu-bundle.tar.xz" | cut -f1)" \
  "($(ls "$STAGE/lib" | wc -l) libraries)"
