#!/usr/bin/env python3
"""The short table that tests/gpu/run.sh prints last (Markdown).

    table.py --parity TEXT --ours OURS_FP16.json [--ours-fp32 J] --torch TORCH.json

A missing or unreadable JSON file shows as "-" (its step failed; see the log).
"""

import argparse
import json


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError, TypeError):
        return {}


def fmt(v, unit=""):
    return "-" if v is None else ("%.0f%s" % (v, unit) if v >= 100 else "%.2f%s" % (v, unit))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--parity", default="not run")
    ap.add_argument("--ours", required=True)
    ap.add_argument("--ours-fp32")
    ap.add_argument("--torch", required=True)
    a = ap.parse_args()
    ours, ours32, torch = load(a.ours), load(a.ours_fp32) if a.ours_fp32 else {}, load(a.torch)

    print("GPU: %s; PyTorch %s" % (ours.get("device") or torch.get("device", "?"), torch.get("torch", "?")))
    print("Parity tests (test-gpu): %s" % a.parity)
    print()
    print("| ResNet-50 224x224 | hyrsm CUDA fp16 | PyTorch eager fp16 channels_last | hyrsm / PyTorch | hyrsm CUDA fp32 |")
    print("|---|---|---|---|---|")
    batches = sorted(set(ours.get("backbone_fps", {})) | set(torch.get("backbone_fps", {})), key=int)
    for b in batches:
        o = ours.get("backbone_fps", {}).get(b)
        t = torch.get("backbone_fps", {}).get(b)
        o32 = ours32.get("backbone_fps", {}).get(b)
        ratio = "%.2fx" % (o / t) if o and t else "-"
        print("| batch %s, frames/s | %s | %s | %s | %s |" % (b, fmt(o), fmt(t), ratio, fmt(o32)))
    o, t, o32 = ours.get("window_ms"), torch.get("window_ms"), ours32.get("window_ms")
    ratio = "%.2fx faster" % (t / o) if o and t else "-"
    print("| one window (8 frames + relation + metric, 5-way 1-shot), ms | %s | %s | %s | %s |"
          % (fmt(o), fmt(t), ratio, fmt(o32)))
    print("| - of which embed / relation + metric, ms | %s / %s | | | |"
          % (fmt(ours.get("window_embed_ms")), fmt(ours.get("window_match_ms"))))
    print("| host RGB 320x240 -> features, batch 64, frames/s | %s | | | %s |"
          % (fmt(ours.get("host_rgb_fps_64")), fmt(ours32.get("host_rgb_fps_64"))))
    print()
    print("Targets (issue 5): ahead of PyTorch at every batch size; one window <= 3 ms on an H100; "
          "batched throughput >= 20,000 frames/s.")


if __name__ == "__main__":
    main()
