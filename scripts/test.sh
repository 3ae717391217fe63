#!/bin/sh
# Installs what is needed, builds, and runs every test: the reliability
# checks first (scripts/ci-reliability.sh: sanitizers, fuzzing, valgrind;
# about 15 minutes on 2 cores; HYRSM_RELIABILITY=0 skips them,
# HYRSM_RELIABILITY_STEPS="asan" runs only those named), then
# meson's tests (g_test unit tests, gst-check element tests, fuzz replays,
# soak, faults) and pytest (Python through GI), so that the output ends with
# the runners' own summary lines.
set -u
cd "$(dirname "$0")/.."
./scripts/install-deps.sh || exit 1
./scripts/build.sh || exit 1

reliability_status=0
if [ "${HYRSM_RELIABILITY:-1}" != 0 ]; then
  # HYRSM_RELIABILITY_STEPS picks some of them (CI's Debian 13 lane: asan).
  # shellcheck disable=SC2086
  ./scripts/ci-reliability.sh ${HYRSM_RELIABILITY_STEPS:-}
  reliability_status=$?
fi

. scripts/env.sh
logs=build/test-logs
mkdir -p "$logs"
# run NAME COMMAND...: runs COMMAND, its output shown and kept in
# $logs/NAME.txt, its exit status in $logs/NAME.status.
run () {
  name=$1
  shift
  { "$@"; echo $? > "$logs/$name.status"; } 2>&1 | tee "$logs/$name.txt"
}
run meson meson test -C build --print-errorlogs --num-processes 2
run pytest $PYTHON -m pytest -ra tests/python tests/cli tests/reference
meson_status=$(cat "$logs/meson.status")
pytest_status=$(cat "$logs/pytest.status")

# The runners' own summary lines, last, so that a CI log ends with them.
echo "== reliability checks: exit $reliability_status"
echo "== meson test summary:"
sed -n '/^Ok:/,/^Timeout:/p' "$logs/meson.txt"
echo "== pytest summary:"
tail -n 1 "$logs/pytest.txt"
[ "$meson_status" -eq 0 ] && [ "$pytest_status" -eq 0 ] \
  && [ "$reliability_status" -eq 0 ]
