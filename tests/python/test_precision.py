"""The `precision` choice: fp32, or bf16 on CPUs with AVX512-BF16.

bf16 against fp32 on real frames (tests/fixtures/make_clips.sh) through
random-weight ResNet-18 and ResNet-50 backbones: features, class distances,
the decided class, and hyrsmfilter's labels on the real-clip stream. Those
tests skip on CPUs without AVX512-BF16, where oneDNN has no bf16 kernels;
what such a CPU must do instead (a clear error for bf16, fp32 for auto) is
tested everywhere.

Tolerances (docs/decisions.md): features 2e-2 and distances 1e-2 relative
to the largest fp32 value. Measured with tests/bench/bf16_error.py on these
frames: features 2.9e-3 (ResNet-18) and 4.5e-3 (ResNet-50), distances
1.6e-3, the same class for every query."""
import pathlib
import subprocess

import gi

gi.require_version("Gst", "1.0")
gi.require_version("Hyrsm", "1.0")
from gi.repository import GLib, Gst, Hyrsm  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from PIL import Image  # noqa: E402

from test_element_video import Run, accuracy, read_truth  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[2]
TOL_FEATURES = 2e-2
TOL_DISTANCES = 1e-2
T = 8


def cpu_has_bf16():
    """What oneDNN needs for bf16 (its avx512_core_bf16 ISA), from the kernel."""
    need = {"avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512_vnni", "avx512_bf16"}
    for line in open("/proc/cpuinfo"):
        if line.startswith("flags"):
            return need <= set(line.split(":", 1)[1].split())
    return False


HAS_BF16 = cpu_has_bf16()
needs_bf16 = pytest.mark.skipif(
    not HAS_BF16, reason="this CPU has no AVX512-BF16 (oneDNN runs bf16 only with it)")


@pytest.fixture(scope="module")
def random_resnet50(tmp_path_factory):
    path = tmp_path_factory.mktemp("r50") / "resnet50.safetensors"
    subprocess.run(["/usr/bin/python3", str(ROOT / "tests" / "fixtures" / "make_model.py"),
                    str(path), "--backbone", "resnet50", "--head", "none", "--seed", "0"],
                   check=True, stdout=subprocess.DEVNULL)
    return path


def load_error(path, device, precision):
    with pytest.raises(GLib.Error) as e:
        Hyrsm.Model.new_full(str(path), device, precision)
    assert e.value.matches(Hyrsm.error_quark(), Hyrsm.Error.INVALID_ARGUMENT)
    return e.value.message


# ---- the choice ----

def test_auto_is_bf16_where_the_cpu_has_it(random_resnet18, monkeypatch):
    monkeypatch.delenv("HYRSM_PRECISION", raising=False)
    want = "bf16" if HAS_BF16 else "fp32"
    for model in (Hyrsm.Model.new_full(str(random_resnet18), "cpu", None),
                  Hyrsm.Model.new_full(str(random_resnet18), "cpu", "auto"),
                  Hyrsm.Model.new_from_file_full(str(random_resnet18), "cpu")):
        assert model.get_precision() == want
        assert model.props.precision == want
    assert Hyrsm.Model.new_full(str(random_resnet18), "cpu", "fp32").get_precision() == "fp32"


def test_bf16_on_a_cpu_without_it_says_so(random_resnet18):
    if HAS_BF16:
        assert Hyrsm.Model.new_full(str(random_resnet18), "cpu", "bf16").get_precision() == "bf16"
    else:
        message = load_error(random_resnet18, "cpu", "bf16")
        assert "bf16" in message and "AVX512-BF16" in message


def test_unknown_precisions_are_errors_naming_them(random_resnet18):
    message = load_error(random_resnet18, "cpu", "fp8")
    assert '"fp8"' in message and "auto, fp32, bf16, fp16" in message
    message = load_error(random_resnet18, "cpu", "fp16")
    assert '"fp16"' in message and "CPU" in message


def test_the_environment_says_what_auto_is(random_resnet18, monkeypatch):
    path = str(random_resnet18)
    for value in ("fp32", "float32", "FP32"):
        monkeypatch.setenv("HYRSM_PRECISION", value)
        assert Hyrsm.Model.new_full(path, "cpu", "auto").get_precision() == "fp32"
    # An explicit choice is not overridden.
    monkeypatch.setenv("HYRSM_PRECISION", "bf16")
    assert Hyrsm.Model.new_full(path, "cpu", "fp32").get_precision() == "fp32"
    monkeypatch.setenv("HYRSM_PRECISION", "fast")
    message = load_error(path, "cpu", None)
    assert "HYRSM_PRECISION" in message and '"fast"' in message


def test_the_cpu_convolution_setting_is_checked(random_resnet18, monkeypatch):
    """HYRSM_CPU_CONV (docs/decisions.md, "CPU convolutions"): its three
    values load, anything else is an error naming the value; shared models
    loaded under different values are different models."""
    path = str(random_resnet18)
    shared = {}
    for value in ("auto", "direct", "winograd"):
        monkeypatch.setenv("HYRSM_CPU_CONV", value)
        assert Hyrsm.Model.new_full(path, "cpu", "fp32").get_precision() == "fp32"
        shared[value] = Hyrsm.Model.new_shared_full(path, "cpu", "fp32")
    assert shared["direct"] is not shared["winograd"]
    monkeypatch.setenv("HYRSM_CPU_CONV", "fast")
    message = load_error(path, "cpu", "fp32")
    assert "HYRSM_CPU_CONV" in message and '"fast"' in message


def test_shared_models_are_keyed_on_precision(random_resnet18, monkeypatch):
    path = str(random_resnet18)
    monkeypatch.delenv("HYRSM_PRECISION", raising=False)
    fp32 = Hyrsm.Model.new_shared_full(path, "cpu", "fp32")
    assert Hyrsm.Model.new_shared_full(path, "cpu", "fp32") is fp32
    auto = Hyrsm.Model.new_shared_full(path, "cpu", "auto")
    assert auto is not fp32
    assert Hyrsm.Model.new_shared(path, "cpu") is auto
    # "auto" meaning fp32 through the environment is the fp32 model.
    monkeypatch.setenv("HYRSM_PRECISION", "fp32")
    assert Hyrsm.Model.new_shared_full(path, "cpu", None) is fp32
    with pytest.raises(GLib.Error) as e:
        Hyrsm.Model.new_shared_full(path, "cpu", "half")
    assert '"half"' in e.value.message


# ---- bf16 against fp32 on real frames ----

def scenes(clips):
    """24 real frames of each of the 5 scenes (frames/<scene>_4/*.jpg)."""
    out = {}
    for folder in sorted((clips / "frames").iterdir()):
        files = sorted(folder.glob("*.jpg"))
        out[folder.name.rsplit("_", 1)[0]] = np.stack(
            [np.asarray(Image.open(f).convert("RGB")) for f in files])
    return out


def embed(model, rgb):
    n, h, w, _ = rgb.shape
    out = model.embed_frames(GLib.Bytes.new(np.ascontiguousarray(rgb).tobytes()), n, w, h)
    return np.frombuffer(out.get_data(), np.float32).reshape(n, -1)


def rel_err(got, want):
    return float(np.max(np.abs(got - want)) / max(np.max(np.abs(want)), 1e-6))


@needs_bf16
@pytest.mark.parametrize("arch", ["resnet18", "resnet50"])
def test_bf16_features_and_distances_are_close_to_fp32(arch, real_clips, random_resnet18,
                                                       request):
    path = random_resnet18 if arch == "resnet18" else request.getfixturevalue("random_resnet50")
    models = {p: Hyrsm.Model.new_full(str(path), "cpu", p) for p in ("fp32", "bf16")}
    assert models["bf16"].get_precision() == "bf16"
    frames = scenes(real_clips)
    feats = {p: {s: embed(m, rgb) for s, rgb in frames.items()} for p, m in models.items()}
    a = np.concatenate(list(feats["fp32"].values()))
    b = np.concatenate(list(feats["bf16"].values()))
    err = rel_err(b, a)
    print(f"{arch}: bf16 features rel. error {err:.2e}")
    assert err < TOL_FEATURES

    # One class per scene (support: even frames 0..14), every scene's odd
    # frames 9..23 as a query; distances by the same fp32 relation code.
    results = {}
    for p in models:
        sset = Hyrsm.SupportSet.new(models["fp32"])
        for s, f in feats[p].items():
            sset.add(s, GLib.Bytes.new(np.ascontiguousarray(f[0:16:2]).tobytes()))
        results[p] = {s: sset.match(GLib.Bytes.new(np.ascontiguousarray(f[9:24:2]).tobytes()))
                      for s, f in feats[p].items()}
    for s in frames:
        want, got = results["fp32"][s], results["bf16"][s]
        assert list(got.get_labels()) == list(want.get_labels())
        d_err = rel_err(np.array(got.get_distances()), np.array(want.get_distances()))
        print(f"{arch}: query {s}: distances rel. error {d_err:.2e}")
        assert d_err < TOL_DISTANCES
        assert got.get_label() == want.get_label()


# ---- hyrsmfilter ----

def run_with_precision(real_clips, model, precision):
    run = Run(model, real_clips / "support", real_clips / "stream.mkv")
    run.filter.set_property("precision", precision)
    return run.play()


@needs_bf16
def test_element_bf16_decides_the_fp32_labels(real_clips, random_resnet18):
    fp32 = run_with_precision(real_clips, random_resnet18, "fp32")
    bf16 = run_with_precision(real_clips, random_resnet18, "bf16")
    assert fp32.errors == [] and bf16.errors == []
    assert len(bf16.bus_decisions) == len(fp32.bus_decisions) > 20
    assert [d.label for d in bf16.bus_decisions] == [d.label for d in fp32.bus_decisions]
    right, judged = accuracy(bf16.bus_decisions, read_truth(real_clips / "stream.txt"))
    assert right / judged >= 0.75


def test_element_bad_precision_is_an_error_naming_it(real_clips, random_resnet18):
    run = Run(random_resnet18, real_clips / "support", real_clips / "stream.mkv")
    run.filter.set_property("precision", "fp8")
    assert run.pipeline.set_state(Gst.State.PLAYING) == Gst.StateChangeReturn.FAILURE
    msg = run.pipeline.get_bus().timed_pop_filtered(10 * Gst.SECOND, Gst.MessageType.ERROR)
    run.pipeline.set_state(Gst.State.NULL)
    assert msg is not None
    text = msg.parse_error()[0].message
    assert '"fp8"' in text and "auto, fp32, bf16, fp16" in text
    f = Gst.ElementFactory.make("hyrsmfilter", None)
    assert f.get_property("precision") == "auto"
    f.set_property("precision", None)
    assert f.get_property("precision") == "auto"


# ---- the relation head in bf16 ----
#
# A model's relation head in bf16 keeps its weights rounded to bf16 (half
# the bytes a decision reads) and widens them to float in the kernel, which
# any CPU with AVX2 and FMA does: a head-only model (features from
# elsewhere) can be bf16 on CPUs where a backbone cannot. Tolerance
# (docs/decisions.md): distances within 2e-3 of each query's largest fp32
# distance, the same nearest class. Measured here: 1.3e-4 (random features,
# D = 2048, bench_query.py) and printed below for the real episodes.

TOL_HEAD_DISTANCES = 2e-3


def cpu_has_avx2_fma():
    for line in open("/proc/cpuinfo"):
        if line.startswith("flags"):
            return {"avx2", "fma"} <= set(line.split(":", 1)[1].split())
    return False


needs_avx2 = pytest.mark.skipif(
    not cpu_has_avx2_fma(), reason="this CPU has no AVX2 and FMA (the packed relation kernel)")


@pytest.fixture(scope="module")
def head_512(tmp_path_factory):
    """Head-only models for ResNet-18 features (D = 512), 1-shot and 5-shot rules."""
    out = {}
    for head in ("1shot", "5shot"):
        path = tmp_path_factory.mktemp("head") / f"head-{head}.safetensors"
        subprocess.run(["/usr/bin/python3", str(ROOT / "tests" / "fixtures" / "make_model.py"),
                        str(path), "--backbone", "none", "--head", head, "--dim", "512",
                        "--seed", "5"], check=True, stdout=subprocess.DEVNULL)
        out[head] = path
    return out


@needs_avx2
def test_head_only_models_can_be_bf16_and_auto_stays_exact(head_512, monkeypatch):
    monkeypatch.delenv("HYRSM_PRECISION", raising=False)
    path = str(head_512["1shot"])
    assert Hyrsm.Model.new_full(path, "cpu", "bf16").get_precision() == "bf16"
    # auto is bf16 only where the backbone could be too: fp32 stays exact
    assert Hyrsm.Model.new_full(path, "cpu", "auto").get_precision() == ("bf16" if HAS_BF16 else "fp32")


def episodes(real_clips, random_resnet18):
    """Real episodes: per scene, two support clips' worth of frames (even
    frames 0..14 and odd frames 1..15) and a query (frames 9..23, odd), as
    fp32 ResNet-18 features."""
    model = Hyrsm.Model.new_full(str(random_resnet18), "cpu", "fp32")
    feats = {s: embed(model, rgb) for s, rgb in scenes(real_clips).items()}
    support = {s: [f[0:16:2], f[1:16:2]] for s, f in feats.items()}
    queries = {s: f[9:24:2] for s, f in feats.items()}
    return support, queries


def as_bytes(x):
    return GLib.Bytes.new(np.ascontiguousarray(x, dtype=np.float32).tobytes())


@needs_avx2
@pytest.mark.parametrize("head", ["1shot", "5shot"])
def test_bf16_head_distances_are_close_to_fp32(head, head_512, real_clips, random_resnet18):
    support, queries = episodes(real_clips, random_resnet18)
    shots = 1 if head == "1shot" else 2
    results = {}
    for precision in ("fp32", "bf16"):
        model = Hyrsm.Model.new_full(str(head_512[head]), "cpu", precision)
        assert model.get_precision() == precision
        sset = Hyrsm.SupportSet.new(model)
        for s, clips in support.items():
            for clip in clips[:shots]:
                sset.add(s, as_bytes(clip))
        batch = np.stack(list(queries.values()))
        results[precision] = sset.match_batch(as_bytes(batch))
        # a window decided alone gets the batch's bits
        alone = sset.match(as_bytes(batch[0]))
        assert list(alone.get_distances()) == list(results[precision][0].get_distances())
    for s, want, got in zip(queries, results["fp32"], results["bf16"]):
        assert list(got.get_labels()) == list(want.get_labels())
        w, g = np.array(want.get_distances()), np.array(got.get_distances())
        err = float(np.max(np.abs(g - w)) / np.max(np.abs(w)))
        print(f"{head}: query {s}: bf16 head distances rel. error {err:.2e}")
        assert err < TOL_HEAD_DISTANCES
        assert got.get_label() == want.get_label()
        assert not np.array_equal(g, w), "bf16 weights were not used"
