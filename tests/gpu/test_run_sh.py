"""tests/gpu/run.sh, the one-shot device check, against a fake bundle.

The device machine is lent for minutes at a time, so run.sh must report
every failure it meets as a failure, and keep going after one: these tests
run it here (no GPU) with stub programs in place of test-gpu, bench-gpu
and PyTorch, and check what it reports for a good run, a crash part-way, a
bad TAP plan, a failed test, a hang, a library that does not resolve and a
machine without a usable GPU. Registered in meson (test 'gpu-run-sh').
"""

import os
import shutil
import stat
import subprocess
import tarfile
import textwrap

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
RUN_SH = os.path.join(HERE, "run.sh")

GOOD_TAP = """\
# random seed: R02S0
1..3
# Start of gpu tests
# preprocess RGB: relative error 1.2e-06 (tolerance 1e-04)
ok 1 /gpu/preprocess/RGB
# end to end fp16: distances: relative error 0.011 (tolerance 3e-02)
ok 2 /gpu/end-to-end/resnet18-1shot
ok 3 /gpu/model/devices
# End of gpu tests
"""

BENCH_GPU = """\
#!/bin/bash
echo "bench-gpu LD_LIBRARY_PATH=$LD_LIBRARY_PATH" >> "$STUB_LOG"
json=
while [ $# -gt 0 ]; do
  [ "$1" = --json ] && json=$2
  shift
done
echo '{"device": "stub GPU", "backbone_fps": {"1": 900.0, "64": 21000.0}, "window_ms": 2.5,
  "window_embed_ms": 1.5, "window_match_ms": 1.0, "host_rgb_fps_64": 9000.0}' > "$json"
"""

# python3 as run.sh uses it: the preflight (-c), the library search (a
# script on stdin), make_model.py, bench_torch.py, and table.py (the real
# one, with the real python).
STUB_PYTHON = """\
#!/bin/bash
case "$1" in
  -c)
    if [ -n "${STUB_PREFLIGHT_FAIL:-}" ]; then echo "$STUB_PREFLIGHT_FAIL" >&2; exit 1; fi
    echo "torch 0.0-stub cuda 13.0 gpu stub"
    ;;
  -) cat > /dev/null; echo ;;
  */make_model.py)
    echo "make_model LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-}" >> "$STUB_LOG"
    : > "$2" ;;
  */bench_torch.py)
    echo "bench_torch LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-}" >> "$STUB_LOG"
    json=
    while [ $# -gt 0 ]; do [ "$1" = --json ] && json=$2; shift; done
    echo '{"device": "stub GPU", "torch": "0.0-stub", "backbone_fps": {"1": 800.0, "64": 15000.0},
      "backbone_fps_graph": {"1": 1200.0, "64": 16000.0}, "window_ms": 9.0}' > "$json"
    ;;
  *) exec "$REAL_PYTHON" "$@" ;;
esac
"""


def script(path, text):
    with open(path, "w") as f:
        f.write(textwrap.dedent(text))
    os.chmod(path, os.stat(path).st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


def stub_test_gpu(tap, status=0, sleep=0):
    """A stub test-gpu: prints @tap, then sleeps or exits with @status."""
    return "#!/bin/bash\n" + \
        'echo "test-gpu LD_LIBRARY_PATH=$LD_LIBRARY_PATH" >> "$STUB_LOG"\n' + \
        'echo "e2e model ${HYRSM_GPU_E2E_MODEL_FILE:-none}" >> "$STUB_LOG"\n' + \
        "cat <<'TAP'\n" + tap + "TAP\n" + \
        ("exec sleep %d\n" % sleep if sleep else "") + \
        ("kill -ABRT $$\n" if status == 134 else "exit %d\n" % status)


@pytest.fixture
def env(tmp_path):
    """The stubs, an output directory and run.sh's environment."""
    (tmp_path / "out").mkdir()
    stub_py = tmp_path / "python3"
    script(stub_py, STUB_PYTHON)
    e = dict(os.environ)
    e.update({
        "OUT": str(tmp_path / "out"),
        "STUB_LOG": str(tmp_path / "stub.log"),
        "REAL_PYTHON": shutil.which("python3"),
        "HYRSM_GPU_PYTHON": str(stub_py),
        "HYRSM_GPU_BUNDLE": str(tmp_path / "bundle" / "hyrsm-gpu-bundle.tar.xz"),
        "HYRSM_GPU_LIBDIRS": str(tmp_path / "no-cuda"),
    })
    e.pop("LD_LIBRARY_PATH", None)
    return tmp_path, e


def make_bundle(tmp_path, test_gpu, bench_gpu=BENCH_GPU, test_gpu_elf=None):
    stage = tmp_path / "stage"
    (stage / "bin").mkdir(parents=True)
    (stage / "lib").mkdir()
    if test_gpu_elf:
        shutil.copy(test_gpu_elf, stage / "bin" / "test-gpu")
    else:
        script(stage / "bin" / "test-gpu", test_gpu)
    script(stage / "bin" / "bench-gpu", bench_gpu)
    (tmp_path / "bundle").mkdir()
    with tarfile.open(tmp_path / "bundle" / "hyrsm-gpu-bundle.tar.xz", "w:xz") as tar:
        tar.add(stage / "bin", "bin")
        tar.add(stage / "lib", "lib")


def run(e, timeout=120):
    p = subprocess.run(["bash", RUN_SH], env=e, capture_output=True, text=True, timeout=timeout)
    return p.returncode, p.stdout + p.stderr


def read(path):
    with open(path) as f:
        return f.read()


def test_good_run(env):
    tmp, e = env
    make_bundle(tmp, stub_test_gpu(GOOD_TAP))
    status, out = run(e)
    assert status == 0, out
    assert "every step passed" in out
    table = read(tmp / "out" / "table.md")
    assert "Parity tests (test-gpu): 3 passed, 0 failed, 0 skipped" in table
    # one row per parity test, with its worst error against its tolerance
    assert "| /gpu/end-to-end/resnet18-1shot | pass | 0.011 / 3e-02" in table
    # ours, PyTorch eager, PyTorch CUDA graph; the ratio to the best PyTorch
    assert "| batch 64, frames/s | 21000 | 15000 | 16000 | 1.31x |" in table
    assert "Failed steps" not in table


def test_library_path_only_for_bundled_programs(env):
    tmp, e = env
    # cuDNN behind a symlinked directory, as /usr/local/cuda/lib64 often is
    real = tmp / "cuda-real" / "lib64"
    real.mkdir(parents=True)
    (real / "libcudnn.so.9").write_text("")
    os.symlink(tmp / "cuda-real", tmp / "cuda")
    e["HYRSM_GPU_LIBDIRS"] = str(tmp / "cuda" / "lib64")
    make_bundle(tmp, stub_test_gpu(GOOD_TAP))
    status, out = run(e)
    assert status == 0, out
    log = read(tmp / "stub.log").splitlines()
    ours = [l for l in log if l.startswith(("test-gpu", "bench-gpu"))]
    torch = [l for l in log if l.startswith(("bench_torch", "make_model"))]
    assert len(ours) == 3 and len(torch) == 3, log
    # the end-to-end model comes from run.sh, made by PyTorch outside the
    # bundle's library path
    assert any(l.startswith("e2e model /") and l.endswith("/e2e.safetensors") for l in log), log
    for line in ours:
        assert "/lib:" in line and str(tmp / "cuda" / "lib64") in line, line
    for line in torch:
        assert "hyrsm-gpu-work" not in line and "cuda" not in line, line


def test_crash_part_way(env):
    tmp, e = env
    tap = "1..5\nok 1 /gpu/a\nok 2 /gpu/b\n"
    make_bundle(tmp, stub_test_gpu(tap, status=134))
    status, out = run(e)
    assert status == 1, out
    assert "2 results for a plan of 5" in out
    assert "parity: test-gpu: exit status 134" in out
    table = read(tmp / "out" / "table.md")
    assert "3 of 5 never reported" in table
    assert "Failed steps" in table
    # the benchmarks still ran
    assert "| batch 64, frames/s | 21000 |" in table


def test_bad_plan(env):
    tmp, e = env
    tap = "1..4\nok 1 /gpu/a\nok 2 /gpu/b\nok 3 /gpu/c\n"
    make_bundle(tmp, stub_test_gpu(tap, status=0))
    status, out = run(e)
    assert status == 1, out
    assert "3 results for a plan of 4" in out


def test_no_plan(env):
    tmp, e = env
    make_bundle(tmp, stub_test_gpu("# nothing\n", status=0))
    status, out = run(e)
    assert status == 1, out
    assert "no TAP plan" in out


def test_failed_test(env):
    tmp, e = env
    tap = ("1..2\n# backbone: relative error 0.5 (tolerance 1e-04)\n"
           "not ok 1 /gpu/backbone/resnet50/fp32 - failed in its own process\nok 2 /gpu/b\n")
    make_bundle(tmp, stub_test_gpu(tap, status=1))
    status, out = run(e)
    assert status == 1, out
    assert "parity: 1 test(s) failed" in out
    table = read(tmp / "out" / "table.md")
    assert "| /gpu/backbone/resnet50/fp32 | **FAIL** failed in its own process | 0.5 / 1e-04" in table
    assert "1 passed, 1 failed, 0 skipped" in table


def test_hang_is_a_timeout(env):
    tmp, e = env
    e["HYRSM_GPU_PARITY_TIMEOUT"] = "2"
    make_bundle(tmp, stub_test_gpu("1..3\nok 1 /gpu/a\n", sleep=60))
    status, out = run(e)
    assert status == 1, out
    assert "parity: test-gpu: no result after 2s (killed)" in out
    # the steps after it still ran
    assert os.path.exists(tmp / "out" / "ours-fp16.json")
    assert os.path.exists(tmp / "out" / "torch.json")


def test_bench_hang_loses_only_that_step(env):
    tmp, e = env
    e["HYRSM_GPU_BENCH_TIMEOUT"] = "2"
    e["HYRSM_GPU_BENCH_FP32_TIMEOUT"] = "2"
    make_bundle(tmp, stub_test_gpu(GOOD_TAP), bench_gpu="#!/bin/bash\nexec sleep 60\n")
    status, out = run(e)
    assert status == 1, out
    assert "bench fp16: bench-gpu: no result after 2s" in out
    assert "bench fp32: bench-gpu: no result after 2s" in out
    table = read(tmp / "out" / "table.md")
    assert "3 passed, 0 failed" in table
    assert "| batch 64, frames/s | - | 15000 | 16000 |" in table


def test_missing_library(env, tmp_path):
    tmp, e = env
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler to make a program with a missing library")
    build = tmp_path / "elf"
    build.mkdir()
    (build / "lib.c").write_text("int hyrsm_fake (void) { return 0; }\n")
    (build / "main.c").write_text("int hyrsm_fake (void);\nint main (void) { return hyrsm_fake (); }\n")
    subprocess.run([cc, "-shared", "-fPIC", "-o", str(build / "libhyrsmfake.so"), str(build / "lib.c")], check=True)
    subprocess.run([cc, "-o", str(build / "test-gpu"), str(build / "main.c"), "-L", str(build), "-lhyrsmfake"],
                   check=True)
    make_bundle(tmp, None, test_gpu_elf=build / "test-gpu")   # the library is not bundled
    status, out = run(e)
    assert status == 1, out
    assert "libhyrsmfake.so => not found" in out
    assert "the bundled programs do not load here" in out
    table = read(tmp / "out" / "table.md")
    assert "not run: the bundled programs do not load" in table
    # the PyTorch baseline still ran
    assert "| batch 64, frames/s | - | 15000 | 16000 |" in table


def test_preflight_no_gpu(env):
    tmp, e = env
    e["STUB_PREFLIGHT_FAIL"] = "torch.cuda.is_available() is False: no usable GPU or driver"
    make_bundle(tmp, stub_test_gpu(GOOD_TAP))
    status, out = run(e)
    assert status == 2, out
    assert "FAILED: preflight: torch.cuda.is_available() is False" in out
    assert "unpack" not in out
    assert not os.path.exists(tmp / "stub.log")


def test_no_bundle(env):
    tmp, e = env
    status, out = run(e)
    assert status == 2, out
    assert "no bundle" in out


def test_bundle_without_programs(env):
    tmp, e = env
    (tmp / "bundle").mkdir()
    with tarfile.open(tmp / "bundle" / "hyrsm-gpu-bundle.tar.xz", "w:xz") as tar:
        (tmp / "empty").mkdir()
        tar.add(tmp / "empty", "lib")
    status, out = run(e)
    assert status == 2, out
    assert "does not unpack to bin/test-gpu and bin/bench-gpu" in out


def test_deadline_keeps_the_table(env):
    """Steps are cut to what is left of the whole run, so the table comes
    before the device call's own limit would kill the script."""
    tmp, e = env
    e["HYRSM_GPU_DEADLINE"] = "30"
    make_bundle(tmp, stub_test_gpu("1..3\nok 1 /gpu/a\n", sleep=120))
    status, out = run(e, timeout=60)
    assert status == 1, out
    assert "parity: test-gpu: no result after " in out
    assert "bench fp16: bench-gpu: not run, the run's 30s are spent" in out
    assert "torch: bench_torch.py: not run, the run's 30s are spent" in out
    assert os.path.exists(tmp / "out" / "table.md")
    assert "1 of 3" not in read(tmp / "out" / "table.md")
    assert "2 of 3 never reported" in read(tmp / "out" / "table.md")
