"""The "hyrsm" decision structure as the Python tests read it.

hyrsmfilter writes a decision in one place (gst_hyrsm_decision_to_structure()
in src/gst/gsthyrsmdecision.c) and every C consumer reads it through
gst_hyrsm_decision_from_structure(). This module is that reader for the
tests: the field names, once, and read() of a bus message's or a HyrsmMeta's
structure into a Decision. It follows the C reader: "label" is required, a
field of the wrong type is an error naming it, the others default when
absent (None here where C has NAN, GST_CLOCK_TIME_NONE or NULL)."""
from dataclasses import dataclass
from typing import List, Optional

import gi

gi.require_version("Gst", "1.0")
from gi.repository import GObject, Gst  # noqa: E402

NAME = "hyrsm"                  # the bus message's structure
META_NAME = "HyrsmMeta"         # a HyrsmMeta's: GStreamer names it after the meta

LABEL = "label"
UNKNOWN = "unknown"
CONFIDENCE = "confidence"
DISTANCE = "distance"
LABELS = "labels"
DISTANCES = "distances"
WINDOW_START = "window-start"
WINDOW_END = "window-end"
RUNNING_TIME_START = "running-time-start"
RUNNING_TIME = "running-time"
WALLCLOCK_END = "wallclock-end"
LATENCY = "latency"
STREAM_ID = "stream-id"
MODEL_FINGERPRINT = "model-fingerprint"
SUPPORT_PATH = "support-path"
ROI_ID = "roi-id"
ROI_TYPE = "roi-type"
ROI_X = "roi-x"
ROI_Y = "roi-y"
ROI_WIDTH = "roi-width"
ROI_HEIGHT = "roi-height"


@dataclass
class Region:
    """A region's decision (roi=true): the region's id, type and box."""
    id: int
    type: Optional[str]
    x: int
    y: int
    width: int
    height: int


@dataclass
class Decision:
    label: str
    unknown: bool
    confidence: Optional[float] = None
    distance: Optional[float] = None
    labels: List[str] = None
    distances: List[float] = None
    window_start: Optional[int] = None      # stream time, ns
    window_end: Optional[int] = None
    running_time_start: Optional[int] = None
    running_time: Optional[int] = None
    wallclock_end: Optional[int] = None     # µs since the epoch
    latency: Optional[int] = None
    stream_id: Optional[str] = None
    model_fingerprint: Optional[str] = None
    support_path: Optional[str] = None
    region: Optional[Region] = None         # None: a whole-frame decision

    @property
    def region_id(self):
        """The region's id, None for a whole-frame decision."""
        return self.region.id if self.region else None


def is_decision(s):
    return s is not None and s.get_name() in (NAME, META_NAME)


def _get(s, field, kind):
    """@field of @s through the typed getter Gst.Structure.get_<kind>, None
    when absent; ValueError when present with another type."""
    if not s.has_field(field):
        return None
    ok, value = getattr(s, "get_" + kind)(field)
    if not ok:
        raise ValueError(f'decision field "{field}" is not a {kind}: {s.to_string()}')
    return value


def _get_string(s, field):
    if not s.has_field(field):
        return None
    if not s.has_field_typed(field, GObject.TYPE_STRING):
        raise ValueError(f'decision field "{field}" is not a string: {s.to_string()}')
    return s.get_string(field)


def read(s):
    """The Decision in @s (a Gst.Structure named "hyrsm" or "HyrsmMeta");
    ValueError naming the field when it is not one."""
    if not is_decision(s):
        raise ValueError(f'a "{s.get_name() if s else None}" structure is not a decision ("{NAME}")')
    label = _get_string(s, LABEL)
    if label is None:
        raise ValueError(f'decision has no "{LABEL}": {s.to_string()}')
    unknown = _get(s, UNKNOWN, "boolean")
    d = Decision(
        label=label,
        unknown=label == "unknown" if unknown is None else unknown,
        confidence=_get(s, CONFIDENCE, "double"),
        distance=_get(s, DISTANCE, "double"),
        window_start=_get(s, WINDOW_START, "uint64"),
        window_end=_get(s, WINDOW_END, "uint64"),
        running_time_start=_get(s, RUNNING_TIME_START, "uint64"),
        running_time=_get(s, RUNNING_TIME, "uint64"),
        wallclock_end=_get(s, WALLCLOCK_END, "int64"),
        latency=_get(s, LATENCY, "uint64"),
        stream_id=_get_string(s, STREAM_ID),
        model_fingerprint=_get_string(s, MODEL_FINGERPRINT),
        support_path=_get_string(s, SUPPORT_PATH))
    labels, distances = s.get_value(LABELS), s.get_value(DISTANCES)
    if (labels is None) != (distances is None):
        raise ValueError(f'decision has only one of "{LABELS}" and "{DISTANCES}"')
    if labels is not None:
        d.labels, d.distances = list(labels), [float(v) for v in distances]
        if len(d.labels) != len(d.distances):
            raise ValueError(f'decision field "{DISTANCES}" has {len(d.distances)} '
                             f'entries, "{LABELS}" {len(d.labels)}')
    if s.has_field(ROI_ID):
        box = [_get(s, f, "int") for f in (ROI_X, ROI_Y, ROI_WIDTH, ROI_HEIGHT)]
        if None in box:
            raise ValueError(f'region decision ("{ROI_ID}") has no box: {s.to_string()}')
        d.region = Region(_get(s, ROI_ID, "int"), _get_string(s, ROI_TYPE), *box)
    return d


def of_message(msg):
    """The Decision a "hyrsm" element message carries, else None."""
    s = msg.get_structure()
    if msg.type == Gst.MessageType.ELEMENT and s is not None and s.get_name() == NAME:
        return read(s)
    return None


def until_eos(bus, timeout_s=120):
    """The decisions posted on @bus until EOS, failing on an error or when
    nothing comes for @timeout_s."""
    found = []
    while True:
        msg = bus.timed_pop(timeout_s * Gst.SECOND)
        assert msg is not None, "timed out"
        assert msg.type != Gst.MessageType.ERROR, msg.parse_error()
        d = of_message(msg)
        if d is not None:
            found.append(d)
        if msg.type == Gst.MessageType.EOS:
            return found
