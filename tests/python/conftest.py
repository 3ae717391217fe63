"""pytest setup for the Python (GI) tests: finds the build tree.

Run through scripts/test.sh, which sets LD_LIBRARY_PATH and GI_TYPELIB_PATH
before Python starts (GI needs them at load time)."""
import os
import pathlib
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
BUILDDIR = pathlib.Path(os.environ.get("HYRSM_BUILDDIR", ROOT / "build"))


@pytest.fixture(scope="session")
def builddir():
    return BUILDDIR


@pytest.fixture(scope="session")
def make_test_model(tmp_path_factory):
    """Writes a synthetic model file with tests/unit/make-test-model."""
    tool = BUILDDIR / "tests" / "unit" / "make-test-model"
    outdir = tmp_path_factory.mktemp("models")

    def make(name, *args):
        path = outdir / name
        subprocess.run([str(tool), *args, str(path)], check=True)
        return path

    return make


@pytest.fixture(scope="session")
def real_clips(tmp_path_factory):
    """Support clips and a held-out stream cut from Debian's videos
    (tests/fixtures/make_clips.sh): OUT/support/<scene>/clip_*,
    OUT/stream.mkv and OUT/stream.txt (segments and their scenes)."""
    out = tmp_path_factory.mktemp("clips")
    subprocess.run([str(ROOT / "tests" / "fixtures" / "make_clips.sh"), str(out)],
                   check=True, stdout=subprocess.DEVNULL)
    return out


@pytest.fixture(scope="session")
def random_resnet18(tmp_path_factory):
    """A backbone-only ResNet-18 with deterministic random weights: it tells
    the clips' scenes apart by appearance, with no training."""
    path = tmp_path_factory.mktemp("r18") / "resnet18.safetensors"
    subprocess.run(["/usr/bin/python3", str(ROOT / "tests" / "fixtures" / "make_model.py"),
                    str(path), "--backbone", "resnet18", "--head", "none", "--seed", "0"],
                   check=True, stdout=subprocess.DEVNULL)
    return path
