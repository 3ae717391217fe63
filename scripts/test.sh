#!/bin/sh
# Installs what is needed, builds, and runs every test: meson's (g_test unit
# tests, gst-check element tests, fuzz replays, soak, faults), then pytest
# (Python through GI), then the reliability checks (scripts/ci-reliability.sh:
# sanitizers, fuzzing, valgrind). Ends with the runners' summary lines.
set -u
cd "$(dirname "$0")/.."
./scripts/install-deps.sh || exit 1
./scripts/build.sh || exit 1
. scripts/env.sh

meson test -C build --print-errorlogs --num-processes 2
meson_status=$?
$PYTHON -m pytest -ra tests/python tests/cli tests/reference
pytest_status=$?
# Sanitizers, fuzzing and valgrind (docs/reliability.md); about 15 minutes
# on 2 cores. HYRSM_RELIABILITY=0 skips them.
reliability_status=0
if [ "${HYRSM_RELIABILITY:-1}" != 0 ]; then
  ./scripts/ci-reliability.sh
  reliability_status=$?
fi
echo "== meson test: exit $meson_status; pytest: exit $pytest_status;" \
  "reliability: exit $reliability_status"
[ $meson_status -eq 0 ] && [ $pytest_status -eq 0 ] \
  && [ $reliability_status -eq 0 ]
