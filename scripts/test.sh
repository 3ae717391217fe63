#!/bin/sh
# Installs what is needed, builds, and runs every test: meson's (g_test unit
# tests, gst-check element tests), then pytest (Python through GI). Ends with
# both runners' summary lines.
set -u
cd "$(dirname "$0")/.."
./scripts/install-deps.sh || exit 1
./scripts/build.sh || exit 1
. scripts/env.sh

meson test -C build --print-errorlogs --num-processes 2
meson_status=$?
$PYTHON -m pytest -ra tests/python tests/cli tests/reference
pytest_status=$?
echo "== meson test: exit $meson_status; pytest: exit $pytest_status"
[ $meson_status -eq 0 ] && [ $pytest_status -eq 0 ]
