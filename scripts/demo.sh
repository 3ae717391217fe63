#!/bin/sh
# The main job: installs what is needed, builds, and runs the demo.
set -eu
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
./scripts/build.sh
. scripts/env.sh

workdir=$(mktemp -d /tmp/hyrsm-demo.XXXXXX)
model="$workdir/resnet18-hyrsm.safetensors"
echo "== Writing a ResNet-18 + HyRSM++ head model with RANDOM weights (no trained"
echo "   weights can be downloaded here; see README for a real checkpoint): $model"
build/tests/unit/make-test-model --backbone resnet18 --head 1shot "$model"
echo "== gst-hyrsm info"
gst-hyrsm info "$model"
echo "== gst-inspect-1.0 hyrsmfilter (properties)"
gst-inspect-1.0 hyrsmfilter | sed -n '/^Element Properties/,$p'
echo "== A pipeline through hyrsmfilter"
gst-launch-1.0 -q videotestsrc num-buffers=30 ! video/x-raw,width=320,height=240 \
  ! hyrsmfilter model="$model" ! fakesink
echo "== done"
