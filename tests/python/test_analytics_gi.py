"""hyrsmfilter's decisions read the way an application reads any
inference element's: through GStreamer's analytics metadata
(GstAnalytics GI, GStreamer 1.24+). The application feeds frames with
detections and tracks (GstAnalyticsODMtd, GstAnalyticsTrackingMtd) and
finds, on the buffers coming out, each detection's classification.

Skipped where GStreamer has no analytics library (Debian 12's 1.22)."""
import gi

gi.require_version("Gst", "1.0")
from gi.repository import GLib, Gst  # noqa: E402

import pytest  # noqa: E402

try:
    gi.require_version("GstAnalytics", "1.0")
    from gi.repository import GstAnalytics  # noqa: E402
except (ValueError, ImportError) as e:
    pytest.skip(f"GStreamer's analytics library (GstAnalytics-1.0, GStreamer 1.24+) "
                f"is not installed: {e}", allow_module_level=True)

import decisions  # noqa: E402
import random_support  # noqa: E402

Gst.init(None)

W, H = 160, 120
PEOPLE = {101: (0, 0, 80, 120), 102: (80, 0, 80, 120)}   # track id -> box


@pytest.fixture(scope="module")
def model_and_support(make_test_model, tmp_path_factory):
    return random_support.crop32_model_and_support(
        make_test_model, tmp_path_factory.mktemp("support"), "analytics.safetensors", 1)


def frame(i, tracks):
    """Frame @i (30 fps RGB) with a person detection and its track for each
    of @tracks, as a detector and tracker upstream would add them."""
    buf = Gst.Buffer.new_wrapped(bytes((i * 7 + j * 13) % 256 for j in range(W * H * 3)))
    buf.pts = Gst.util_uint64_scale(i, Gst.SECOND, 30)
    buf.duration = Gst.SECOND // 30
    rmeta = GstAnalytics.buffer_add_analytics_relation_meta(buf)
    for track_id in tracks:
        ok, od = rmeta.add_od_mtd(GLib.quark_from_string("person"), *PEOPLE[track_id], 0.9)
        assert ok
        ok, trk = rmeta.add_tracking_mtd(track_id, 0)
        assert ok
        rmeta.set_relation(GstAnalytics.RelTypes.RELATE_TO, od.id, trk.id)
    return buf


def run(model_and_support, props, tracks, n=30):
    """Pushes @n frames through hyrsmfilter; returns the buffers out and
    the decisions posted on the bus."""
    model, support = model_and_support
    pipeline = Gst.parse_launch(
        f"appsrc name=src format=time caps=video/x-raw,format=RGB,width={W},height={H},"
        f"framerate=30/1 ! hyrsmfilter model={model} support={support} window=800000000 "
        f"stride=800000000 sync=always {props} ! appsink name=out sync=false")
    src, out = pipeline.get_by_name("src"), pipeline.get_by_name("out")
    pipeline.set_state(Gst.State.PLAYING)
    for i in range(n):
        assert src.emit("push-buffer", frame(i, tracks)) == Gst.FlowReturn.OK
    src.emit("end-of-stream")
    buffers = []
    while True:
        sample = out.emit("try-pull-sample", 30 * Gst.SECOND)
        if sample is None:
            break
        buffers.append(sample.get_buffer())
    bus = pipeline.get_bus()
    decided = []
    while (msg := bus.pop()) is not None:
        assert msg.type != Gst.MessageType.ERROR, msg.parse_error()
        d = decisions.of_message(msg)
        if d is not None:
            decided.append(d)
    pipeline.set_state(Gst.State.NULL)
    assert len(buffers) == n
    return buffers, decided


def classification(rmeta, cls):
    """(label, confidence) of a GstAnalyticsClsMtd, and its classes."""
    classes = [GLib.quark_to_string(cls.get_quark(i)) for i in range(cls.get_length())]
    return classes[0], cls.get_level(0), classes


def test_each_tracked_person_gets_its_classification(model_and_support):
    buffers, decided = run(model_and_support, "roi=true roi-type=person", PEOPLE)
    by_track = {d.region_id: d for d in decided}
    assert sorted(by_track) == [101, 102]
    found = {}
    for buf in buffers:
        rmeta = GstAnalytics.buffer_get_analytics_relation_meta(buf)
        mtds = list(rmeta)
        ods = [m for m in mtds if isinstance(m, GstAnalytics.ODMtd)]
        clss = [m for m in mtds if isinstance(m, GstAnalytics.ClsMtd)]
        tracks = [m for m in mtds if isinstance(m, GstAnalytics.TrackingMtd)]
        assert len(ods) == 2 and len(tracks) == 2   # upstream's, nothing added
        for od in ods:
            track = [t.get_info().tracking_id for t in tracks
                     if rmeta.get_relation(od.id, t.id) & GstAnalytics.RelTypes.RELATE_TO]
            related = [c for c in clss
                       if rmeta.get_relation(od.id, c.id) & GstAnalytics.RelTypes.RELATE_TO]
            contained = [c for c in clss
                         if rmeta.get_relation(od.id, c.id) & GstAnalytics.RelTypes.CONTAIN]
            assert [c.id for c in related] == [c.id for c in contained]
            if related:
                label, confidence, classes = classification(rmeta, related[0])
                found[track[0]] = (label, confidence, sorted(classes),
                                   od.get_location()[1:5])
    assert sorted(found) == [101, 102]
    for track_id, (label, confidence, classes, box) in found.items():
        d = by_track[track_id]
        assert label == d.label
        assert confidence == pytest.approx(d.confidence, rel=1e-6)
        assert classes == ["left", "right"]
        assert tuple(box) == PEOPLE[track_id]


def test_whole_frame_decision_is_one_classification(model_and_support):
    buffers, bus = run(model_and_support, "", [])
    assert len(bus) == 1
    decided = []
    for buf in buffers:
        rmeta = GstAnalytics.buffer_get_analytics_relation_meta(buf)
        clss = [m for m in rmeta if isinstance(m, GstAnalytics.ClsMtd)] if rmeta else []
        decided += [classification(rmeta, c) for c in clss]
    assert len(decided) == 1
    label, confidence, classes = decided[0]
    assert label == bus[0].label
    assert confidence == pytest.approx(bus[0].confidence, rel=1e-6)
    assert sorted(classes) == ["left", "right"]


def test_analytics_meta_false_adds_nothing(model_and_support):
    buffers, decided = run(model_and_support, "roi=true analytics-meta=false", PEOPLE)
    assert len(decided) == 2
    for buf in buffers:
        rmeta = GstAnalytics.buffer_get_analytics_relation_meta(buf)
        assert not [m for m in rmeta if isinstance(m, GstAnalytics.ClsMtd)]
