"""Run by test_install.py with GI_TYPELIB_PATH, LD_LIBRARY_PATH and
GST_PLUGIN_PATH naming only the installed prefix: the introspected API of
both libraries, and the plugin's element, as an application uses them.
argv: MODEL PREFIX; prints the matched label."""
import struct
import sys

import gi

gi.require_version("GIRepository", "2.0")
gi.require_version("Gst", "1.0")
gi.require_version("Hyrsm", "1.0")
gi.require_version("GstHyrsm", "1.0")
from gi.repository import GIRepository, GLib, Gst, GstHyrsm, Hyrsm  # noqa: E402

model_path, prefix = sys.argv[1], sys.argv[2]
repo = GIRepository.Repository.get_default()
for ns in ("Hyrsm", "GstHyrsm"):
    where = repo.get_typelib_path(ns)
    assert where.startswith(prefix + "/"), "%s typelib from %s, not %s" % (ns, where, prefix)

Gst.init(None)
model = Hyrsm.Model.new_from_file(model_path)
n = model.props.frames * model.props.feature_dim
a = struct.pack("%df" % n, *[((i * 7919) % 101) / 101.0 for i in range(n)])
b = struct.pack("%df" % n, *[((i * 104729) % 97) / 97.0 - 0.5 for i in range(n)])
sset = Hyrsm.SupportSet.new(model)
sset.add("a", GLib.Bytes.new(a))
sset.add("b", GLib.Bytes.new(b))
res = sset.match(GLib.Bytes.new(b))

GstHyrsm.meta_register()
buf = Gst.Buffer.new()
GstHyrsm.buffer_add_hyrsm_meta(buf, Gst.Structure.new_from_string("hyrsm, label=(string)%s" % res.get_label()))
assert GstHyrsm.buffer_get_hyrsm_meta(buf).get_string("label") == res.get_label()

filt = Gst.ElementFactory.make("hyrsmfilter", None)
assert filt is not None, "no hyrsmfilter on GST_PLUGIN_PATH"
where = filt.get_factory().get_plugin().get_filename()
assert where.startswith(prefix + "/"), "hyrsmfilter from %s" % where
print("label=%s" % res.get_label())
