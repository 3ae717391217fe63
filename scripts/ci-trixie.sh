#!/bin/sh
# ci-trixie.sh: CI's Debian 13 lane (.ci/run runs it after the Debian 12
# run of the README's test command). In a Debian 13 "trixie" root made by
# debootstrap (scripts/check-fresh.sh), a clone of HEAD runs the README's
# test command, ./scripts/test.sh: the project's own install-deps.sh, the
# build, the ASan/UBSan step of the reliability checks (fuzzing and valgrind
# run in the Debian 12 lane only, to keep CI inside its time), the meson
# suite and every pytest suite, against GStreamer 1.26, GLib 2.84,
# oneDNN 3.7, GCC 14, Python 3.13, numpy 2 and PyTorch 2.6.
#
# The root is kept in HYRSM_TRIXIE_ROOT (default
# /var/cache/gst-hyrsm/trixie-root) between runs where the machine keeps
# it: its packages are then there already and install-deps.sh finds
# nothing to install; a new machine makes it again (about 3 minutes).
# Needs root. HYRSM_TRIXIE=0 in the environment skips the lane (for a
# quick local run of .ci/run).
set -eu
cd "$(dirname "$0")/.."
if [ "${HYRSM_TRIXIE:-1}" = 0 ]; then
  echo "== Debian 13 lane skipped (HYRSM_TRIXIE=0)"
  exit 0
fi
root=${HYRSM_TRIXIE_ROOT:-/var/cache/gst-hyrsm/trixie-root}
status=0
HYRSM_FRESH_ROOT=$root HYRSM_FRESH_REUSE=1 HYRSM_FRESH_KEEP=1 \
  ./scripts/check-fresh.sh trixie \
  "HYRSM_RELIABILITY_STEPS=asan ./scripts/test.sh" || status=$?
# The runners' logs, for .ci/run's closing summary.
rm -rf build/test-logs-trixie
mkdir -p build
cp -r "$root/root/gst-hyrsm/build/test-logs" build/test-logs-trixie \
  2>/dev/null || true
exit $status
