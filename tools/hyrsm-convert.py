#!/usr/bin/python3
"""hyrsm-convert.py IN OUT [options]: PyTorch files -> the gst-hyrsm model
format (safetensors with full __metadata__; docs/formats.md "The model file").

Run by `gst-hyrsm convert` (which then loads OUT to check it); usable on
its own. Reads:

- the authors' HyRSM++ training checkpoints: torch.save of a dict
  {"epoch", "model_state", "optimizer_state", "cfg"}, cfg being the YAML
  config as text (a dict or a yacs-like object is accepted too). Tensor
  names lose their "module." and "head." prefixes; T, backbone, head,
  mean/std, resize, crop and the position scales come from the cfg
  (docs/model.md section 3);
- torchvision ResNet-18/34/50 state dicts (.pth), or a dict holding one
  under "state_dict" / "model".

Only what inference uses is written (the backbone, the relation head,
`pe.pe`), as float32; fc.*, classification_layer.*, num_batches_tracked and
other training-only tensors are left out (listed on stderr unless --quiet).

Exit status: 0 done, 1 the input cannot be converted, 2 bad usage, 3 a
Python package is missing (torch; yaml for a cfg given as YAML text).
Installed with gst-hyrsm (DATADIR/gst-hyrsm) together with the modules it
imports from its own folder: hyrsm_layout.py (the tensor names) and
safetensors_io.py (the writer).
"""

import argparse
import collections
import os
import pickle
import re
import struct
import sys

import hyrsm_layout as L  # next to this script (pure Python)

PROG = "gst-hyrsm: convert"
MISSING = 3

HEAD_KEYS = L.HEAD_KEYS
AUTHORS_MEAN = L.meta_triple(L.AUTHORS_MEAN)
AUTHORS_STD = L.meta_triple(L.AUTHORS_STD)
IMAGENET_MEAN = L.meta_triple(L.IMAGENET_MEAN)
IMAGENET_STD = L.meta_triple(L.IMAGENET_STD)


class ConvertError(Exception):
    pass


def fail(msg, status=1):
    print("%s: %s" % (PROG, msg), file=sys.stderr)
    sys.exit(status)


# --------------------------------------------------------------------------
# Reading the PyTorch file


class _Stub(dict):
    """Stands for a class the pickle names but this process cannot import
    (e.g. the authors' config class): keeps what it was built from."""

    def __init__(self, *args, **kwargs):
        super().__init__()
        if args and isinstance(args[0], dict):
            self.update(args[0])

    def __setstate__(self, state):
        if isinstance(state, dict):
            self.update(state)
            self.__dict__.update(state)


class _Unpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if module.split(".")[0] in ("torch", "collections", "numpy", "builtins",
                                    "_codecs", "copyreg", "copy_reg", "__builtin__"):
            return super().find_class(module, name)
        return type(name, (_Stub,), {"__module__": module})


class _PickleModule:
    """A pickle module for torch.load that tolerates unknown classes."""

    Unpickler = _Unpickler
    __name__ = "pickle"

    @staticmethod
    def load(f, **kw):
        return _Unpickler(f, **kw).load()


def is_safetensors(path):
    try:
        with open(path, "rb") as f:
            head = f.read(9)
    except OSError:
        return False
    return len(head) == 9 and head[8:9] == b"{" and struct.unpack("<Q", head[:8])[0] < (1 << 27)


def load_torch_file(path, torch):
    if is_safetensors(path):
        raise ConvertError("already a safetensors file, nothing to convert "
                           "(gst-hyrsm info shows what it holds)")
    try:
        return torch.load(path, map_location="cpu", pickle_module=_PickleModule)
    except Exception as e:  # noqa: BLE001 - any unpickling failure
        raise ConvertError("cannot read %s as a PyTorch file: %s" % (path, e))


def find_state_dict(obj, torch):
    """-> (state dict, cfg or None, kind)."""
    def is_state(d):
        return isinstance(d, dict) and d and all(
            isinstance(k, str) for k in d) and any(
            isinstance(v, torch.Tensor) for v in d.values())

    if isinstance(obj, dict):
        if "model_state" in obj:
            if not is_state(obj["model_state"]):
                raise ConvertError("its model_state holds no tensors")
            return obj["model_state"], obj.get("cfg"), "checkpoint"
        for key in ("state_dict", "model"):
            if key in obj and is_state(obj[key]):
                return obj[key], obj.get("cfg"), "state dict"
        if is_state(obj):
            return obj, None, "state dict"
    if hasattr(obj, "state_dict") and callable(obj.state_dict):
        return obj.state_dict(), None, "module"
    raise ConvertError("neither a training checkpoint (a dict with "
                       "\"model_state\") nor a state dict of tensors")


# --------------------------------------------------------------------------
# The cfg


def parse_cfg(cfg):
    if cfg is None:
        return {}
    if isinstance(cfg, bytes):
        cfg = cfg.decode("utf-8", "replace")
    if isinstance(cfg, str):
        try:
            import yaml  # python3-yaml
        except ImportError:
            fail("its cfg is YAML text, which needs the yaml module that %s cannot "
                 "import: install python3-yaml (Debian/Ubuntu) or pip install pyyaml, "
                 "or point HYRSM_PYTHON at a python3 that has it" % sys.executable, MISSING)
        try:
            data = yaml.safe_load(cfg)
        except yaml.YAMLError as e:
            raise ConvertError("its cfg is not valid YAML: %s" % e)
        return data if isinstance(data, dict) else {}
    if isinstance(cfg, dict):
        return cfg
    if hasattr(cfg, "__dict__"):
        return dict(vars(cfg))
    return {}


def cfg_get(cfg, dotted):
    node = cfg
    for part in dotted.split("."):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif hasattr(node, part):
            node = getattr(node, part)
        else:
            return None
    return node


def _triple(value, what):
    if value is None:
        return None
    if isinstance(value, (int, float)):
        value = [value]
    if isinstance(value, str):
        value = [float(x) for x in re.split(r"[,\s]+", value.strip("[]() ")) if x]
    value = [float(x) for x in value]
    if len(value) == 1:
        value = value * 3
    if len(value) != 3:
        raise ConvertError("%s should have 1 or 3 values, not %d" % (what, len(value)))
    return ",".join("%g" % x for x in value)


def _first_int(value):
    if isinstance(value, (list, tuple)):
        value = value[0] if value else None
    return None if value is None else int(value)


def head_from_name(name):
    if not name:
        return None
    n = str(name).lower()
    if "1shot" in n:
        return "1shot"
    if "5shot" in n:
        return "5shot"
    return None


# --------------------------------------------------------------------------
# The tensors


def select_tensors(state, torch):
    """-> (kept: OrderedDict name -> float32 tensor, dropped names)."""
    kept, dropped = collections.OrderedDict(), []
    for raw, value in state.items():
        name = L.strip_prefixes(raw)
        if not isinstance(value, torch.Tensor):
            dropped.append(raw)
            continue
        if L.classify(name)[0] == "other":
            dropped.append(raw)
            continue
        if not value.is_floating_point():
            raise ConvertError("tensor %s is %s, expected floating point" % (raw, value.dtype))
        if name in kept:
            raise ConvertError("tensor %s appears twice (with and without a prefix)" % name)
        kept[name] = value.detach().to("cpu", torch.float32).contiguous()
    return kept, dropped


def infer_backbone(tensors):
    backbone = L.split_tensors(tensors)[0]
    try:
        return L.infer_backbone(backbone)
    except ValueError as e:
        raise ConvertError(str(e))


# --------------------------------------------------------------------------
# Metadata


def build_metadata(tensors, cfg, kind, args):
    backbone = infer_backbone(tensors)
    has_head = all(k in tensors for k in HEAD_KEYS)
    partial = [k for k in HEAD_KEYS if k in tensors]
    if partial and not has_head:
        missing = [k for k in HEAD_KEYS if k not in tensors]
        raise ConvertError("an incomplete relation head: missing %s" % ", ".join(missing))
    if backbone == "none" and not has_head:
        raise ConvertError("no backbone or relation head tensors found")
    authors = kind == "checkpoint" or has_head or any(k.startswith("backbone.") for k in tensors)

    cfg_backbone = cfg_get(cfg, "VIDEO.HEAD.BACKBONE_NAME")
    if args.backbone:
        if args.backbone != backbone:
            raise ConvertError("--backbone %s, but the tensors are a %s" % (args.backbone, backbone))
    elif cfg_backbone and backbone != "none" and str(cfg_backbone).lower() != backbone:
        raise ConvertError("the cfg names backbone %s, but the tensors are a %s" % (cfg_backbone, backbone))

    head = "none"
    if has_head:
        head = args.head or head_from_name(cfg_get(cfg, "VIDEO.HEAD.NAME")) or None
        if head == "none":
            raise ConvertError("--head none, but the file has a relation head")
    elif args.head not in (None, "none"):
        raise ConvertError("--head %s, but the file has no relation head" % args.head)

    frames = args.frames or _first_int(cfg_get(cfg, "DATA.NUM_INPUT_FRAMES")) or 8
    resize = args.resize or _first_int(cfg_get(cfg, "DATA.TEST_SCALE")) or 256
    crop = args.crop or _first_int(cfg_get(cfg, "DATA.TEST_CROP_SIZE")) or 224
    if crop > resize:
        raise ConvertError("crop %d is larger than resize %d" % (crop, resize))
    mean = _triple(args.mean, "--mean") or _triple(cfg_get(cfg, "DATA.MEAN"), "DATA.MEAN") \
        or (AUTHORS_MEAN if authors else IMAGENET_MEAN)
    std = _triple(args.std, "--std") or _triple(cfg_get(cfg, "DATA.STD"), "DATA.STD") \
        or (AUTHORS_STD if authors else IMAGENET_STD)
    pa = cfg_get(cfg, "TRAIN.POSITION_A")
    pb = cfg_get(cfg, "TRAIN.POSITION_B")

    md = collections.OrderedDict()
    md["hyrsm.backbone"] = backbone
    if head:
        md["hyrsm.head"] = head
    md["hyrsm.frames"] = str(int(frames))
    md["hyrsm.resize"] = str(int(resize))
    md["hyrsm.crop"] = str(int(crop))
    md["hyrsm.mean"] = mean
    md["hyrsm.std"] = std
    md["hyrsm.position_a"] = "%g" % (float(pa) if pa is not None else 10.0)
    md["hyrsm.position_b"] = "%g" % (float(pb) if pb is not None else 1.0)
    for item in args.meta or []:
        key, _, value = item.partition("=")
        md[key] = value
    return md


# --------------------------------------------------------------------------
# Writing safetensors


def write_safetensors(path, tensors, metadata):
    import safetensors_io  # next to this script; needs numpy, which torch has

    try:
        safetensors_io.write(path, {k: t.numpy() for k, t in tensors.items()}, metadata)
    except OSError as e:
        raise ConvertError("cannot write %s: %s" % (path, e.strerror or e))


# --------------------------------------------------------------------------


def parse_args(argv):
    ap = argparse.ArgumentParser(prog="hyrsm-convert.py", description=__doc__.split("\n\n")[0])
    ap.add_argument("input")
    ap.add_argument("output")
    ap.add_argument("--frames", type=int)
    ap.add_argument("--backbone", choices=sorted(L.RESNETS))
    ap.add_argument("--head", choices=["1shot", "5shot", "none"])
    ap.add_argument("--resize", type=int)
    ap.add_argument("--crop", type=int)
    ap.add_argument("--mean")
    ap.add_argument("--std")
    ap.add_argument("--meta", action="append", metavar="KEY=VALUE")
    ap.add_argument("--quiet", action="store_true")

    def error(message):
        fail(message + " (see gst-hyrsm convert --help)", 2)

    ap.error = error
    return ap.parse_args(argv)


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        import torch
    except ImportError:
        fail("reading PyTorch files needs torch, which %s cannot import: install "
             "python3-torch (Debian/Ubuntu: apt install python3-torch) or pip install "
             "torch, or point HYRSM_PYTHON at a python3 that has it" % sys.executable,
             MISSING)
    if not os.path.exists(args.input):
        fail("%s does not exist" % args.input)
    try:
        obj = load_torch_file(args.input, torch)
        state, cfg, kind = find_state_dict(obj, torch)
        cfg = parse_cfg(cfg)
        tensors, dropped = select_tensors(state, torch)
        md = build_metadata(tensors, cfg, kind, args)
        write_safetensors(args.output, tensors, md)
    except ConvertError as e:
        fail("%s: %s" % (args.input, e))
    if dropped and not args.quiet:
        groups = collections.OrderedDict()
        for name in dropped:
            top = L.strip_prefixes(name).split(".")[0] + ".*"
            if name.endswith("num_batches_tracked"):
                top = "*.num_batches_tracked"
            groups[top] = groups.get(top, 0) + 1
        print("%s: note: left out %d tensors not used at inference: %s" % (
            PROG, len(dropped), ", ".join("%s (%d)" % (k, n) for k, n in groups.items())),
            file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
