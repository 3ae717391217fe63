#!/bin/sh
# Reliability checks (docs/reliability.md), run by scripts/test.sh after the
# ordinary tests (which already include the soak, the fault tests and the
# replay of every fuzz seed and regression input):
#
#   asan      build-asan: gcc, -Db_sanitize=address,undefined; the whole
#             meson test suite under AddressSanitizer, LeakSanitizer and
#             UBSan (soak shortened to HYRSM_ASAN_SOAK_FRAMES, 30,000)
#   fuzz      build-fuzz: clang + libFuzzer (+ ASan/UBSan); each of the five
#             targets for HYRSM_FUZZ_SECONDS (60) from the generated seeds
#             (mutations from HYRSM_FUZZ_SEED, 1, so CI runs repeat)
#             and the kept regression inputs; fails on a crash, a leak, a
#             timeout or an out-of-memory
#   valgrind  ./build (or $HYRSM_BUILDDIR): memcheck on the element tests
#             (CK_FORK=no) and on the support-set loader's fuzz inputs;
#             fails on any error or definite leak
#
# Usage: scripts/ci-reliability.sh [asan] [fuzz] [valgrind]   (default: all)
# Sanitizer suppressions, each explained: tests/sanitizers/.
set -u
cd "$(dirname "$0")/.."
ROOT=$(pwd)
# scripts/env.sh (sourced by test.sh) points these at ./build: the
# instrumented trees must use their own libraries, plugin and registry.
unset GST_PLUGIN_PATH GST_REGISTRY_1_0 GI_TYPELIB_PATH LD_LIBRARY_PATH
STEPS=${*:-asan fuzz valgrind}
FUZZ_SECONDS=${HYRSM_FUZZ_SECONDS:-60}
SUPP="$ROOT/tests/sanitizers"
status=0
summary=""

now () { date +%s; }

note () {
  summary="$summary
  $1"
  echo "== $1"
}

# The plugin scanner helper is not instrumented and cannot load an
# instrumented plugin: scan in the process itself.
sanitizer_env () {
  export GST_REGISTRY_FORK=no
  export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:halt_on_error=1:fast_unwind_on_malloc=${1:-0}"
  export LSAN_OPTIONS="suppressions=$SUPP/lsan.supp:print_suppressions=0"
  export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
  # The distribution's default LLVM (14 on Debian 12, 19 on Debian 13).
  if command -v llvm-symbolizer >/dev/null 2>&1; then
    export ASAN_SYMBOLIZER_PATH=$(command -v llvm-symbolizer)
  fi
}

step_asan () {
  t0=$(now)
  [ -f build-asan/build.ninja ] || meson setup build-asan -Dcuda=disabled \
    -Dintrospection=disabled -Db_sanitize=address,undefined \
    -Db_lundef=false || return 1
  ninja -C build-asan || return 1
  # A registry from an earlier run may list the plugin as broken.
  find build-asan -name 'registry*.bin' -delete
  # The real clips (tests/fixtures/make_clips.sh runs gst-launch-1.0, which
  # is not instrumented and must not load the instrumented plugin): made
  # here, outside the sanitizer environment, then found by the tests.
  sh tests/fixtures/make_clips.sh build-asan/tests/clips || return 1
  (
    sanitizer_env 0
    # (not suite 'install': it builds and installs an uninstrumented copy
    # with introspection, which this build leaves out; test.sh runs it)
    HYRSM_SOAK_FRAMES=${HYRSM_ASAN_SOAK_FRAMES:-30000} \
      meson test -C build-asan --print-errorlogs --num-processes 2 \
      --timeout-multiplier 3 --no-suite lsan-tls --no-suite install \
      || exit 1
    # The suite whose threads crash LeakSanitizer's own exit scan, or whose
    # registry loads system plugins that leak (tests/element/meson.build):
    # ASan and UBSan, leak detection off.
    ASAN_OPTIONS="$ASAN_OPTIONS:detect_leaks=0" \
      meson test -C build-asan --print-errorlogs --num-processes 2 \
      --timeout-multiplier 3 --suite lsan-tls
  )
  rc=$?
  note "asan: meson test under ASan+UBSan: exit $rc ($(( $(now) - t0 )) s)"
  return $rc
}

step_fuzz () {
  t0=$(now)
  [ -f build-fuzz/build.ninja ] || CC=clang meson setup build-fuzz \
    -Dcuda=disabled -Dintrospection=disabled -Dfuzzing=true \
    -Db_sanitize=address,undefined -Db_lundef=false || return 1
  ninja -C build-fuzz tests/fuzz/fuzz-safetensors tests/fuzz/fuzz-model \
    tests/fuzz/fuzz-features tests/fuzz/fuzz-support-dir \
    tests/fuzz/fuzz-bundle tests/fuzz/seeds.stamp || return 1
  find build-fuzz -name 'registry*.bin' -delete
  rc=0
  for target in safetensors model features support-dir bundle; do
    corpus=build-fuzz/corpus/$target
    artifacts=build-fuzz/artifacts
    mkdir -p "$corpus" "$artifacts"
    case $target in
      support-dir)
        # Whole stacks through GLib for the suppressions (slower, and
        # this target is bound by decoding anyway). An input may hold 24
        # clips cut in their headers, each allowed the loader's 5 s
        # no-stream limit: a timeout is a load that took over 150 s.
        unwind=0; extra="-timeout=150 -max_len=512 -len_control=0" ;;
      bundle)
        # Support-set bundles (MQTT payloads): no safetensors inside.
        unwind=1; extra="-timeout=10" ;;
      *)
        unwind=1
        extra="-timeout=10 -dict=$ROOT/tests/fuzz/safetensors.dict" ;;
    esac
    # Kept regression inputs start the run too (libFuzzer wants folders
    # that exist).
    regressions=""
    [ -d "tests/fuzz/regressions/$target" ] && \
      regressions="tests/fuzz/regressions/$target"
    t1=$(now)
    for attempt in 1 2; do
      (
        sanitizer_env $unwind
        # shellcheck disable=SC2086
        build-fuzz/tests/fuzz/fuzz-$target -max_total_time="$FUZZ_SECONDS" \
          -rss_limit_mb=2048 -print_final_stats=1 \
          -seed="${HYRSM_FUZZ_SEED:-1}" \
          -artifact_prefix="$artifacts/$target-" $extra "$corpus" \
          "build-fuzz/tests/fuzz/seeds/$target" $regressions
      ) > "build-fuzz/fuzz-$target.log" 2>&1
      trc=$?
      # LeakSanitizer's own tracer can fault while it stops the threads of
      # a GStreamer pipeline that is winding down ("Tracer caught signal
      # 11 ... LeakSanitizer has encountered a fatal error", an empty input
      # written): a failure of the checker, not a finding. Run once more;
      # a real leak or crash fails both runs.
      if [ $trc -ne 0 ] && [ $attempt = 1 ] && grep -q \
          "LeakSanitizer has encountered a fatal error" \
          "build-fuzz/fuzz-$target.log"; then
        note "fuzz-$target: LeakSanitizer's tracer failed (not a finding); running again"
        continue
      fi
      break
    done
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' \
      "build-fuzz/fuzz-$target.log")
    note "fuzz-$target: exit $trc, ${execs:-?} inputs in $(( $(now) - t1 )) s"
    if [ $trc -ne 0 ]; then
      tail -n 80 "build-fuzz/fuzz-$target.log"
      echo "== the input is in $artifacts/ (crash-*, leak-*, timeout-*," \
        "oom-*): fix the bug, then keep it in tests/fuzz/regressions/$target/"
      rc=1
    fi
  done
  note "fuzz: exit $rc ($(( $(now) - t0 )) s)"
  return $rc
}

step_valgrind () {
  t0=$(now)
  B=${HYRSM_BUILDDIR:-$ROOT/build}
  if [ "$B" = "$ROOT/build" ]; then
    ./scripts/build.sh || return 1
  else
    ninja -C "$B" || return 1
  fi
  VG="valgrind --error-exitcode=99 --leak-check=full --show-leak-kinds=definite --errors-for-leak-kinds=definite --num-callers=40 --suppressions=/usr/share/glib-2.0/valgrind/glib.supp --suppressions=$SUPP/valgrind.supp"
  (
    # As meson sets them for the element tests; one process (CK_FORK=no)
    # so that valgrind sees the tests themselves.
    export GST_PLUGIN_PATH="$B/src/gst/plugin" GST_REGISTRY_FORK=no \
      GST_REGISTRY_1_0="$B/tests/valgrind-registry.bin" \
      GST_PLUGIN_LOADING_WHITELIST=gstreamer:gst-plugins-base:gst-plugins-good:gst-libav:gst-hyrsm \
      HYRSM_MAKE_TEST_MODEL="$B/tests/unit/make-test-model" \
      HYRSM_FIXTURES="$ROOT/tests/fixtures" HYRSM_PYTHON=/usr/bin/python3 \
      CK_FORK=no CK_DEFAULT_TIMEOUT=3000 CK_TIMEOUT_MULTIPLIER=10 \
      G_SLICE=always-malloc
    # The registry is built once, outside valgrind.
    gst-inspect-1.0 hyrsmfilter > /dev/null || exit 1
    # The element's harness tests: the streaming ones, then regions of
    # interest (the same process budget as when they were one program).
    {
      $VG --log-file="$B/valgrind-element.log" \
        "$B/tests/element/test-element-hyrsmfilter" > "$B/valgrind-element.out" 2>&1 \
      && $VG --log-file="$B/valgrind-element-roi.log" \
        "$B/tests/element/test-element-hyrsmfilter-roi" >> "$B/valgrind-element.out" 2>&1
    } &
    p1=$!
    $VG --log-file="$B/valgrind-support-dir.log" \
      "$B/tests/fuzz/fuzz-support-dir" "$B/tests/fuzz/seeds/support-dir" \
      "$ROOT/tests/fuzz/regressions/support-dir" > "$B/valgrind-support-dir.out" 2>&1 &
    p2=$!
    r=0
    wait $p1 || { r=1; echo "== valgrind: element tests failed"; tail -n 60 "$B/valgrind-element.out" "$B/valgrind-element.log" "$B/valgrind-element-roi.log"; }
    wait $p2 || { r=1; echo "== valgrind: support-dir inputs failed"; tail -n 60 "$B/valgrind-support-dir.out" "$B/valgrind-support-dir.log"; }
    grep -h -E "ERROR SUMMARY|definitely lost" "$B/valgrind-element.log" "$B/valgrind-element-roi.log" "$B/valgrind-support-dir.log"
    exit $r
  )
  rc=$?
  note "valgrind: exit $rc ($(( $(now) - t0 )) s)"
  return $rc
}

for step in $STEPS; do
  case $step in
    asan) step_asan || status=1 ;;
    fuzz) step_fuzz || status=1 ;;
    valgrind) step_valgrind || status=1 ;;
    *) echo "unknown step $step (asan, fuzz, valgrind)"; exit 2 ;;
  esac
done
echo "== reliability summary:$summary"
exit $status
