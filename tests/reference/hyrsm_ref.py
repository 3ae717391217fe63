"""Independent float64 reference of docs/model.md (HyRSM++ inference).

Written from the spec, in float64 throughout. Section numbers refer to
docs/model.md.

    m = load_model("model.safetensors")            # or Model(tensors, metadata)
    x = preprocess(rgb_uint8, m.resize, m.crop, m.mean, m.std)   # [3, C, C]
    f = backbone(m, x[None])                       # [1, D]
    s = intra(m.head, F, m.position_a, m.position_b)   # [T, D]
    g = inter(m.head, [S_1, ..., S_M], S_q)        # [M+1, D]
    E = fuse(m.head, S, g_row)                     # [T, D]
    d = bimhm(E_m, E_q)                            # scalar
    order, dists, details = class_distances(m, [(label, F), ...], F_query)
"""

import json
import math
import os
import sys

import numpy as np
import torch
import torch.nn.functional as Fn
import torchvision

_HERE = os.path.dirname(os.path.abspath(__file__))
# the model file's tensor names and the safetensors reader: tools/
sys.path.insert(0, os.path.join(_HERE, "..", "..", "tools"))
import hyrsm_layout as L  # noqa: E402
import safetensors_io  # noqa: E402

DT = torch.float64
HEADS = 8
LN_EPS = 1e-5
BN_EPS = 1e-5

AUTHORS_TO_TV = L.AUTHORS_TO_TORCHVISION
HEAD_KEYS = L.HEAD_KEYS
AUTHORS_MEAN = L.AUTHORS_MEAN
AUTHORS_STD = L.AUTHORS_STD
IMAGENET_MEAN = L.IMAGENET_MEAN
IMAGENET_STD = L.IMAGENET_STD


def _t(x):
    if isinstance(x, torch.Tensor):
        return x.to(DT)
    return torch.as_tensor(np.asarray(x), dtype=DT)


# --------------------------------------------------------------------------
# Model loading


strip_prefixes = L.strip_prefixes


def _split_tensors(tensors):
    """-> (backbone state dict with torchvision names, head dict, pe or None);
    training-only and unknown tensors are ignored, but not an unknown index
    of the authors' backbone."""
    bb, head, pe, other = L.split_tensors(tensors)
    for raw in other:
        name = strip_prefixes(raw)
        if name.startswith("backbone.") and not L.is_training_only(name):
            raise KeyError("unexpected backbone tensor %s" % raw)
    return bb, head, pe


def infer_arch(bb):
    return L.infer_backbone(bb)


def _floats(s):
    return tuple(float(x) for x in s.split(","))


class Model:
    """Parsed model: backbone (torchvision nn.Module, float64, eval) or None,
    head dict of float64 tensors or None, and the metadata with defaults."""

    def __init__(self, tensors, metadata=None):
        md = dict(metadata or {})
        bb, head, pe = _split_tensors(tensors)
        self.metadata = md
        self.arch = md.get("hyrsm.backbone") or infer_arch(bb)
        if not bb:
            self.arch = "none"
        self.net = None
        if bb:
            net = getattr(torchvision.models, self.arch)(weights=None)
            net.fc = torch.nn.Identity()
            missing, unexpected = net.load_state_dict({k: torch.as_tensor(np.asarray(v)) for k, v in bb.items()}, strict=False)
            missing = [k for k in missing if not k.endswith("num_batches_tracked")]
            if missing or unexpected:
                raise KeyError("backbone mismatch: missing %s unexpected %s" % (missing, unexpected))
            self.net = net.to(DT).eval()
        hkind = md.get("hyrsm.head")
        has_head = all(k in head for k in HEAD_KEYS)
        if hkind == "none" or not has_head:
            self.head = None
            self.head_kind = "none"
        else:
            self.head = {k: _t(v) for k, v in head.items()}
            if pe is not None:
                self.head["pe.pe"] = _t(pe)
            self.head_kind = hkind if hkind in ("1shot", "5shot") else "auto"
        if self.head is not None:
            self.dim = int(self.head["temporal_atte_before.norm.weight"].shape[0])
        else:
            self.dim = 2048 if self.arch == "resnet50" else 512
        self.frames = int(md.get("hyrsm.frames", "8"))
        self.resize = int(md.get("hyrsm.resize", "256"))
        self.crop = int(md.get("hyrsm.crop", "224"))
        authors = self.head is not None or any(strip_prefixes(k).startswith("backbone.") for k in tensors)
        self.mean = _floats(md["hyrsm.mean"]) if "hyrsm.mean" in md else (AUTHORS_MEAN if authors else IMAGENET_MEAN)
        self.std = _floats(md["hyrsm.std"]) if "hyrsm.std" in md else (AUTHORS_STD if authors else IMAGENET_STD)
        self.position_a = float(md.get("hyrsm.position_a", "10"))
        self.position_b = float(md.get("hyrsm.position_b", "1"))


def load_model(path):
    tensors, md = safetensors_io.read(path)
    return Model(tensors, md)


# --------------------------------------------------------------------------
# Section 2: pre-processing


def preprocess(rgb, resize=256, crop=224, mean=AUTHORS_MEAN, std=AUTHORS_STD):
    """rgb: uint8 [H, W, 3] (numpy or torch). Returns float64 [3, crop, crop]."""
    x = torch.as_tensor(np.asarray(rgb)).to(DT).permute(2, 0, 1)[None]  # [1,3,H,W]
    x = Fn.interpolate(x, size=(resize, resize), mode="bilinear", align_corners=False, antialias=False)
    o = (resize - crop) // 2
    x = x[0, :, o:o + crop, o:o + crop]
    m = torch.tensor(mean, dtype=DT)[:, None, None]
    s = torch.tensor(std, dtype=DT)[:, None, None]
    return (x / 255.0 - m) / s


# --------------------------------------------------------------------------
# Section 3: backbone


def backbone(model, normalized):
    """model: Model or a tensors dict (either naming); normalized [n,3,C,C].
    Returns float64 [n, D]."""
    if not isinstance(model, Model):
        model = Model(model, {})
    if model.net is None:
        raise ValueError("model has no backbone")
    with torch.no_grad():
        return model.net(_t(normalized))


# --------------------------------------------------------------------------
# Section 4: intra-video relation


def positional_table(T, D):
    t = torch.arange(T, dtype=DT)[:, None]
    j = torch.arange(D, dtype=DT)[None, :]
    arg = t / torch.pow(torch.tensor(10000.0, dtype=DT), 2.0 * j / D)
    even = (torch.arange(D) % 2 == 0)[None, :]
    return torch.where(even, torch.sin(arg), torch.cos(arg))


def layer_norm(x, w, b, eps=LN_EPS):
    mu = x.mean(dim=-1, keepdim=True)
    var = ((x - mu) ** 2).mean(dim=-1, keepdim=True)
    return (x - mu) / torch.sqrt(var + eps) * w + b


def _mha(Q, K, V, heads=HEADS):
    """Q, K, V: [n, D]; per head h the d columns h*d..h*d+d-1."""
    n, D = Q.shape
    d = D // heads
    out = []
    for h in range(heads):
        sl = slice(h * d, (h + 1) * d)
        logits = Q[:, sl] @ K[:, sl].T / math.sqrt(d)
        A = torch.softmax(logits, dim=-1)
        out.append(A @ V[:, sl])
    return torch.cat(out, dim=1)


def intra(head, F, a=10.0, b=1.0):
    """F: [T, D] backbone features -> S [T, D]."""
    F = _t(F)
    T, D = F.shape
    if "pe.pe" in head and head["pe.pe"].shape[1] >= T:
        P = head["pe.pe"][0, :T, :]
    else:
        P = positional_table(T, D)
    X = F * math.sqrt(D / a) + b * P
    Z = layer_norm(X, head["temporal_atte_before.norm.weight"], head["temporal_atte_before.norm.bias"])
    QKV = Z @ head["temporal_atte_before.fn.to_qkv.weight"].T
    Q, K, V = QKV[:, :D], QKV[:, D:2 * D], QKV[:, 2 * D:]
    O = _mha(Q, K, V)
    Y = O @ head["temporal_atte_before.fn.to_out.0.weight"].T + head["temporal_atte_before.fn.to_out.0.bias"]
    return torch.relu(Y + X)


# --------------------------------------------------------------------------
# Section 5: inter-video relation and fusion


def inter(head, tokens, S_q):
    """tokens: list of M [T, D] (support S or prototypes); S_q [T, D].
    Returns g [(M+1), D], the query's row last."""
    U = torch.stack([_t(s).mean(dim=0) for s in tokens] + [_t(S_q).mean(dim=0)])
    Q = U @ head["temporal_atte.w_qs.weight"].T
    K = U @ head["temporal_atte.w_ks.weight"].T
    V = U @ head["temporal_atte.w_vs.weight"].T
    O = _mha(Q, K, V)
    G = layer_norm(
        O @ head["temporal_atte.fc.weight"].T + head["temporal_atte.fc.bias"] + U,
        head["temporal_atte.layer_norm.weight"],
        head["temporal_atte.layer_norm.bias"],
    )
    return torch.relu(G)


def fuse(head, S, g):
    """S [T, D], g [D] -> E [T, D] = W2a S[t] + W2b g + b2."""
    S = _t(S)
    W2 = head["layer2.0.weight"][:, :, 0]
    D = S.shape[1]
    W2a, W2b = W2[:, :D], W2[:, D:]
    return S @ W2a.T + (W2b @ _t(g))[None, :] + head["layer2.0.bias"][None, :]


# --------------------------------------------------------------------------
# Section 6: bidirectional mean Hausdorff metric


def bimhm(Em, Eq):
    Em, Eq = _t(Em), _t(Eq)
    em = Em / torch.clamp(torch.linalg.norm(Em, dim=1, keepdim=True), min=1e-12)
    eq = Eq / torch.clamp(torch.linalg.norm(Eq, dim=1, keepdim=True), min=1e-12)
    c = 1.0 - em @ eq.T
    return c.min(dim=1).values.sum() + c.min(dim=0).values.sum()


# --------------------------------------------------------------------------
# Whole relation + matching


def head_rule(kind, labels):
    """'1shot' | '5shot' | 'none'; 'auto' resolves on the support set."""
    if kind in ("1shot", "5shot", "none"):
        return kind
    counts = {}
    for l in labels:
        counts[l] = counts.get(l, 0) + 1
    return "5shot" if any(c > 1 for c in counts.values()) else "1shot"


def class_distances(model, support, query, rule=None):
    """model: Model (or anything with .head, .head_kind, .position_a/_b);
    support: list of (label, F [T, D]); query: F [T, D] (raw backbone
    features). Returns (class_order, distances float64 [N], details)."""
    labels = [l for l, _ in support]
    class_order = []
    for l in labels:
        if l not in class_order:
            class_order.append(l)
    kind = rule or getattr(model, "head_kind", "none")
    if getattr(model, "head", None) is None:
        kind = "none"
    rule = head_rule(kind, labels)
    details = {"labels": labels, "class_order": class_order, "rule": rule}

    if rule == "none":
        Fs = [_t(f) for _, f in support]
        Fq = _t(query)
        tok = torch.stack([bimhm(f, Fq) for f in Fs])
        dists = torch.stack([tok[[i for i, l in enumerate(labels) if l == c]].mean() for c in class_order])
        details.update(token_labels=labels, token_distances=tok, distances=dists)
        return class_order, dists, details

    head = model.head
    a, b = model.position_a, model.position_b
    S_sup = [intra(head, f, a, b) for _, f in support]
    S_q = intra(head, query, a, b)
    if rule == "1shot":
        tokens = S_sup
        token_labels = labels
    else:
        tokens = [torch.stack([S_sup[i] for i, l in enumerate(labels) if l == c]).mean(dim=0) for c in class_order]
        token_labels = list(class_order)
    g = inter(head, tokens, S_q)
    E_tok = [fuse(head, S, g[m]) for m, S in enumerate(tokens)]
    E_q = fuse(head, S_q, g[-1])
    tok = torch.stack([bimhm(E, E_q) for E in E_tok])
    dists = torch.stack([tok[[i for i, l in enumerate(token_labels) if l == c]].mean() for c in class_order])
    details.update(
        support_S=torch.stack(S_sup),
        query_S=S_q,
        tokens=torch.stack(tokens),
        token_labels=token_labels,
        g=g,
        E_tokens=torch.stack(E_tok),
        E_query=E_q,
        token_distances=tok,
        distances=dists,
    )
    return class_order, dists, details


def predict(class_order, distances):
    return class_order[int(torch.argmin(_t(distances)))]


if __name__ == "__main__":
    # tiny CLI: print the distances of a case folder made by make_engine_fixtures
    case_dir = sys.argv[1]
    m = load_model(os.path.join(case_dir, "model.safetensors"))
    t, md = safetensors_io.read(os.path.join(case_dir, "case.safetensors"))
    labels = json.loads(md["labels"])
    order, d, _ = class_distances(m, list(zip(labels, t["support_features"])), t["query_features"])
    print(dict(zip(order, d.tolist())), "->", predict(order, d))
