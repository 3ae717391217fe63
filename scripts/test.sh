#!/bin/sh
# Installs what is needed, builds, and runs every test: the reliability
# checks first (scripts/ci-reliability.sh: sanitizers, fuzzing, valgrind;
# about 15 minutes on 2 cores; HYRSM_RELIABILITY=0 skips them), then
# meson's tests (g_test unit tests, gst-check element tests, fuzz replays,
# soak, faults) and pytest (Python through GI), so that the output ends with
# the runners' own summary lines.
set -u
cd "$(dirname "$0")/.."
./scripts/install-deps.sh || exit 1
./scripts/build.sh || exit 1

reliability_status=0
if [ "${HYRSM_RELIABILITY:-1}" != 0 ]; then
  ./scripts/ci-reliability.sh
  reliability_status=$?
fi

. scripts/env.sh
meson test -C build --print-errorlogs --num-processes 2
meson_status=$?
$PYTHON -m pytest -ra tests/python tests/cli tests/reference
pytest_status=$?
echo "== reliability: exit $reliability_status; meson test: exit $meson_status;" \
  "pytest: exit $pytest_status"
[ $meson_status -eq 0 ] && [ $pytest_status -eq 0 ] \
  && [ $reliability_status -eq 0 ]
