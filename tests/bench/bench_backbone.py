#!/usr/bin/python3
"""Backbone throughput: our engine (libhyrsm through GI) against PyTorch.

Both run the same ResNet (random weights from tests/fixtures/make_model.py,
or --model FILE) on the same normalized float32 frames, in one process, with
the same thread count; the script checks that the features agree, then times
`Hyrsm.Model.embed_normalized` and torchvision's `resnet(x)` (eval, no_grad,
fc removed) in interleaved rounds and prints frames per second.

    LD_LIBRARY_PATH=build/src/hyrsm GI_TYPELIB_PATH=build/src/hyrsm \\
        /usr/bin/python3 tests/bench/bench_backbone.py [--builddir build]

(--builddir sets both paths itself and re-executes the script.)
"""

import argparse
import os
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def ensure_paths(builddir):
    """GI needs the library on LD_LIBRARY_PATH before the process starts."""
    libdir = os.path.join(os.path.abspath(builddir), "src", "hyrsm")
    if not os.path.exists(os.path.join(libdir, "Hyrsm-1.0.typelib")):
        sys.exit("no Hyrsm-1.0.typelib under %s: build first (ninja -C %s)" % (libdir, builddir))
    if os.environ.get("HYRSM_BENCH_REEXEC") == libdir:
        return
    env = dict(os.environ)
    for var in ("LD_LIBRARY_PATH", "GI_TYPELIB_PATH"):
        env[var] = libdir + (os.pathsep + env[var] if env.get(var) else "")
    env["HYRSM_BENCH_REEXEC"] = libdir
    os.execve(sys.executable, [sys.executable] + sys.argv, env)


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--builddir", default=os.path.join(ROOT, "build"))
    ap.add_argument("--backbone", default="resnet50", choices=["resnet18", "resnet34", "resnet50"])
    ap.add_argument("--model", help="a model file (default: random weights, seed 0)")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--crop", type=int, default=224)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--warmup", type=int, default=3, help="untimed iterations per side")
    ap.add_argument("--rounds", type=int, default=5, help="interleaved timing rounds")
    ap.add_argument("--iters", type=int, default=2, help="iterations per side per round")
    return ap.parse_args()


def main():
    args = parse_args()
    ensure_paths(args.builddir)

    import numpy as np
    import torch
    import torchvision
    import gi

    gi.require_version("Hyrsm", "1.0")
    from gi.repository import GLib, Hyrsm

    sys.path.insert(0, os.path.join(ROOT, "tests", "fixtures"))
    import make_model
    import safetensors_io

    torch.set_num_threads(args.threads)  # also sets OpenMP's, which oneDNN in libhyrsm shares

    with tempfile.TemporaryDirectory() as tmp:
        path = args.model
        if path is None:
            path = os.path.join(tmp, "%s.safetensors" % args.backbone)
            make_model.make_model(
                path, backbone=args.backbone, head="none", seed=0,
                meta={"hyrsm.crop": str(args.crop), "hyrsm.resize": str(max(args.crop, 256))})
        tensors, _ = safetensors_io.read(path)
        t0 = time.perf_counter()
        model = Hyrsm.Model.new_from_file(path)
        load_s = time.perf_counter() - t0
    if model.props.crop != args.crop:
        sys.exit("the model's crop is %d, not %d" % (model.props.crop, args.crop))
    backbone = model.props.backbone

    net = getattr(torchvision.models, backbone)()
    net.fc = torch.nn.Identity()
    state = {k: torch.from_numpy(v) for k, v in tensors.items() if not k.startswith("fc.")}
    missing, unexpected = net.load_state_dict(state, strict=False)
    if missing or unexpected:
        sys.exit("torchvision %s does not take these weights: missing %s, unexpected %s"
                 % (backbone, missing[:5], unexpected[:5]))
    net.eval()

    n, crop = args.batch, args.crop
    rng = np.random.default_rng(0)
    frames = rng.standard_normal((n, 3, crop, crop), dtype=np.float32)
    frames_bytes = GLib.Bytes.new(frames.tobytes())
    frames_torch = torch.from_numpy(frames)
    D = model.props.feature_dim

    def run_engine():
        out = model.embed_normalized(frames_bytes, n)
        return np.frombuffer(out.get_data(), dtype=np.float32).reshape(n, D)

    def run_torch():
        with torch.no_grad():
            return net(frames_torch).numpy()

    # Agreement first: a fast wrong answer is worth nothing.
    ours, theirs = run_engine(), run_torch()
    rel = float(np.abs(ours - theirs).max() / np.abs(theirs).max())
    if not rel < 1e-4:
        sys.exit("features disagree: max relative error %.3g" % rel)

    for _ in range(args.warmup):
        run_engine()
        run_torch()
    times = {"hyrsm": [], "torch": []}
    for _ in range(args.rounds):
        for name, fn in (("hyrsm", run_engine), ("torch", run_torch)):
            for _ in range(args.iters):
                t0 = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - t0)

    fps = {k: n / statistics.median(v) for k, v in times.items()}
    best = {k: n / min(v) for k, v in times.items()}
    print("%s, %dx%d, batch %d, float32, %d threads (%s); engine load %.2f s; "
          "max relative difference %.2g"
          % (backbone, crop, crop, n, args.threads, model.props.device, load_s, rel))
    print("| engine | frames/s (median) | frames/s (best) | ms/batch (median) |")
    print("|---|---|---|---|")
    for name, label in (("hyrsm", "hyrsm (oneDNN, fused)"), ("torch", "PyTorch %s" % torch.__version__)):
        print("| %s | %.1f | %.1f | %.0f |" % (label, fps[name], best[name],
                                             1000 * statistics.median(times[name])))
    print("ratio hyrsm / torch: %.2fx" % (fps["hyrsm"] / fps["torch"]))


if __name__ == "__main__":
    main()
