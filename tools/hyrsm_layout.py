"""The tensor layout of gst-hyrsm model files, in one table for every Python
script that reads or writes one: tools/hyrsm-convert.py,
tools/hyrsm-bench-torch.py, tests/fixtures/make_model.py,
tests/reference/hyrsm_ref.py, tests/gpu/bench_torch.py.

What is here: the ResNet topologies (feature dimension, blocks per stage,
block type), the two names of the backbone's tensors (torchvision's
`conv1`/`layer1`... and the HyRSM++ authors' `backbone.N...`, N the index in
their nn.Sequential), the relation head's tensor names, the prefixes and
training-only tensors that loading skips, and the default normalisation.
docs/formats.md ("The model file") describes the same; the C loader is
src/hyrsm/hyrsm-model.c.

Pure Python (no numpy, no torch), installed with gst-hyrsm next to the tools.
"""

# name -> feature dimension D, residual blocks per stage (layer1..layer4),
# and whether the blocks are bottlenecks (conv1..conv3, bn1..bn3) rather
# than basic blocks (conv1, conv2)
RESNETS = {
    "resnet18": {"dim": 512, "blocks": (2, 2, 2, 2), "bottleneck": False},
    "resnet34": {"dim": 512, "blocks": (3, 4, 6, 3), "bottleneck": False},
    "resnet50": {"dim": 2048, "blocks": (3, 4, 6, 3), "bottleneck": True},
}
RESNET_DIM = {name: r["dim"] for name, r in RESNETS.items()}

# torchvision's top-level backbone modules, in order
BACKBONE_TOP = ("conv1", "bn1", "layer1", "layer2", "layer3", "layer4")
# the authors' backbone is nn.Sequential(conv1, bn1, relu, maxpool, layer1,
# ..., layer4): index -> torchvision's name (2 and 3 hold no tensors)
AUTHORS_TO_TORCHVISION = {"0": "conv1", "1": "bn1", "4": "layer1", "5": "layer2",
                          "6": "layer3", "7": "layer4"}
TORCHVISION_TO_AUTHORS = {tv: "backbone." + i for i, tv in AUTHORS_TO_TORCHVISION.items()}

# The relation head (docs/model.md sections 4 and 5), exact names. Its
# `layer2.0.*` never collides with the backbone's `layer2.0.conv1.weight`...
HEAD_KEYS = (
    "temporal_atte_before.norm.weight",
    "temporal_atte_before.norm.bias",
    "temporal_atte_before.fn.to_qkv.weight",
    "temporal_atte_before.fn.to_out.0.weight",
    "temporal_atte_before.fn.to_out.0.bias",
    "temporal_atte.w_qs.weight",
    "temporal_atte.w_ks.weight",
    "temporal_atte.w_vs.weight",
    "temporal_atte.fc.weight",
    "temporal_atte.fc.bias",
    "temporal_atte.layer_norm.weight",
    "temporal_atte.layer_norm.bias",
    "layer2.0.weight",
    "layer2.0.bias",
)
# the optional stored positional table (1 x max_len x D)
PE_KEY = "pe.pe"
# prefixes the authors' checkpoints put before names (DataParallel, head)
PREFIXES = ("module.", "head.")
# tensors of training only: classifier layers and BatchNorm's counter
TRAINING_ONLY_PREFIXES = ("fc.", "classification_layer.")
TRAINING_ONLY_SUFFIX = "num_batches_tracked"

# pre-processing defaults (hyrsm.mean / hyrsm.std): the authors' configs,
# torchvision's ImageNet models
AUTHORS_MEAN = (0.45, 0.45, 0.45)
AUTHORS_STD = (0.225, 0.225, 0.225)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def meta_triple(values):
    """(0.45, 0.45, 0.45) -> "0.45,0.45,0.45", as the metadata writes it."""
    return ",".join("%g" % v for v in values)


def strip_prefixes(name):
    """Drops leading "module." and "head." (any number, any order)."""
    changed = True
    while changed:
        changed = False
        for p in PREFIXES:
            if name.startswith(p):
                name = name[len(p):]
                changed = True
    return name


def is_training_only(name):
    """True for a (prefix-stripped) name inference never uses."""
    return name.endswith(TRAINING_ONLY_SUFFIX) or name.startswith(TRAINING_ONLY_PREFIXES)


def classify(name):
    """Where a (prefix-stripped) tensor name belongs: ("backbone", its
    torchvision name), ("head", name), ("pe", name) or ("other", name), the
    last for training-only and unknown tensors."""
    if is_training_only(name):
        return "other", name
    if name == PE_KEY:
        return "pe", name
    if name in HEAD_KEYS:
        return "head", name
    if name.startswith("backbone."):
        parts = name.split(".", 2)
        if len(parts) == 3 and parts[1] in AUTHORS_TO_TORCHVISION:
            return "backbone", AUTHORS_TO_TORCHVISION[parts[1]] + "." + parts[2]
        return "other", name
    if name.split(".", 1)[0] in BACKBONE_TOP:
        return "backbone", name
    return "other", name


def split_tensors(tensors):
    """{raw name: tensor} -> (backbone {torchvision name: tensor},
    head {name: tensor}, pe tensor or None, [raw names left out])."""
    backbone, head, pe, other = {}, {}, None, []
    for raw, value in tensors.items():
        kind, name = classify(strip_prefixes(raw))
        if kind == "backbone":
            backbone[name] = value
        elif kind == "head":
            head[name] = value
        elif kind == "pe":
            pe = value
        else:
            other.append(raw)
    return backbone, head, pe, other


def infer_backbone(names):
    """The ResNet of a set of torchvision-named backbone tensor names: "none"
    when empty; ValueError when it is none of RESNETS."""
    names = set(names)
    if not names:
        return "none"
    if "conv1.weight" not in names:
        raise ValueError("backbone tensors without conv1.weight")
    bottleneck = "layer1.0.conv3.weight" in names
    blocks = tuple(len({n.split(".")[1] for n in names if n.startswith("layer%d." % i)})
                   for i in range(1, 5))
    for name, r in RESNETS.items():
        if r["bottleneck"] == bottleneck and r["blocks"] == blocks:
            return name
    raise ValueError("a %s ResNet with %s blocks per stage: only %s are supported" % (
        "bottleneck" if bottleneck else "basic-block", "/".join(map(str, blocks)),
        ", ".join(RESNETS)))


def to_authors_names(tensors):
    """torchvision-named backbone tensors -> the authors' names (others kept)."""
    out = {}
    for name, value in tensors.items():
        top, _, rest = name.partition(".")
        out[TORCHVISION_TO_AUTHORS[top] + "." + rest if top in TORCHVISION_TO_AUTHORS
            else name] = value
    return out
