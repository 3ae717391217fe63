"""Batched matching as Python users reach it: `SupportSet.match_batch`.

Each query of a batch must get what a single `match` gives it, and both
must agree with the float64 reference of docs/model.md
(tests/reference/hyrsm_ref.py), for the 1-shot and 5-shot heads and a head
of unnamed kind, at several way/shot counts."""
import os
import sys

import gi

gi.require_version("Hyrsm", "1.0")
from gi.repository import GLib, Hyrsm  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "reference"))
import hyrsm_ref  # noqa: E402

T, D = 8, 64


def features(rng, cls, n):
    """n noisy videos of class cls: a fixed pattern per class plus noise."""
    i = np.arange(T * D).reshape(T, D)
    base = np.sin(0.37 * (cls + 1) * (i + 3) + cls)
    return np.maximum(base + 0.5 * rng.uniform(-1, 1, (n, T, D)), 0).astype(np.float32)


@pytest.mark.parametrize("head,way,shot,queries", [
    ("1shot", 5, 1, 6),
    ("1shot", 3, 2, 5),
    ("5shot", 5, 5, 7),
    ("5shot", 4, 2, 3),
    ("unnamed", 3, 1, 4),
    ("unnamed", 3, 3, 4),
])
def test_batch_equals_single_and_reference(make_test_model, head, way, shot, queries):
    path = make_test_model("batch-%s.safetensors" % head, "--head", head, "--dim", str(D), "--seed", "3")
    model = Hyrsm.Model.new_from_file(str(path))
    ref = hyrsm_ref.load_model(str(path))
    rng = np.random.default_rng(way * 10 + shot)
    sset = Hyrsm.SupportSet.new(model)
    support = []
    for s in range(shot):
        for c in range(way):
            f = features(rng, c, 1)[0]
            sset.add("c%d" % c, GLib.Bytes.new(f.tobytes()))
            support.append(("c%d" % c, f.astype(np.float64)))
    q = np.concatenate([features(rng, b % way, 1) for b in range(queries)])

    results = sset.match_batch(GLib.Bytes.new(q.tobytes()))
    assert len(results) == queries
    for b, r in enumerate(results):
        single = sset.match(GLib.Bytes.new(q[b].tobytes()))
        assert list(r.get_labels()) == list(single.get_labels())
        assert r.get_label() == single.get_label()
        np.testing.assert_allclose(r.get_distances(), single.get_distances(), rtol=1e-6)
        order, dists, _ = hyrsm_ref.class_distances(ref, support, q[b].astype(np.float64))
        assert list(r.get_labels()) == order
        np.testing.assert_allclose(r.get_distances(), dists.numpy(), rtol=1e-4)


def test_batch_errors(make_test_model):
    path = make_test_model("batch-errors.safetensors", "--head", "1shot", "--dim", str(D))
    model = Hyrsm.Model.new_from_file(str(path))
    sset = Hyrsm.SupportSet.new(model)
    rng = np.random.default_rng(0)
    q = features(rng, 0, 2)
    with pytest.raises(GLib.Error) as info:
        sset.match_batch(GLib.Bytes.new(q.tobytes()))
    assert info.value.matches(Hyrsm.error_quark(), Hyrsm.Error.EMPTY_SUPPORT_SET)

    sset.add("wave", GLib.Bytes.new(features(rng, 0, 1).tobytes()))
    with pytest.raises(GLib.Error) as info:
        sset.match_batch(GLib.Bytes.new(q.tobytes()[:-4]))
    assert info.value.matches(Hyrsm.error_quark(), Hyrsm.Error.SHAPE_MISMATCH)
    assert "T x D = 8 x 64" in info.value.message

    assert list(sset.match_batch(GLib.Bytes.new(b""))) == []
