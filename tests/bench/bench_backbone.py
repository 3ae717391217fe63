#!/usr/bin/python3
"""Backbone throughput: our engine (libhyrsm through GI) against PyTorch,
ONNX Runtime and OpenVINO on the CPU.

For each backbone (ResNet-18 and ResNet-50 by default; random weights from
tests/fixtures/make_model.py, seed 0), each batch size and the same
normalized float32 frames, in one run:

  hyrsm fp32        Hyrsm.Model.new_full(path, "cpu", "fp32").embed_normalized
                    (3x3 stride-1 layers by oneDNN or by Winograd, whichever
                    the backend measured faster per layer)
  hyrsm fp32 oneDNN only   the same with HYRSM_CPU_CONV=direct
  hyrsm bf16        the same in "bf16" (CPUs with AVX512-BF16; else reported
                    as not available)
  torch fp32 NCHW   torchvision's resnet(x), eval, no_grad, fc removed
  torch fp32 NHWC   the same with model and input in channels_last
  torch bf16 NHWC   channels_last under torch.autocast("cpu", torch.bfloat16)
                    (only on CPUs with AVX512-BF16: elsewhere PyTorch
                    emulates bf16 at a fraction of its fp32 speed, which
                    compares nothing; --force-torch-bf16 runs it anyway)
  onnxruntime fp32  the same torchvision network exported once with
                    torch.onnx.export (fp32, dynamic batch), CPU EP,
                    intra_op_num_threads = --threads, all graph optimizations
  openvino fp32     the same ONNX file on OpenVINO's CPU device, LATENCY
                    hint, INFERENCE_NUM_THREADS = --threads, inference
                    precision f32 (its default is bf16 on CPUs with
                    AVX512-BF16 or AMX)

Ours run first, in this process; PyTorch then runs in a process of its own
(this script with --torch-side), then each peer in a process of its own
(tests/bench/bench_peers.py, with the python of a virtual environment that
has onnxruntime and openvino from PyPI: made on first use in --venv, or
skipped with --no-peers), so no two thread pools ever share the cores.
Every runtime uses --threads threads. Features are checked before timing:
hyrsm fp32 and the peers against torch fp32 (< 1e-4 relative), hyrsm bf16
against hyrsm fp32 (< 2e-2, the tolerance of tests/python/test_precision.py).

    /usr/bin/python3 tests/bench/bench_backbone.py [--builddir build] [--batch 1,8]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
TOL_FP32 = 1e-4
TOL_BF16 = 2e-2
DEFAULT_VENV = os.path.join(os.path.expanduser("~"), ".cache", "gst-hyrsm", "bench-venv")
# runtime name in bench_peers.py -> (its row in the tables, the PyPI package)
PEERS = {"ort": ("onnxruntime fp32", "onnxruntime"), "openvino": ("openvino fp32", "openvino")}
# The fp32 rows that are not ours: the "best peer" of the ratio is the
# fastest of them in the same run.
# Ours with the 3x3 stride-1 layers on oneDNN only (HYRSM_CPU_CONV=direct):
# what the per-layer choice of Winograd gains, in the same run.
DIRECT = "fp32-direct"
DIRECT_ROW = "hyrsm fp32 oneDNN only"
PEER_ROWS = ["torch fp32 NCHW", "torch fp32 channels_last"] + [row for row, _ in PEERS.values()]


def ensure_paths(builddir, threads):
    """GI needs the library on LD_LIBRARY_PATH before the process starts, and
    OpenMP reads OMP_NUM_THREADS when it starts."""
    libdir = os.path.join(os.path.abspath(builddir), "src", "hyrsm")
    if not os.path.exists(os.path.join(libdir, "Hyrsm-1.0.typelib")):
        sys.exit("no Hyrsm-1.0.typelib under %s: build first (ninja -C %s)" % (libdir, builddir))
    if os.environ.get("HYRSM_BENCH_REEXEC") == libdir:
        return
    env = dict(os.environ)
    for var in ("LD_LIBRARY_PATH", "GI_TYPELIB_PATH"):
        env[var] = libdir + (os.pathsep + env[var] if env.get(var) else "")
    env["HYRSM_BENCH_REEXEC"] = libdir
    env["OMP_NUM_THREADS"] = str(threads)
    os.execve(sys.executable, [sys.executable] + sys.argv, env)


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--builddir", default=os.path.join(ROOT, "build"))
    ap.add_argument("--backbones", default="resnet18,resnet50",
                    help="comma-separated: resnet18, resnet34, resnet50")
    ap.add_argument("--batch", default="8", help="batch size, or comma-separated sizes (1,8)")
    ap.add_argument("--crop", type=int, default=224)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--warmup", type=int, default=2, help="untimed iterations per mode")
    ap.add_argument("--iters", type=int, default=6, help="timed iterations per mode")
    ap.add_argument("--rounds", type=int, default=1,
                    help="time every mode this many times, in turn; keep each one's best")
    ap.add_argument("--force-torch-bf16", action="store_true",
                    help="time PyTorch's bf16 autocast even without AVX512-BF16")
    ap.add_argument("--venv", default=DEFAULT_VENV,
                    help="virtual environment with onnxruntime and openvino (made, and the "
                    "packages installed from PyPI, when missing; default %(default)s)")
    ap.add_argument("--no-peers", action="store_true",
                    help="skip ONNX Runtime and OpenVINO (libhyrsm and PyTorch only)")
    ap.add_argument("--torch-side", metavar="JOB", help=argparse.SUPPRESS)
    args = ap.parse_args()
    args.batches = [int(b) for b in args.batch.split(",")]
    return args


def cpu_flags():
    for line in open("/proc/cpuinfo"):
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


def cpu_has_bf16():
    need = {"avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512_vnni", "avx512_bf16"}
    # ONEDNN_MAX_CPU_ISA=AVX2 (a CPU without AVX-512, emulated) takes
    # bf16 from oneDNN, and so from PyTorch and libhyrsm
    isa = os.environ.get("ONEDNN_MAX_CPU_ISA", os.environ.get("DNNL_MAX_CPU_ISA", "all")).lower()
    if isa != "all" and "bf16" not in isa and "amx" not in isa and "fp16" not in isa \
            and "avx10" not in isa:
        return False
    return need <= cpu_flags()


def peer_python(venv):
    """The venv's python, with every peer importable. Makes the venv and
    installs from PyPI what is missing (pip, inside the venv only: Debian's
    Python stays as apt left it); never installs Debian packages."""
    py = os.path.join(venv, "bin", "python")
    if not os.path.exists(py):
        print("making the peers' virtual environment %s (once)" % venv, file=sys.stderr)
        made = subprocess.run(["/usr/bin/python3", "-m", "venv", venv],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if made.returncode != 0:
            sys.exit("/usr/bin/python3 -m venv %s failed:\n%s\nOn Debian the venv module is "
                     "the package python3-venv: sudo apt-get install python3-venv, then run "
                     "again (or --no-peers, or --venv DIR of an environment with onnxruntime "
                     "and openvino)" % (venv, made.stdout.strip()))
    missing = [pkg for pkg in ["numpy"] + [pkg for _, pkg in PEERS.values()]
               if subprocess.run([py, "-c", "import " + pkg], stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL).returncode != 0]
    if missing:
        print("installing %s from PyPI into %s" % (" ".join(missing), venv), file=sys.stderr)
        if subprocess.run([py, "-m", "pip", "install", "--quiet"] + missing).returncode != 0:
            sys.exit("pip could not install %s into %s (is PyPI reachable?). Install them by "
                     "hand: %s -m pip install %s; or run with --no-peers"
                     % (" ".join(missing), venv, py, " ".join(missing)))
    return py


def timed(fn, warmup, iters):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(iters):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times


def frames_for(n, crop):
    import numpy as np
    rng = np.random.default_rng(0)
    return rng.standard_normal((n, 3, crop, crop), dtype=np.float32)


def torch_side(job_path):
    """PyTorch's modes for the models and batches of the job; writes timings
    and the fp32 features next to the job file, and (for the peers) each
    model as ONNX."""
    import numpy as np
    import torch
    import torchvision

    sys.path.insert(0, os.path.join(ROOT, "tools"))
    import safetensors_io

    job = json.load(open(job_path))
    job_dir = os.path.dirname(job_path)
    torch.set_num_threads(job["threads"])
    out = {"version": torch.__version__, "models": {}}
    for name, path in job["models"].items():
        tensors, _ = safetensors_io.read(path)
        net = getattr(torchvision.models, name)()
        net.fc = torch.nn.Identity()
        net.load_state_dict({k: torch.from_numpy(v) for k, v in tensors.items()
                             if not k.startswith("fc.")}, strict=False)
        net.eval()
        net_cl = getattr(torchvision.models, name)()
        net_cl.fc = torch.nn.Identity()
        net_cl.load_state_dict(net.state_dict())
        net_cl = net_cl.eval().to(memory_format=torch.channels_last)
        if job["export_onnx"]:
            # The very network timed here (same weights, fc removed), fp32,
            # once for every batch (dynamic axis 0). Opset 13 is in every
            # PyTorch this project supports (1.13 on Debian 12, 2.6 on 13).
            torch.onnx.export(net, torch.zeros(1, 3, job["crop"], job["crop"]),
                              os.path.join(job_dir, name + ".onnx"), opset_version=13,
                              input_names=["frames"], output_names=["features"],
                              dynamic_axes={"frames": {0: "n"}, "features": {0: "n"}})
        out["models"][name] = {}
        for n in job["batches"]:
            x = torch.from_numpy(frames_for(n, job["crop"]))
            x_cl = x.contiguous(memory_format=torch.channels_last)

            def nchw():
                with torch.no_grad():
                    return net(x)

            def nhwc():
                with torch.no_grad():
                    return net_cl(x_cl)

            def bf16():
                with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
                    return net_cl(x_cl)

            np.save(os.path.join(job_dir, "torch-%s-%d.npy" % (name, n)), nchw().numpy())
            modes = [("torch fp32 NCHW", nchw), ("torch fp32 channels_last", nhwc)]
            if job["torch_bf16"]:
                modes.append(("torch bf16 autocast channels_last", bf16))
            out["models"][name][str(n)] = {mode: timed(fn, job["warmup"], job["iters"])
                                           for mode, fn in modes}
    json.dump(out, open(job_path + ".out.json", "w"))


def run_peers(py, args, job):
    """Each peer in its own process (bench_peers.py in the venv), one after
    the other: {runtime: its JSON}."""
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
    # Our GI paths mean nothing to the venv's python; keep its environment plain.
    for var in ("HYRSM_BENCH_REEXEC", "GI_TYPELIB_PATH", "PYTHONPATH"):
        env.pop(var, None)
    results = {}
    for runtime in PEERS:
        cmd = [py, os.path.join(HERE, "bench_peers.py"), "--runtime", runtime,
               "--job", job["dir"], "--models", ",".join(job["models"]),
               "--batches", ",".join(map(str, args.batches)), "--crop", str(args.crop),
               "--threads", str(args.threads), "--warmup", str(args.warmup),
               "--iters", str(args.iters)]
        done = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, text=True)
        if done.returncode != 0:
            sys.exit("%s failed (exit %d): %s" % (runtime, done.returncode, " ".join(cmd)))
        results[runtime] = json.loads(done.stdout)
    return results


def time_ours(store, precision, model, n, crop, args):
    """libhyrsm at one precision and batch: store[precision] = (times, the
    features of the first call), keeping the round with the lower median."""
    import numpy as np
    from gi.repository import GLib

    D = model.props.feature_dim
    frames_bytes = GLib.Bytes.new(frames_for(n, crop).tobytes())

    def run():
        out = model.embed_normalized(frames_bytes, n)
        return np.frombuffer(out.get_data(), dtype=np.float32).reshape(n, D)

    features = run()
    times = timed(run, args.warmup, args.iters)
    if precision not in store or statistics.median(times) < statistics.median(store[precision][0]):
        store[precision] = (times, features)


def merge(best, new):
    """Folds one round's JSON ({"version", "models": {name: {batch: ...}}},
    from the torch side or a peer) into best: per mode, the times with the
    lower median."""
    for key, value in new.items():
        if key not in best:
            best[key] = value
        elif isinstance(value, dict):
            merge(best[key], value)
        elif isinstance(value, list) and value and isinstance(value[0], float):
            if statistics.median(value) < statistics.median(best[key]):
                best[key] = value


def rel_diff(a, ref):
    import numpy as np
    return float(np.abs(a - ref).max() / np.abs(ref).max())


def main():
    args = parse_args()
    if args.torch_side:
        return torch_side(args.torch_side)
    ensure_paths(args.builddir, args.threads)
    # Before the long part: a missing venv package should stop us now.
    py = None if args.no_peers else peer_python(args.venv)

    import numpy as np
    import gi

    gi.require_version("Hyrsm", "1.0")
    from gi.repository import GLib, Hyrsm

    crop = args.crop
    ours, models = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        job = {"threads": args.threads, "batches": args.batches, "crop": crop,
               "warmup": args.warmup, "iters": args.iters, "models": {}, "dir": tmp,
               "torch_bf16": args.force_torch_bf16 or cpu_has_bf16(),
               "export_onnx": not args.no_peers}
        for n in args.batches:
            np.save(os.path.join(tmp, "frames-%d.npy" % n), frames_for(n, crop))
        for name in args.backbones.split(","):
            path = os.path.join(tmp, name + ".safetensors")
            subprocess.run(["/usr/bin/python3", os.path.join(ROOT, "tests", "fixtures", "make_model.py"),
                            path, "--backbone", name, "--head", "none", "--seed", "0",
                            "--meta", "hyrsm.crop=%d" % crop,
                            "--meta", "hyrsm.resize=%d" % max(crop, 256)],
                           check=True, stdout=subprocess.DEVNULL)
            job["models"][name] = path
            ours[name] = {n: {} for n in args.batches}
            models[name] = {}
            for precision in ("fp32", "bf16", DIRECT):
                # DIRECT: fp32 with every convolution on oneDNN (the
                # backend reads HYRSM_CPU_CONV when the model is made)
                saved = os.environ.get("HYRSM_CPU_CONV")
                if precision == DIRECT:
                    os.environ["HYRSM_CPU_CONV"] = "direct"
                try:
                    models[name][precision] = Hyrsm.Model.new_full(
                        path, "cpu", "fp32" if precision == DIRECT else precision)
                except GLib.Error as e:
                    for n in args.batches:
                        ours[name][n][precision] = e.message
                finally:
                    if saved is None:
                        os.environ.pop("HYRSM_CPU_CONV", None)
                    else:
                        os.environ["HYRSM_CPU_CONV"] = saved

        job_path = os.path.join(tmp, "job.json")
        env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
        theirs, peers = {}, {}
        # Every round times every mode again, in the same order; each mode
        # keeps its best round (lowest median). On a shared machine a burst
        # of someone else's work then costs a round, not one runtime's figure.
        for _ in range(args.rounds):
            for name, by_precision in models.items():
                for precision, model in by_precision.items():
                    for n in args.batches:
                        time_ours(ours[name][n], precision, model, n, crop, args)
            # PyTorch, in its own process, after ours; the first round also
            # exports the ONNX files for the peers.
            json.dump(job, open(job_path, "w"))
            subprocess.run([sys.executable, os.path.abspath(__file__), "--torch-side", job_path],
                           check=True, env=env)
            job["export_onnx"] = False
            merge(theirs, json.load(open(job_path + ".out.json")))
            # Then the peers, each in its own process.
            if py:
                merge(peers, run_peers(py, args, job))
        ref = {(name, n): np.load(os.path.join(tmp, "torch-%s-%d.npy" % (name, n)))
               for name in job["models"] for n in args.batches}
        peer_features = {(rt, name, n): np.load(os.path.join(tmp, "%s-%s-%d.npy" % (rt, name, n)))
                         for rt in peers for name in job["models"] for n in args.batches}

    versions = "PyTorch %s" % theirs["version"]
    for rt, res in peers.items():
        versions += ", %s %s" % (PEERS[rt][1], res["version"])
    summary = []
    for n in args.batches:
        print("batch %d, %dx%d, %d threads; %s, each in its own process after ours; "
              "frames/s from the median of %d iterations (best in brackets)%s"
              % (n, crop, crop, args.threads, versions, args.iters,
                 ", the better of %d rounds" % args.rounds if args.rounds > 1 else ""))
        for name in job["models"]:
            summary.append(report(name, n, ours[name][n], theirs["models"][name][str(n)],
                                  peers, ref[(name, n)], peer_features, job))
        print()
    if "openvino" in peers:
        # What OpenVINO reports back is the same for every model and batch.
        first = next(iter(peers["openvino"]["models"].values()))
        info = next(iter(first.values()))["info"]
        print("OpenVINO on %s: its default inference precision here is %s%s; run with %s "
              "(INFERENCE_PRECISION_HINT), %s, %d threads, %d stream(s)"
              % (info["device"], info["default_precision"],
                 " (this CPU has AVX512-BF16)" if "avx512_bf16" in cpu_flags() else "",
                 info["precision"], info["hint"], info["threads"], info["streams"]))
    elif args.no_peers:
        print("ONNX Runtime and OpenVINO: not run (--no-peers)")
    print_summary(summary, peers)


def report(name, n, ours, torch_rows, peers, ref, peer_features, job):
    """One backbone at one batch: the table of every mode, the ratios; returns
    the frames/s for the summary."""
    fp32_features = ours["fp32"][1]
    rel = rel_diff(fp32_features, ref)
    if not rel < TOL_FP32:
        sys.exit("%s: hyrsm fp32 and torch fp32 features disagree: %.3g" % (name, rel))
    rows = {"hyrsm fp32": ours["fp32"][0]}
    note = "hyrsm fp32 vs torch: %.1e" % rel
    if not isinstance(ours[DIRECT], str):
        times, features = ours[DIRECT]
        rel_direct = rel_diff(features, ref)
        if not rel_direct < TOL_FP32:
            sys.exit("%s: hyrsm fp32 (oneDNN only) and torch disagree: %.3g" % (name, rel_direct))
        rows[DIRECT_ROW] = times
        note += "; %s vs torch: %.1e" % (DIRECT_ROW, rel_direct)
    if isinstance(ours["bf16"], str):
        note += "; hyrsm bf16: %s" % ours["bf16"]
    else:
        times, features = ours["bf16"]
        rel16 = rel_diff(features, fp32_features)
        if not rel16 < TOL_BF16:
            sys.exit("%s: hyrsm bf16 is %.3g from fp32" % (name, rel16))
        rows["hyrsm bf16"] = times
        note += "; hyrsm bf16 vs fp32: %.1e" % rel16
    rows.update(torch_rows)
    for rt, res in peers.items():
        # A peer that computed something else (bf16 behind our back, another
        # network) would compare nothing: stop, as for ours.
        prel = rel_diff(peer_features[(rt, name, n)], ref)
        if not prel < TOL_FP32:
            sys.exit("%s batch %d: %s and torch fp32 features disagree: %.3g"
                     % (name, n, PEERS[rt][1], prel))
        rows[PEERS[rt][0]] = res["models"][name][str(n)]["times"]
        note += "; %s vs torch: %.1e" % (PEERS[rt][1], prel)
    if not job["torch_bf16"]:
        note += ("; torch bf16 autocast: not run, this CPU has no AVX512-BF16 "
                 "(--force-torch-bf16 times PyTorch's emulation)")
    fps = {k: n / statistics.median(v) for k, v in rows.items()}
    print("\n%s, batch %d (max relative difference: %s)" % (name, n, note))
    print("| mode | frames/s | ms/batch |")
    print("|---|---|---|")
    for k, v in rows.items():
        print("| %s | %.1f (%.1f) | %.0f |" % (k, fps[k], n / min(v), 1000 * statistics.median(v)))
    ratios = ["hyrsm fp32 / torch fp32 NCHW %.2fx" % (fps["hyrsm fp32"] / fps["torch fp32 NCHW"]),
              "hyrsm fp32 / %s %.2fx" % (DIRECT_ROW, fps["hyrsm fp32"] / fps[DIRECT_ROW]),
              "hyrsm fp32 / torch fp32 channels_last %.2fx"
              % (fps["hyrsm fp32"] / fps["torch fp32 channels_last"])]
    best = max((k for k in PEER_ROWS if k in fps), key=fps.get)
    ratios.append("hyrsm fp32 / best fp32 peer (%s) %.2fx" % (best, fps["hyrsm fp32"] / fps[best]))
    if "hyrsm bf16" in fps and "torch bf16 autocast channels_last" in fps:
        ratios.append("hyrsm bf16 / torch bf16 autocast channels_last %.2fx"
                      % (fps["hyrsm bf16"] / fps["torch bf16 autocast channels_last"]))
    print("ratios: " + "; ".join(ratios))
    return name, n, fps, best


def print_summary(summary, peers):
    """One row per backbone and batch, one column per runtime (fp32 frames/s,
    median), and ours against the fastest of the others."""
    cols = ["hyrsm fp32", DIRECT_ROW, "torch fp32 (best mode)"] + [PEERS[rt][0] for rt in peers]
    print("\nfp32 summary, frames/s (median):")
    print("| backbone | batch | %s | best peer | hyrsm fp32 / best peer |" % " | ".join(cols))
    print("|---|---:|%s---|---:|" % ("---:|" * len(cols)))
    for name, n, fps, best in summary:
        torch_best = max(fps["torch fp32 NCHW"], fps["torch fp32 channels_last"])
        vals = [fps["hyrsm fp32"], fps[DIRECT_ROW], torch_best] + [fps[PEERS[rt][0]] for rt in peers]
        print("| %s | %d | %s | %s | %.2fx |" % (name, n, " | ".join("%.1f" % v for v in vals),
                                               best, fps["hyrsm fp32"] / fps[best]))


if __name__ == "__main__":
    main()
