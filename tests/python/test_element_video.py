"""hyrsmfilter on real video, as a Python application drives it.

A support set of clips cut from Debian's videos (5 scenes, 3 clips each) and
a held-out stream made of later segments of the same videos; the model is a
backbone-only ResNet-18 with random weights, which separates these scenes by
appearance without any training."""
import shutil

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstHyrsm", "1.0")
from gi.repository import GLib, Gst, GstHyrsm  # noqa: E402,F401

import pytest  # noqa: E402

import decisions  # noqa: E402

Gst.init(None)


def read_truth(path):
    segments = []
    for line in open(path):
        if line.startswith("#") or not line.strip():
            continue
        start, end, _, _, label = line.split()[:5]
        segments.append((float(start) * Gst.SECOND, float(end) * Gst.SECOND, label))
    return segments


def truth_for(segments, start, end):
    for s, e, label in segments:
        if start >= s - 1000 and end <= e + 1000:
            return label
    return None


class Run:
    """Plays @stream through hyrsmfilter (not live: every window decided),
    collecting decisions from the bus and from HyrsmMeta on the buffers."""

    def __init__(self, model, support, stream, stride_ms=200, on_buffer=None,
                 on_frame=None):
        self.pipeline = Gst.parse_launch(
            f'filesrc location="{stream}" ! decodebin ! videoconvert ! '
            f'hyrsmfilter name=f model="{model}" support="{support}" '
            f"stride={stride_ms * Gst.MSECOND} ! fakesink name=sink")
        self.filter = self.pipeline.get_by_name("f")
        self.bus_decisions = []
        self.meta_decisions = []
        self.buffers = 0
        self.pts = []
        self.errors = []
        self.on_buffer = on_buffer
        self.on_frame = on_frame
        sinkpad = self.pipeline.get_by_name("sink").get_static_pad("sink")
        sinkpad.add_probe(Gst.PadProbeType.BUFFER, self._probe)

    def _probe(self, pad, info):
        buf = info.get_buffer()
        self.buffers += 1
        self.pts.append(buf.pts)
        meta = GstHyrsm.buffer_get_hyrsm_meta(buf)
        if meta is not None:
            d = decisions.read(meta)
            self.meta_decisions.append(d)
            if self.on_buffer:
                self.on_buffer(self, d)
        if self.on_frame:
            self.on_frame(self, self.buffers)
        return Gst.PadProbeReturn.OK

    def play(self, timeout_s=120):
        bus = self.pipeline.get_bus()
        assert self.pipeline.set_state(Gst.State.PLAYING) != Gst.StateChangeReturn.FAILURE
        while True:
            msg = bus.timed_pop(timeout_s * Gst.SECOND)
            assert msg is not None, "timed out"
            d = decisions.of_message(msg)
            if d is not None:
                self.bus_decisions.append(d)
            elif msg.type == Gst.MessageType.ERROR:
                self.errors.append(msg.parse_error()[0].message)
                break
            elif msg.type == Gst.MessageType.EOS:
                break
        self.stats = self.filter.props.stats
        self.pipeline.set_state(Gst.State.NULL)
        return self


def accuracy(decided, segments):
    judged = right = 0
    for d in decided:
        truth = truth_for(segments, d.window_start, d.window_end)
        if truth is not None:
            judged += 1
            right += truth == d.label
    return right, judged


def test_bus_and_meta_agree_and_labels_are_right(real_clips, random_resnet18):
    run = Run(random_resnet18, real_clips / "support", real_clips / "stream.mkv").play()
    assert run.errors == []
    assert len(run.bus_decisions) > 20
    # The same decisions, in the same order, on the bus and on the buffers.
    assert run.bus_decisions == run.meta_decisions
    right, judged = accuracy(run.bus_decisions, read_truth(real_clips / "stream.txt"))
    print(f"right on windows inside one segment: {right}/{judged}")
    # Measured here: 29/36 (81%) with random weights.
    assert judged >= 30
    assert right / judged >= 0.75
    # Nothing lost: 15 s at 15 fps, in order.
    assert run.buffers == 225
    assert run.pts == sorted(run.pts)
    assert run.stats.get_uint64("windows-dropped")[1] == 0


def test_hot_reload_loses_no_frames(real_clips, random_resnet18, tmp_path):
    # A second set with two of the five scenes; the stream starts with
    # tree and street, which it lacks.
    small = tmp_path / "small"
    for scene in ("ball", "box"):
        shutil.copytree(real_clips / "support" / scene, small / scene)

    def swap(run, n):
        if n == 60:
            run.filter.set_property("support", str(small))

    run = Run(random_resnet18, real_clips / "support", real_clips / "stream.mkv",
              on_frame=swap).play()
    assert run.errors == []
    assert run.buffers == 225
    assert run.pts == sorted(run.pts)
    assert list(run.filter.props.labels) == ["ball", "box"]
    labels = {d.label for d in run.bus_decisions[-5:]}
    assert labels <= {"ball", "box"}, labels
    assert run.bus_decisions[0].label == "tree", "the swap came too early"


def test_enroll_then_classify(real_clips, random_resnet18, tmp_path):
    support = tmp_path / "set"
    shutil.copytree(real_clips / "support", support)
    segments = read_truth(real_clips / "stream.txt")
    box_scene = [s for s in segments if s[2] == "box"][0]
    enrolled = []

    def enroll_inside_box(run, d):
        if not enrolled and d.window_start >= box_scene[0] and d.window_end <= box_scene[1]:
            enrolled.append(run.filter.emit("enroll", "carton"))

    Run(random_resnet18, support, real_clips / "stream.mkv",
        on_buffer=enroll_inside_box).play()
    assert enrolled == [True]
    assert list((support / "carton").glob("*.hyrsm")), "enroll wrote no feature file"

    # A new pipeline loads the set from disk, the enrolled window included.
    run = Run(random_resnet18, support, real_clips / "stream.mkv").play()
    assert "carton" in run.filter.props.labels
    inside = [d.label for d in run.bus_decisions
              if d.window_start >= box_scene[0] and d.window_end <= box_scene[1]]
    assert inside and inside.count("carton") >= len(inside) / 2, inside
