#!/usr/bin/python3
"""How far bf16 features and class distances are from fp32, on real frames.

    bf16_error.py CLIPS MODEL [MODEL ...] [--emulate]

CLIPS is an output folder of tests/fixtures/make_clips.sh (its
frames/<scene>_4/*.jpg: 24 real frames per scene); each MODEL a file from
tests/fixtures/make_model.py (random weights). The episode: one class per
scene, its support example the even frames 0..14, the query of every scene
its odd frames 9..23. For each model it prints the features' relative error
(max |bf16 - fp32| / max |fp32|, the measure of tests/python), the smallest
cosine between a frame's two feature vectors, the distances' relative error
and whether both precisions pick the same class for every query.

bf16 features come from libhyrsm (precision "bf16") on CPUs with AVX512-BF16;
with --emulate (any CPU) from a PyTorch model of what oneDNN computes there:
folded BatchNorm, activations and weights rounded to bf16 (round to nearest
even) before each convolution, products summed in float32, the float32 bias,
the residual read back from bf16, ReLU, then the result rounded to bf16; the
network's last convolution and the average pool stay float32. Distances are
computed by libhyrsm's fp32 relation code from either set of features.
"""
import argparse
import pathlib
import sys

import gi
import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

gi.require_version("Hyrsm", "1.0")
from gi.repository import GLib, Hyrsm  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "reference"))
import hyrsm_ref  # noqa: E402

T = 8
SUPPORT = list(range(0, 16, 2))
QUERY = list(range(9, 24, 2))


def bf16(x):
    return x.to(torch.bfloat16).to(torch.float32)


def folded(conv, bn):
    """The convolution with its BatchNorm folded in, float32."""
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    w = conv.weight * scale[:, None, None, None]
    b = bn.bias - bn.running_mean * scale
    return w.float(), b.float()


def conv(x, cb, stride, padding, relu, residual=None, out_bf16=True):
    w, b = cb
    y = F.conv2d(bf16(x), bf16(w), b, stride=stride, padding=padding)
    if residual is not None:
        y = y + residual
    if relu:
        y = torch.relu(y)
    return bf16(y) if out_bf16 else y


def emulated_features(net, frames):
    """oneDNN's bf16 backbone (hyrsm-backend-cpu.c), modelled in PyTorch."""
    with torch.no_grad():
        x = torch.from_numpy(np.array(frames))
        x = conv(x, folded(net.conv1, net.bn1), 2, 3, True)
        x = F.max_pool2d(x, 3, 2, 1)
        blocks = [blk for layer in (net.layer1, net.layer2, net.layer3, net.layer4)
                  for blk in layer]
        for i, blk in enumerate(blocks):
            last = i == len(blocks) - 1
            shortcut = x
            if blk.downsample is not None:
                ds = blk.downsample
                shortcut = conv(x, folded(ds[0], ds[1]), ds[0].stride, 0, False)
            if hasattr(blk, "conv3"):
                h = conv(x, folded(blk.conv1, blk.bn1), 1, 0, True)
                h = conv(h, folded(blk.conv2, blk.bn2), blk.conv2.stride, 1, True)
                x = conv(h, folded(blk.conv3, blk.bn3), 1, 0, True, shortcut,
                         out_bf16=not last)
            else:
                h = conv(x, folded(blk.conv1, blk.bn1), blk.conv1.stride, 1, True)
                x = conv(h, folded(blk.conv2, blk.bn2), 1, 1, True, shortcut,
                         out_bf16=not last)
        return x.mean(dim=(2, 3)).numpy()


def read_scenes(clips):
    scenes = {}
    for folder in sorted((clips / "frames").iterdir()):
        files = sorted(folder.glob("*.jpg"))
        scenes[folder.name.rsplit("_", 1)[0]] = np.stack(
            [np.asarray(Image.open(f).convert("RGB")) for f in files])
    return scenes


def distances(model, support, queries):
    sset = Hyrsm.SupportSet.new(model)
    for label, feats in support.items():
        sset.add(label, GLib.Bytes.new(np.ascontiguousarray(feats).tobytes()))
    out = {}
    for label, feats in queries.items():
        res = sset.match(GLib.Bytes.new(np.ascontiguousarray(feats).tobytes()))
        out[label] = (list(res.get_labels()), np.array(res.get_distances()), res.get_label())
    return out


def rel_err(got, want):
    return float(np.max(np.abs(got - want)) / max(np.max(np.abs(want)), 1e-6))


def measure(path, scenes, emulate):
    fp32 = Hyrsm.Model.new_full(str(path), "cpu", "fp32")
    crop = fp32.props.crop
    normalized = {}
    for name, rgb in scenes.items():
        n, h, w, _ = rgb.shape
        out = fp32.preprocess_frames(GLib.Bytes.new(rgb.tobytes()), n, w, h)
        normalized[name] = np.frombuffer(out.get_data(), np.float32).reshape(n, 3, crop, crop)
    if emulate:
        net = hyrsm_ref.load_model(str(path)).net
        bf16_embed = lambda x: emulated_features(net, x)  # noqa: E731
    else:
        model = Hyrsm.Model.new_full(str(path), "cpu", "bf16")
        bf16_embed = lambda x: embed(model, x)  # noqa: E731
    feats = {"fp32": {}, "bf16": {}}
    for name, x in normalized.items():
        feats["fp32"][name] = embed(fp32, x)
        feats["bf16"][name] = bf16_embed(x)
    a = np.concatenate(list(feats["fp32"].values()))
    b = np.concatenate(list(feats["bf16"].values()))
    cos = np.sum(a * b, 1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    d = {p: distances(fp32, {s: f[SUPPORT] for s, f in feats[p].items()},
                      {s: f[QUERY] for s, f in feats[p].items()}) for p in feats}
    d_err = max(rel_err(d["bf16"][s][1], d["fp32"][s][1]) for s in scenes)
    same = all(d["bf16"][s][2] == d["fp32"][s][2] for s in scenes)
    right = sum(d["fp32"][s][2] == s for s in scenes)
    print(f"{path.name}: {'emulated' if emulate else 'libhyrsm'} bf16 against fp32: "
          f"features rel. error {rel_err(b, a):.2e}, min cosine {cos.min():.6f}; "
          f"distances rel. error {d_err:.2e}; same argmax for all {len(scenes)} queries: "
          f"{same} (fp32 right on {right})")


def embed(model, x):
    n = x.shape[0]
    out = model.embed_normalized(GLib.Bytes.new(np.ascontiguousarray(x).tobytes()), n)
    return np.frombuffer(out.get_data(), np.float32).reshape(n, -1)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("clips", type=pathlib.Path)
    ap.add_argument("models", type=pathlib.Path, nargs="+")
    ap.add_argument("--emulate", action="store_true",
                    help="model oneDNN's bf16 in PyTorch (any CPU)")
    args = ap.parse_args()
    torch.set_num_threads(2)
    scenes = read_scenes(args.clips)
    for path in args.models:
        measure(path, scenes, args.emulate)


if __name__ == "__main__":
    main()
