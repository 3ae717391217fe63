"""Support sets from directories as Python users reach them:
`GstHyrsm.support_set_load_dir(model, path, None)` and `GstHyrsm.SupportDir`,
on real clips cut from Debian's videos by tests/fixtures/make_clips.sh, with
a small random-weight ResNet-18 (crop 64)."""
import pathlib
import shutil
import subprocess

import gi

gi.require_version("Gst", "1.0")
gi.require_version("Hyrsm", "1.0")
gi.require_version("GstHyrsm", "1.0")
from gi.repository import GLib, Gst, GstHyrsm, Hyrsm  # noqa: E402

import pytest  # noqa: E402

Gst.init(None)

FIXTURES = pathlib.Path(__file__).resolve().parents[1] / "fixtures"
SCENES = ["ball", "box", "megamind", "street", "tree"]


@pytest.fixture(scope="module")
def clips(builddir):
    out = pathlib.Path(builddir) / "tests" / "clips"
    try:
        subprocess.run(["sh", str(FIXTURES / "make_clips.sh"), str(out)],
                       check=True, capture_output=True)
    except subprocess.CalledProcessError as e:
        pytest.fail("make_clips.sh failed (scripts/install-deps.sh installs "
                    "every source video): " + e.stderr.decode())
    return out


@pytest.fixture(scope="module")
def model(tmp_path_factory, builddir):
    path = tmp_path_factory.mktemp("model") / "r18-crop64.safetensors"
    made = subprocess.run(
        ["/usr/bin/python3", str(FIXTURES / "make_model.py"), str(path),
         "--backbone", "resnet18", "--head", "none",
         "--meta", "hyrsm.crop=64", "--meta", "hyrsm.resize=72"],
        capture_output=True)
    if made.returncode != 0:  # no torch: the C tool's (slower) 224 model
        tool = pathlib.Path(builddir) / "tests" / "unit" / "make-test-model"
        subprocess.run([str(tool), "--backbone", "resnet18", str(path)],
                       check=True)
    return Hyrsm.Model.new_from_file(str(path))


@pytest.fixture
def support(clips, tmp_path):
    """A private copy of the 5-scene support set (the cache goes inside)."""
    dst = tmp_path / "support"
    shutil.copytree(clips / "support", dst)
    return dst


def test_load_dir_labels_match_folders(model, support):
    sset = GstHyrsm.support_set_load_dir(model, str(support), None)
    assert isinstance(sset, Hyrsm.SupportSet)
    folders = sorted(p.name for p in support.iterdir() if not p.name.startswith("."))
    assert folders == SCENES
    assert sset.get_labels() == folders
    assert sset.props.n_examples == 15
    assert sset.props.n_classes == 5


def test_support_dir_details_and_cache(model, support):
    d = GstHyrsm.SupportDir.load(model, str(support), None)
    assert d.get_labels() == SCENES
    assert [d.get_n_examples(s) for s in SCENES] == [3] * 5
    assert d.get_skipped() == []
    assert d.get_n_decoded() == 15
    assert 1.5e9 <= d.get_median_duration() <= 1.7e9
    assert d.props.median_duration == d.get_median_duration()
    cache = pathlib.Path(d.get_cache_dir())
    assert cache == support / ".hyrsm-cache" / model.props.fingerprint
    assert len(list(cache.glob("*/*.hyrsm"))) == 15

    again = GstHyrsm.SupportDir.load(model, str(support), None)
    assert again.get_n_decoded() == 0
    assert again.get_n_cached() == 15

    # A clip's cached features, read back in Python, match its own label.
    feats, source = Hyrsm.features_load(str(cache / "street" / "clip_2.webm.hyrsm"), model)
    assert source == "street/clip_2.webm"
    assert feats.get_size() == model.props.frames * model.props.feature_dim * 4
    res = again.props.support_set.match(feats)
    assert res.get_label() == "street"


def test_junk_is_skipped_and_reported(model, clips, support):
    junk = support / "junk"
    junk.mkdir()
    for name in ("not-video.mp4", "empty.mp4", "truncated.mkv"):
        shutil.copy(clips / "junk" / name, junk / name)
    shutil.copy(clips / "junk" / "not-video.mp4", support / "tree" / "bad.mkv")
    d = GstHyrsm.SupportDir.load(model, str(support), None)
    assert d.get_labels() == SCENES  # "junk" left out
    skipped = d.get_skipped()
    assert any(s.startswith("junk/: ") for s in skipped)
    assert any(s.startswith("tree/bad.mkv: ") for s in skipped)
    assert d.get_n_examples("tree") == 3


def test_clip_without_decoder_names_the_missing_decoder(model, support):
    # A real clip (python3-mecavideo) whose video codec no installed
    # GStreamer plugin decodes: say so, not "no video stream".
    shutil.copy("/usr/share/pymecavideo/data/video/balle1-vp9.avi",
                support / "tree" / "balle1-vp9.avi")
    d = GstHyrsm.SupportDir.load(model, str(support), None)
    reason = [s for s in d.get_skipped() if s.startswith("tree/balle1-vp9.avi: ")]
    assert len(reason) == 1
    assert "decoder" in reason[0] and "no video stream" not in reason[0], reason[0]


def test_still_image_example_is_used_with_a_warning(model, clips, support):
    """A single frame (a still image) is an example with a warning, and it
    does not pull the median window down."""
    before = GstHyrsm.SupportDir.load(model, str(support), None)
    still = support / "tree" / "still"
    still.mkdir()
    shutil.copy(clips / "frames" / "tree_4" / "00000.jpg", still / "00000.jpg")
    two = support / "street" / "two.avi"
    subprocess.run(["gst-launch-1.0", "-q", "multifilesrc",
                    "location=%s" % (clips / "frames" / "street_4" / "%05d.jpg"),
                    "stop-index=1", "caps=image/jpeg,framerate=15/1", "!", "jpegdec", "!",
                    "videoconvert", "!", "jpegenc", "!", "avimux", "!", "filesink",
                    "location=%s" % two], check=True)
    d = GstHyrsm.SupportDir.load(model, str(support), None)
    assert d.get_n_examples("tree") == 4 and d.get_n_examples("street") == 4
    warnings = d.get_warnings()
    assert any(w.startswith("tree/still: only 1 frame(s)") for w in warnings), warnings
    assert any(w.startswith("street/two.avi: only 2 frame(s)") for w in warnings), warnings
    assert d.get_median_duration() == before.get_median_duration()
    # Loaded again from the cache: the same warnings.
    again = GstHyrsm.SupportDir.load(model, str(support), None)
    assert sorted(again.get_warnings()) == sorted(warnings)


def test_support_path_that_is_a_file(model, tmp_path):
    f = tmp_path / "actions.txt"
    f.write_text("not a folder")
    with pytest.raises(GLib.Error) as e:
        GstHyrsm.SupportDir.load(model, str(f), None)
    assert "is not a directory" in e.value.message


def test_progress_and_flags(model, support):
    calls = []

    def progress(done, total, label, name, data):
        assert data == "tag"
        calls.append((done, total, label, name))

    d = GstHyrsm.SupportDir.load_full(
        model, str(support), GstHyrsm.SupportDirFlags.NO_CACHE, progress, "tag",
        None)
    assert d.get_cache_dir() is None
    assert [c[0] for c in calls] == list(range(16))
    assert calls[0][1:] == (15, "ball", "clip_1.mkv")
    assert calls[-1] == (15, 15, None, None)
    assert not (support / ".hyrsm-cache").exists()


def test_missing_and_empty_dirs_raise(model, tmp_path):
    missing = tmp_path / "absent"
    with pytest.raises(GLib.Error) as info:
        GstHyrsm.support_set_load_dir(model, str(missing), None)
    assert info.value.matches(Hyrsm.error_quark(), Hyrsm.Error.FILE_NOT_FOUND)
    assert str(missing) in info.value.message

    empty = tmp_path / "empty"
    (empty / "wave").mkdir(parents=True)
    with pytest.raises(GLib.Error) as info:
        GstHyrsm.support_set_load_dir(model, str(empty), None)
    assert info.value.matches(Hyrsm.error_quark(), Hyrsm.Error.EMPTY_SUPPORT_SET)
    assert str(empty) in info.value.message


def test_feature_file_round_trip(model, support, tmp_path):
    sset = GstHyrsm.support_set_load_dir(model, str(support), None)
    cache = support / ".hyrsm-cache" / model.props.fingerprint
    feats, _ = Hyrsm.features_load(str(cache / "tree" / "clip_1.mkv.hyrsm"), model)
    out = tmp_path / "enrolled.hyrsm"
    Hyrsm.features_save(str(out), model, feats, "live window")
    back, source = Hyrsm.features_load(str(out), model)
    assert back.get_data() == feats.get_data()
    assert source == "live window"
    assert sset.match(back).get_label() == "tree"
