#!/usr/bin/python3
"""hyrsm-bench-torch.py MODEL [options]: the workloads of `gst-hyrsm bench`
in PyTorch, for `gst-hyrsm bench --vs-torch`; prints one JSON object.

- backbone: the model's ResNet (torchvision, its weights from MODEL, eval
  mode, no autograd) on batches of random pre-processed crop x crop frames;
  frames per second per batch size;
- query: one query (T x D random features) against a 1-shot support set of
  N classes, computing per query what gst-hyrsm computes per query (the
  supports' intra-relation output S, its mean and W2a S are precomputed, as
  HyrsmSupportSet keeps them): the query's intra-relation, the
  inter-relation over the N + 1 token means, the fuse and the Bi-MHM
  metric (docs/model.md sections 4 to 6); for a backbone-only model the metric
  on raw features. Milliseconds per query.

Each measurement runs once to warm up, then for at least --min-time s.
Exit status: 0 done, 1 failure, 2 bad usage, 3 torch/torchvision missing.
Installed with gst-hyrsm (DATADIR/gst-hyrsm) together with the modules it
imports from its own folder: hyrsm_layout.py and safetensors_io.py.
"""

import argparse
import json
import math
import os
import sys
import time

import hyrsm_layout as L  # next to this script (pure Python)

PROG = "gst-hyrsm: bench --vs-torch"
MISSING = 3
HEADS = 8


def fail(msg, status=1):
    print("%s: %s" % (PROG, msg), file=sys.stderr)
    sys.exit(status)


def read_safetensors(path, torch):
    import safetensors_io  # next to this script; needs numpy, which torch has

    arrays, meta = safetensors_io.read(path)
    return {k: torch.from_numpy(v).float() for k, v in arrays.items()
            if v.dtype.kind == "f"}, meta


def split(tensors):
    """-> (backbone under torchvision names, head with pe.pe)."""
    backbone, head, pe, _ = L.split_tensors(tensors)
    if pe is not None:
        head[L.PE_KEY] = pe
    return backbone, head


def make_backbone(torch, torchvision, name, weights):
    net = getattr(torchvision.models, name)()
    net.fc = torch.nn.Identity()
    net.load_state_dict(weights, strict=False)
    return net.eval()


def timed(fn, min_time, sync, min_iterations=1):
    fn()
    sync()
    n, t0 = 0, time.perf_counter()
    while True:
        fn()
        n += 1
        sync()
        elapsed = time.perf_counter() - t0
        if elapsed >= min_time and n >= min_iterations:
            return elapsed / n


# --------------------------------------------------------------------------
# The per-query work (docs/model.md sections 4 to 6), float32


def mha(torch, Q, K, V):
    n, D = Q.shape[-2], Q.shape[-1]
    d = D // HEADS
    q = Q.reshape(-1, n, HEADS, d).transpose(1, 2)
    k = K.reshape(-1, K.shape[-2], HEADS, d).transpose(1, 2)
    v = V.reshape(-1, V.shape[-2], HEADS, d).transpose(1, 2)
    a = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(d), dim=-1)
    return (a @ v).transpose(1, 2).reshape(Q.shape)


class Relation:
    def __init__(self, torch, head, T, D, pa, pb):
        self.torch = torch
        self.h = head
        self.D = D
        if "pe.pe" in head and head["pe.pe"].shape[1] >= T:
            P = head["pe.pe"][0, :T]
        else:
            t = torch.arange(T, dtype=torch.float64)[:, None]
            j = torch.arange(D, dtype=torch.float64)[None, :]
            arg = t / torch.pow(torch.tensor(10000.0, dtype=torch.float64), 2.0 * j / D)
            P = torch.where((torch.arange(D) % 2 == 0)[None, :], torch.sin(arg), torch.cos(arg))
        self.P = P.float() * pb
        self.scale = math.sqrt(D / pa)
        W2 = head["layer2.0.weight"][:, :, 0]
        self.W2a, self.W2b = W2[:, :D].contiguous(), W2[:, D:].contiguous()

    def intra(self, F):
        torch, h = self.torch, self.h
        X = F * self.scale + self.P
        Z = torch.nn.functional.layer_norm(X, (self.D,), h["temporal_atte_before.norm.weight"],
                                           h["temporal_atte_before.norm.bias"], 1e-5)
        Q, K, V = (Z @ h["temporal_atte_before.fn.to_qkv.weight"].T).chunk(3, dim=-1)
        O = mha(torch, Q, K, V)
        Y = O @ h["temporal_atte_before.fn.to_out.0.weight"].T + h["temporal_atte_before.fn.to_out.0.bias"]
        return torch.relu(Y + X)

    def inter(self, U):
        torch, h = self.torch, self.h
        O = mha(torch, U @ h["temporal_atte.w_qs.weight"].T, U @ h["temporal_atte.w_ks.weight"].T,
                U @ h["temporal_atte.w_vs.weight"].T)
        G = torch.nn.functional.layer_norm(O @ h["temporal_atte.fc.weight"].T + h["temporal_atte.fc.bias"] + U,
                                           (self.D,), h["temporal_atte.layer_norm.weight"],
                                           h["temporal_atte.layer_norm.bias"], 1e-5)
        return torch.relu(G)


def bimhm(torch, Es, Eq):
    """Es: [M, T, D], Eq: [T, D] -> [M] distances."""
    es = torch.nn.functional.normalize(Es, dim=-1, eps=1e-12)
    eq = torch.nn.functional.normalize(Eq, dim=-1, eps=1e-12)
    c = 1.0 - es @ eq.T
    return c.min(dim=2).values.sum(dim=1) + c.min(dim=1).values.sum(dim=1)


def query_bench(torch, rel, T, D, classes, min_time, device, sync):
    gen = torch.Generator().manual_seed(2)
    support = (torch.rand(classes, T, D, generator=gen) * 2).to(device)
    query = (torch.rand(T, D, generator=gen) * 2).to(device)
    if rel is None:
        def one():
            d = bimhm(torch, support, query)
            return int(d.argmin())
        return timed(one, min_time, sync, 3)
    with torch.inference_mode():
        S = rel.intra(support)                      # precomputed, as the set keeps them
        u = S.mean(dim=1)
        w2a_s = S @ rel.W2a.T

    def one():
        Sq = rel.intra(query[None])[0]
        U = torch.cat([u, Sq.mean(dim=0)[None]])
        g = rel.inter(U[None])[0]
        tok = g @ rel.W2b.T + rel.h["layer2.0.bias"]
        Es = w2a_s + tok[:-1, None, :]
        Eq = Sq @ rel.W2a.T + tok[-1]
        return int(bimhm(torch, Es, Eq).argmin())

    return timed(one, min_time, sync, 3)


def main():
    ap = argparse.ArgumentParser(prog="hyrsm-bench-torch.py")
    ap.add_argument("model")
    ap.add_argument("--batch", default="1,8,64")
    ap.add_argument("--support-classes", default="5,50,500")
    ap.add_argument("--min-time", type=float, default=1.0)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=0,
                    help="CPU threads for torch (default: every CPU, as gst-hyrsm uses)")
    ap.error = lambda m: fail(m, 2)
    a = ap.parse_args()
    try:
        import torch
        import torchvision
    except ImportError as e:
        fail("the comparison needs PyTorch and torchvision, which %s cannot import "
             "(%s): install python3-torch and python3-torchvision (Debian/Ubuntu), or "
             "point HYRSM_PYTHON at a python3 that has them" % (sys.executable, e), MISSING)

    # Some builds (Debian's) default to one thread: use the CPUs gst-hyrsm uses.
    torch.set_num_threads(a.threads if a.threads > 0 else (len(os.sched_getaffinity(0)) or 1))
    batches = [int(x) for x in a.batch.split(",") if x]
    sizes = [int(x) for x in a.support_classes.split(",") if x]
    device = torch.device("cuda" if a.device.startswith("cuda") else "cpu")
    if device.type == "cuda" and not torch.cuda.is_available():
        fail("gst-hyrsm ran on %s but this PyTorch has no CUDA device" % a.device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    try:
        tensors, md = read_safetensors(a.model, torch)
    except (OSError, ValueError, KeyError) as e:
        fail("cannot read %s: %s" % (a.model, e))
    bb, head = split(tensors)
    name = md.get("hyrsm.backbone")
    if not bb:
        name = "none"
    elif name is None:
        try:
            name = L.infer_backbone(bb)
        except ValueError as e:
            fail("%s: %s" % (a.model, e))
    T = int(md.get("hyrsm.frames", "8"))
    crop = int(md.get("hyrsm.crop", "224"))
    out = {"torch": torch.__version__, "device": str(device), "threads": torch.get_num_threads(),
           "backbone": [], "query": []}

    with torch.inference_mode():
        if name != "none" and bb and batches:
            net = make_backbone(torch, torchvision, name, bb).to(device)
            gen = torch.Generator().manual_seed(1)
            for b in batches:
                x = (torch.rand(b, 3, crop, crop, generator=gen) * 4 - 2).to(device)
                sec = timed(lambda: net(x), a.min_time, sync)
                out["backbone"].append({"batch": b, "frames_per_second": b / sec, "ms_per_batch": sec * 1e3})
            del net
        D = head["temporal_atte_before.norm.weight"].shape[0] if head else L.RESNET_DIM.get(name, 512)
        rel = None
        if head and md.get("hyrsm.head") != "none" and "layer2.0.weight" in head:
            head = {k: v.to(device) for k, v in head.items()}
            rel = Relation(torch, head, T, D, float(md.get("hyrsm.position_a", "10")),
                           float(md.get("hyrsm.position_b", "1")))
            rel.P = rel.P.to(device)
        for n in sizes:
            sec = query_bench(torch, rel, T, D, n, a.min_time, device, sync)
            out["query"].append({"classes": n, "ms_per_query": sec * 1e3})
    json.dump(out, sys.stdout)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
