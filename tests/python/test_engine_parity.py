"""The engine against the float64 PyTorch reference (tests/reference/hyrsm_ref.py),
through the Python API (docs/architecture.md).

Fixtures come from tests/fixtures/make_engine_fixtures.py, generated at test
time: ResNet-18 and ResNet-50 backbones under both naming schemes,
pre-processing of odd frame sizes, and RGB frames to class distances end to
end. (The relation head's stages are checked case by case in the C test
tests/unit/test-relation.c on the same generator's relation cases.)"""
import json
import pathlib
import subprocess
import sys

import gi

gi.require_version("Hyrsm", "1.0")
from gi.repository import GLib, Hyrsm  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))
import safetensors_io  # noqa: E402

TOL = 1e-4


@pytest.fixture(scope="module")
def fixtures(tmp_path_factory):
    out = tmp_path_factory.mktemp("engine-fixtures")
    subprocess.run(["/usr/bin/python3", str(ROOT / "tests/fixtures/make_engine_fixtures.py"),
                    str(out), "--only", "bb_", "--only", "pre_", "--only", "e2e_"],
                   check=True, stdout=subprocess.DEVNULL)
    return out


def load_case(fixtures, name):
    tensors, meta = safetensors_io.read(fixtures / name / "case.safetensors")
    model = Hyrsm.Model.new_from_file(str(fixtures / name / "model.safetensors"))
    return model, tensors, meta


def rel_err(got, want):
    return float(np.max(np.abs(got - want)) / max(np.max(np.abs(want)), 1e-6))


def as_floats(gbytes, shape):
    return np.frombuffer(gbytes.get_data(), dtype=np.float32).reshape(shape)


BACKBONES = ["bb_resnet18_tv", "bb_resnet18_authors_prefixed", "bb_resnet34_crop64",
             "bb_resnet50_authors"]


@pytest.mark.parametrize("case", BACKBONES)
def test_backbone_features(fixtures, case):
    model, t, meta = load_case(fixtures, case)
    frames = np.ascontiguousarray(t["frames_normalized"], dtype=np.float32)
    n = frames.shape[0]
    feats = model.embed_normalized(GLib.Bytes.new(frames.tobytes()), n)
    got = as_floats(feats, (n, model.props.feature_dim))
    err = rel_err(got, t["expected_features"])
    print(f"{case}: backbone features rel. error {err:.2e}")
    assert err < TOL


# How the CPU backend runs its 3x3 stride-1 layers (HYRSM_CPU_CONV): oneDNN
# only, or Winograd F(2x2, 3x3) wherever it can (src/hyrsm/cpu/
# hyrsm-winograd.c); the default picks per layer whichever is faster here.
ALGORITHMS = ["direct", "winograd"]
FP32_TOL = 1e-5


def cpu_has_avx2_fma():
    flags = next((line.split(":", 1)[1].split() for line in open("/proc/cpuinfo")
                  if line.startswith("flags")), [])
    return "avx2" in flags and "fma" in flags


@pytest.mark.parametrize("case", BACKBONES)
def test_backbone_features_by_algorithm(fixtures, case, monkeypatch):
    """fp32 features within 1e-5 of the float64 reference whichever
    algorithm runs the 3x3 layers, and Winograd really ran (its features
    are not bit for bit oneDNN's)."""
    if not cpu_has_avx2_fma():
        pytest.skip("this CPU has no AVX2 and FMA: Winograd does not run here")
    got = {}
    for algorithm in ALGORITHMS:
        monkeypatch.setenv("HYRSM_CPU_CONV", algorithm)
        model, t, meta = load_case(fixtures, case)
        frames = np.ascontiguousarray(t["frames_normalized"], dtype=np.float32)
        n = frames.shape[0]
        feats = model.embed_normalized(GLib.Bytes.new(frames.tobytes()), n)
        got[algorithm] = as_floats(feats, (n, model.props.feature_dim)).copy()
        err = rel_err(got[algorithm], t["expected_features"])
        print(f"{case} ({algorithm}): backbone features rel. error {err:.2e}")
        assert err < FP32_TOL, algorithm
    assert not np.array_equal(got["direct"], got["winograd"])


PREPROCESS = ["pre_321x239", "pre_1280x720", "pre_64x48", "pre_100x80_r75c64_imagenet"]


@pytest.mark.parametrize("case", PREPROCESS)
def test_preprocess_matches_torch_interpolate(fixtures, case):
    model, t, meta = load_case(fixtures, case)
    rgb = np.ascontiguousarray(t["frames_rgb"], dtype=np.uint8)
    n, h, w, _ = rgb.shape
    out = model.preprocess_frames(GLib.Bytes.new(rgb.tobytes()), n, w, h)
    crop = model.props.crop
    got = as_floats(out, (n, 3, crop, crop))
    err = rel_err(got, t["expected_preprocessed"])
    print(f"{case}: pre-processing rel. error {err:.2e}")
    assert err < TOL


@pytest.mark.parametrize("algorithm", ["auto"] + ALGORITHMS)
def test_end_to_end_frames_to_distances(fixtures, algorithm, monkeypatch):
    monkeypatch.setenv("HYRSM_CPU_CONV", algorithm)
    model, t, meta = load_case(fixtures, "e2e_resnet18_crop64_3way2shot")
    labels = json.loads(meta["labels"])
    support = np.ascontiguousarray(t["support_frames_rgb"], dtype=np.uint8)
    n_ex, T, h, w, _ = support.shape
    D = model.props.feature_dim
    sset = Hyrsm.SupportSet.new(model)
    for i, label in enumerate(labels):
        feats = model.embed_frames(GLib.Bytes.new(support[i].tobytes()), T, w, h)
        err = rel_err(as_floats(feats, (T, D)), t["expected_support_features"][i])
        assert err < TOL, f"support example {i} ({label}): features rel. error {err:.2e}"
        sset.add(label, feats)
    query = np.ascontiguousarray(t["query_frames_rgb"], dtype=np.uint8)
    qfeats = model.embed_frames(GLib.Bytes.new(query.tobytes()), T, w, h)
    assert rel_err(as_floats(qfeats, (T, D)), t["expected_query_features"]) < TOL
    res = sset.match(qfeats)
    assert list(res.get_labels()) == json.loads(meta["class_order"])
    err = rel_err(np.array(res.get_distances()), t["expected_distances"])
    print(f"end to end: distances rel. error {err:.2e}")
    assert err < TOL
    assert res.get_label() == meta["predicted"]
    d = np.array(res.get_distances())
    assert res.get_confidence() == pytest.approx(np.exp(-d.min()) / np.exp(-d).sum())


def test_wrong_sizes_say_what_was_expected(fixtures):
    model, t, meta = load_case(fixtures, "bb_resnet34_crop64")
    with pytest.raises(GLib.Error) as e:
        model.embed_frames(GLib.Bytes.new(b"\0" * 100), 2, 10, 10)
    assert e.value.matches(Hyrsm.error_quark(), Hyrsm.Error.SHAPE_MISMATCH)
    assert "expected 600 bytes" in e.value.message
    with pytest.raises(GLib.Error) as e:
        model.embed_normalized(GLib.Bytes.new(b"\0" * 12), 1)
    assert e.value.matches(Hyrsm.error_quark(), Hyrsm.Error.SHAPE_MISMATCH)

    sset = Hyrsm.SupportSet.new(model)
    T, D = model.props.frames, model.props.feature_dim
    with pytest.raises(GLib.Error) as e:
        sset.add("wave", GLib.Bytes.new(b"\0" * (T * D * 4 - 4)))
    assert e.value.matches(Hyrsm.error_quark(), Hyrsm.Error.SHAPE_MISMATCH)
    assert f"{T} x {D}" in e.value.message
    with pytest.raises(GLib.Error) as e:
        sset.match(GLib.Bytes.new(b"\0" * (T * D * 4)))
    assert e.value.matches(Hyrsm.error_quark(), Hyrsm.Error.EMPTY_SUPPORT_SET)


def test_head_only_model_cannot_embed(fixtures):
    model, t, meta = load_case(fixtures, "pre_64x48")
    assert model.props.backbone == "none"
    assert not model.has_backbone()
    with pytest.raises(GLib.Error) as e:
        model.embed_frames(GLib.Bytes.new(b"\0" * (64 * 48 * 3)), 1, 64, 48)
    assert e.value.matches(Hyrsm.error_quark(), Hyrsm.Error.NO_BACKBONE)
    assert "no backbone" in e.value.message
