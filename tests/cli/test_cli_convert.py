"""gst-hyrsm convert: torchvision state dicts and the authors' training
checkpoints (random weights, built with tests/fixtures/make_model.py) become
models whose features and class distances equal the float64 PyTorch
reference of docs/model.md (tests/reference/hyrsm_ref.py)."""
import collections
import subprocess
import sys

import numpy as np
import pytest
import torch

from cli_helpers import BUILDDIR, FIXTURES, PYTHON, ROOT, tool_env

sys.path.insert(0, str(FIXTURES))
sys.path.insert(0, str(ROOT / "tests" / "reference"))
sys.path.insert(0, str(ROOT / "tools"))
import hyrsm_ref  # noqa: E402
import make_model  # noqa: E402
import safetensors_io  # noqa: E402

TOL = 1e-4

CFG = """\
# an excerpt of the authors' config layout
TRAIN:
  ENABLE: false
  POSITION_A: 20
  POSITION_B: 0.5
TEST:
  ENABLE: true
DATA:
  NUM_INPUT_FRAMES: 4
  MEAN: [0.40, 0.45, 0.50]
  STD:
    - 0.2
    - 0.225
    - 0.25
  TEST_SCALE: 72
  TEST_CROP_SIZE: 64   # small, for speed
VIDEO:
  HEAD:
    NAME: CNN_HyRSM_plusplus_5shot
    BACKBONE_NAME: "resnet18"
"""

EXPECTED_MD = {
    "hyrsm.backbone": "resnet18",
    "hyrsm.head": "5shot",
    "hyrsm.frames": "4",
    "hyrsm.resize": "72",
    "hyrsm.crop": "64",
    "hyrsm.mean": "0.4,0.45,0.5",
    "hyrsm.std": "0.2,0.225,0.25",
    "hyrsm.position_a": "20",
    "hyrsm.position_b": "0.5",
}

EMBED_WITH_GI = """
import sys, numpy as np, gi
gi.require_version("Hyrsm", "1.0")
from gi.repository import GLib, Hyrsm
m = Hyrsm.Model.new_from_file(sys.argv[1])
x = np.load(sys.argv[2]).astype(np.float32)
f = m.embed_normalized(GLib.Bytes.new(x.tobytes()), x.shape[0])
np.save(sys.argv[3], np.frombuffer(f.get_data(), dtype=np.float32).reshape(x.shape[0], -1))
"""


def embed(builddir_env, model, x, tmp_path):
    """Our features of pre-processed frames @x [n, 3, C, C], through GI."""
    inp, out = tmp_path / "frames.npy", tmp_path / "features.npy"
    np.save(inp, x)
    env = tool_env(builddir_env)
    r = subprocess.run([PYTHON, "-c", EMBED_WITH_GI, str(model), str(inp), str(out)],
                       capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    return np.load(out)


@pytest.fixture(scope="module")
def gi_env():
    return {"GI_TYPELIB_PATH": "%s:%s" % (BUILDDIR / "src" / "hyrsm", BUILDDIR / "src" / "gst")}


def as_torch(tensors):
    return collections.OrderedDict((k, torch.from_numpy(np.asarray(v))) for k, v in tensors.items())


def assert_close(ours, ref, what):
    ref = np.asarray(ref, dtype=np.float64)
    err = np.max(np.abs(ours - ref)) / max(np.max(np.abs(ref)), 1e-30)
    assert err < TOL, "%s: relative error %.3g" % (what, err)


def random_frames(n, crop, seed):
    g = np.random.default_rng(seed)
    return g.uniform(-2, 2, size=(n, 3, crop, crop)).astype(np.float32)


# --------------------------------------------------------------------------


def test_torchvision_state_dict(tool, tmp_path, gi_env):
    tensors, _ = make_model.make_model_tensors(backbone="resnet18", head="none", with_fc=True,
                                               seed=3)
    pth = tmp_path / "resnet18.pth"
    torch.save(as_torch(tensors), pth)
    out = tmp_path / "r18.safetensors"
    r = tool("convert", "--resize", "72", "--crop", "64", "--frames", "8", pth, out)
    assert r.returncode == 0, r.stderr
    assert "Wrote %s: resnet18, head none" % out in r.stdout
    assert "fc.* (2)" in r.stderr  # what was left out is said

    written, md = safetensors_io.read(str(out))
    assert md == {"hyrsm.backbone": "resnet18", "hyrsm.head": "none", "hyrsm.frames": "8",
                  "hyrsm.resize": "72", "hyrsm.crop": "64",
                  "hyrsm.mean": "0.485,0.456,0.406", "hyrsm.std": "0.229,0.224,0.225",
                  "hyrsm.position_a": "10", "hyrsm.position_b": "1"}
    assert not any(k.startswith("fc.") or k.endswith("num_batches_tracked") for k in written)
    for k, v in written.items():
        assert np.array_equal(v, tensors[k]), k

    x = random_frames(3, 64, 0)
    ref = hyrsm_ref.backbone(hyrsm_ref.Model(tensors, md), x).numpy()
    assert_close(embed(gi_env, out, x, tmp_path), ref, "features")

    # the defaults for a torchvision file
    info = tool.json("convert", pth, tmp_path / "defaults.safetensors")
    assert info["resize"] == 256 and info["crop"] == 224 and info["frames"] == 8
    assert info["metadata"]["hyrsm.mean"] == "0.485,0.456,0.406"


def authors_checkpoint(path, cfg=CFG, prefix="module.head.", seed=5):
    tensors, _ = make_model.make_model_tensors(backbone="resnet18", head="5shot",
                                               names="authors", with_fc=True, store_pe=True,
                                               prefix=prefix, seed=seed)
    state = as_torch(tensors)
    state[prefix + "classification_layer.weight"] = torch.randn(64, 512)
    state[prefix + "classification_layer.bias"] = torch.randn(64)
    torch.save({"epoch": 10, "model_state": state,
                "optimizer_state": {"state": {}, "param_groups": [{"lr": 0.0001}]},
                "cfg": cfg}, path)
    return tensors


def write_features(path, features, fingerprint):
    safetensors_io.write(str(path), {"features": features.astype(np.float32)},
                         {"hyrsm.fingerprint": fingerprint, "hyrsm.frames": str(len(features)),
                          "hyrsm.source": "test"})


def test_authors_checkpoint(tool, tmp_path, gi_env):
    ckpt = tmp_path / "checkpoint_epoch_00010.pyth"
    tensors = authors_checkpoint(ckpt)
    out = tmp_path / "hyrsm.safetensors"
    info = tool.json("convert", ckpt, out)
    written, md = safetensors_io.read(str(out))
    assert md == EXPECTED_MD
    assert info["backbone"] == "resnet18" and info["head"] == "5shot"
    assert info["frames"] == 4 and info["crop"] == 64
    assert "pe.pe" in written and "backbone.0.weight" in written
    assert not any(k.startswith(("module.", "head.", "fc.", "classification_layer"))
                   or k.endswith("num_batches_tracked") for k in written)

    ref_model = hyrsm_ref.Model(tensors, EXPECTED_MD)

    # features
    x = random_frames(4, 64, 1)
    ref = hyrsm_ref.backbone(ref_model, x).numpy()
    assert_close(embed(gi_env, out, x, tmp_path), ref, "features")

    # class distances, 5-shot rule (two examples per class), through the CLI
    fp = info["fingerprint"]
    g = np.random.default_rng(2)
    labels = ["jump", "run", "wave"]
    support, sdir = [], tmp_path / "support"
    for label in labels:
        (sdir / label).mkdir(parents=True)
        for k in range(2):
            f = g.uniform(0, 3, size=(4, 512))
            write_features(sdir / label / ("%d.hyrsm" % k), f, fp)
            support.append((label, f.astype(np.float32)))
    query = g.uniform(0, 3, size=(4, 512)).astype(np.float32)
    write_features(tmp_path / "query.hyrsm", query, fp)
    res = tool.json("classify", "--model", out, "--support", sdir, tmp_path / "query.hyrsm")
    order, dists, _ = hyrsm_ref.class_distances(ref_model, support, query)
    assert order == labels
    ours = [res["results"][0]["distances"][label] for label in labels]
    assert_close(np.array(ours), dists.numpy(), "distances")
    assert res["results"][0]["label"] == hyrsm_ref.predict(order, dists)


def test_authors_checkpoint_1shot_head_and_plain_prefix(tool, tmp_path):
    ckpt = tmp_path / "ckpt.pyth"
    authors_checkpoint(ckpt, cfg=CFG.replace("plusplus_5shot", "plusplus_1shot"), prefix="head.")
    info = tool.json("convert", ckpt, tmp_path / "m.safetensors")
    assert info["head"] == "1shot"


def test_cfg_as_a_dict(tool, tmp_path):
    import yaml

    ckpt = tmp_path / "ckpt.pyth"
    authors_checkpoint(ckpt, cfg=yaml.safe_load(CFG))
    info = tool.json("convert", ckpt, tmp_path / "m.safetensors")
    assert {k: info["metadata"][k] for k in EXPECTED_MD} == EXPECTED_MD


def test_options_override_the_cfg(tool, tmp_path):
    ckpt = tmp_path / "ckpt.pyth"
    authors_checkpoint(ckpt)
    info = tool.json("convert", "--frames", "8", "--crop", "56", "--meta", "note=hello", ckpt,
                     tmp_path / "m.safetensors")
    assert info["frames"] == 8 and info["crop"] == 56
    assert info["metadata"]["note"] == "hello"


def test_convert_errors(tool, model, tmp_path, no_torch_python):
    missing = tmp_path / "absent.pth"
    r = tool("convert", missing, tmp_path / "o.safetensors")
    assert r.returncode == 1 and str(missing) in r.stderr

    junk = tmp_path / "junk.pth"
    junk.write_text("not a pickle")
    r = tool("convert", junk, tmp_path / "o.safetensors")
    assert r.returncode == 1 and str(junk) in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1

    r = tool("convert", model, tmp_path / "o.safetensors")
    assert r.returncode == 1 and "already a safetensors file" in r.stderr

    no_tensors = tmp_path / "empty.pth"
    torch.save({"epoch": 1, "model_state": {}, "cfg": CFG}, no_tensors)
    r = tool("convert", no_tensors, tmp_path / "o.safetensors")
    assert r.returncode == 1 and "model_state" in r.stderr

    ckpt = tmp_path / "ckpt.pyth"
    authors_checkpoint(ckpt, cfg=CFG.replace('"resnet18"', "resnet50"))
    r = tool("convert", ckpt, tmp_path / "o.safetensors")
    assert r.returncode == 1 and "resnet50" in r.stderr
    assert not (tmp_path / "o.safetensors").exists()

    pth = tmp_path / "r.pth"
    torch.save(as_torch(make_model.make_model_tensors(backbone="resnet18", head="none")[0]), pth)
    r = tool("convert", pth, tmp_path / "o.safetensors", env={"HYRSM_PYTHON": no_torch_python})
    assert r.returncode == 1
    assert "python3-torch" in r.stderr

    for args in (["--crop", "300", "--resize", "256", pth, "o"], ["--meta", "novalue", pth, "o"],
                 [pth], [pth, pth], ["--head", "2shot", pth, tmp_path / "o.safetensors"]):
        r = tool("convert", *args)
        assert r.returncode == 2, (args, r.stderr)


def test_convert_says_where_it_looked_for_its_script(tool, tmp_path):
    src = tmp_path / "in.pth"
    src.write_bytes(b"")
    r = tool("convert", src, tmp_path / "o.safetensors", env={"HYRSM_SCRIPT_DIR": str(tmp_path)})
    assert r.returncode == 1
    assert "hyrsm-convert.py not found in $HYRSM_SCRIPT_DIR (%s)" % tmp_path in r.stderr
