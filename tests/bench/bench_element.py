#!/usr/bin/python3
"""hyrsmfilter throughput on this machine (CPU), with real support clips.

    bench_element.py [--builddir build] [--backbones resnet18,resnet50]
                     [--seconds 10] [--max-streams 32]

For each backbone (random weights, 224 x 224 crop):
  1. non-live 640x480 30 fps (videotestsrc, as fast as it goes, every window
     decided): frames/s through the element and sampled (embedded) frames/s;
  2. live 640x480 30 fps for --seconds: windows decided and dropped;
  3. the number of concurrent live 640x480 30 fps streams one process
     sustains (window 2 s, T = 8, stride 0.5 s, one shared model and engine)
     with under 5% of windows dropped (1, 2, 4, then +4 until a count
     fails, then the counts between by halves);
  4. overload: 1x, 1.5x and 2x that many streams for --overload-seconds:
     windows decided per second (goodput, against the sustained run's),
     frames embedded, and the fewest / most windows one stream got.
With --streams N, only N live streams for --seconds (to compare OpenMP
settings: run it under different OMP_WAIT_POLICY, OMP_NUM_THREADS,
OMP_PROC_BIND).
Run from the repository root after `. scripts/env.sh` (or pass --builddir).
"""
import argparse
import os
import pathlib
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]


def setup_env(builddir):
    b = pathlib.Path(builddir).resolve()
    want = {
        "GST_PLUGIN_PATH": str(b / "src" / "gst" / "plugin"),
        "GI_TYPELIB_PATH": f"{b}/src/hyrsm:{b}/src/gst",
        "LD_LIBRARY_PATH": f"{b}/src/hyrsm:{b}/src/gst",
        "GST_REGISTRY_1_0": str(b / "registry.bin"),
    }
    if any(os.environ.get(k) != v for k, v in want.items()):
        os.environ.update(want)
        os.execv(sys.executable, [sys.executable] + sys.argv)


def source(live, seconds=None):
    n = f" num-buffers={int(seconds * 30)}" if seconds else ""
    return (f"videotestsrc is-live={'true' if live else 'false'} pattern=ball{n} ! "
            "video/x-raw,format=I420,width=640,height=480,framerate=30/1")


def filt(model, support, name, precision="fp32"):
    return (f'hyrsmfilter name={name} model="{model}" support="{support}" '
            f"window={2 * 10**9} stride={5 * 10**8} precision={precision}")


def run(Gst, desc, names, until_eos=True, seconds=None):
    pipeline = Gst.parse_launch(desc)
    bus = pipeline.get_bus()
    t0 = time.monotonic()
    assert pipeline.set_state(Gst.State.PLAYING) != Gst.StateChangeReturn.FAILURE
    if until_eos:
        msg = bus.timed_pop_filtered(600 * Gst.SECOND, Gst.MessageType.EOS | Gst.MessageType.ERROR)
        assert msg and msg.type == Gst.MessageType.EOS, msg and msg.parse_error()
    else:
        msg = bus.timed_pop_filtered(int(seconds * Gst.SECOND), Gst.MessageType.ERROR)
        assert msg is None, msg.parse_error()
    wall = time.monotonic() - t0
    stats = [pipeline.get_by_name(n).props.stats for n in names]
    pipeline.set_state(Gst.State.NULL)
    return wall, [{k: s.get_uint64(k)[1] for k in
                   ("frames-in", "frames-embedded", "windows-classified", "windows-dropped",
                    "windows-incomplete")}
                  for s in stats]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--builddir", default=os.environ.get("HYRSM_BUILDDIR", str(ROOT / "build")))
    ap.add_argument("--backbones", default="resnet18,resnet50")
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--max-streams", type=int, default=32)
    ap.add_argument("--precisions", default="fp32,bf16",
                    help="backbone precisions to run (bf16 only where the CPU has it)")
    ap.add_argument("--overload-seconds", type=float, default=40,
                    help="length of each overload run (0: skip them)")
    ap.add_argument("--streams", type=int, default=0,
                    help="only run this many live streams for --seconds and report them (for "
                    "comparing settings such as OMP_WAIT_POLICY, OMP_NUM_THREADS, OMP_PROC_BIND)")
    args = ap.parse_args()
    setup_env(args.builddir)

    import gi
    gi.require_version("Gst", "1.0")
    from gi.repository import Gst
    Gst.init(None)

    work = pathlib.Path(tempfile.mkdtemp(prefix="hyrsm-bench-"))
    subprocess.run([str(ROOT / "tests/fixtures/make_clips.sh"), str(work / "clips")],
                   check=True, stdout=subprocess.DEVNULL)
    support = work / "clips" / "support"
    rows = []
    overload = []
    combos = []
    for backbone in args.backbones.split(","):
        for precision in args.precisions.split(","):
            combos.append((backbone, precision))
    for backbone, precision in combos:
        model = work / f"{backbone}.safetensors"
        subprocess.run([sys.executable, str(ROOT / "tests/fixtures/make_model.py"), str(model),
                        "--backbone", backbone, "--head", "none", "--seed", "0"],
                       check=True, stdout=subprocess.DEVNULL)
        # Keep the model loaded (elements share it through the process-wide
        # cache) so the timings below measure streaming, not loading.
        gi.require_version("Hyrsm", "1.0")
        from gi.repository import Hyrsm
        try:
            held = Hyrsm.Model.new_shared_full(str(model), "cpu", precision)  # noqa: F841
        except Exception as e:  # bf16 on a CPU without AVX512-BF16
            print(f"{backbone} {precision}: skipped: {e}", flush=True)
            continue
        label = f"{backbone} {precision}"
        # Warm the support cache once.
        run(Gst, f"{source(False, 1)} ! {filt(model, support, 'f', precision)} ! fakesink", ["f"])

        secs = args.seconds

        def streams(n, seconds):
            names = [f"f{i}" for i in range(n)]
            desc = " ".join(f"{source(True)} ! {filt(model, support, nm, precision)} ! fakesink"
                            for nm in names)
            wall, stats = run(Gst, desc, names, until_eos=False, seconds=seconds)
            return wall, stats

        if args.streams:
            wall, stats = streams(args.streams, secs)
            decided = sum(s["windows-classified"] for s in stats)
            dropped = sum(s["windows-dropped"] for s in stats)
            per = [s["windows-classified"] for s in stats]
            embedded = sum(s["frames-embedded"] for s in stats)
            omp = " ".join(f"{k}={os.environ[k]}" for k in
                           ("OMP_WAIT_POLICY", "OMP_NUM_THREADS", "OMP_PROC_BIND", "GOMP_SPINCOUNT")
                           if k in os.environ) or "OpenMP defaults"
            print(f"{label}: {args.streams} live streams for {wall:.0f} s ({omp}): {decided} windows "
                  f"decided, {dropped} dropped ({100 * dropped / max(decided + dropped, 1):.1f}%), "
                  f"per stream {min(per)}..{max(per)}, {embedded} frames embedded, "
                  f"process CPU {time.process_time():.0f} s", flush=True)
            continue

        wall, [st] = run(Gst, f"{source(False, secs)} ! {filt(model, support, 'f', precision)} ! fakesink",
                         ["f"])
        nonlive_fps = st["frames-in"] / wall
        sampled_fps = st["frames-embedded"] / wall
        print(f"{label}: non-live 640x480: {nonlive_fps:.1f} frames/s through the element, "
              f"{sampled_fps:.1f} sampled frames/s embedded, {st['windows-classified']} windows",
              flush=True)

        wall, [st] = run(Gst, f"{source(True)} ! {filt(model, support, 'f', precision)} ! fakesink",
                         ["f"], until_eos=False, seconds=secs)
        print(f"{label}: live 640x480 30 fps for {secs:.0f} s: {st['frames-in']} frames, "
              f"{st['windows-classified']} windows decided, {st['windows-dropped']} dropped",
              flush=True)
        live = st

        def holds(n):
            wall, stats = streams(n, secs)
            decided = sum(s["windows-classified"] for s in stats)
            dropped = sum(s["windows-dropped"] for s in stats)
            frac = dropped / max(decided + dropped, 1)
            print(f"{label}: {n} live streams: {decided} windows decided, {dropped} dropped "
                  f"({100 * frac:.1f}%)", flush=True)
            return frac < 0.05

        # 1, 2, 4, then +4 until a count fails; then the counts between the
        # last that held and the first that failed, by halves.
        sustained, n, failed = 0, 1, None
        while n <= args.max_streams:
            if not holds(n):
                failed = n
                break
            sustained = n
            n = n * 2 if n < 4 else n + 4
        while failed is not None and failed - sustained > 1:
            mid = (sustained + failed) // 2
            if holds(mid):
                sustained = mid
            else:
                failed = mid
        rows.append((label, nonlive_fps, sampled_fps, live, sustained))

        # Overload: what the machine still decides with more streams than it
        # sustains, and how evenly the streams share it.
        if args.overload_seconds > 0 and sustained > 0:
            peak = None
            for factor in (1, 1.5, 2):
                n = max(1, round(sustained * factor))
                wall, stats = streams(n, args.overload_seconds)
                per = [s["windows-classified"] for s in stats]
                rate = sum(per) / wall
                peak = peak or rate
                embedded = sum(s["frames-embedded"] for s in stats)
                overload.append((label, factor, n, rate, rate / peak, min(per), max(per),
                                 embedded / max(sum(per), 1)))
                print(f"{label}: {factor}x = {n} live streams for {wall:.0f} s: "
                      f"{rate:.2f} windows decided/s ({100 * rate / peak:.0f}% of 1x), "
                      f"per stream {min(per)}..{max(per)} "
                      f"(fewest/most {min(per) / max(max(per), 1):.2f}), "
                      f"{embedded / max(sum(per), 1):.2f} frames embedded per decision",
                      flush=True)

    print("\n| backbone | non-live frames/s | sampled frames/s | live 30 fps: decided / dropped "
          "| concurrent live streams (< 5% dropped) |")
    print("|---|---|---|---|---|")
    for b, fps, sfps, live, n in rows:
        print(f"| {b} | {fps:.1f} | {sfps:.1f} | {live['windows-classified']} / "
              f"{live['windows-dropped']} | {n} |")
    if overload:
        print("\n| backbone | load | streams | windows decided/s | % of 1x | per stream "
              "fewest..most | fewest/most | frames per decision |")
        print("|---|---|---|---|---|---|---|---|")
        for b, factor, n, rate, frac, lo, hi, fpd in overload:
            print(f"| {b} | {factor}x | {n} | {rate:.2f} | {100 * frac:.0f}% | {lo}..{hi} "
                  f"| {lo / max(hi, 1):.2f} | {fpd:.2f} |")


if __name__ == "__main__":
    main()
