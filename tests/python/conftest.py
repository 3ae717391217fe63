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
