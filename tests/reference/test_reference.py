"""Sanity tests of the float64 reference (hyrsm_ref.py) and of the fixture
tools.  Run with:  /usr/bin/python3 -m pytest tests/reference
"""

import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, "..", "fixtures")
sys.path.insert(0, HERE)
sys.path.insert(0, FIXTURES)
sys.path.insert(0, os.path.join(HERE, "..", "..", "tools"))

import hyrsm_ref as R  # noqa: E402
import make_model  # noqa: E402
import safetensors_io  # noqa: E402

D = 64  # small head for fast tests (8 heads of 8)


@pytest.fixture(scope="module")
def head_model():
    t, md = make_model.make_model_tensors(backbone="none", head="unnamed", dim=D, seed=3)
    return R.Model(t, md)


def feats(rng, n, T=8, d=D):
    return np.maximum(rng.standard_normal((n, T, d)), 0) * rng.uniform(0.5, 1.5, (n, 1, 1))


# --------------------------------------------------------------------------
# safetensors


def test_safetensors_round_trip(tmp_path):
    t = {
        "a": np.arange(12, dtype=np.float32).reshape(3, 4),
        "b": np.array([-1, 2**40], dtype=np.int64),
        "c": np.linspace(0, 1, 5),
        "d": np.arange(7, dtype=np.uint8),
        "e": np.array([1.5, -2.0], dtype=np.float16),
        "s": np.array(3.0, dtype=np.float32),
        "z": np.zeros((0, 3), dtype=np.float32),
    }
    p = tmp_path / "x.safetensors"
    safetensors_io.write(str(p), t, {"k": "v", "json": "[1,2]"})
    r, md = safetensors_io.read(str(p))
    assert md == {"k": "v", "json": "[1,2]"}
    assert list(r) == list(t)
    for k in t:
        assert r[k].dtype == t[k].dtype and r[k].shape == t[k].shape
        assert np.array_equal(r[k], t[k])
    raw = p.read_bytes()
    n = int.from_bytes(raw[:8], "little")
    assert (8 + n) % 8 == 0
    hdr = json.loads(raw[8:8 + n])
    assert hdr["a"] == {"dtype": "F32", "shape": [3, 4], "data_offsets": [0, 48]}
    assert len(raw) - 8 - n == sum(v.nbytes for v in t.values())
    # no metadata
    safetensors_io.write(str(p), {"a": t["a"]})
    r, md = safetensors_io.read(str(p))
    assert md == {} and np.array_equal(r["a"], t["a"])


def test_safetensors_rejects_bad_offsets():
    buf = bytearray(safetensors_io.encode({"a": np.zeros(4, np.float32)}))
    with pytest.raises(ValueError):
        safetensors_io.decode(bytes(buf[:-1]))
    with pytest.raises(ValueError):
        safetensors_io.decode(bytes(buf) + b"\0")


# --------------------------------------------------------------------------
# make_model


def test_make_model_deterministic_and_names():
    a, md = make_model.make_model_tensors(backbone="resnet18", head="1shot", seed=7)
    b, _ = make_model.make_model_tensors(backbone="resnet18", head="1shot", seed=7)
    c, _ = make_model.make_model_tensors(backbone="resnet18", head="1shot", seed=8)
    assert list(a) == list(b)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not np.array_equal(a["conv1.weight"], c["conv1.weight"])
    assert not any(k.startswith("fc.") for k in a)
    assert a["bn1.num_batches_tracked"].dtype == np.int64
    assert all(v.dtype == np.float32 for k, v in a.items() if not k.endswith("num_batches_tracked"))
    assert a["layer2.0.weight"].shape == (512, 1024, 1)
    assert a["temporal_atte_before.fn.to_qkv.weight"].shape == (1536, 512)
    assert md["hyrsm.head"] == "1shot" and md["hyrsm.backbone"] == "resnet18"

    au, _ = make_model.make_model_tensors(backbone="resnet18", head="none", names="authors", seed=7,
                                          prefix="module.head.", with_fc=True)
    assert "module.head.backbone.4.0.conv1.weight" in au
    assert "module.head.backbone.0.weight" in au and "module.head.backbone.1.running_var" in au
    assert "module.head.fc.weight" in au
    assert np.array_equal(au["module.head.backbone.7.1.bn2.weight"], a["layer4.1.bn2.weight"])

    un, umd = make_model.make_model_tensors(backbone="none", head="unnamed", dim=D, store_pe=True,
                                            meta=[("hyrsm.crop", "64")])
    assert "hyrsm.head" not in umd and umd["hyrsm.crop"] == "64"
    assert un["pe.pe"].shape == (1, 20, D)
    assert np.allclose(un["pe.pe"][0], R.positional_table(20, D).numpy(), atol=1e-7)
    nm, nmd = make_model.make_model_tensors(backbone="none", head="5shot", dim=D, metadata=False)
    assert nmd is None


def test_make_model_cli(tmp_path):
    out = tmp_path / "m.safetensors"
    subprocess.run([sys.executable, os.path.join(FIXTURES, "make_model.py"), str(out), "--backbone", "none",
                    "--head", "5shot", "--dim", "32", "--meta", "hyrsm.frames=4", "--store-pe"], check=True)
    t, md = safetensors_io.read(str(out))
    assert md["hyrsm.frames"] == "4" and md["hyrsm.head"] == "5shot"
    assert t["temporal_atte.w_qs.weight"].shape == (32, 32) and "pe.pe" in t


def test_backbone_naming_schemes_agree():
    tv, md = make_model.make_model_tensors(backbone="resnet18", head="none", seed=2)
    au, _ = make_model.make_model_tensors(backbone="resnet18", head="none", seed=2, names="authors",
                                          prefix="module.head.", with_fc=True, metadata=False)
    m1, m2 = R.Model(tv, md), R.Model(au, None)
    assert m2.arch == "resnet18" and m2.head is None
    x = torch.randn(2, 3, 64, 64, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    f1, f2 = R.backbone(m1, x), R.backbone(m2, x)
    assert f1.shape == (2, 512)
    assert torch.equal(f1, f2)
    assert (f1 >= 0).all() and 0.05 < f1.mean() < 20


def test_arch_inference():
    for arch, d in (("resnet34", 512), ("resnet50", 2048)):
        t, _ = make_model.make_model_tensors(backbone=arch, head="none", seed=1)
        m = R.Model(t, None)
        assert m.arch == arch and m.dim == d


def test_batchnorm_matches_spec_formula():
    t, md = make_model.make_model_tensors(backbone="resnet18", head="none", seed=4)
    m = R.Model(t, md)
    x = torch.randn(1, 3, 32, 32, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    y = m.net.bn1(m.net.conv1(x))
    c = torch.nn.functional.conv2d(x, torch.as_tensor(t["conv1.weight"], dtype=torch.float64), stride=2, padding=3)
    g = lambda k: torch.as_tensor(t["bn1." + k], dtype=torch.float64)[None, :, None, None]  # noqa: E731
    ref = (c - g("running_mean")) / torch.sqrt(g("running_var") + 1e-5) * g("weight") + g("bias")
    assert torch.allclose(y, ref, rtol=1e-12, atol=1e-12)


# --------------------------------------------------------------------------
# pre-processing


def manual_bilinear(img, S, y, x):
    """Half-pixel bilinear sample of img [H,W,3] at output pixel (y, x) of an
    S x S resize (PyTorch align_corners=False: negative sources clamp to 0)."""
    H, W, _ = img.shape

    def src(o, n):
        s = (o + 0.5) * n / S - 0.5
        s = max(s, 0.0)
        i0 = int(math.floor(s))
        i1 = min(i0 + 1, n - 1)
        return i0, i1, s - i0

    y0, y1, ly = src(y, H)
    x0, x1, lx = src(x, W)
    im = img.astype(np.float64)
    top = im[y0, x0] * (1 - lx) + im[y0, x1] * lx
    bot = im[y1, x0] * (1 - lx) + im[y1, x1] * lx
    return top * (1 - ly) + bot * ly


@pytest.mark.parametrize("H,W", [(239, 321), (48, 64), (720, 1280), (300, 300)])
def test_preprocess_matches_manual_bilinear(H, W):
    rng = np.random.default_rng(H * W)
    img = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    x = R.preprocess(img, 256, 224, mean, std).numpy()
    assert x.shape == (3, 224, 224)
    o = 16
    for (cy, cx) in [(0, 0), (0, 223), (223, 0), (223, 223), (100, 37), (5, 200), (111, 112)]:
        v = manual_bilinear(img, 256, cy + o, cx + o)
        ref = (v / 255.0 - np.array(mean)) / np.array(std)
        assert np.allclose(x[:, cy, cx], ref, rtol=0, atol=1e-12), (cy, cx)


def test_preprocess_odd_margin():
    img = np.random.default_rng(0).integers(0, 256, (80, 100, 3), dtype=np.uint8)
    x = R.preprocess(img, 75, 64, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)).numpy()
    assert x.shape == (3, 64, 64)
    v = manual_bilinear(img, 75, 5, 5)  # offset (75 - 64) // 2 = 5
    assert np.allclose(x[:, 0, 0], (v / 255.0 - 0.5) / 0.25, atol=1e-12)


# --------------------------------------------------------------------------
# relation module


def test_positional_table():
    P = R.positional_table(20, 16).numpy()
    assert np.allclose(P[0, 0::2], 0) and np.allclose(P[0, 1::2], 1)
    assert math.isclose(P[3, 5], math.cos(3 / 10000 ** (2 * 5 / 16)))
    assert math.isclose(P[7, 4], math.sin(7 / 10000 ** (2 * 4 / 16)))


def test_intra_inter_shapes(head_model):
    rng = np.random.default_rng(0)
    F = feats(rng, 4)
    S = [R.intra(head_model.head, f) for f in F[:3]]
    assert all(s.shape == (8, D) and (s >= 0).all() for s in S)
    Sq = R.intra(head_model.head, F[3])
    g = R.inter(head_model.head, S, Sq)
    assert g.shape == (4, D) and (g >= 0).all()
    E = R.fuse(head_model.head, S[0], g[0])
    assert E.shape == (8, D)


def test_intra_matches_torch_mha(head_model):
    """Cross-check section 4 against torch.nn.MultiheadAttention."""
    h = head_model.head
    F = torch.as_tensor(feats(np.random.default_rng(1), 1)[0])
    X = F * math.sqrt(D / 10) + R.positional_table(8, D)
    mha = torch.nn.MultiheadAttention(D, 8, bias=True, batch_first=True).double()
    with torch.no_grad():
        mha.in_proj_weight.copy_(h["temporal_atte_before.fn.to_qkv.weight"])
        mha.in_proj_bias.zero_()
        mha.out_proj.weight.copy_(h["temporal_atte_before.fn.to_out.0.weight"])
        mha.out_proj.bias.copy_(h["temporal_atte_before.fn.to_out.0.bias"])
        Z = torch.nn.functional.layer_norm(X, (D,), h["temporal_atte_before.norm.weight"],
                                           h["temporal_atte_before.norm.bias"], 1e-5)
        Y, _ = mha(Z[None], Z[None], Z[None], need_weights=False)
        ref = torch.relu(Y[0] + X)
    assert torch.allclose(R.intra(h, F), ref, rtol=1e-10, atol=1e-10)


def test_inter_matches_torch_mha(head_model):
    h = head_model.head
    rng = np.random.default_rng(2)
    S = [torch.as_tensor(f) for f in feats(rng, 5)]
    U = torch.stack([s.mean(0) for s in S])
    mha = torch.nn.MultiheadAttention(D, 8, bias=True, batch_first=True).double()
    with torch.no_grad():
        mha.in_proj_weight.copy_(torch.cat([h["temporal_atte.w_qs.weight"], h["temporal_atte.w_ks.weight"],
                                            h["temporal_atte.w_vs.weight"]]))
        mha.in_proj_bias.zero_()
        mha.out_proj.weight.copy_(h["temporal_atte.fc.weight"])
        mha.out_proj.bias.copy_(h["temporal_atte.fc.bias"])
        O, _ = mha(U[None], U[None], U[None], need_weights=False)
        ref = torch.relu(torch.nn.functional.layer_norm(O[0] + U, (D,), h["temporal_atte.layer_norm.weight"],
                                                        h["temporal_atte.layer_norm.bias"], 1e-5))
    assert torch.allclose(R.inter(h, S[:4], S[4]), ref, rtol=1e-10, atol=1e-10)


def test_fuse_matches_conv1d(head_model):
    h = head_model.head
    rng = np.random.default_rng(3)
    S = torch.as_tensor(feats(rng, 1)[0])
    g = torch.as_tensor(rng.uniform(0, 1, D))
    x = torch.cat([S, g[None].expand(8, D)], dim=1).T[None]  # [1, 2D, T]
    ref = torch.nn.functional.conv1d(x, h["layer2.0.weight"], h["layer2.0.bias"])[0].T
    assert torch.allclose(R.fuse(h, S, g), ref, rtol=1e-12, atol=1e-12)


def test_stored_pe_is_used():
    t, md = make_model.make_model_tensors(backbone="none", head="1shot", dim=D, store_pe=True)
    F = feats(np.random.default_rng(4), 1)[0]
    m = R.Model(t, md)
    t2 = dict(t)
    t2["pe.pe"] = np.zeros_like(t["pe.pe"])
    m2 = R.Model(t2, md)
    m3 = R.Model({k: v for k, v in t.items() if k != "pe.pe"}, md)
    s1, s2, s3 = (R.intra(x.head, F) for x in (m, m2, m3))
    assert torch.allclose(s1, s3, atol=1e-5)  # stored (float32) vs computed
    assert not torch.allclose(s1, s2, atol=1e-3)


# --------------------------------------------------------------------------
# metric and class distances


def test_bimhm_small():
    Em = torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    Eq = torch.tensor([[1.0, 0.0], [1.0, 1.0]], dtype=torch.float64)
    # c = 1 - cos: rows m: [0, 1-1/sqrt2], [1, 1-1/sqrt2]
    r = 1 - 1 / math.sqrt(2)
    expected = (0 + r) + (0 + r)
    assert math.isclose(float(R.bimhm(Em, Eq)), expected, rel_tol=1e-12)
    assert math.isclose(float(R.bimhm(Eq, Em)), expected, rel_tol=1e-12)
    assert math.isclose(float(R.bimhm(3 * Em, 0.5 * Eq)), expected, rel_tol=1e-12)
    z = torch.zeros(2, 2, dtype=torch.float64)
    assert math.isfinite(float(R.bimhm(z, Eq)))


def test_1shot_and_5shot_rules_agree_at_one_shot(head_model):
    rng = np.random.default_rng(5)
    F = feats(rng, 5)
    sup = [("b", F[0]), ("a", F[1]), ("c", F[2]), ("d", F[3])]
    o1, d1, det1 = R.class_distances(head_model, sup, F[4], rule="1shot")
    o5, d5, det5 = R.class_distances(head_model, sup, F[4], rule="5shot")
    oa, da, deta = R.class_distances(head_model, sup, F[4])
    assert o1 == o5 == oa == ["b", "a", "c", "d"]
    assert deta["rule"] == "1shot"
    assert torch.allclose(d1, d5, rtol=1e-12) and torch.allclose(d1, da, rtol=1e-12)
    assert det1["g"].shape == (5, D)


def test_rules_with_several_shots(head_model):
    rng = np.random.default_rng(6)
    F = feats(rng, 6)
    labels = ["x", "y", "x", "z", "y"]
    sup = list(zip(labels, F[:5]))
    o, d, det = R.class_distances(head_model, sup, F[5])
    assert det["rule"] == "5shot" and o == ["x", "y", "z"]
    assert det["g"].shape == (4, D)
    proto_x = (det["support_S"][0] + det["support_S"][2]) / 2
    assert torch.allclose(det["tokens"][0], proto_x)
    o1, d1, det1 = R.class_distances(head_model, sup, F[5], rule="1shot")
    assert det1["g"].shape == (6, D)
    td = det1["token_distances"]
    assert torch.allclose(d1[0], (td[0] + td[2]) / 2)
    assert torch.allclose(d1[2], td[3])


def test_self_query_distance_zero(head_model):
    rng = np.random.default_rng(7)
    F = feats(rng, 3)
    sup = [("a", F[0]), ("b", F[1]), ("c", F[2])]
    o, d, _ = R.class_distances(head_model, sup, F[1], rule="1shot")
    assert abs(float(d[1])) < 1e-12 and float(d.min()) == float(d[1])


def test_backbone_only_metric():
    t, md = make_model.make_model_tensors(backbone="resnet18", head="none", seed=1)
    m = R.Model(t, md)
    assert m.head is None and m.head_kind == "none"
    rng = np.random.default_rng(8)
    F = feats(rng, 4, d=512)
    sup = [("a", F[0]), ("b", F[1]), ("a", F[2])]
    o, d, det = R.class_distances(m, sup, F[1])
    assert det["rule"] == "none" and o == ["a", "b"]
    assert abs(float(d[1])) < 1e-12
    assert torch.allclose(d[0], (R.bimhm(F[0], F[1]) + R.bimhm(F[2], F[1])) / 2)


# --------------------------------------------------------------------------
# fixture generator smoke test


def test_engine_fixtures_smoke(tmp_path):
    subprocess.run([sys.executable, os.path.join(FIXTURES, "make_engine_fixtures.py"), str(tmp_path), "--quick",
                    "--only", "rel_unnamed_d512_uneven", "--only", "pre_64x48",
                    "--only", "rel_selfquery"], check=True, stdout=subprocess.DEVNULL)
    case = tmp_path / "rel_unnamed_d512_uneven"
    m = R.load_model(str(case / "model.safetensors"))
    t, md = safetensors_io.read(str(case / "case.safetensors"))
    labels = json.loads(md["labels"])
    assert md["head_rule"] == "5shot" and len(labels) == 6
    o, d, _ = R.class_distances(m, list(zip(labels, t["support_features"])), t["query_features"])
    assert o == json.loads(md["class_order"])
    assert np.allclose(d.numpy(), t["expected_distances"], rtol=1e-6)
    assert md["predicted"] == o[int(np.argmin(t["expected_distances"]))]
    assert t["expected_inter"].shape == (4, 512)
    t, md = safetensors_io.read(str(tmp_path / "rel_selfquery_1shot_d512_5way1shot" / "case.safetensors"))
    assert abs(float(t["expected_distances"].min())) < 1e-5
    t, md = safetensors_io.read(str(tmp_path / "pre_64x48" / "case.safetensors"))
    assert t["frames_rgb"].dtype == np.uint8 and t["frames_rgb"].shape == (2, 48, 64, 3)
    assert t["expected_preprocessed"].shape == (2, 3, 224, 224)
