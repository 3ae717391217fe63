"""The CPU peers of bench_backbone.py: ONNX Runtime and OpenVINO.

Runs in the bench's virtual environment (its python, with onnxruntime and
openvino from PyPI), not in the project's Python: Debian's python3 has
torch and GI but neither peer, and installing PyPI wheels into it would mix
two package managers. bench_backbone.py starts it once per runtime, after
libhyrsm and PyTorch, so each runtime's thread pool (ORT's own, OpenVINO's
TBB) has the cores to itself, as PyTorch's OpenMP pool has in its process.

    VENV/bin/python tests/bench/bench_peers.py --runtime ort|openvino \
        --job DIR --models resnet18,resnet50 --batches 1,8 --threads 2 \
        --warmup 2 --iters 6

DIR holds what bench_backbone.py wrote: NAME.onnx (torchvision's ResNet
with the bench's weights, fc removed, exported by torch.onnx.export) and
frames-N.npy (the frames libhyrsm and PyTorch ran). For each model and
batch it writes DIR/RUNTIME-NAME-N.npy (the features, which the bench
compares with PyTorch's) and prints one JSON object on stdout: the
runtime's version, what it was told and what it reports back, and the
timed seconds per iteration.
"""

import argparse
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_backbone import timed  # noqa: E402  (the same warm-up and timing loop)


def ort_runner(path, n, crop, threads):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    # One operator at a time, on `threads` threads: the same parallelism as
    # libhyrsm and PyTorch get (a second pool for inter-op would oversubscribe).
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    info = {"providers": sess.get_providers(), "intra_op_num_threads": threads,
            "graph_optimization_level": "ORT_ENABLE_ALL"}
    return (lambda x: sess.run(None, {name: x})[0]), info


def openvino_runner(path, n, crop, threads):
    import openvino as ov

    core = ov.Core()
    model = core.read_model(path)
    # A static shape per batch: the ONNX file has a dynamic batch axis (one
    # export serves every batch), and OpenVINO's CPU plugin picks its kernels
    # for a known shape, as libhyrsm plans per batch.
    model.reshape([n, 3, crop, crop])
    config = {
        "PERFORMANCE_HINT": "LATENCY",
        "INFERENCE_NUM_THREADS": threads,
        # On CPUs with AVX512-BF16 (or AMX) OpenVINO's default is bf16: it
        # would silently compare its bf16 with our fp32. Ask for f32.
        "INFERENCE_PRECISION_HINT": "f32",
    }
    compiled = core.compile_model(model, "CPU", config)
    req = compiled.create_infer_request()
    info = {
        "device": core.get_property("CPU", "FULL_DEVICE_NAME"),
        "default_precision": str(core.get_property("CPU", "INFERENCE_PRECISION_HINT").get_type_name()),
        "precision": str(compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name()),
        "threads": int(compiled.get_property("INFERENCE_NUM_THREADS")),
        "hint": str(compiled.get_property("PERFORMANCE_HINT")),
        "streams": int(compiled.get_property("NUM_STREAMS")),
    }
    return (lambda x: req.infer({0: x})[compiled.output(0)]), info


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runtime", choices=("ort", "openvino"), required=True)
    ap.add_argument("--job", required=True)
    ap.add_argument("--models", required=True)
    ap.add_argument("--batches", required=True)
    ap.add_argument("--crop", type=int, default=224)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--iters", type=int, default=6)
    args = ap.parse_args()

    if args.runtime == "ort":
        import onnxruntime
        version, make = onnxruntime.__version__, ort_runner
    else:
        import openvino
        version, make = openvino.__version__.split("-")[0], openvino_runner
    out = {"version": version, "models": {}}
    for name in args.models.split(","):
        path = os.path.join(args.job, name + ".onnx")
        out["models"][name] = {}
        for n in map(int, args.batches.split(",")):
            x = np.ascontiguousarray(np.load(os.path.join(args.job, "frames-%d.npy" % n)))
            run, info = make(path, n, args.crop, args.threads)
            np.save(os.path.join(args.job, "%s-%s-%d.npy" % (args.runtime, name, n)), run(x))
            out["models"][name][str(n)] = {"times": timed(lambda: run(x), args.warmup, args.iters),
                                           "info": info}
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
