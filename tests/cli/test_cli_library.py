"""The two libgsthyrsm functions the tool added, as Python reaches them
through GI: GstHyrsm.embed_clip() (one whole clip, what `classify` uses)
and SupportDir.get_example() with KEEP_FEATURES (what `eval` uses)."""
import shutil
import subprocess

import pytest

from cli_helpers import BUILDDIR, PYTHON, tool_env

SCRIPT = """
import sys, numpy as np, gi
gi.require_version("Gst", "1.0"); gi.require_version("Hyrsm", "1.0")
gi.require_version("GstHyrsm", "1.0")
from gi.repository import GLib, Gst, GstHyrsm, Hyrsm
Gst.init(None)
model = Hyrsm.Model.new_from_file(sys.argv[1])
support, clip = sys.argv[2], sys.argv[3]
d = GstHyrsm.SupportDir.load_full(model, support, GstHyrsm.SupportDirFlags.KEEP_FEATURES,
                                  None, None)
n = d.get_support_set().get_n_examples()
found = None
for i in range(n):
    ok, label, name, feats = d.get_example(i)
    assert ok and feats is not None
    if name == "ball/clip_1.mkv":
        found = np.frombuffer(feats.get_data(), dtype=np.float32)
assert not d.get_example(n)[0]
plain = GstHyrsm.SupportDir.load(model, support, None)
assert plain.get_example(0)[3] is None          # features only when asked for
feats, duration = GstHyrsm.embed_clip(model, clip, None)
q = np.frombuffer(feats.get_data(), dtype=np.float32)
assert q.shape == (8 * 512,)
assert abs(duration / 1e9 - 1.6) < 0.1
assert np.array_equal(q, found), np.abs(q - found).max()
try:
    GstHyrsm.embed_clip(model, support + "/absent.mkv", None)
    raise SystemExit("no error")
except GLib.Error as e:
    assert "absent.mkv" in e.message
print("ok", n)
"""


def test_embed_clip_and_kept_features(clips, model, tmp_path):
    support = tmp_path / "set"
    shutil.copytree(clips / "support", support)
    env = tool_env({"GI_TYPELIB_PATH": "%s:%s" % (BUILDDIR / "src" / "hyrsm",
                                                   BUILDDIR / "src" / "gst")})
    r = subprocess.run([PYTHON, "-c", SCRIPT, str(model), str(support),
                        str(clips / "support" / "ball" / "clip_1.mkv")],
                       capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "ok 15"
