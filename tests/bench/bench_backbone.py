#!/usr/bin/python3
"""Backbone throughput: our engine (libhyrsm through GI) against PyTorch.

For each backbone (ResNet-18 and ResNet-50 by default; random weights from
tests/fixtures/make_model.py, seed 0) and the same normalized float32
frames, in one run:

  hyrsm fp32        Hyrsm.Model.new_full(path, "cpu", "fp32").embed_normalized
  hyrsm bf16        the same in "bf16" (CPUs with AVX512-BF16; else reported
                    as not available)
  torch fp32 NCHW   torchvision's resnet(x), eval, no_grad, fc removed
  torch fp32 NHWC   the same with model and input in channels_last
  torch bf16 NHWC   channels_last under torch.autocast("cpu", torch.bfloat16)
                    (only on CPUs with AVX512-BF16: elsewhere PyTorch
                    emulates bf16 at a fraction of its fp32 speed, which
                    compares nothing; --force-torch-bf16 runs it anyway)

Ours run first, in this process; PyTorch then runs in a process of its own
(this script with --torch-side), so the two OpenMP thread pools never
share the cores. Both sides use --threads threads (OMP_NUM_THREADS for
libhyrsm's oneDNN, torch.set_num_threads for PyTorch). Features are checked
before timing: hyrsm fp32 against torch fp32 (< 1e-4 relative), hyrsm bf16
against hyrsm fp32 (< 2e-2, the tolerance of tests/python/test_precision.py).

    /usr/bin/python3 tests/bench/bench_backbone.py [--builddir build]
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
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--crop", type=int, default=224)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--warmup", type=int, default=2, help="untimed iterations per mode")
    ap.add_argument("--iters", type=int, default=6, help="timed iterations per mode")
    ap.add_argument("--force-torch-bf16", action="store_true",
                    help="time PyTorch's bf16 autocast even without AVX512-BF16")
    ap.add_argument("--torch-side", metavar="JOB", help=argparse.SUPPRESS)
    return ap.parse_args()


def cpu_has_bf16():
    need = {"avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512_vnni", "avx512_bf16"}
    for line in open("/proc/cpuinfo"):
        if line.startswith("flags"):
            return need <= set(line.split(":", 1)[1].split())
    return False


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
    """PyTorch's modes for the models of the job; writes timings and the
    fp32 features next to the job file."""
    import numpy as np
    import torch
    import torchvision

    sys.path.insert(0, os.path.join(ROOT, "tools"))
    import safetensors_io

    job = json.load(open(job_path))
    torch.set_num_threads(job["threads"])
    x = torch.from_numpy(frames_for(job["batch"], job["crop"]))
    x_cl = x.contiguous(memory_format=torch.channels_last)
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

        def nchw():
            with torch.no_grad():
                return net(x)

        def nhwc():
            with torch.no_grad():
                return net_cl(x_cl)

        def bf16():
            with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
                return net_cl(x_cl)

        np.save(job_path + "." + name + ".npy", nchw().numpy())
        modes = [("torch fp32 NCHW", nchw), ("torch fp32 channels_last", nhwc)]
        if job["torch_bf16"]:
            modes.append(("torch bf16 autocast channels_last", bf16))
        out["models"][name] = {mode: timed(fn, job["warmup"], job["iters"])
                               for mode, fn in modes}
    json.dump(out, open(job_path + ".out.json", "w"))


def main():
    args = parse_args()
    if args.torch_side:
        return torch_side(args.torch_side)
    ensure_paths(args.builddir, args.threads)

    import numpy as np
    import gi

    gi.require_version("Hyrsm", "1.0")
    from gi.repository import GLib, Hyrsm

    n, crop = args.batch, args.crop
    frames = frames_for(n, crop)
    frames_bytes = GLib.Bytes.new(frames.tobytes())
    ours = {}
    with tempfile.TemporaryDirectory() as tmp:
        job = {"threads": args.threads, "batch": n, "crop": crop, "warmup": args.warmup,
               "iters": args.iters, "models": {},
               "torch_bf16": args.force_torch_bf16 or cpu_has_bf16()}
        for name in args.backbones.split(","):
            path = os.path.join(tmp, name + ".safetensors")
            subprocess.run(["/usr/bin/python3", os.path.join(ROOT, "tests", "fixtures", "make_model.py"),
                            path, "--backbone", name, "--head", "none", "--seed", "0",
                            "--meta", "hyrsm.crop=%d" % crop,
                            "--meta", "hyrsm.resize=%d" % max(crop, 256)],
                           check=True, stdout=subprocess.DEVNULL)
            job["models"][name] = path
            ours[name] = {}
            for precision in ("fp32", "bf16"):
                try:
                    model = Hyrsm.Model.new_full(path, "cpu", precision)
                except GLib.Error as e:
                    ours[name][precision] = e.message
                    continue
                D = model.props.feature_dim

                def run(model=model, D=D):
                    out = model.embed_normalized(frames_bytes, n)
                    return np.frombuffer(out.get_data(), dtype=np.float32).reshape(n, D)

                features = run()
                times = timed(run, args.warmup, args.iters)
                ours[name][precision] = (times, features)

        # PyTorch, in its own process, after ours.
        job_path = os.path.join(tmp, "job.json")
        json.dump(job, open(job_path, "w"))
        env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
        subprocess.run([sys.executable, os.path.abspath(__file__), "--torch-side", job_path],
                       check=True, env=env)
        theirs = json.load(open(job_path + ".out.json"))
        torch_features = {name: np.load(job_path + "." + name + ".npy") for name in job["models"]}

    print("batch %d, %dx%d, %d threads; PyTorch %s in its own process after ours; "
          "frames/s from the median of %d iterations (best in brackets)"
          % (n, crop, crop, args.threads, theirs["version"], args.iters))
    for name in job["models"]:
        fp32_features = ours[name]["fp32"][1]
        rel = float(np.abs(fp32_features - torch_features[name]).max()
                    / np.abs(torch_features[name]).max())
        if not rel < TOL_FP32:
            sys.exit("%s: hyrsm fp32 and torch fp32 features disagree: %.3g" % (name, rel))
        rows = {"hyrsm fp32": ours[name]["fp32"][0]}
        note = "hyrsm fp32 vs torch: %.1e" % rel
        if isinstance(ours[name]["bf16"], str):
            note += "; hyrsm bf16: %s" % ours[name]["bf16"]
        else:
            times, features = ours[name]["bf16"]
            rel16 = float(np.abs(features - fp32_features).max() / np.abs(fp32_features).max())
            if not rel16 < TOL_BF16:
                sys.exit("%s: hyrsm bf16 is %.3g from fp32" % (name, rel16))
            rows["hyrsm bf16"] = times
            note += "; hyrsm bf16 vs fp32: %.1e" % rel16
        rows.update(theirs["models"][name])
        if not job["torch_bf16"]:
            note += ("; torch bf16 autocast: not run, this CPU has no AVX512-BF16 "
                     "(--force-torch-bf16 times PyTorch's emulation)")
        fps = {k: n / statistics.median(v) for k, v in rows.items()}
        print("\n%s (max relative difference: %s)" % (name, note))
        print("| mode | frames/s | ms/batch |")
        print("|---|---|---|")
        for k, v in rows.items():
            print("| %s | %.1f (%.1f) | %.0f |" % (k, fps[k], n / min(v), 1000 * statistics.median(v)))
        ratios = ["hyrsm fp32 / torch fp32 NCHW %.2fx" % (fps["hyrsm fp32"] / fps["torch fp32 NCHW"]),
                  "hyrsm fp32 / torch fp32 channels_last %.2fx"
                  % (fps["hyrsm fp32"] / fps["torch fp32 channels_last"])]
        if "hyrsm bf16" in fps and "torch bf16 autocast channels_last" in fps:
            ratios.append("hyrsm bf16 / torch bf16 autocast channels_last %.2fx"
                          % (fps["hyrsm bf16"] / fps["torch bf16 autocast channels_last"]))
        print("ratios: " + "; ".join(ratios))


if __name__ == "__main__":
    main()
