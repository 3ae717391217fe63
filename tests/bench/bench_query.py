#!/usr/bin/python3
"""Query latency of the relation head at scale: libhyrsm (through GI)
against the same model in PyTorch, in ms per window, for batches of 1, 8
and 32 windows against 5, 50 and 500 classes.

    bench_query.py [--build BUILD] [--dim 2048] [--classes 5,50,500]
                   [--batches 1,8,32] [--head 1shot] [--windows 40]
                   [--threads 2] [--baseline BUILD [--rounds N]]
                   [--readme README.md]

Each case is an N-way 1-shot support set (one example per class; with
--head 5shot, still one per class: one prototype each) of random
non-negative T = 8 x D features and a head-only model from
tests/fixtures/make_model.py. Per case, after the set is built and
matched once (which makes the supports' cached terms):

- libhyrsm: `Hyrsm.SupportSet.match_batch` on B windows at once (B = 1 is
  one window alone), the supports' S, W2a S, Q, K, V and mutual attention
  terms cached by the library.
- libhyrsm bf16 head (unless --no-bf16): the same, the model loaded with
  precision bf16 (the head's weights rounded to bf16 at load and widened
  in the kernel; any CPU with AVX2 and FMA), in a process of its own; the
  column gives how far its distances are from fp32's (relative to each
  query's largest) and whether any query's nearest class changed.
- PyTorch: the model as a PyTorch user would batch it, float32, no_grad:
  the supports' intra-relation S and W2a S computed once; per batch the
  windows' intra-relation, then per window the inter-relation over all
  M + 1 tokens, the fuse (W2b g) and Bi-MHM, as batched tensor operations.

Threads: libhyrsm runs in one child process, then PyTorch in another, one
after the other, never at the same time (the OpenMP threads of libhyrsm's
kernels and oneDNN and torch's threads would otherwise spin against each
other); each gets OMP_NUM_THREADS = OPENBLAS_NUM_THREADS = THREADS, torch
also torch.set_num_threads(THREADS); --wait-policy sets OMP_WAIT_POLICY
for both (on a machine shared with other jobs, passive). Both compute
the distances of the same first batch; the script checks they agree.
With --baseline BUILD, libhyrsm from that build directory (e.g. a
worktree of an older commit, built with `ninja -C BUILD`) is timed too, in
a process of its own before this build's, as a "baseline" column: a
before/after comparison under the same load; --rounds N alternates the
two N times and keeps each case's best round. Besides wall time,
libhyrsm's columns give the least process CPU time per window (both
threads together), which other jobs on the machine disturb far less.
With --readme, the table replaces the one between the
`<!-- bench_query:begin -->` and `<!-- bench_query:end -->` markers of that
file.

Run from the source root after `ninja -C build`:
    /usr/bin/python3 tests/bench/bench_query.py --readme tests/bench/README.md
"""

import argparse
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
T = 8
HEADS = 8


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--dim", type=int, default=2048)
    ap.add_argument("--classes", default="5,50,500")
    ap.add_argument("--batches", default="1,8,32")
    ap.add_argument("--head", default="1shot", choices=("1shot", "5shot"))
    ap.add_argument("--windows", type=int, default=40,
                    help="windows timed per case at least (in whole batches, 2 batches at least)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--torch-batch1-from", type=int, default=0, metavar="CLASSES",
                    help="PyTorch: from this many classes on, time batch 1 only, once (0: never; for a "
                    "PyTorch whose BLAS makes a window take many seconds)")
    ap.add_argument("--wait-policy", choices=("active", "passive"),
                    help="OMP_WAIT_POLICY of both processes (default: OpenMP's own)")
    ap.add_argument("--readme", help="write the table between the bench_query markers of this file")
    ap.add_argument("--baseline", metavar="BUILD",
                    help="also time libhyrsm from this other build directory (an older commit's), in a "
                    "process of its own before this build's, for a before/after column")
    ap.add_argument("--rounds", type=int, default=1,
                    help="with --baseline: time the two builds this many times, alternately, and keep "
                    "each case's best round (load that comes and goes hits both)")
    ap.add_argument("--no-bf16", action="store_true",
                    help="do not time libhyrsm with the head's weights in bf16 (the bf16 column)")
    ap.add_argument("--worker", choices=("ours", "torch"), help=argparse.SUPPRESS)
    ap.add_argument("--precision", default="fp32", help=argparse.SUPPRESS)
    ap.add_argument("--workdir", help=argparse.SUPPRESS)
    return ap.parse_args(argv)


ARGS = parse_args()


def case_data(classes, batch, D, seed):
    import numpy as np
    rng = np.random.default_rng(seed)
    support = np.maximum(rng.standard_normal((classes, T, D)), 0).astype(np.float32)
    queries = np.maximum(rng.standard_normal((batch, T, D)), 0).astype(np.float32)
    return support, queries


def cases():
    return [int(c) for c in ARGS.classes.split(",")], [int(b) for b in ARGS.batches.split(",")]


def repetitions(batch):
    return max(2, math.ceil(ARGS.windows / batch))


def time_calls(fn, reps, cpu=None):
    """Median and min wall ms of @reps calls; with a list @cpu, appends each
    call's process CPU time (all threads) in ms to it."""
    times = []
    for _ in range(reps):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
        if cpu is not None:
            cpu.append((time.process_time() - c0) * 1e3)
    return statistics.median(times), min(times)


# ---- libhyrsm (child process) ----

def worker_ours(workdir):
    import numpy as np
    import gi
    gi.require_version("Hyrsm", "1.0")
    from gi.repository import GLib, Hyrsm

    model = Hyrsm.Model.new_full(os.path.join(workdir, "model.safetensors"), "cpu", ARGS.precision)
    assert model.get_precision() == ARGS.precision, model.get_precision()
    D = model.props.feature_dim
    all_classes, batches = cases()
    out = {}
    for classes in all_classes:
        support, _ = case_data(classes, 1, D, classes)
        sset = Hyrsm.SupportSet.new(model)
        t0 = time.perf_counter()
        for c in range(classes):
            sset.add("c%d" % c, GLib.Bytes.new(support[c].tobytes()))
        build_ms = (time.perf_counter() - t0) * 1e3
        first_ms = None
        for batch in batches:
            _, queries = case_data(classes, batch, D, 1000 + classes * 7 + batch)
            qbytes = GLib.Bytes.new(queries.tobytes())
            t0 = time.perf_counter()
            results = sset.match_batch(qbytes)
            if first_ms is None:
                first_ms = (time.perf_counter() - t0) * 1e3
            dists = [list(r.get_distances()) for r in results]
            cpu = []
            med, best = time_calls(lambda: sset.match_batch(qbytes), repetitions(batch), cpu)
            out["%d/%d" % (classes, batch)] = {"ms": med / batch, "min": best / batch, "cpu": min(cpu) / batch,
                                               "distances": dists}
            print("libhyrsm %4d classes, batch %2d: %8.2f ms / window" % (classes, batch, med / batch), flush=True)
        out["%d/build" % classes] = {"add_ms": build_ms, "first_match_ms": first_ms}
    return out


# ---- PyTorch (child process) ----

def worker_torch(workdir):
    import numpy as np
    import torch
    import torch.nn.functional as F
    sys.path.insert(0, os.path.join(ROOT, "tools"))
    import safetensors_io

    torch.set_num_threads(ARGS.threads)
    tensors, metadata = safetensors_io.read(os.path.join(workdir, "model.safetensors"))
    w = {k: torch.from_numpy(np.ascontiguousarray(v, dtype=np.float32)) for k, v in tensors.items()}
    D = w["temporal_atte_before.norm.weight"].shape[0]
    scale = math.sqrt(D / float(metadata.get("hyrsm.position_a", "10")))
    pb = float(metadata.get("hyrsm.position_b", "1"))
    if "pe.pe" in w:
        pe = w["pe.pe"][:, :T]
    else:
        t = torch.arange(T, dtype=torch.float64)[:, None]
        j = torch.arange(D, dtype=torch.float64)[None]
        arg = t / torch.pow(10000.0, 2.0 * j / D)
        pe = torch.where(j.long() % 2 == 0, torch.sin(arg), torch.cos(arg)).float()[None]
    W2 = w["layer2.0.weight"][:, :, 0]
    W2a, W2b, b2 = W2[:, :D].contiguous(), W2[:, D:].contiguous(), w["layer2.0.bias"]

    def heads(x):
        b, n, hd = x.shape
        return x.view(b, n, HEADS, hd // HEADS).transpose(1, 2)

    def attend(q, k, v):
        q, k, v = map(heads, (q, k, v))
        a = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1]), dim=-1)
        o = a @ v
        return o.transpose(1, 2).reshape(o.shape[0], o.shape[2], -1)

    def intra(x):  # [B, T, D]
        x = x * scale + pb * pe
        z = F.layer_norm(x, (D,), w["temporal_atte_before.norm.weight"], w["temporal_atte_before.norm.bias"], 1e-5)
        q, k, v = F.linear(z, w["temporal_atte_before.fn.to_qkv.weight"]).chunk(3, dim=-1)
        y = F.linear(attend(q, k, v), w["temporal_atte_before.fn.to_out.0.weight"],
                     w["temporal_atte_before.fn.to_out.0.bias"])
        return F.relu(y + x)

    def inter(u):  # [B, M+1, D]
        o = attend(F.linear(u, w["temporal_atte.w_qs.weight"]), F.linear(u, w["temporal_atte.w_ks.weight"]),
                   F.linear(u, w["temporal_atte.w_vs.weight"]))
        o = F.linear(o, w["temporal_atte.fc.weight"], w["temporal_atte.fc.bias"])
        return F.relu(F.layer_norm(o + u, (D,), w["temporal_atte.layer_norm.weight"],
                                   w["temporal_atte.layer_norm.bias"], 1e-5))

    def distances(u_s, w2a_s, queries):
        """u_s [M, D], w2a_s [M, T, D] (cached); queries [B, T, D] -> [B, M]."""
        M = u_s.shape[0]
        sq = intra(queries)
        uq = sq.mean(1)
        w2a_q = sq @ W2a.T
        out = []
        chunk = max(1, 2048 // M)  # bounds the [b, M, T, D] tensors
        for b0 in range(0, queries.shape[0], chunk):
            b1 = min(b0 + chunk, queries.shape[0])
            u = torch.cat([u_s[None].expand(b1 - b0, -1, -1), uq[b0:b1, None]], dim=1)
            tok = inter(u) @ W2b.T + b2  # [b, M+1, D]
            eq = F.normalize(w2a_q[b0:b1] + tok[:, M:], dim=-1, eps=1e-12)  # [b, T, D]
            em = F.normalize(w2a_s[None] + tok[:, :M, None, :], dim=-1, eps=1e-12)  # [b, M, T, D]
            c = 1 - torch.einsum("bmid,bjd->bmij", em, eq)
            out.append(c.min(3).values.sum(2) + c.min(2).values.sum(2))
        return torch.cat(out)

    all_classes, batches = cases()
    out = {}
    with torch.no_grad():
        for classes in all_classes:
            support, _ = case_data(classes, 1, D, classes)
            s = torch.cat([intra(x) for x in torch.from_numpy(support).split(64)])
            u_s, w2a_s = s.mean(1), s @ W2a.T
            short = 0 < ARGS.torch_batch1_from <= classes
            for batch in batches:
                if short and batch != 1:
                    continue
                _, queries = case_data(classes, batch, D, 1000 + classes * 7 + batch)
                q = torch.from_numpy(queries)
                t0 = time.perf_counter()
                dists = distances(u_s, w2a_s, q).double().tolist()
                once = (time.perf_counter() - t0) * 1e3
                med, best = (once, once) if short else time_calls(lambda: distances(u_s, w2a_s, q),
                                                                     repetitions(batch))
                out["%d/%d" % (classes, batch)] = {"ms": med / batch, "min": best / batch, "distances": dists}
                print("PyTorch  %4d classes, batch %2d: %8.2f ms / window" % (classes, batch, med / batch), flush=True)
    out["version"] = torch.__version__
    return out


# ---- the parent ----

def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


BEGIN, END = "<!-- bench_query:begin -->", "<!-- bench_query:end -->"


def write_readme(path, table):
    old = open(path).read()
    if BEGIN not in old or END not in old:
        sys.exit("%s has no %s ... %s markers" % (path, BEGIN, END))
    head, rest = old.split(BEGIN, 1)
    tail = rest.split(END, 1)[1]
    with open(path, "w") as f:
        f.write(head + BEGIN + "\n" + table.rstrip("\n") + "\n" + END + tail)


def best_of(old, new):
    """Each case's better round (by median) of two runs of worker_ours."""
    if old is None:
        return new
    for key, value in new.items():
        if "ms" in value and value["ms"] < old[key]["ms"]:
            old[key] = value
    return old


def run_worker(kind, workdir, build=None, precision="fp32"):
    build = build or ARGS.build
    env = dict(os.environ)
    env.update(OMP_NUM_THREADS=str(ARGS.threads), OPENBLAS_NUM_THREADS=str(ARGS.threads))
    if ARGS.wait_policy:
        env["OMP_WAIT_POLICY"] = ARGS.wait_policy
    libdir = os.path.join(build, "src", "hyrsm")
    env["GI_TYPELIB_PATH"] = libdir + os.pathsep + env.get("GI_TYPELIB_PATH", "")
    env["LD_LIBRARY_PATH"] = libdir + os.pathsep + env.get("LD_LIBRARY_PATH", "")
    argv = [sys.executable, os.path.abspath(__file__), "--worker", kind, "--workdir", workdir,
            "--build", build, "--classes", ARGS.classes, "--batches", ARGS.batches,
            "--head", ARGS.head, "--windows", str(ARGS.windows), "--threads", str(ARGS.threads),
            "--torch-batch1-from", str(ARGS.torch_batch1_from), "--precision", precision]
    subprocess.run(argv, env=env, check=True)
    with open(os.path.join(workdir, kind + ".json")) as f:
        return json.load(f)


def main():
    if ARGS.worker:
        out = worker_ours(ARGS.workdir) if ARGS.worker == "ours" else worker_torch(ARGS.workdir)
        with open(os.path.join(ARGS.workdir, ARGS.worker + ".json"), "w") as f:
            json.dump(out, f)
        return 0

    import numpy as np
    all_classes, batches = cases()
    with tempfile.TemporaryDirectory() as workdir:
        subprocess.run([sys.executable, os.path.join(ROOT, "tests", "fixtures", "make_model.py"),
                        os.path.join(workdir, "model.safetensors"), "--backbone", "none", "--head", ARGS.head,
                        "--dim", str(ARGS.dim), "--frames", str(T)], check=True, stdout=subprocess.DEVNULL)
        base = ours = None
        if ARGS.baseline:
            # the same model file, the other build's library
            os.mkdir(os.path.join(workdir, "baseline"))
            os.symlink(os.path.join(workdir, "model.safetensors"),
                       os.path.join(workdir, "baseline", "model.safetensors"))
        for _ in range(max(1, ARGS.rounds) if ARGS.baseline else 1):
            if ARGS.baseline:
                base = best_of(base, run_worker("ours", os.path.join(workdir, "baseline"),
                                                os.path.abspath(ARGS.baseline)))
            ours = best_of(ours, run_worker("ours", workdir))
        half = None
        if not ARGS.no_bf16:
            half = run_worker("ours", workdir, precision="bf16")
        theirs = run_worker("torch", workdir)

    table = ("| classes | batch | %slibhyrsm ms / window | libhyrsm CPU ms / window | PyTorch ms / window | "
             "speed-up | distances agree to |%s\n|---:|---:|%s---:|---:|---:|---:|---:|%s\n"
             % ("baseline ms / window | baseline CPU ms / window | " if base else "",
                " libhyrsm bf16 head ms / window | bf16 distances vs fp32 |" if half else "",
                "---:|---:|" if base else "", "---:|---:|" if half else ""))
    worst = worst_base = worst_half = 0.0
    for classes in all_classes:
        for batch in batches:
            key = "%d/%d" % (classes, batch)
            a, b = ours[key], theirs.get(key)
            before = ""
            if base:
                ab = base[key]
                before = "%.2f (%.2f) | %.2f | " % (ab["ms"], ab["min"], ab["cpu"])
                da, dz = np.array(a["distances"]), np.array(ab["distances"])
                worst_base = max(worst_base, float(np.max(np.abs(da - dz) / np.maximum(np.abs(dz), 1e-3))))
            after = ""
            if half:
                ah = half[key]
                da, dh = np.array(a["distances"]), np.array(ah["distances"])
                # relative to each query's largest distance (the tolerance of docs/decisions.md)
                rel_h = float(np.max(np.abs(dh - da) / np.max(np.abs(da), axis=1, keepdims=True)))
                worst_half = max(worst_half, rel_h)
                same = all(np.argmin(x) == np.argmin(y) for x, y in zip(da, dh))
                after = " %.2f (%.2f) | %.1e%s |" % (ah["ms"], ah["min"], rel_h, "" if same else ", other class")
            if b is None:
                table += "| %d | %d | %s%.2f (%.2f) | %.2f | not timed | | |%s\n" % (
                    classes, batch, before, a["ms"], a["min"], a["cpu"], after)
                continue
            # PyTorch's distances are per token; with one example per class
            # they are the class distances
            da, db = np.array(a["distances"]), np.array(b["distances"])
            rel = float(np.max(np.abs(da - db) / np.maximum(np.abs(db), 1e-3)))
            worst = max(worst, rel)
            table += "| %d | %d | %s%.2f (%.2f) | %.2f | %.2f (%.2f) | %.1fx | %.1e |%s\n" % (
                classes, batch, before, a["ms"], a["min"], a["cpu"], b["ms"], b["min"], b["ms"] / a["ms"], rel,
                after)
    notes = []
    for classes in all_classes:
        build = ours["%d/build" % classes]
        notes.append("%d classes: adding the examples %.0f ms, first match (makes the supports' mutual "
                     "terms) %.0f ms" % (classes, build["add_ms"], build["first_match_ms"]))
    if base:
        notes.append("baseline: libhyrsm of %s, run before this build's (%d round%s, each case's best); "
                     "its distances and this build's agree to %.1e"
                     % (ARGS.baseline, ARGS.rounds, "s" if ARGS.rounds > 1 else "", worst_base))
    if half:
        notes.append("bf16 head: the same model loaded with precision bf16 (the head's weights rounded to "
                     "bf16 at load, widened to float in the kernel; everything else as fp32), its own "
                     "process; distances differ from fp32 by at most %.1e of each query's largest"
                     % worst_half)
    load = os.getloadavg()
    text = ("%s head, D = %d, T = %d; median (min) ms per window, and the least process CPU time per "
            "window (both threads together: unlike wall time, it leaves out the time other jobs hold the "
            "cores); %d threads each (OMP_WAIT_POLICY %s), "
            "libhyrsm then PyTorch %s in separate processes; %s (%d CPUs visible), load average %.1f at the end."
            % (ARGS.head, ARGS.dim, T, ARGS.threads, ARGS.wait_policy or "unset", theirs["version"], cpu_name(),
               os.cpu_count() or 0, load[0]))
    print()
    print(text)
    print(table)
    print("\n".join(notes))
    if worst > 1e-3:
        print("error: libhyrsm and PyTorch disagree (%.1e)" % worst, file=sys.stderr)
        return 1
    if ARGS.readme:
        write_readme(ARGS.readme, text + "\n\n" + table + "\n" + "\n".join("- " + n for n in notes) + "\n")
        print("written between the bench_query markers of", ARGS.readme)
    return 0


if __name__ == "__main__":
    sys.exit(main())
