#!/bin/sh
# Configures (once) and builds gst-hyrsm in ./build.
set -eu
cd "$(dirname "$0")/.."
[ -f build/build.ninja ] || meson setup build
ninja -C build
