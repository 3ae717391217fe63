#!/usr/bin/python3
"""Query latency of the relation head: libhyrsm (through GI) against the
same computation in PyTorch done the naive way.

    bench_query.py [--build BUILD] [--dim 2048] [--way 5] [--shot 1]
                   [--head 1shot] [--queries 50] [--threads 2] [--extra]
                   [--readme README.md]

One query against an N-way K-shot support set (default 5-way 1-shot,
D = 2048, T = 8, head-only model from tests/fixtures/make_model.py):

- libhyrsm: Hyrsm.SupportSet.match() after the set is built, so per query
  only the query's intra-relation, the inter-relation, W2b g, the fuse and
  the metric run (design.md "Support set").
- PyTorch, naive, as the authors' code runs an episode: everything
  recomputed per query (positional encoding and intra-relation of every
  support and of the query, inter-relation, layer2 fuse as a Conv1d over
  [S ; g], cosine distances, Bi-MHM), float32, no_grad,
  torch.set_num_threads(THREADS).

Both run in this process with OMP_NUM_THREADS = OPENBLAS_NUM_THREADS =
THREADS (oneDNN and torch use OpenMP, Debian's torch OpenBLAS too), in
alternating blocks of calls. The two must agree on the distances (checked). With
--readme, the table replaces the one between the `<!-- bench_query:begin -->`
and `<!-- bench_query:end -->` markers of that file (or a "## Query"
section is appended).

Run from the source root after `ninja -C build`:
    /usr/bin/python3 tests/bench/bench_query.py --readme tests/bench/README.md
"""

import argparse
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


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--dim", type=int, default=2048)
    ap.add_argument("--way", type=int, default=5)
    ap.add_argument("--shot", type=int, default=1)
    ap.add_argument("--head", default="1shot", choices=("1shot", "5shot"))
    ap.add_argument("--queries", type=int, default=50)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--extra", action="store_true",
                    help="also time 5-way 5-shot (1shot and 5shot heads) and 10-way 1-shot")
    ap.add_argument("--readme", help="write the table under '## Query' in this file")
    return ap.parse_args()


ARGS = parse_args()
# Before torch / libhyrsm load OpenMP.
os.environ["OMP_NUM_THREADS"] = str(ARGS.threads)
os.environ["OPENBLAS_NUM_THREADS"] = str(ARGS.threads)  # torch's BLAS on Debian
libdir = os.path.join(ARGS.build, "src", "hyrsm")
os.environ["GI_TYPELIB_PATH"] = libdir + os.pathsep + os.environ.get("GI_TYPELIB_PATH", "")
if libdir not in os.environ.get("LD_LIBRARY_PATH", "").split(os.pathsep):
    # the dynamic loader reads LD_LIBRARY_PATH at start-up only
    os.environ["LD_LIBRARY_PATH"] = libdir + os.pathsep + os.environ.get("LD_LIBRARY_PATH", "")
    os.execv(sys.executable, [sys.executable] + sys.argv)

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
import gi  # noqa: E402

gi.require_version("Hyrsm", "1.0")
from gi.repository import GLib, Hyrsm  # noqa: E402

sys.path.insert(0, os.path.join(ROOT, "tests", "fixtures"))
import safetensors_io  # noqa: E402

HEADS = 8
# --extra episodes: (head, way, shot)
EXTRA = [("1shot", 5, 5), ("5shot", 5, 5), ("1shot", 10, 1)]


class NaiveTorch:
    """The relation head and metric in PyTorch, recomputing everything for
    each query, structured as the authors' forward pass."""

    def __init__(self, tensors, metadata, T):
        w = {k: torch.from_numpy(np.ascontiguousarray(v, dtype=np.float32)) for k, v in tensors.items()}
        self.w = w
        self.D = w["temporal_atte_before.norm.weight"].shape[0]
        self.T = T
        a = float(metadata.get("hyrsm.position_a", "10"))
        self.b = float(metadata.get("hyrsm.position_b", "1"))
        self.scale = math.sqrt(self.D / a)
        if "pe.pe" in w:
            self.pe = w["pe.pe"][:, :T]
        else:
            t = torch.arange(T, dtype=torch.float64)[:, None]
            j = torch.arange(self.D, dtype=torch.float64)[None]
            arg = t / torch.pow(10000.0, 2.0 * j / self.D)
            self.pe = torch.where(j.long() % 2 == 0, torch.sin(arg), torch.cos(arg)).float()[None]

    @staticmethod
    def _heads(x):
        b, n, hd = x.shape
        return x.view(b, n, HEADS, hd // HEADS).transpose(1, 2)

    def _attend(self, q, k, v):
        q, k, v = map(self._heads, (q, k, v))
        attn = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1]), dim=-1)
        o = attn @ v
        return o.transpose(1, 2).reshape(o.shape[0], o.shape[2], -1)

    def intra(self, x):  # [B, T, D]
        w = self.w
        x = x * self.scale + self.b * self.pe
        z = F.layer_norm(x, (self.D,), w["temporal_atte_before.norm.weight"],
                         w["temporal_atte_before.norm.bias"], 1e-5)
        q, k, v = F.linear(z, w["temporal_atte_before.fn.to_qkv.weight"]).chunk(3, dim=-1)
        y = F.linear(self._attend(q, k, v), w["temporal_atte_before.fn.to_out.0.weight"],
                     w["temporal_atte_before.fn.to_out.0.bias"])
        return F.relu(y + x)

    def inter(self, u):  # [1, M+1, D]
        w = self.w
        q = F.linear(u, w["temporal_atte.w_qs.weight"])
        k = F.linear(u, w["temporal_atte.w_ks.weight"])
        v = F.linear(u, w["temporal_atte.w_vs.weight"])
        o = F.linear(self._attend(q, k, v), w["temporal_atte.fc.weight"], w["temporal_atte.fc.bias"])
        return F.relu(F.layer_norm(o + u, (self.D,), w["temporal_atte.layer_norm.weight"],
                                   w["temporal_atte.layer_norm.bias"], 1e-5))

    def distances(self, support, labels, classes, query, prototypes):
        """support [n, T, D], query [T, D] -> class distances [N]."""
        S = self.intra(support)
        Sq = self.intra(query[None])
        if prototypes:
            S = torch.stack([S[[i for i, l in enumerate(labels) if l == c]].mean(0) for c in classes])
        tokens = torch.cat([S, Sq])  # [M+1, T, D]
        g = self.inter(tokens.mean(1)[None])[0]  # [M+1, D]
        fused_in = torch.cat([tokens, g[:, None, :].expand(-1, self.T, -1)], dim=2)  # [M+1, T, 2D]
        E = F.conv1d(fused_in.transpose(1, 2), self.w["layer2.0.weight"], self.w["layer2.0.bias"])
        e = F.normalize(E.transpose(1, 2), dim=2, eps=1e-12)
        c = 1 - torch.einsum("mid,jd->mij", e[:-1], e[-1])
        tok = c.min(2).values.sum(1) + c.min(1).values.sum(1)
        if prototypes:
            return tok
        return torch.stack([tok[[i for i, l in enumerate(labels) if l == cl]].mean() for cl in classes])


def time_blocks(fns, n, rounds=4, warmup=3):
    """Median and min ms per call of each function. The paths run in
    alternating blocks of n / rounds calls, so that a change of machine load
    hits both, but never call by call: oneDNN's OpenMP threads and
    OpenBLAS's threads would then spin against each other."""
    times = [[] for _ in fns]
    per_block = max(1, n // rounds)
    for _ in range(rounds):
        for fn, t in zip(fns, times):
            for _ in range(warmup):
                fn()
            for _ in range(per_block):
                t0 = time.perf_counter()
                fn()
                t.append((time.perf_counter() - t0) * 1e3)
    return [(statistics.median(t), min(t)) for t in times]


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


def write_readme(path, text, table):
    """Replaces the table between the bench_query markers of @path, or,
    without markers, appends a '## Query' section with @text."""
    old = open(path).read() if os.path.exists(path) else "# Benchmarks\n"
    if BEGIN in old and END in old:
        head, rest = old.split(BEGIN, 1)
        tail = rest.split(END, 1)[1]
        new = head + BEGIN + "\n" + table.rstrip("\n") + "\n" + END + tail
    else:
        new = old.rstrip("\n") + "\n\n## Query\n\n" + text.rstrip("\n") + "\n" + BEGIN + "\n" + \
            table.rstrip("\n") + "\n" + END + "\n"
    with open(path, "w") as f:
        f.write(new)


def make_model(head, D, T, tmp):
    path = os.path.join(tmp, "head-%s-%d.safetensors" % (head, D))
    subprocess.run([sys.executable, os.path.join(ROOT, "tests", "fixtures", "make_model.py"), path,
                    "--backbone", "none", "--head", head, "--dim", str(D), "--frames", str(T)],
                   check=True, stdout=subprocess.DEVNULL)
    return Hyrsm.Model.new_from_file(path), safetensors_io.read(path)


def run_episode(model, weights, head, way, shot, T):
    """-> dict with the timings of one N-way K-shot episode."""
    D = model.props.feature_dim
    rng = np.random.default_rng(way * 100 + shot)
    classes = ["c%d" % i for i in range(way)]
    labels = [c for c in classes for _ in range(shot)]
    support = np.maximum(rng.standard_normal((len(labels), T, D)), 0).astype(np.float32)
    query = np.maximum(rng.standard_normal((T, D)), 0).astype(np.float32)

    sset = Hyrsm.SupportSet.new(model)
    t0 = time.perf_counter()
    for label, f in zip(labels, support):
        sset.add(label, GLib.Bytes.new(f.tobytes()))
    build_ms = (time.perf_counter() - t0) * 1e3
    qbytes = GLib.Bytes.new(query.tobytes())
    ours = np.array(sset.match(qbytes).get_distances())

    naive = NaiveTorch(weights[0], weights[1], T)
    prototypes = head == "5shot"
    ts, tq = torch.from_numpy(support), torch.from_numpy(query)
    with torch.no_grad():
        ref = naive.distances(ts, labels, classes, tq, prototypes).double().numpy()
        (gi_ms, gi_min), (torch_ms, torch_min) = time_blocks(
            [lambda: sset.match(qbytes), lambda: naive.distances(ts, labels, classes, tq, prototypes)],
            ARGS.queries)
    return {
        "episode": "%d-way %d-shot" % (way, shot), "head": head, "build_ms": build_ms,
        "rel": float(np.max(np.abs(ours - ref) / np.maximum(np.abs(ref), 1e-3))),
        "gi": (gi_ms, gi_min), "torch": (torch_ms, torch_min),
    }


def main():
    torch.set_num_threads(ARGS.threads)
    T = 8
    episodes = [(ARGS.head, ARGS.way, ARGS.shot)] + [(h, w, k) for h, w, k in EXTRA if (w, k) != (ARGS.way, ARGS.shot)]
    if not ARGS.extra:
        episodes = episodes[:1]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        models = {}
        for head, way, shot in episodes:
            if head not in models:
                models[head] = make_model(head, ARGS.dim, T, tmp)
            rows.append(run_episode(*models[head], head, way, shot, T))
            r = rows[-1]
            print("%s: libhyrsm %.2f ms, torch %.2f ms" % (r["episode"], r["gi"][0], r["torch"][0]), flush=True)

    text = (
        "One query against an N-way K-shot support set of T = %d, D = %d features (head-only model from "
        "`tests/fixtures/make_model.py`), after the support set is built. libhyrsm: `SupportSet.match` through "
        "GI (query intra-relation, inter-relation, fuse, Bi-MHM; the supports' share cached at add time). "
        "PyTorch naive: everything recomputed per query as the authors' code does (intra-relation of every "
        "support and of the query, inter-relation, Conv1d fuse, metric), float32, no_grad. Median (min) ms "
        "of %d queries per path, the paths in alternating blocks, %d threads (OMP_NUM_THREADS, "
        "OPENBLAS_NUM_THREADS, torch.set_num_threads), on %s (%d CPUs visible), torch %s. "
        "Made by `tests/bench/bench_query.py%s`.\n\n"
        % (T, ARGS.dim, ARGS.queries, ARGS.threads, cpu_name(), os.cpu_count() or 0, torch.__version__,
           " --extra" if ARGS.extra else "")
    )
    table = ("| episode | head | libhyrsm ms / query | PyTorch naive ms / query | speed-up (median) | "
             "distances agree to |\n|---|---|---:|---:|---:|---:|\n")
    for r in rows:
        table += "| %s | %s | %.2f (%.2f) | %.2f (%.2f) | %.1fx | %.1e |\n" % (
            r["episode"], r["head"], r["gi"][0], r["gi"][1], r["torch"][0], r["torch"][1],
            r["torch"][0] / r["gi"][0], r["rel"])
    print()
    print(text + table)
    for r in rows:
        print("%s: building the support set took %.1f ms" % (r["episode"], r["build_ms"]))
    if any(r["rel"] > 1e-3 for r in rows):
        print("error: libhyrsm and PyTorch disagree", file=sys.stderr)
        return 1
    if ARGS.readme:
        write_readme(ARGS.readme, text, table)
        print("written under '## Query' in", ARGS.readme)
    return 0


if __name__ == "__main__":
    sys.exit(main())
