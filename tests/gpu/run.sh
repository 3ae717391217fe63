#!/bin/bash
# tests/gpu/run.sh: the GPU check, in one go, on the device machine (H100 /
# H200: CUDA 13, nvcc, PyTorch with cuDNN and cuBLAS, no GStreamer/GLib
# development files, no package registry). See docs/cuda.md.
#
# Prepared here (a machine with the build dependencies), then carried:
#   tests/gpu/bundle.sh            # -> build-gpu-bundle/hyrsm-gpu-bundle.tar.xz
#   device run: carry ["build-gpu-bundle"], command "bash tests/gpu/run.sh"
#
# Steps: unpack the prebuilt x86-64 test and benchmark programs; find the
# machine's cuDNN / cuBLAS (PyTorch's wheels or the CUDA toolkit); check
# that every library resolves; run the parity tests (test-gpu, TAP); make a
# random ResNet-50 + 1-shot head model with tests/fixtures/make_model.py;
# benchmark it (bench-gpu, fp16 and fp32) and PyTorch eager fp16
# channels_last on the same weights (bench_torch.py); print a short table
# last. Logs and JSON go to $OUT (the device tool brings them back) or to
# /tmp/hyrsm-gpu.
#
# Options (environment): HYRSM_GPU_QUICK=1 fewer iterations;
# HYRSM_GPU_SKIP_TESTS=1 benchmark only; HYRSM_GPU_BATCHES=1,8,64,256;
# HYRSM_GPU_BATCHES_FP32=1,64.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
OUT=${OUT:-/tmp/hyrsm-gpu}
mkdir -p "$OUT"
WORK=$(mktemp -d /tmp/hyrsm-gpu-work.XXXXXX)
BUNDLE=${HYRSM_GPU_BUNDLE:-$ROOT/build-gpu-bundle/hyrsm-gpu-bundle.tar.xz}
BATCHES=${HYRSM_GPU_BATCHES:-1,8,64,256}
BATCHES_FP32=${HYRSM_GPU_BATCHES_FP32:-1,64}   # fp32 (FMA) is for reference only
QUICK=()
[ "${HYRSM_GPU_QUICK:-0}" = 1 ] && QUICK=(--quick)
PY=$(command -v python3)
exec > >(tee "$OUT/run.log") 2>&1

step() { printf '\n=== %s (%ds)\n' "$*" "$SECONDS"; }

step "machine"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
nvcc --version 2>/dev/null | tail -1 || true
"$PY" -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, "cudnn", torch.backends.cudnn.version())' || true

step "unpack $BUNDLE"
if [ ! -f "$BUNDLE" ]; then
  echo "no bundle: run tests/gpu/bundle.sh where the project builds, then carry build-gpu-bundle"
  exit 2
fi
tar -C "$WORK" -xJf "$BUNDLE" || exit 2
cat "$ROOT/build-gpu-bundle/BUILT_FROM" 2>/dev/null | sed 's/^/built from commit /'

step "cuDNN and cuBLAS of this machine"
# PyTorch's wheels (nvidia/cudnn/lib, nvidia/cu13/lib, ...) first, then the
# CUDA toolkit. Every directory holding one of the libraries is added.
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
  for dir in $(find $SEARCH /usr/local/cuda/lib64 /usr/local/cuda/targets /usr/lib/x86_64-linux-gnu \
      -name "$name" -printf '%h\n' 2>/dev/null | sort -u); do
    case ":$LIBDIRS:" in *":$dir:"*) ;; *) LIBDIRS="$LIBDIRS:$dir" ;; esac
  done
done
export LD_LIBRARY_PATH="$WORK/lib$LIBDIRS${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
echo "LD_LIBRARY_PATH=$LD_LIBRARY_PATH"
if ldd "$WORK/bin/test-gpu" "$WORK/bin/bench-gpu" | grep "not found"; then
  echo "FAILED: the bundled programs do not load here (libraries above not found)."
  echo "Fallback: add the missing libraries to the bundle (tests/gpu/bundle.sh)."
  exit 3
fi

export HYRSM_FIXTURES="$ROOT/tests/fixtures" HYRSM_PYTHON="$PY"
# The backend's info/debug lines: chosen cuDNN algorithms, any fused-call
# fallback or CUDA-graph capture failure.
export G_MESSAGES_DEBUG=Hyrsm
PARITY="not run"
if [ "${HYRSM_GPU_SKIP_TESTS:-0}" != 1 ]; then
  step "parity tests (test-gpu)"
  (cd "$WORK" && timeout 600 ./bin/test-gpu --tap 2>&1) | tee "$OUT/parity.log"
  ok=$(grep -c '^ok' "$OUT/parity.log" || true)
  skip=$(grep -c '^ok.*# SKIP' "$OUT/parity.log" || true)
  bad=$(grep -c '^not ok' "$OUT/parity.log" || true)
  grep -q '^Bail out' "$OUT/parity.log" && bad="$bad + bail out"
  PARITY="$((ok - skip)) passed, $bad failed, $skip skipped"
  grep -E 'relative error' "$OUT/parity.log" | sed 's/^# */  /' > "$OUT/parity-errors.txt" || true
fi

step "model: random ResNet-50 + 1-shot head (tests/fixtures/make_model.py)"
MODEL="$WORK/resnet50-1shot.safetensors"
"$PY" "$ROOT/tests/fixtures/make_model.py" "$MODEL" --backbone resnet50 --head 1shot --seed 0 || exit 4

step "bench-gpu fp16"
HYRSM_PRECISION=fp16 "$WORK/bin/bench-gpu" "$MODEL" --batches "$BATCHES" --json "$OUT/ours-fp16.json" "${QUICK[@]}"
step "bench-gpu fp32"
HYRSM_PRECISION=fp32 "$WORK/bin/bench-gpu" "$MODEL" --batches "$BATCHES_FP32" --json "$OUT/ours-fp32.json" "${QUICK[@]}"
step "PyTorch eager fp16 channels_last (bench_torch.py)"
"$PY" "$ROOT/tests/gpu/bench_torch.py" "$MODEL" --batches "$BATCHES" --json "$OUT/torch.json" "${QUICK[@]}"

step "table"
"$PY" "$ROOT/tests/gpu/table.py" --parity "$PARITY" --ours "$OUT/ours-fp16.json" \
  --ours-fp32 "$OUT/ours-fp32.json" --torch "$OUT/torch.json" | tee "$OUT/table.md"
rm -rf "$WORK"
