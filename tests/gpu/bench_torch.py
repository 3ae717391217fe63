#!/usr/bin/env python3
"""PyTorch baselines for tests/gpu/run.sh, on the same GPU and weights.

    bench_torch.py MODEL [--batches 1,8,64,256] [--json OUT] [--quick]

MODEL is the file bench-gpu measures (tests/fixtures/make_model.py --backbone
resnet50 --head 1shot, torchvision names). The backbone is torchvision's
ResNet with the file's weights, fc removed, eval, float16, channels_last,
cudnn.benchmark: frames/s per batch size with the input already on the GPU,
eager (backbone_fps) and replayed from a CUDA graph (torch.cuda.CUDAGraph,
backbone_fps_graph: what bench-gpu's own figures are, graph replays), each
timed with CUDA events around a loop of runs. No torch.compile. One window: 8 frames of
uint8 RGB on the host -> GPU, resize/crop/normalize, backbone, the HyRSM++
relation head and Bi-MHM against 5 supports (docs/model.md sections 2-6), in
float16 like the backbone (the head's matrix products in float32 would
change little), wall clock, median.
"""

import argparse
import json
import math
import os
import statistics
import sys
import time

import torch
import torch.nn.functional as F
import torchvision

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tools"))
import hyrsm_layout as L  # noqa: E402
import safetensors_io  # noqa: E402


def load(path):
    tensors, meta = safetensors_io.read(path)
    meta = meta or {}
    backbone = L.split_tensors(tensors)[0]
    arch = meta.get("hyrsm.backbone") or L.infer_backbone(backbone)
    model = getattr(torchvision.models, arch)(weights=None)
    own = model.state_dict()
    sd = {k: torch.from_numpy(v.copy()) for k, v in backbone.items() if k in own}
    missing = [k for k in own if k not in sd and not k.startswith("fc.")]
    if missing:
        sys.exit("bench_torch: %s lacks %d backbone tensors, e.g. %s" % (path, len(missing), missing[0]))
    model.load_state_dict(sd, strict=False)
    model.fc = torch.nn.Identity()
    return model, tensors, meta


class Head:
    """HyRSM++ relation head + Bi-MHM (docs/model.md sections 4-6), eager."""

    def __init__(self, t, meta, frames, dtype, dev):
        g = lambda k: torch.from_numpy(t[k].copy()).to(dev, dtype)  # noqa: E731
        self.d = t["layer2.0.bias"].shape[0]
        self.h = 8
        self.a = float(meta.get("hyrsm.position_a", 10))
        self.b = float(meta.get("hyrsm.position_b", 1))
        if "pe.pe" in t:
            pe = torch.from_numpy(t["pe.pe"][0].copy())
        else:
            tt = torch.arange(20, dtype=torch.float64)[:, None]
            j = torch.arange(self.d, dtype=torch.float64)[None, :]
            arg = tt / torch.pow(10000.0, 2.0 * j / self.d)
            pe = torch.where(torch.arange(self.d)[None, :] % 2 == 0, torch.sin(arg), torch.cos(arg))
        self.pe = pe[:frames].to(dev, dtype)
        self.n1w, self.n1b = g("temporal_atte_before.norm.weight"), g("temporal_atte_before.norm.bias")
        self.qkv = g("temporal_atte_before.fn.to_qkv.weight")
        self.ow, self.ob = g("temporal_atte_before.fn.to_out.0.weight"), g("temporal_atte_before.fn.to_out.0.bias")
        self.wq, self.wk, self.wv = (g("temporal_atte.w_%ss.weight" % c) for c in "qkv")
        self.fw, self.fb = g("temporal_atte.fc.weight"), g("temporal_atte.fc.bias")
        self.lw, self.lb = g("temporal_atte.layer_norm.weight"), g("temporal_atte.layer_norm.bias")
        w2 = g("layer2.0.weight")[:, :, 0]
        self.w2a, self.w2b = w2[:, : self.d].contiguous(), w2[:, self.d :].contiguous()
        self.b2 = g("layer2.0.bias")

    def attention(self, q, k, v):
        n = q.shape[-2]
        dh = self.d // self.h
        split = lambda x: x.reshape(*x.shape[:-2], n, self.h, dh).transpose(-3, -2)  # noqa: E731
        a = torch.softmax(split(q) @ split(k).transpose(-1, -2) / math.sqrt(dh), dim=-1)
        return (a @ split(v)).transpose(-3, -2).reshape(*q.shape[:-2], n, self.d)

    def intra(self, f):  # [V, T, D] -> S [V, T, D]
        x = f * math.sqrt(self.d / self.a) + self.b * self.pe
        z = F.layer_norm(x, (self.d,), self.n1w, self.n1b, 1e-5)
        q, k, v = (z @ self.qkv.t()).split(self.d, dim=-1)
        return torch.relu(self.attention(q, k, v) @ self.ow.t() + self.ob + x)

    def distances(self, s_support, s_query):  # [M, T, D], [T, D] -> [M]
        u = torch.cat([s_support.mean(1), s_query.mean(0, keepdim=True)])
        o = self.attention(u @ self.wq.t(), u @ self.wk.t(), u @ self.wv.t())
        g = torch.relu(F.layer_norm(o @ self.fw.t() + self.fb + u, (self.d,), self.lw, self.lb, 1e-5))
        tok = g @ self.w2b.t() + self.b2
        e_s = s_support @ self.w2a.t() + tok[:-1, None, :]
        e_q = s_query @ self.w2a.t() + tok[-1]
        e_s = e_s / e_s.norm(dim=-1, keepdim=True).clamp_min(1e-12)
        e_q = e_q / e_q.norm(dim=-1, keepdim=True).clamp_min(1e-12)
        c = 1 - e_s @ e_q.t()  # [M, T, T]
        return c.min(2).values.sum(1) + c.min(1).values.sum(1)


def preprocess(rgb, resize, crop, mean, std):
    """uint8 [n, H, W, 3] on the GPU -> normalized [n, 3, crop, crop]."""
    x = rgb.permute(0, 3, 1, 2).float()
    x = F.interpolate(x, size=(resize, resize), mode="bilinear", align_corners=False)
    o = (resize - crop) // 2
    x = x[:, :, o : o + crop, o : o + crop] / 255.0
    return (x - mean[None, :, None, None]) / std[None, :, None, None]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model")
    ap.add_argument("--batches", default="1,8,64,256")
    ap.add_argument("--json")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--device", default="cuda", help="cpu: a float32 smoke test of this script")
    args = ap.parse_args()

    dev = torch.device(args.device)
    dtype = torch.half if dev.type == "cuda" else torch.float32
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    torch.backends.cudnn.benchmark = True
    model, tensors, meta = load(args.model)
    model = model.to(dev, dtype).eval().to(memory_format=torch.channels_last)
    crop = int(meta.get("hyrsm.crop", 224))
    resize = int(meta.get("hyrsm.resize", 256))
    frames = int(meta.get("hyrsm.frames", 8))
    name = torch.cuda.get_device_name(0) if dev.type == "cuda" else "cpu"
    res = {"device": name, "torch": torch.__version__, "backbone_fps": {}}
    print("device %s, torch %s, cuDNN %s" % (name, torch.__version__, torch.backends.cudnn.version()))

    def timed(run, iters):
        """Seconds per call of run(), GPU time (CUDA events) on a GPU."""
        if dev.type != "cuda":
            t0 = time.perf_counter()
            for _ in range(iters):
                run()
            return (time.perf_counter() - t0) / iters
        start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(iters):
            run()
        stop.record()
        stop.synchronize()
        return start.elapsed_time(stop) / 1e3 / iters

    if dev.type == "cuda":
        res["backbone_fps_graph"] = {}
    with torch.inference_mode():
        for n in [int(b) for b in args.batches.split(",")]:
            x = torch.randn(n, 3, crop, crop, device=dev, dtype=dtype).to(memory_format=torch.channels_last)
            iters = 3 if args.quick else max(10, 2048 // n)
            for _ in range(3):  # cudnn.benchmark picks its algorithms here
                model(x)
            sync()
            sec = timed(lambda: model(x), iters)
            res["backbone_fps"][str(n)] = n / sec
            print("backbone batch %d, eager: %.0f frames/s (%.3f ms per batch)" % (n, n / sec, sec * 1e3))
            if dev.type == "cuda":
                # Warm up on a side stream, capture, replay (PyTorch's CUDA
                # graphs recipe); x is the graph's static input.
                side = torch.cuda.Stream()
                side.wait_stream(torch.cuda.current_stream())
                with torch.cuda.stream(side):
                    for _ in range(3):
                        model(x)
                torch.cuda.current_stream().wait_stream(side)
                graph = torch.cuda.CUDAGraph()
                with torch.cuda.graph(graph):
                    model(x)
                graph.replay()
                sync()
                sec = timed(graph.replay, iters)
                res["backbone_fps_graph"][str(n)] = n / sec
                print("backbone batch %d, CUDA graph: %.0f frames/s (%.3f ms per batch)" % (n, n / sec, sec * 1e3))
                del graph

        if "layer2.0.bias" in tensors:
            head = Head(tensors, meta, frames, dtype, dev)
            mean = torch.tensor([float(v) for v in meta.get("hyrsm.mean", "0.45,0.45,0.45").split(",")], device=dev)
            std = torch.tensor([float(v) for v in meta.get("hyrsm.std", "0.225,0.225,0.225").split(",")], device=dev)
            gen = torch.Generator().manual_seed(0)
            rgb = lambda: torch.randint(0, 256, (frames, 240, 320, 3), dtype=torch.uint8, generator=gen)  # noqa: E731

            def embed(host):
                x = preprocess(host.to(dev, non_blocking=True), resize, crop, mean, std)
                return model(x.to(dtype).contiguous(memory_format=torch.channels_last))

            supports = head.intra(torch.stack([embed(rgb()) for _ in range(5)]))
            query = rgb().pin_memory() if dev.type == "cuda" else rgb()
            times = []
            for w in range(-3, 5 if args.quick else 50):
                t0 = time.perf_counter()
                d = head.distances(supports, head.intra(embed(query)[None])[0])
                int(torch.argmin(d))  # the label, on the host
                if w >= 0:
                    times.append((time.perf_counter() - t0) * 1e3)
            res["window_ms"] = statistics.median(times)
            print("window (%d frames 320x240, 5-way 1-shot): %.2f ms median" % (frames, res["window_ms"]))

    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f)


if __name__ == "__main__":
    main()
