"""One camera of the fleet tests (test_support_mqtt_element.py): a live
videotestsrc ! hyrsmfilter support=mqtt://... ! fakesink in its own
process. Prints one JSON line per event (state, swap, warning, error,
decision, enrolled), emits `enroll` for each "enroll LABEL" line on its
stdin, and stops when its stdin closes.

usage: support_mqtt_camera.py MODEL URI PATTERN [PROPERTY=VALUE...]"""
import json
import sys
import threading
import time

import gi

gi.require_version("Gst", "1.0")
from gi.repository import GLib, Gst  # noqa: E402

import decisions  # noqa: E402  (this script's folder is on sys.path)


def say(**event):
    event["t"] = time.time()
    sys.stdout.write(json.dumps(event) + "\n")
    sys.stdout.flush()


def main():
    Gst.init(None)
    model, uri, pattern, *props = sys.argv[1:]
    extra = " ".join(props)
    pipeline = Gst.parse_launch(
        f"videotestsrc is-live=true pattern={pattern} ! "
        "video/x-raw,width=64,height=48,framerate=20/1 ! "
        f'hyrsmfilter name=f model="{model}" support="{uri}" '
        f"window=200000000 stride=100000000 {extra} ! fakesink")
    f = pipeline.get_by_name("f")
    loop = GLib.MainLoop()

    def on_message(bus, msg):
        if msg.type == Gst.MessageType.ELEMENT:
            s = msg.get_structure()
            if s.get_name() == "hyrsm-support":
                say(ev="swap", version=s.get_value("version"),
                    created=s.get_value("created") / 1e6,
                    cached=s.get_value("cached"), origin=s.get_value("origin"),
                    labels=list(f.get_property("labels") or []))
            elif s.get_name() == decisions.NAME:
                # The set it was decided on: a window matched just before a
                # swap is posted after the swap's message.
                d = decisions.read(s)
                say(ev="decision", label=d.label, labels=sorted(d.labels))
        elif msg.type == Gst.MessageType.WARNING:
            say(ev="warning", text=msg.parse_warning()[0].message)
        elif msg.type == Gst.MessageType.ERROR:
            err, dbg = msg.parse_error()
            say(ev="error", text=err.message, debug=dbg)
            loop.quit()
        elif msg.type == Gst.MessageType.STATE_CHANGED and msg.src == pipeline:
            if msg.parse_state_changed()[1] == Gst.State.PLAYING:
                say(ev="playing")

    bus = pipeline.get_bus()
    bus.add_signal_watch()
    bus.connect("message", on_message)

    def enroll(label):
        say(ev="enrolled", label=label, ok=f.emit("enroll", label))

    def wait_stdin():
        # "enroll LABEL" lines; EOF stops.
        for line in sys.stdin:
            if line.startswith("enroll "):
                threading.Thread(target=enroll, args=(line[7:].strip(),)).start()
        GLib.idle_add(loop.quit)

    threading.Thread(target=wait_stdin, daemon=True).start()
    pipeline.set_state(Gst.State.PLAYING)
    loop.run()
    pipeline.set_state(Gst.State.NULL)
    say(ev="stopped")


if __name__ == "__main__":
    main()
