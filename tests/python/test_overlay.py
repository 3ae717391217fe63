"""hyrsmoverlay: frames rendered through it into PNG (pngenc), compared with
the same frames rendered without it."""
import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstHyrsm", "1.0")
from gi.repository import GObject, Gst, GstHyrsm  # noqa: E402

import pytest  # noqa: E402

import decisions  # noqa: E402

Gst.init(None)

W, H = 320, 240


def uint64(v):
    value = GObject.Value(GObject.TYPE_UINT64)
    value.set_uint64(v)
    return value


def array(values):
    return Gst.ValueArray(values)


def decision(label, distances, unknown=False):
    """A decision as hyrsmfilter attaches it: labels and their distances."""
    labels = list(distances)
    best = min(distances, key=distances.get)
    s = Gst.Structure.new_empty(decisions.NAME)
    s.set_value(decisions.LABEL, "unknown" if unknown else label)
    s.set_value(decisions.UNKNOWN, unknown)
    s.set_value(decisions.CONFIDENCE, 0.7)
    s.set_value(decisions.DISTANCE, distances[best])
    s.set_value(decisions.LABELS, array(labels))
    s.set_value(decisions.DISTANCES, array([float(distances[k]) for k in labels]))
    s.set_value(decisions.RUNNING_TIME, uint64(Gst.SECOND))
    return s


WAVING = decision("waving", {"waving": 0.4, "falling": 1.6, "sitting": 2.2})
FALLING = decision("falling", {"waving": 1.9, "falling": 0.3, "sitting": 2.0})
UNKNOWN = decision("waving", {"waving": 3.1, "falling": 3.6, "sitting": 4.0}, unknown=True)


def bars_frame(fmt):
    """One SMPTE colour-bar frame in @fmt (deterministic)."""
    p = Gst.parse_launch(
        f"videotestsrc num-buffers=1 pattern=smpte ! "
        f"video/x-raw,format={fmt},width={W},height={H},framerate=10/1 ! appsink name=s")
    p.set_state(Gst.State.PLAYING)
    sample = p.get_by_name("s").emit("pull-sample")
    p.set_state(Gst.State.NULL)
    return sample.get_caps(), sample.get_buffer()


def render(tmp_path, name, fmt, decided, element="hyrsmoverlay", props=""):
    """Pushes the test frame once per entry of @decided (a decision to
    attach, or None) through @element into PNG files; returns each PNG
    decoded to packed RGB bytes."""
    caps, frame = bars_frame(fmt)
    pattern = tmp_path / f"{name}-%02d.png"
    p = Gst.parse_launch(
        f"appsrc name=src format=time ! {element} name=o {props} ! videoconvert ! "
        f"video/x-raw,format=RGB ! pngenc snapshot=false ! "
        f'multifilesink location="{pattern}"')
    src = p.get_by_name("src")
    src.set_property("caps", caps)
    assert p.set_state(Gst.State.PLAYING) != Gst.StateChangeReturn.FAILURE
    for i, d in enumerate(decided):
        buf = frame.copy_deep()
        buf.pts = i * Gst.SECOND // 10
        buf.duration = Gst.SECOND // 10
        if d is not None:
            GstHyrsm.buffer_add_hyrsm_meta(buf, d)
        src.emit("push-buffer", buf)
    src.emit("end-of-stream")
    msg = p.get_bus().timed_pop_filtered(30 * Gst.SECOND,
                                         Gst.MessageType.EOS | Gst.MessageType.ERROR)
    p.set_state(Gst.State.NULL)
    assert msg is not None and msg.type == Gst.MessageType.EOS, msg and msg.parse_error()
    return [decode_png(str(pattern).replace("%02d", f"{i:02d}")) for i in range(len(decided))]


def decode_png(path):
    p = Gst.parse_launch(
        f'filesrc location="{path}" ! pngdec ! videoconvert ! '
        f"video/x-raw,format=RGB,width={W},height={H} ! appsink name=s")
    p.set_state(Gst.State.PLAYING)
    sample = p.get_by_name("s").emit("pull-sample")
    p.set_state(Gst.State.NULL)
    buf = sample.get_buffer()
    ok, info = buf.map(Gst.MapFlags.READ)
    rows = bytes(info.data)
    buf.unmap(info)
    stride = len(rows) // H
    return [rows[y * stride:y * stride + W * 3] for y in range(H)]


def changed(a, b):
    """(count, bounding box x0, y0, x1, y1) of the pixels that differ."""
    count, box = 0, [W, H, -1, -1]
    for y in range(H):
        if a[y] == b[y]:
            continue
        for x in range(W):
            if a[y][3 * x:3 * x + 3] != b[y][3 * x:3 * x + 3]:
                count += 1
                box = [min(box[0], x), min(box[1], y), max(box[2], x), max(box[3], y)]
    return count, box


@pytest.mark.parametrize("fmt", ["I420", "NV12", "BGRx", "RGBx", "RGBA"])
def test_box_changes_its_corner_only(tmp_path, fmt):
    plain = render(tmp_path, "plain", fmt, [WAVING], element="identity")[0]
    for position in ("top-left", "bottom-right"):
        drawn = render(tmp_path, position, fmt, [WAVING], props=f"position={position}")[0]
        count, (x0, y0, x1, y1) = changed(plain, drawn)
        # A label, three bars: thousands of pixels, in one corner; the rest of
        # the frame is untouched (chroma subsampling may spread the box's
        # edge by a pixel).
        assert count > 2000, (fmt, position, count)
        assert x1 - x0 < W * 0.8 and y1 - y0 < H * 0.7, (fmt, position, (x0, y0, x1, y1))
        if position == "top-left":
            assert x0 <= 12 and y0 <= 12, (fmt, (x0, y0, x1, y1))
        else:
            assert x1 >= W - 13 and y1 >= H - 13, (fmt, (x0, y0, x1, y1))
        assert (tmp_path / f"{position}-00.png").stat().st_size > 0


def test_nothing_drawn_before_the_first_decision(tmp_path):
    plain = render(tmp_path, "plain", "I420", [None, None], element="identity")
    drawn = render(tmp_path, "drawn", "I420", [None, None])
    assert plain == drawn


def test_last_decision_persists_until_the_next(tmp_path):
    frames = render(tmp_path, "seq", "I420", [WAVING, None, None, FALLING, None])
    assert frames[1] == frames[0] and frames[2] == frames[0]
    assert frames[3] != frames[0]
    assert frames[4] == frames[3]
    plain = render(tmp_path, "plain", "I420", [None], element="identity")[0]
    assert changed(plain, frames[2])[0] > 2000


RED = "unknown-color=0xffff0000 text-color=0xffffffff bar-color=0xff00ff00 box-color=0xff000000"


def red_pixels(plain, drawn):
    """Pixels inside the drawn box that are clearly red."""
    _, (x0, y0, x1, y1) = changed(plain, drawn)
    n = 0
    for y in range(y0, y1 + 1):
        row = drawn[y]
        for x in range(x0, x1 + 1):
            r, g, b = row[3 * x:3 * x + 3]
            n += r > 180 and g < 70 and b < 70
    return n


def test_unknown_is_shown_in_its_colour(tmp_path):
    plain = render(tmp_path, "plain", "BGRx", [None], element="identity")[0]
    known, unknown = render(tmp_path, "u", "BGRx", [WAVING, UNKNOWN], props=RED)
    # The opaque box hides the colour bars: red can only be the label.
    assert red_pixels(plain, known) == 0
    assert red_pixels(plain, unknown) > 100
    # "unknown" also when only the label says so (no "unknown" field).
    bare = UNKNOWN.copy()
    bare.remove_field("unknown")
    assert render(tmp_path, "b", "BGRx", [bare], props=RED)[0] == unknown


def test_style_properties_change_the_box(tmp_path):
    small, big = (render(tmp_path, f"f{size}", "BGRx", [WAVING], props=f"font-size={size}")[0]
                  for size in (10, 24))
    plain = render(tmp_path, "plain", "BGRx", [None], element="identity")[0]
    (_, s), (_, b) = changed(plain, small), changed(plain, big)
    assert (b[2] - b[0]) > (s[2] - s[0]) and (b[3] - b[1]) > (s[3] - s[1])
    no_bars = render(tmp_path, "nb", "BGRx", [WAVING], props="font-size=24 max-bars=0")[0]
    _, n = changed(plain, no_bars)
    assert (n[3] - n[1]) < (b[3] - b[1]) / 2
