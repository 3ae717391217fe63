#!/usr/bin/python3
"""Plays a video through hyrsmfilter and prints each decision as it happens.

    demo_live.py --model M --support DIR --stream FILE [--truth stream.txt]
                 [--labelled OUT.mkv] [--snapshot OUT.png]

The stream is played in real time (the sink syncs to the clock), so
decisions appear as a live camera would give them. With --truth (lines
"start_s end_s start_frame end_frame label"), each decision is marked right
or wrong for windows that lie inside one labelled segment, and the rate is
printed at the end.

--labelled also writes the stream with each decision drawn on it by
hyrsmoverlay (scaled to 480x360 so that the text is legible; VP8 in
Matroska), and --snapshot one of its frames as PNG (the first one shown at
least 14 s into the stream).
"""
import argparse
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstVideo", "1.0")
from gi.repository import GLib, Gst, GstVideo  # noqa: E402

SNAPSHOT_AT = 14 * Gst.SECOND


def read_truth(path):
    segments = []
    with open(path) as f:
        for line in f:
            if line.startswith("#") or not line.strip():
                continue
            start, end, _, _, label = line.split()[:5]
            segments.append((float(start), float(end), label))
    return segments


def truth_for(segments, start_s, end_s):
    """The label of the segment holding the whole window, else None."""
    for s, e, label in segments:
        if start_s >= s - 1e-6 and end_s <= e + 1e-6:
            return label
    return None


def save_snapshot(pad, info, path):
    """Writes the first frame at or after SNAPSHOT_AT as PNG, once."""
    buf = info.get_buffer()
    if buf.pts == Gst.CLOCK_TIME_NONE or buf.pts < SNAPSHOT_AT:
        return Gst.PadProbeReturn.OK
    sample = Gst.Sample.new(buf, pad.get_current_caps(), None, None)
    png = GstVideo.video_convert_sample(sample, Gst.Caps.from_string("image/png"),
                                        5 * Gst.SECOND)
    png_buf = png.get_buffer()
    with open(path, "wb") as f:
        f.write(png_buf.extract_dup(0, png_buf.get_size()))
    return Gst.PadProbeReturn.REMOVE


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--support", required=True)
    ap.add_argument("--stream", required=True)
    ap.add_argument("--truth")
    ap.add_argument("--stride", type=float, default=0.5, help="seconds between decisions")
    ap.add_argument("--fast", action="store_true", help="do not play in real time")
    ap.add_argument("--labelled", help="also write the stream with the decisions drawn on it")
    ap.add_argument("--snapshot", help="with --labelled: one labelled frame as PNG")
    args = ap.parse_args()

    Gst.init(None)
    segments = read_truth(args.truth) if args.truth else []
    desc = (
        f'filesrc location="{args.stream}" ! decodebin ! videoconvert ! '
        f'hyrsmfilter name=hyrsm model="{args.model}" support="{args.support}" '
        f"stride={int(args.stride * Gst.SECOND)} ! "
    )
    sink = f"fakesink sync={'false' if args.fast else 'true'}"
    if args.labelled:
        # HyrsmMeta rides through videoscale; the overlay draws each decision
        # until the next one.
        desc += (
            "videoscale ! video/x-raw,width=480,height=360 ! hyrsmoverlay name=overlay ! "
            f"tee name=t ! queue ! {sink}  t. ! queue ! videoconvert ! "
            f'vp8enc deadline=1 ! matroskamux ! filesink location="{args.labelled}"'
        )
    else:
        desc += sink
    pipeline = Gst.parse_launch(desc)
    if args.labelled and args.snapshot:
        pad = pipeline.get_by_name("overlay").get_static_pad("src")
        pad.add_probe(Gst.PadProbeType.BUFFER, save_snapshot, args.snapshot)
    loop = GLib.MainLoop()
    counts = {"right": 0, "judged": 0, "total": 0}

    def on_message(bus, msg):
        if msg.type == Gst.MessageType.ELEMENT and msg.get_structure().get_name() == "hyrsm":
            s = msg.get_structure()
            start = s.get_uint64("window-start")[1] / Gst.SECOND
            end = s.get_uint64("window-end")[1] / Gst.SECOND
            label = s.get_string("label")
            conf = s.get_double("confidence")[1]
            dist = s.get_double("distance")[1]
            counts["total"] += 1
            verdict = ""
            truth = truth_for(segments, start, end)
            if truth is not None:
                counts["judged"] += 1
                ok = truth == label
                counts["right"] += ok
                verdict = f"  (truth: {truth} {'ok' if ok else 'WRONG'})"
            elif segments:
                verdict = "  (window spans two segments)"
            print(f"[{start:6.2f} s - {end:6.2f} s]  {label:<10} confidence {conf:.2f}  "
                  f"distance {dist:.3f}{verdict}", flush=True)
        elif msg.type == Gst.MessageType.ERROR:
            err, dbg = msg.parse_error()
            print(f"ERROR from {msg.src.get_name()}: {err.message}\n{dbg}", file=sys.stderr)
            loop.quit()
        elif msg.type == Gst.MessageType.WARNING:
            err, _ = msg.parse_warning()
            print(f"warning: {err.message}", file=sys.stderr)
        elif msg.type == Gst.MessageType.EOS:
            loop.quit()

    bus = pipeline.get_bus()
    bus.add_signal_watch()
    bus.connect("message", on_message)
    if pipeline.set_state(Gst.State.PLAYING) == Gst.StateChangeReturn.FAILURE:
        # The error message on the bus says why.
        msg = bus.timed_pop_filtered(Gst.SECOND, Gst.MessageType.ERROR)
        if msg:
            print(f"ERROR: {msg.parse_error()[0].message}", file=sys.stderr)
        return 1
    labels = pipeline.get_by_name("hyrsm").props.labels
    print(f"support set: {', '.join(labels)}", flush=True)
    loop.run()
    stats = pipeline.get_by_name("hyrsm").props.stats
    pipeline.set_state(Gst.State.NULL)
    print(f"{counts['total']} decisions; stats: {stats.to_string()}")
    if counts["judged"]:
        rate = counts["right"] / counts["judged"]
        print(f"correct on windows inside one segment: {counts['right']}/{counts['judged']} "
              f"({100 * rate:.0f}%)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
