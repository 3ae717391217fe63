#!/bin/bash
# tests/gpu/run.sh: the GPU check, in one go (8 minutes at most), on the
# device machine (H100 / H200: CUDA 13, nvcc, PyTorch with cuDNN and
# cuBLAS, no GStreamer/GLib development files, no package registry). See
# docs/cuda.md.
#
# Prepared here (a machine with the build dependencies), then carried:
#   tests/gpu/bundle.sh            # -> build-gpu-bundle/hyrsm-gpu-bundle.tar.xz
#   device run: carry ["build-gpu-bundle"], command "bash tests/gpu/run.sh"
#
# Steps, each with its own time limit so that one hang loses one step:
#   preflight   python3 with torch (torch.cuda.is_available()) and
#               torchvision, xz; else exit 2 at once
#   unpack      the prebuilt x86-64 test-gpu and bench-gpu
#   libraries   the machine's cuDNN / cuBLAS (PyTorch's wheels, the CUDA
#               toolkit); every library of the bundled programs must
#               resolve, else their steps fail (the PyTorch baseline runs)
#   models      a random ResNet-50 + 1-shot head for the benchmark and the
#               parity test's end-to-end model (make_model.py)
#   parity      test-gpu (TAP): its exit status, the plan count and every
#               result line are checked, so a crash part-way is a failure
#   bench fp16 / bench fp32 / torch
#               bench-gpu, and PyTorch eager and CUDA-graph fp16
#               channels_last on the same weights (bench_torch.py)
#   table       parity per test and the speed table, last (table.md)
# LD_LIBRARY_PATH (bundle + cuDNN/cuBLAS directories) is set for the
# bundled programs only: PyTorch keeps its own libraries.
#
# Exit status: 0 when every step passed; 1 when a step failed (the table
# names it); 2 when the preflight or the unpacking failed.
#
# Options (environment): HYRSM_GPU_QUICK=1 fewer iterations;
# HYRSM_GPU_SKIP_TESTS=1 benchmark only; HYRSM_GPU_BATCHES=1,8,64,256;
# HYRSM_GPU_BATCHES_FP32=1,64; HYRSM_GPU_PARITY_TIMEOUT=200,
# HYRSM_GPU_BENCH_TIMEOUT=100 (fp16, PyTorch), HYRSM_GPU_BENCH_FP32_TIMEOUT=60,
# HYRSM_GPU_MODEL_TIMEOUT=45, HYRSM_GPU_DEADLINE=480 (the whole run; every
# step's limit is cut to what is left of it) (seconds);
# HYRSM_GPU_BUNDLE (the tar.xz); HYRSM_GPU_PYTHON (python3 with torch).
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
OUT=${OUT:-/tmp/hyrsm-gpu}
mkdir -p "$OUT"
BUNDLE=${HYRSM_GPU_BUNDLE:-$ROOT/build-gpu-bundle/hyrsm-gpu-bundle.tar.xz}
BATCHES=${HYRSM_GPU_BATCHES:-1,8,64,256}
BATCHES_FP32=${HYRSM_GPU_BATCHES_FP32:-1,64}   # fp32 (FMA) is for reference only
PARITY_TIMEOUT=${HYRSM_GPU_PARITY_TIMEOUT:-200}
BENCH_TIMEOUT=${HYRSM_GPU_BENCH_TIMEOUT:-100}
MODEL_TIMEOUT=${HYRSM_GPU_MODEL_TIMEOUT:-45}
BENCH_FP32_TIMEOUT=${HYRSM_GPU_BENCH_FP32_TIMEOUT:-60}
# The whole run, whatever its steps' limits: the table is printed before
# the device call's own limit (run it with timeout_s of about 500).
DEADLINE=${HYRSM_GPU_DEADLINE:-480}
QUICK=()
[ "${HYRSM_GPU_QUICK:-0}" = 1 ] && QUICK=(--quick)
PY=${HYRSM_GPU_PYTHON:-$(command -v python3 || echo python3)}
exec > >(tee "$OUT/run.log") 2>&1

FAILED=()
step() { printf '\n=== %s (%ds)\n' "$*" "$SECONDS"; }
fail() { echo "FAILED: $*"; FAILED+=("$*"); }
# timed LIMIT NAME CMD...: runs CMD with a time limit, cut to what is left
# of the whole run's DEADLINE (less a reserve for the table); a timeout or
# a non-zero status is a failure of step NAME. Returns CMD's status.
timed() {
  local limit=$1 name=$2 status left
  shift 2
  left=$((DEADLINE - SECONDS - 20))
  if [ "$left" -lt 5 ]; then
    fail "$name: not run, the run's ${DEADLINE}s are spent"
    return 124
  fi
  [ "$left" -lt "$limit" ] && limit=$left
  timeout --kill-after=5 "$limit" "$@"
  status=$?
  if [ "$status" = 124 ] || [ "$status" = 137 ]; then
    fail "$name: no result after ${limit}s (killed)"
  elif [ "$status" != 0 ]; then
    fail "$name: exit status $status"
  fi
  return "$status"
}

step "preflight"
missing=()
command -v xz >/dev/null || missing+=("xz (to unpack the bundle)")
command -v timeout >/dev/null || missing+=("timeout (coreutils)")
if ! command -v "$PY" >/dev/null; then
  missing+=("python3 ($PY)")
else
  why=$(timeout 60 "$PY" -c '
import sys
try:
    import torch
except Exception as e:
    sys.exit("PyTorch does not import: %s" % e)
if not torch.cuda.is_available():
    sys.exit("torch.cuda.is_available() is False: no usable GPU or driver")
try:
    import torchvision
except Exception as e:
    sys.exit("torchvision does not import: %s" % e)
print("torch", torch.__version__, "cuda", torch.version.cuda, "cudnn",
      torch.backends.cudnn.version(), "torchvision", torchvision.__version__,
      "gpu", torch.cuda.get_device_name(0))
' 2>&1) || missing+=("${why:-python3 with torch failed}")
  [ ${#missing[@]} = 0 ] && echo "$why"
fi
if [ ${#missing[@]} != 0 ]; then
  printf 'FAILED: preflight: %s\n' "${missing[@]}"
  exit 2
fi
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null || true

step "unpack $BUNDLE"
if [ ! -f "$BUNDLE" ]; then
  echo "FAILED: no bundle: run tests/gpu/bundle.sh where the project builds, then carry build-gpu-bundle"
  exit 2
fi
WORK=$(mktemp -d /tmp/hyrsm-gpu-work.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
if ! tar -C "$WORK" -xJf "$BUNDLE" || [ ! -x "$WORK/bin/test-gpu" ] || [ ! -x "$WORK/bin/bench-gpu" ]; then
  echo "FAILED: $BUNDLE does not unpack to bin/test-gpu and bin/bench-gpu"
  exit 2
fi
sed 's/^/built from commit /' "$(dirname "$BUNDLE")/BUILT_FROM" 2>/dev/null || true

step "cuDNN and cuBLAS of this machine"
# PyTorch's wheels (nvidia/cudnn/lib, nvidia/cu13/lib, ...) first, then the
# CUDA toolkit, whose lib64 is often a symlink (find -L follows it). Every
# directory holding one of the libraries is added.
SEARCH=$("$PY" - <<'EOF'
import os, site
dirs = []
try:
    import nvidia
    dirs += list(nvidia.__path__)
except Exception:
    pass
for s in site.getsitepackages():
    dirs.append(os.path.join(s, "nvidia"))
    dirs.append(os.path.join(s, "torch", "lib"))
print(" ".join(d for d in dirs if os.path.isdir(d)))
EOF
)
LIBDIRS=""
for name in libcudnn.so.9 libcudnn_cnn.so.9 libcublas.so.13 libcublasLt.so.13; do
  # shellcheck disable=SC2086  # SEARCH is a list of directories
  for dir in $(find -L $SEARCH ${HYRSM_GPU_LIBDIRS:-/usr/local/cuda/lib64 /usr/local/cuda/targets /usr/lib/x86_64-linux-gnu} \
      -name "$name" -printf '%h\n' 2>/dev/null | sort -u); do
    case ":$LIBDIRS:" in *":$dir:"*) ;; *) LIBDIRS="$LIBDIRS:$dir" ;; esac
  done
done
# For the bundled programs only (see the top).
BUNDLE_LD_PATH="$WORK/lib$LIBDIRS${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
echo "bundled programs: LD_LIBRARY_PATH=$BUNDLE_LD_PATH"
PROGRAMS_OK=1
unresolved=$(env LD_LIBRARY_PATH="$BUNDLE_LD_PATH" ldd "$WORK/bin/test-gpu" "$WORK/bin/bench-gpu" 2>&1 | grep "not found" | sort -u)
if [ -n "$unresolved" ]; then
  echo "$unresolved"
  fail "libraries: the bundled programs do not load here (above); add them to the bundle (tests/gpu/bundle.sh)"
  PROGRAMS_OK=0
fi

step "models (tests/fixtures/make_model.py, PyTorch)"
# The benchmark's random ResNet-50 + 1-shot head, and the parity test's
# end-to-end ResNet-18 + 1-shot head (the arguments of make_head_model() in
# test-gpu-match.c), made here so that PyTorch runs outside the bundle's
# LD_LIBRARY_PATH.
MODEL="$WORK/resnet50-1shot.safetensors"
MODEL_OK=1
timed "$MODEL_TIMEOUT" "model: make_model.py resnet50" "$PY" "$ROOT/tests/fixtures/make_model.py" "$MODEL" \
  --backbone resnet50 --head 1shot --seed 0 || MODEL_OK=0
E2E_MODEL="$WORK/e2e.safetensors"
if timed "$MODEL_TIMEOUT" "model: make_model.py resnet18 (end to end)" "$PY" \
    "$ROOT/tests/fixtures/make_model.py" "$E2E_MODEL" --backbone resnet18 --head 1shot --seed 5 \
    --meta hyrsm.crop=112 --meta hyrsm.resize=128; then
  export HYRSM_GPU_E2E_MODEL_FILE="$E2E_MODEL"
fi

export HYRSM_FIXTURES="$ROOT/tests/fixtures" HYRSM_PYTHON="$PY"
PARITY="not run"
PARITY_LOG="$OUT/parity.log"
: > "$PARITY_LOG"
if [ "${HYRSM_GPU_SKIP_TESTS:-0}" != 1 ] && [ "$PROGRAMS_OK" = 1 ]; then
  step "parity tests (test-gpu, at most ${PARITY_TIMEOUT}s)"
  # The backend's info/debug lines: chosen cuDNN algorithms, any fused-call
  # fallback or CUDA-graph capture failure.
  cd "$WORK" || exit 2
  G_MESSAGES_DEBUG=Hyrsm timed "$PARITY_TIMEOUT" "parity: test-gpu" \
    env LD_LIBRARY_PATH="$BUNDLE_LD_PATH" ./bin/test-gpu --tap --keep-going \
    > >(tee "$PARITY_LOG") 2>&1
  status=$?
  wait "$!"   # for tee
  cd "$ROOT" || exit 2
  plan=$(sed -n 's/^1\.\.\([0-9][0-9]*\).*/\1/p' "$PARITY_LOG" | head -1)
  results=$(grep -cE '^(not )?ok [0-9]' "$PARITY_LOG")
  skip=$(grep -cE '^ok [0-9].*# SKIP' "$PARITY_LOG")
  bad=$(grep -cE '^not ok [0-9]' "$PARITY_LOG")
  passed=$((results - bad - skip))
  PARITY="$passed passed, $bad failed, $skip skipped"
  [ "$bad" != 0 ] && fail "parity: $bad test(s) failed"
  grep -q '^Bail out' "$PARITY_LOG" && fail "parity: test-gpu bailed out"
  if [ -z "$plan" ]; then
    fail "parity: no TAP plan (test-gpu did not start its tests)"
    PARITY="$PARITY, no plan"
  elif [ "$results" != "$plan" ]; then
    fail "parity: $results results for a plan of $plan (test-gpu stopped part-way)"
    PARITY="$PARITY, $((plan - results)) of $plan never reported"
  fi
  [ "$status" != 0 ] && PARITY="$PARITY, exit status $status"
elif [ "$PROGRAMS_OK" = 0 ]; then
  PARITY="not run: the bundled programs do not load"
fi

if [ "$MODEL_OK" = 1 ] && [ "$PROGRAMS_OK" = 1 ]; then
  step "bench-gpu fp16 (at most ${BENCH_TIMEOUT}s)"
  HYRSM_PRECISION=fp16 timed "$BENCH_TIMEOUT" "bench fp16: bench-gpu" \
    env LD_LIBRARY_PATH="$BUNDLE_LD_PATH" "$WORK/bin/bench-gpu" "$MODEL" \
    --batches "$BATCHES" --json "$OUT/ours-fp16.json" "${QUICK[@]}"
  step "bench-gpu fp32 (at most ${BENCH_FP32_TIMEOUT}s)"
  HYRSM_PRECISION=fp32 timed "$BENCH_FP32_TIMEOUT" "bench fp32: bench-gpu" \
    env LD_LIBRARY_PATH="$BUNDLE_LD_PATH" "$WORK/bin/bench-gpu" "$MODEL" \
    --batches "$BATCHES_FP32" --json "$OUT/ours-fp32.json" "${QUICK[@]}"
fi
if [ "$MODEL_OK" = 1 ]; then
  step "PyTorch fp16 channels_last, eager and CUDA graphs (bench_torch.py, at most ${BENCH_TIMEOUT}s)"
  timed "$BENCH_TIMEOUT" "torch: bench_torch.py" "$PY" "$ROOT/tests/gpu/bench_torch.py" "$MODEL" \
    --batches "$BATCHES" --json "$OUT/torch.json" "${QUICK[@]}"
fi

step "table"
FAILURES="$OUT/failures.txt"
printf '%s\n' "${FAILED[@]+"${FAILED[@]}"}" | sed '/^$/d' > "$FAILURES"
"$PY" "$ROOT/tests/gpu/table.py" --parity "$PARITY" --parity-log "$PARITY_LOG" \
  --failures "$FAILURES" --ours "$OUT/ours-fp16.json" --ours-fp32 "$OUT/ours-fp32.json" \
  --torch "$OUT/torch.json" | tee "$OUT/table.md"
if [ ${#FAILED[@]} != 0 ]; then
  echo
  echo "run.sh: ${#FAILED[@]} step(s) failed:"
  printf '  %s\n' "${FAILED[@]}"
  exit 1
fi
echo "run.sh: every step passed"
