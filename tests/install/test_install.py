"""The installed project, used from outside (suite 'install').

A build of its own (HYRSM_INSTALL_BUILDDIR, kept between runs so that a
rerun only rebuilds what changed) is configured with --prefix set to a
fresh temporary folder and installed there with `meson install`. Then, with
LD_LIBRARY_PATH, GI_TYPELIB_PATH, GST_PLUGIN_PATH, PKG_CONFIG_PATH and PATH
naming only that prefix (none of the build tree):

- the expected files are there (libraries, plugin alone in
  LIBDIR/gstreamer-1.0, headers, pkg-config files, typelibs, GIRs, the tool
  and its Python helpers), and the private engine header is not;
- libhyrsm exports its public API (the installed headers) and nothing else
  but the two documented HYRSM_PRIVATE_API functions;
- a C program outside the tree compiles and links with `pkg-config
  gsthyrsm-1.0` alone, loads a model and matches against a support set;
- a Python program finds Hyrsm-1.0, GstHyrsm-1.0 and hyrsmfilter there;
- gst-inspect-1.0 shows hyrsmfilter from the installed plugin and no
  blacklisted file;
- the installed gst-hyrsm converts a torchvision ResNet-18 with its
  installed helper (DATADIR/gst-hyrsm) and loads the result.

Anything missing (meson, a compiler, GObject introspection, torch) is a
failure, never a skip: scripts/install-deps.sh installs all of it."""
import json
import os
import pathlib
import re
import shutil
import subprocess

import pytest

HERE = pathlib.Path(__file__).resolve().parent
SOURCE = pathlib.Path(os.environ.get("HYRSM_SOURCE_ROOT", HERE.parents[1]))
BUILDDIR = pathlib.Path(os.environ.get("HYRSM_INSTALL_BUILDDIR",
                                       SOURCE / "build" / "tests" / "install" / "build"))
OPTIONS = os.environ.get("HYRSM_INSTALL_OPTIONS", "-Dcuda=disabled").split()
MAKE_TEST_MODEL = os.environ.get("HYRSM_MAKE_TEST_MODEL",
                                 str(SOURCE / "build" / "tests" / "unit" / "make-test-model"))
PYTHON = "/usr/bin/python3"
# what the installed libhyrsm exports beyond its installed headers
# (hyrsm-model-private.h: for the static engine linked into the plugin)
PRIVATE_EXPORTS = {"hyrsm_model_embed_rgb_frames", "hyrsm_model_get_backbone_weights"}
# variables that could point a program at the build tree or another install
LEAKY = ("LD_LIBRARY_PATH", "GI_TYPELIB_PATH", "GST_PLUGIN_PATH", "GST_PLUGIN_PATH_1_0",
         "GST_PLUGIN_SYSTEM_PATH", "GST_PLUGIN_SYSTEM_PATH_1_0", "GST_REGISTRY",
         "GST_REGISTRY_1_0", "PKG_CONFIG_PATH", "HYRSM_SCRIPT_DIR", "HYRSM_PYTHON",
         "PYTHONPATH", "HYRSM_BUILDDIR")


def need(program):
    path = shutil.which(program)
    assert path, "%s is not installed (scripts/install-deps.sh installs it)" % program
    return path


def run(cmd, **kw):
    r = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, **kw)
    assert r.returncode == 0, "%s: exit %d\n%s\n%s" % (" ".join(map(str, cmd)), r.returncode,
                                                      r.stdout[-4000:], r.stderr[-4000:])
    return r


class Install:
    def __init__(self, prefix, libdir, datadir, work):
        self.prefix = prefix
        self.lib = prefix / libdir
        self.data = prefix / datadir
        self.work = work

    def env(self, **extra):
        """The environment of a program using the installed prefix only."""
        env = {k: v for k, v in os.environ.items() if k not in LEAKY}
        empty = self.work / "no-system-plugins"
        empty.mkdir(exist_ok=True)
        env.update({
            "PATH": "%s:/usr/bin:/bin" % (self.prefix / "bin"),
            "LD_LIBRARY_PATH": str(self.lib),
            "GI_TYPELIB_PATH": str(self.lib / "girepository-1.0"),
            "GST_PLUGIN_PATH_1_0": str(self.lib / "gstreamer-1.0"),
            # only the installed plugin: what -b lists is ours
            "GST_PLUGIN_SYSTEM_PATH_1_0": str(empty),
            "GST_REGISTRY_1_0": str(self.work / "registry.bin"),
            "PKG_CONFIG_PATH": str(self.lib / "pkgconfig"),
            "LC_ALL": "C",
        })
        env.update(extra)
        return env


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    meson, ninja = need("meson"), need("ninja")
    prefix = tmp_path_factory.mktemp("prefix")
    options = ["--prefix=%s" % prefix, "-Dtests=false", "-Dintrospection=enabled"] + OPTIONS
    if (BUILDDIR / "build.ninja").exists():
        run([meson, "configure", BUILDDIR] + options)
    else:
        shutil.rmtree(BUILDDIR, ignore_errors=True)
        run([meson, "setup", BUILDDIR, SOURCE] + options)
    run([ninja, "-C", BUILDDIR])
    run([meson, "install", "-C", BUILDDIR, "--no-rebuild", "--quiet"])
    opts = json.loads(run([meson, "introspect", "--buildoptions", BUILDDIR]).stdout)
    value = {o["name"]: o["value"] for o in opts}
    assert value["prefix"] == str(prefix)
    return Install(prefix, value["libdir"], value["datadir"], tmp_path_factory.mktemp("work"))


def test_installed_files(installed):
    lib, inc = installed.lib, installed.prefix / "include" / "hyrsm-1.0"
    expected = [
        lib / "libhyrsm-1.0.so.0", lib / "libgsthyrsm-1.0.so.0",
        lib / "libhyrsm-1.0.so", lib / "libgsthyrsm-1.0.so",
        lib / "gstreamer-1.0" / "libgsthyrsm.so",
        lib / "pkgconfig" / "hyrsm-1.0.pc", lib / "pkgconfig" / "gsthyrsm-1.0.pc",
        lib / "girepository-1.0" / "Hyrsm-1.0.typelib",
        lib / "girepository-1.0" / "GstHyrsm-1.0.typelib",
        installed.data / "gir-1.0" / "Hyrsm-1.0.gir",
        installed.data / "gir-1.0" / "GstHyrsm-1.0.gir",
        inc / "hyrsm" / "hyrsm.h", inc / "hyrsm" / "hyrsm-export.h",
        inc / "gst" / "gsthyrsm.h", inc / "gst" / "gsthyrsmsupport.h",
        installed.prefix / "bin" / "gst-hyrsm",
    ] + [installed.data / "gst-hyrsm" / n for n in (
        "hyrsm-convert.py", "hyrsm-bench-torch.py", "hyrsm_layout.py", "safetensors_io.py")]
    missing = [str(p) for p in expected if not p.exists()]
    assert not missing, "not installed: %s" % missing
    # the plugin folder holds the plugin only (GStreamer would try to load
    # anything else as a plugin, and blacklist it)
    assert sorted(p.name for p in (lib / "gstreamer-1.0").iterdir()) == ["libgsthyrsm.so"]
    # private headers stay in the sources
    headers = {p.name for p in inc.rglob("*.h")}
    assert not headers & {"hyrsm-engine.h", "hyrsm-model-private.h", "hyrsm-backend.h"}, headers
    # public headers include each other by their installed path
    for h in inc.rglob("*.h"):
        for m in re.finditer(r'#include\s+[<"]([^>"]+)[>"]', h.read_text()):
            name = m.group(1)
            ok = ((h.parent / name).exists() or (inc / name).exists()
                  or not name.startswith(("hyrsm", "gsthyrsm")))
            assert ok, "%s includes %s, which is not where it is installed" % (h, name)


def test_libhyrsm_exports_its_public_api_only(installed):
    nm = need("nm")
    out = run([nm, "-D", "--defined-only", installed.lib / "libhyrsm-1.0.so.0"]).stdout
    exported = {line.split()[-1] for line in out.splitlines()
                if line.split()[1:2] == ["T"] and line.split()[-1].startswith("hyrsm_")}
    assert not [s for s in exported if s.startswith("hyrsm_engine_")]
    headers = " ".join(p.read_text() for p in
                       (installed.prefix / "include" / "hyrsm-1.0" / "hyrsm").glob("*.h"))
    declared = set(re.findall(r"\b(hyrsm_[a-z0-9_]+)\s*\(", headers))
    declared |= {m + "_get_type" for m in re.findall(
        r"G_DECLARE_\w+_TYPE\s*\(\s*\w+,\s*(hyrsm_[a-z0-9_]+)", headers)}
    assert exported - declared == PRIVATE_EXPORTS, (
        "exported but not in the installed headers: %s" % sorted(exported - declared))


def test_outside_c_program(installed):
    cc, pkg_config = need("cc"), need("pkg-config")
    env = installed.env()
    flags = run([pkg_config, "--cflags", "--libs", "gsthyrsm-1.0"], env=env).stdout.split()
    assert "-I%s" % (installed.prefix / "include" / "hyrsm-1.0") in flags, flags
    exe = installed.work / "outside"
    run([cc, "-Wall", "-Werror", HERE / "outside.c", "-o", exe] + flags, env=env)
    model = installed.work / "model.safetensors"
    run([MAKE_TEST_MODEL, "--head", "1shot", "--dim", "64", model])
    r = run([exe, model], env=env)
    assert r.stdout.strip() == "label=b classes=2", r.stdout
    # found its libraries in the prefix, not elsewhere
    ldd = run(["ldd", exe], env=env).stdout
    for name in ("libhyrsm-1.0.so.0", "libgsthyrsm-1.0.so.0"):
        assert re.search(r"%s => %s/" % (re.escape(name), re.escape(str(installed.lib))), ldd), ldd


def test_python_through_gi(installed):
    model = installed.work / "model-py.safetensors"
    run([MAKE_TEST_MODEL, "--head", "1shot", "--dim", "64", model])
    r = run([PYTHON, HERE / "outside.py", model, installed.prefix], env=installed.env())
    assert r.stdout.strip() == "label=b", r.stdout


def test_gst_inspect_finds_the_installed_plugin(installed):
    inspect = need("gst-inspect-1.0")
    env = installed.env()
    out = run([inspect, "hyrsmfilter"], env=env).stdout
    filename = re.search(r"^\s*Filename\s+(\S+)", out, re.M)
    assert filename and filename.group(1) == str(installed.lib / "gstreamer-1.0" / "libgsthyrsm.so"), out
    out = run([inspect, "-b"], env=env).stdout
    assert "Total count: 0 blacklisted files" in out, out


def test_installed_tool_converts_with_its_installed_helper(installed):
    env = installed.env()
    pth = installed.work / "resnet18.pth"
    run([PYTHON, "-c", "import sys, torch, torchvision\n"
         "torch.manual_seed(0)\n"
         "torch.save(torchvision.models.resnet18().state_dict(), sys.argv[1])", pth])
    out = installed.work / "resnet18.safetensors"
    r = run(["gst-hyrsm", "convert", "--quiet", "--json", pth, out], env=env)
    info = json.loads(r.stdout)
    assert info["backbone"] == "resnet18", info
    r = run(["gst-hyrsm", "info", out], env=env)
    assert "resnet18" in r.stdout
