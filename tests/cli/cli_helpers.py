"""Shared by the gst-hyrsm command-line tests (a module of its own, not
conftest, so that `from cli_helpers import ...` cannot pick up another
directory's conftest): where things are, the environment the tool runs in,
and a small runner."""
import json
import os
import pathlib
import subprocess

ROOT = pathlib.Path(__file__).resolve().parents[2]
BUILDDIR = pathlib.Path(os.environ.get("HYRSM_BUILDDIR", ROOT / "build"))
FIXTURES = ROOT / "tests" / "fixtures"
PYTHON = "/usr/bin/python3"
SCENES = ["ball", "box", "megamind", "street", "tree"]


def tool_env(extra=None):
    env = dict(os.environ)
    libs = "%s:%s" % (BUILDDIR / "src" / "hyrsm", BUILDDIR / "src" / "gst")
    env["LD_LIBRARY_PATH"] = libs + (":" + env["LD_LIBRARY_PATH"] if env.get("LD_LIBRARY_PATH") else "")
    env.setdefault("GST_PLUGIN_PATH", str(BUILDDIR / "src" / "gst" / "plugin"))
    env.setdefault("GST_REGISTRY_1_0", str(BUILDDIR / "registry.bin"))
    env.pop("HYRSM_PYTHON", None)
    env["HYRSM_SCRIPT_DIR"] = str(ROOT / "tools")  # uninstalled, as scripts/env.sh
    env["LC_ALL"] = "C"
    if extra:
        env.update(extra)
    return env


class Tool:
    """Runs gst-hyrsm; returns the CompletedProcess (text)."""

    def __init__(self, path):
        self.path = path

    def __call__(self, *args, env=None, cwd=None, timeout=600):
        return subprocess.run([str(self.path)] + [str(a) for a in args], capture_output=True,
                              text=True, env=tool_env(env), cwd=cwd, timeout=timeout)

    def json(self, *args, **kw):
        r = self(*args, "--json", **kw)
        assert r.returncode == 0, r.stderr
        return json.loads(r.stdout)
