#!/bin/sh
# The main job: installs what is needed, builds, and runs the live demo:
# a support set of real video clips (cut from videos that Debian packages
# ship), a held-out stream played in real time through hyrsmfilter, and
# each decision printed as it happens; the stream is also written with the
# decisions drawn on it (hyrsmoverlay), with one of its frames as PNG.
set -eu
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
./scripts/build.sh
. scripts/env.sh

work=${HYRSM_DEMO_DIR:-/tmp/gst-hyrsm-demo}
mkdir -p "$work"
echo "== Cutting support clips and a held-out stream from Debian's videos into $work"
tests/fixtures/make_clips.sh "$work/clips" >/dev/null

model="$work/resnet18-random.safetensors"
echo "== NOTE: no trained weights can be downloaded here. The demo uses a ResNet-18"
echo "   backbone with deterministic RANDOM weights (seed 0) and no relation head:"
echo "   it tells these scenes apart by their appearance, not by learned actions."
echo "   See README.md to use a real HyRSM++ checkpoint."
[ -f "$model" ] || $PYTHON tests/fixtures/make_model.py "$model" --backbone resnet18 --head none --seed 0
gst-hyrsm info "$model"

echo "== Support set ($work/clips/support): one folder per label, 3 clips each"
ls "$work/clips/support"
echo "== Playing $work/clips/stream.mkv in real time through hyrsmfilter"
$PYTHON scripts/demo_live.py --model "$model" --support "$work/clips/support" \
  --stream "$work/clips/stream.mkv" --truth "$work/clips/stream.txt" \
  --labelled "$work/demo-labelled.mkv" --snapshot "$work/demo-labelled.png"
echo "== The stream with the decisions drawn by hyrsmoverlay: $work/demo-labelled.mkv"
echo "   One of its frames: $work/demo-labelled.png"
