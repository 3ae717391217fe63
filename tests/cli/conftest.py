"""pytest setup for the gst-hyrsm command-line tests: finds the tool in the
build tree ($HYRSM_BUILDDIR, default build/), makes the fixtures (real clips
cut from Debian's videos, a small random-weight ResNet-18 with a 64-pixel
crop) and runs the tool.

Run through scripts/test.sh (it sources scripts/env.sh); the environment
the tool needs (LD_LIBRARY_PATH, GST_PLUGIN_PATH, a private registry) is
also set here for the subprocesses when missing."""
import shutil
import subprocess

import pytest

from cli_helpers import BUILDDIR, FIXTURES, PYTHON, SCENES, Tool


@pytest.fixture(scope="session")
def tool():
    path = BUILDDIR / "gst-hyrsm" / "gst-hyrsm"
    if not path.exists():
        pytest.fail("gst-hyrsm is not built in %s (run scripts/build.sh or set "
                    "HYRSM_BUILDDIR)" % BUILDDIR)
    return Tool(path)


@pytest.fixture(scope="session")
def clips():
    out = BUILDDIR / "tests" / "clips"
    try:
        subprocess.run(["sh", str(FIXTURES / "make_clips.sh"), str(out)], check=True,
                       capture_output=True)
    except subprocess.CalledProcessError as e:
        pytest.fail("make_clips.sh failed (scripts/install-deps.sh installs every "
                    "source video): " + e.stderr.decode())
    scenes = sorted(p.name for p in (out / "support").iterdir()
                    if not p.name.startswith("."))  # a feature cache
    assert scenes == SCENES, "make_clips.sh made only %s" % scenes
    return out


@pytest.fixture(scope="session")
def model(tmp_path_factory):
    """Backbone-only ResNet-18, crop 64: fast, and its random features tell
    these scenes apart."""
    path = tmp_path_factory.mktemp("model") / "r18-crop64.safetensors"
    made = subprocess.run(
        [PYTHON, str(FIXTURES / "make_model.py"), str(path), "--backbone", "resnet18",
         "--head", "none", "--meta", "hyrsm.crop=64", "--meta", "hyrsm.resize=72"],
        capture_output=True, text=True)
    if made.returncode != 0:
        pytest.fail("make_model.py failed (python3-torch comes from "
                    "scripts/install-deps.sh): " + made.stderr)
    return path


@pytest.fixture(scope="session")
def dataset(clips, tmp_path_factory):
    """5 classes x 4 clips (3 videos and a folder of frames each); shared:
    its feature cache is filled by the first eval."""
    dst = tmp_path_factory.mktemp("dataset") / "scenes"
    shutil.copytree(clips / "support", dst)
    for scene in SCENES:
        shutil.copytree(clips / "frames" / ("%s_4" % scene), dst / scene / ("%s_4" % scene))
    return dst


# Another cut of the Megamind clip (opencv-doc, in Debian 12 and 13): a
# class that random features confuse with "megamind", so that an eval's
# accuracy is below 100% and depends on which classes each episode draws.
MEGAMIND_BUGY = "/usr/share/doc/opencv-doc/examples/data/Megamind_bugy.avi"


@pytest.fixture(scope="session")
def confusable_dataset(dataset, tmp_path_factory):
    """The dataset plus a sixth class, "megamind_bugy": 4 frame folders of
    24 frames (15 fps, 160x120, as make_clips.sh cuts) from
    Megamind_bugy.avi."""
    dst = tmp_path_factory.mktemp("confusable") / "scenes"
    shutil.copytree(dataset, dst, ignore=shutil.ignore_patterns(".hyrsm-cache"))
    frames = tmp_path_factory.mktemp("bugy-frames")
    subprocess.run(["gst-launch-1.0", "-q", "filesrc", "location=%s" % MEGAMIND_BUGY, "!",
                    "decodebin", "!", "videoconvert", "!", "videoscale", "!", "videorate", "!",
                    "video/x-raw,format=I420,width=160,height=120,framerate=15/1,"
                    "pixel-aspect-ratio=1/1", "!", "jpegenc", "quality=92", "!",
                    "multifilesink", "location=%s/%%05d.jpg" % frames], check=True)
    names = sorted(frames.iterdir())
    assert len(names) >= 4 * 26, "%s gave %d frames" % (MEGAMIND_BUGY, len(names))
    for k in range(4):
        folder = dst / "megamind_bugy" / ("clip_%d" % k)
        folder.mkdir(parents=True)
        for i, src in enumerate(names[k * 26:k * 26 + 24]):
            shutil.copy(src, folder / ("%05d.jpg" % i))
    return dst


@pytest.fixture(scope="session")
def held_out(clips, tmp_path_factory):
    """Two 22-frame segments per scene cut from the held-out stream (frames
    the support clips do not hold), as MJPEG/AVI clips: {path: scene}."""
    work = tmp_path_factory.mktemp("held-out")
    frames = work / "frames"
    frames.mkdir()
    subprocess.run(["gst-launch-1.0", "-q", "filesrc", "location=%s" % (clips / "stream.mkv"),
                    "!", "decodebin", "!", "videoconvert", "!", "jpegenc", "quality=92", "!",
                    "multifilesink", "location=%s/%%05d.jpg" % frames], check=True)
    out = {}
    for line in (clips / "stream.txt").read_text().splitlines():
        if line.startswith("#") or not line.strip():
            continue
        _, _, first, _, scene = line.split()
        for part in (0, 1):
            start = int(first) + 22 * part
            clip = work / ("%s_%d.avi" % (scene, part))
            subprocess.run(["gst-launch-1.0", "-q", "multifilesrc",
                            "location=%s/%%05d.jpg" % frames, "start-index=%d" % start,
                            "stop-index=%d" % (start + 21), "caps=image/jpeg,framerate=15/1",
                            "!", "jpegdec", "!", "videoconvert", "!", "jpegenc", "!", "avimux",
                            "!", "filesink", "location=%s" % clip], check=True)
            out[clip] = scene
    return out


@pytest.fixture
def no_torch_python(tmp_path):
    """An interpreter that cannot import torch: Debian's python3 without
    its site packages."""
    wrapper = tmp_path / "python3-without-torch"
    wrapper.write_text("#!/bin/sh\nexec %s -S \"$@\"\n" % PYTHON)
    wrapper.chmod(0o755)
    check = subprocess.run([str(wrapper), "-c", "import torch"], capture_output=True)
    if check.returncode == 0:
        pytest.skip("torch is importable even without site packages")
    return str(wrapper)
