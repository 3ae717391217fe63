"""hyrsmpublish: decisions as JSON to a file and to a real MQTT broker
(Debian's mosquitto, started by the tests on a free port)."""
import collections
import datetime
import json
import pathlib
import subprocess
import time

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstHyrsm", "1.0")
gi.require_version("GstVideo", "1.0")
gi.require_version("Hyrsm", "1.0")
from gi.repository import Gst, GstHyrsm, GstVideo, Hyrsm  # noqa: E402

import pytest  # noqa: E402

import decisions  # noqa: E402
import random_support  # noqa: E402
from mqtt_broker import Processes, TlsFiles  # noqa: E402

Gst.init(None)

# Not imported from conftest: pytest runs tests/cli's conftest too, and
# the module name "conftest" is then that one.
ROOT = pathlib.Path(__file__).resolve().parents[2]

LABELS = ["waving", "falling", "sitting"]


def decision(i):
    """A hand-made decision, as hyrsmfilter attaches it; window i is
    identified by its running time."""
    s = Gst.Structure.new_empty(decisions.NAME)
    s.set_value(decisions.LABEL, LABELS[i % 3])
    s.set_value(decisions.CONFIDENCE, 0.5)
    s.set_value(decisions.DISTANCE, 1.0)
    s.set_value(decisions.UNKNOWN, False)
    s.set_value(decisions.RUNNING_TIME_START, GObjectUInt64(i * Gst.SECOND // 10))
    s.set_value(decisions.RUNNING_TIME, GObjectUInt64(i * Gst.SECOND // 10 + Gst.SECOND))
    return s


def GObjectUInt64(v):
    from gi.repository import GObject
    value = GObject.Value(GObject.TYPE_UINT64)
    value.set_uint64(v)
    return value


class Feeder:
    """appsrc ! hyrsmpublish ! fakesink, fed buffers carrying decisions."""

    def __init__(self, props):
        self.pipeline = Gst.parse_launch(
            "appsrc name=src format=time caps=video/x-raw ! "
            f"hyrsmpublish name=pub {props} ! fakesink")
        self.src = self.pipeline.get_by_name("src")
        self.pub = self.pipeline.get_by_name("pub")
        self.bus = self.pipeline.get_bus()

    def start(self):
        return self.pipeline.set_state(Gst.State.PLAYING)

    def push(self, i, with_decision=True):
        buf = Gst.Buffer.new_wrapped(b"\0" * 16)
        buf.pts = i * Gst.SECOND // 10
        buf.duration = Gst.SECOND // 10
        if with_decision:
            GstHyrsm.buffer_add_hyrsm_meta(buf, decision(i))
        assert self.src.emit("push-buffer", buf) == Gst.FlowReturn.OK

    def finish(self, timeout_s=60):
        """EOS, then the messages until EOS or ERROR arrives."""
        self.src.emit("end-of-stream")
        return self.messages(until_eos=True, timeout_s=timeout_s)

    def messages(self, until_eos=False, timeout_s=0.0):
        out = []
        deadline = time.monotonic() + timeout_s
        while True:
            left = max(deadline - time.monotonic(), 0)
            msg = self.bus.timed_pop_filtered(
                int(left * Gst.SECOND),
                Gst.MessageType.EOS | Gst.MessageType.ERROR | Gst.MessageType.WARNING
                | Gst.MessageType.INFO)
            if msg is None:
                assert not until_eos, "no EOS"
                return out
            out.append(msg)
            if msg.type in (Gst.MessageType.EOS, Gst.MessageType.ERROR):
                return out

    def stop(self):
        self.stats = self.pub.props.stats
        self.pipeline.set_state(Gst.State.NULL)


def texts(msgs, kind):
    parse = {Gst.MessageType.ERROR: Gst.Message.parse_error,
             Gst.MessageType.WARNING: Gst.Message.parse_warning,
             Gst.MessageType.INFO: Gst.Message.parse_info}[kind]
    return [parse(m)[0].message for m in msgs if m.type == kind]


@pytest.fixture
def mqtt(tmp_path):
    """Starts brokers (mosquitto) and subscribers (mosquitto_sub); stops
    them after the test."""
    procs = Processes(tmp_path)
    yield procs
    procs.close()


# ---- against hyrsmfilter ----

@pytest.fixture(scope="session")
def small_resnet18(tmp_path_factory):
    """Backbone-only random ResNet-18 at a 64-pixel crop: quick to run."""
    path = tmp_path_factory.mktemp("r18small") / "resnet18-64.safetensors"
    subprocess.run(["/usr/bin/python3", str(ROOT / "tests" / "fixtures" / "make_model.py"),
                    str(path), "--backbone", "resnet18", "--head", "none", "--seed", "0",
                    "--meta", "hyrsm.crop=64", "--meta", "hyrsm.resize=72"],
                   check=True, stdout=subprocess.DEVNULL)
    return path


def wall(text):
    return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=datetime.timezone.utc)


def test_real_decisions_to_file_and_mqtt(real_clips, small_resnet18, mqtt, tmp_path):
    """Every hyrsmfilter decision arrives once in the file and once on the
    broker, with the documented fields (docs/publish.md)."""
    support = real_clips / "support"
    stream = real_clips / "stream.mkv"
    jsonl = tmp_path / "decisions.jsonl"
    jsonl.write_text('{"earlier": "line"}\n')        # appended to, not replaced
    broker = mqtt.broker()
    sub = mqtt.subscriber(broker, "cams/1/actions", count=200, timeout_s=60)
    before = time.time()
    pipeline = Gst.parse_launch(
        f'filesrc location="{stream}" ! decodebin ! videoconvert ! '
        f'hyrsmfilter name=f model="{small_resnet18}" support="{support}" stride={Gst.SECOND} ! '
        f'hyrsmpublish file-path="{jsonl}" ! '
        f'hyrsmpublish name=mqtt method=mqtt address={broker.address} topic=cams/1/actions ! '
        'fakesink')
    assert pipeline.set_state(Gst.State.PLAYING) != Gst.StateChangeReturn.FAILURE
    bus_decisions = decisions.until_eos(pipeline.get_bus())
    stats = pipeline.get_by_name("mqtt").props.stats
    pipeline.set_state(Gst.State.NULL)
    after = time.time()
    n = len(bus_decisions)
    assert n >= 10
    assert stats.get_uint64("published")[1] == n
    assert stats.get_uint("queued")[1] == 0 and stats.get_uint64("dropped")[1] == 0

    lines = jsonl.read_text().splitlines()
    assert lines[0] == '{"earlier": "line"}'
    from_file = [json.loads(line) for line in lines[1:]]
    sub.kill()
    from_mqtt = [json.loads(m) for m in sub.messages]
    assert from_file == from_mqtt
    assert len(from_file) == n

    fingerprint = Hyrsm.Model.new_from_file(str(small_resnet18)).get_fingerprint()
    labels = sorted(p.name for p in support.iterdir() if p.is_dir() and p.name[0] != ".")
    for doc, msg in zip(from_file, bus_decisions):
        assert doc["schema"] == "hyrsm-decision/1"
        assert doc["label"] == msg.label
        assert doc["unknown"] is False
        assert doc["confidence"] == pytest.approx(msg.confidence)
        assert sorted(doc["distances"]) == labels
        assert doc["distances"][doc["label"]] == pytest.approx(doc["distance"])
        assert min(doc["distances"].values()) == pytest.approx(doc["distance"])
        end = doc["window"]["end"]
        start = doc["window"]["start"]
        assert end["running-time"] == msg.running_time
        assert end["stream-time"] == msg.window_end
        assert start["stream-time"] == msg.window_start
        window = end["running-time"] - start["running-time"]
        assert window > 0
        assert (wall(end["wall-clock"]) - wall(start["wall-clock"])).total_seconds() == \
            pytest.approx(window / 1e9, abs=1e-6)
        assert before - 1 <= wall(end["wall-clock"]).timestamp() <= after + 1
        assert doc["latency"] == msg.latency
        assert doc["model"]["fingerprint"] == fingerprint
        assert doc["support"]["path"] == str(support)
        assert doc["stream"]["id"]
        assert doc["stream"]["source"] == Gst.filename_to_uri(str(stream))


# ---- MQTT delivery ----

@pytest.mark.parametrize("qos", [1, 2])
def test_broker_restart_loses_nothing(mqtt, qos):
    """The broker goes away for 5 s while decisions keep coming: all arrive
    once it is back; the element says what happened."""
    broker = mqtt.broker(persistence=True)
    n = 100
    sub = mqtt.subscriber(broker, "restart/t", count=n, timeout_s=90,
                          client_id="hyrsm-test-sub")
    feed = Feeder(f"method=mqtt address={broker.address} topic=restart/t qos={qos} "
                  f"drain-timeout={30 * Gst.SECOND}")
    assert feed.start() != Gst.StateChangeReturn.FAILURE
    t0 = time.monotonic()
    stopped = restarted = None
    for i in range(n):           # 10 decisions/s
        if i == 15:
            broker.stop()
            stopped = time.monotonic()
        if stopped and not restarted and time.monotonic() - stopped >= 5:
            broker.start()
            restarted = time.monotonic()
        feed.push(i)
        time.sleep(max(0, t0 + (i + 1) * 0.1 - time.monotonic()))
    assert restarted, "the broker was down until the end"
    msgs = feed.finish()
    feed.stop()
    got = [json.loads(m)["window"]["end"]["running-time"] for m in sub.wait()]
    assert msgs[-1].type == Gst.MessageType.EOS
    expected = [i * Gst.SECOND // 10 + Gst.SECOND for i in range(n)]
    assert sorted(set(got)) == expected
    warnings = texts(msgs, Gst.MessageType.WARNING)
    assert any("Lost the connection" in w and broker.address in w for w in warnings), warnings
    assert any("Connected" in i for i in texts(msgs, Gst.MessageType.INFO))
    assert feed.stats.get_uint64("published")[1] == n
    assert feed.stats.get_uint64("dropped")[1] == 0


def region_decision(i, roi_id, x):
    """decision(i) as hyrsmfilter roi=true makes it for region @roi_id."""
    s = decision(i)
    s.set_value(decisions.ROI_ID, roi_id)
    s.set_value(decisions.ROI_TYPE, "person")
    for field, v in ((decisions.ROI_X, x), (decisions.ROI_Y, 0),
                     (decisions.ROI_WIDTH, 32), (decisions.ROI_HEIGHT, 48)):
        s.set_value(field, v)
    return s


def test_every_region_decision_of_a_buffer_is_published_once(mqtt):
    """roi=true puts two regions' decisions (two HyrsmMeta) on one buffer:
    both are published, each once, carrying its region id and box; a
    whole-frame decision has "region": null."""
    broker = mqtt.broker()
    n = 10
    sub = mqtt.subscriber(broker, "regions/t", count=3 * n, timeout_s=60)
    feed = Feeder(f"method=mqtt address={broker.address} topic=regions/t qos=1")
    assert feed.start() != Gst.StateChangeReturn.FAILURE
    for i in range(n):
        buf = Gst.Buffer.new_wrapped(b"\0" * 16)
        buf.pts = i * Gst.SECOND // 10
        GstHyrsm.buffer_add_hyrsm_meta(buf, decision(i))
        GstHyrsm.buffer_add_hyrsm_meta(buf, region_decision(i, 1, 0))
        GstHyrsm.buffer_add_hyrsm_meta(buf, region_decision(i, 2, 32))
        assert [decisions.read(d).region_id for d in GstHyrsm.buffer_get_hyrsm_metas(buf)] \
            == [None, 1, 2]
        assert feed.src.emit("push-buffer", buf) == Gst.FlowReturn.OK
    msgs = feed.finish()
    feed.stop()
    assert msgs[-1].type == Gst.MessageType.EOS
    docs = [json.loads(m) for m in sub.wait()]
    seen = sorted((d["window"]["end"]["running-time"],
                   d["region"]["id"] if d["region"] else 0) for d in docs)
    expected = sorted((i * Gst.SECOND // 10 + Gst.SECOND, r) for i in range(n) for r in (0, 1, 2))
    assert seen == expected
    for d in docs:
        if d["region"]:
            assert d["region"] == {"id": d["region"]["id"], "type": "person",
                                   "x": 0 if d["region"]["id"] == 1 else 32, "y": 0,
                                   "width": 32, "height": 48}
    assert feed.stats.get_uint64("published")[1] == 3 * n


# Two people side by side, as a tracker upstream marks them: id -> box.
PEOPLE = {1: (0, 0, 80, 120), 2: (80, 0, 80, 120)}


@pytest.fixture(scope="module")
def crop32_model_and_support(make_test_model, tmp_path_factory):
    return random_support.crop32_model_and_support(
        make_test_model, tmp_path_factory.mktemp("publish-roi-support"),
        "publish-roi.safetensors", 7)


def test_real_region_decisions_to_file_and_mqtt(crop32_model_and_support, mqtt, tmp_path):
    """hyrsmfilter roi=true with two regions on every frame (ROI metas) through
    hyrsmpublish to a file and to the broker: every decision on the bus is
    published exactly once to each, with its region's id, type and box."""
    model, support = crop32_model_and_support
    jsonl = tmp_path / "regions.jsonl"
    broker = mqtt.broker()
    sub = mqtt.subscriber(broker, "cams/2/regions", count=1000, timeout_s=120)
    w, h, frames = 160, 120, 60
    pipeline = Gst.parse_launch(
        f"appsrc name=src format=time caps=video/x-raw,format=RGB,width={w},height={h},"
        f"framerate=30/1 ! hyrsmfilter model={model} support={support} roi=true "
        f"window={800 * Gst.MSECOND} stride={400 * Gst.MSECOND} sync=always ! "
        f'hyrsmpublish file-path="{jsonl}" ! '
        f"hyrsmpublish name=mqtt method=mqtt address={broker.address} topic=cams/2/regions ! "
        "fakesink")
    src = pipeline.get_by_name("src")
    assert pipeline.set_state(Gst.State.PLAYING) != Gst.StateChangeReturn.FAILURE
    for i in range(frames):
        buf = Gst.Buffer.new_wrapped(bytes((i * 7 + j) % 256 for j in range(256))
                                     * (w * h * 3 // 256))
        buf.pts = Gst.util_uint64_scale(i, Gst.SECOND, 30)
        buf.duration = Gst.SECOND // 30
        for roi_id, box in PEOPLE.items():
            GstVideo.buffer_add_video_region_of_interest_meta(buf, "person", *box).id = roi_id
        assert src.emit("push-buffer", buf) == Gst.FlowReturn.OK
    src.emit("end-of-stream")
    bus_decisions = decisions.until_eos(pipeline.get_bus())
    stats = pipeline.get_by_name("mqtt").props.stats
    pipeline.set_state(Gst.State.NULL)

    n = len(bus_decisions)
    per_region = collections.Counter(d.region_id for d in bus_decisions)
    assert sorted(per_region) == [1, 2], per_region      # regions only, both
    assert min(per_region.values()) >= 2, per_region
    keys = [(d.region_id, d.running_time) for d in bus_decisions]
    assert len(set(keys)) == n
    assert stats.get_uint64("published")[1] == n
    assert stats.get_uint("queued")[1] == 0 and stats.get_uint64("dropped")[1] == 0
    # Acknowledged by the broker is not yet received by the subscriber.
    deadline = time.monotonic() + 30
    while len(sub.messages) < n and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)              # anything more (a duplicate) would arrive too
    sub.kill()
    from_file = [json.loads(line) for line in jsonl.read_text().splitlines()]
    from_mqtt = [json.loads(m) for m in sub.messages]
    assert len(from_file) == n and len(from_mqtt) == n
    for docs in (from_file, from_mqtt):
        by_key = {(doc["region"]["id"], doc["window"]["end"]["running-time"]): doc
                  for doc in docs}
        assert sorted(by_key) == sorted(keys)              # each exactly once
        for d in bus_decisions:
            doc = by_key[(d.region_id, d.running_time)]
            assert doc["schema"] == "hyrsm-decision/1"
            assert doc["label"] == d.label
            assert doc["region"] == {"id": d.region.id, "type": "person",
                                     "x": d.region.x, "y": d.region.y,
                                     "width": d.region.width, "height": d.region.height}
            assert (d.region.x, d.region.y, d.region.width, d.region.height) \
                == PEOPLE[d.region_id]


def test_full_queue_drops_oldest_without_blocking(mqtt):
    """No broker: the stream never waits, the queue keeps the newest
    max-queue decisions, and the broker receives exactly those once it is
    up."""
    # A persistent subscriber session, made before the broker goes away,
    # keeps what arrives while the subscriber itself is not yet back.
    broker = mqtt.broker(persistence=True)
    mqtt.subscriber(broker, "q/t", count=1, timeout_s=30, client_id="hyrsm-q-sub").kill()
    broker.stop()

    feed = Feeder(f"method=mqtt address={broker.address} topic=q/t max-queue=10 "
                  f"drain-timeout={20 * Gst.SECOND}")
    assert feed.start() != Gst.StateChangeReturn.FAILURE
    t0 = time.monotonic()
    for i in range(30):
        feed.push(i)
    # appsrc hands buffers over on its own thread: wait for all 30 to pass.
    while time.monotonic() - t0 < 2:
        stats = feed.pub.props.stats
        if stats.get_uint("queued")[1] + stats.get_uint64("dropped")[1] == 30:
            break
        time.sleep(0.02)
    else:
        raise AssertionError(f"the stream blocked: {stats.to_string()}")
    assert stats.get_uint("queued")[1] == 10
    assert stats.get_uint64("dropped")[1] == 20
    warnings = texts(feed.messages(timeout_s=3), Gst.MessageType.WARNING)
    assert any("Could not connect" in w and broker.address in w for w in warnings), warnings

    broker.start()
    sub = mqtt.subscriber(broker, "q/t", count=10, timeout_s=30, client_id="hyrsm-q-sub")
    msgs = feed.finish()
    feed.stop()
    got = [json.loads(m)["window"]["end"]["running-time"] for m in sub.wait()]
    assert msgs[-1].type == Gst.MessageType.EOS
    assert got == [i * Gst.SECOND // 10 + Gst.SECOND for i in range(20, 30)]
    assert feed.stats.get_uint64("published")[1] == 10


def test_stalled_broker_is_named_and_stats_stay_true(mqtt):
    """The broker process is stopped (SIGSTOP: its TCP connections stay
    open) for 12 s while decisions come at 10/s with max-queue=5: the
    element says so within a few seconds, never holds more than max-queue
    decisions (those libmosquitto holds included), and `stats` is true: a
    decision counted as dropped never arrives, one counted as published
    does."""
    import os
    import signal
    broker = mqtt.broker()
    sub = mqtt.subscriber(broker, "stall/t", count=1000, timeout_s=120)
    feed = Feeder(f"method=mqtt address={broker.address} topic=stall/t qos=1 max-queue=5 "
                  f"drain-timeout={20 * Gst.SECOND}")
    assert feed.start() != Gst.StateChangeReturn.FAILURE
    n = 180
    msgs, most_queued = [], 0
    frozen = resumed = warned = None
    t0 = time.monotonic()
    try:
        for i in range(n):
            if i == 30:
                os.kill(broker.proc.pid, signal.SIGSTOP)
                frozen = time.monotonic()
            if frozen and not resumed and time.monotonic() - frozen >= 12:
                os.kill(broker.proc.pid, signal.SIGCONT)
                resumed = time.monotonic()
            feed.push(i)
            most_queued = max(most_queued, feed.pub.props.stats.get_uint("queued")[1])
            new = feed.messages()
            msgs += new
            if warned is None and frozen and texts(new, Gst.MessageType.WARNING):
                warned = time.monotonic()
            time.sleep(max(0, t0 + (i + 1) * 0.1 - time.monotonic()))
    finally:
        if frozen and not resumed:
            os.kill(broker.proc.pid, signal.SIGCONT)
    msgs += feed.finish()
    feed.stop()
    time.sleep(1)  # the last messages reach the subscriber
    sub.kill()
    got = {json.loads(m)["window"]["end"]["running-time"] for m in sub.messages}
    published = feed.stats.get_uint64("published")[1]
    dropped = feed.stats.get_uint64("dropped")[1]
    queued = feed.stats.get_uint("queued")[1]
    assert msgs[-1].type == Gst.MessageType.EOS
    assert most_queued <= 5
    assert published + dropped + queued == n, feed.stats.to_string()
    assert dropped > 0 and queued == 0, feed.stats.to_string()
    assert len(got) == published, (len(got), feed.stats.to_string())
    warnings = texts(msgs, Gst.MessageType.WARNING)
    assert any(broker.address in w and "no decision acknowledged" in w
               and "stalled" in w for w in warnings), warnings
    assert warned is not None and warned - frozen < 8, (warned, frozen)
    assert not any("Unknown error" in w for w in warnings), warnings
    print(f"stall reported after {warned - frozen:.1f} s; {len(got)} delivered; "
          f"{feed.stats.to_string()}")


def test_unreachable_broker_warns_and_does_not_hang(mqtt):
    broker = mqtt.broker(start=False)  # nothing listens there
    feed = Feeder(f"method=mqtt address={broker.address} drain-timeout={Gst.SECOND // 2}")
    t0 = time.monotonic()
    assert feed.start() != Gst.StateChangeReturn.FAILURE
    for i in range(5):
        feed.push(i)
    msgs = feed.finish(timeout_s=10)
    feed.stop()
    assert time.monotonic() - t0 < 8
    assert msgs[-1].type == Gst.MessageType.EOS
    warnings = texts(msgs, Gst.MessageType.WARNING)
    assert any("Could not connect" in w and broker.address in w for w in warnings), warnings
    assert any("5 decision(s) not yet acknowledged" in w for w in warnings), warnings
    assert feed.stats.get_uint("queued")[1] == 5


def test_tls_delivers_and_a_wrong_ca_is_an_error(mqtt, tmp_path):
    (tmp_path / "good").mkdir()
    (tmp_path / "other").mkdir()
    tls = TlsFiles(tmp_path / "good")
    other = TlsFiles(tmp_path / "other")
    broker = mqtt.broker(tls=tls)
    sub = mqtt.subscriber(broker, "tls/t", count=3, timeout_s=30, cafile=tls.ca)
    feed = Feeder(f'method=mqtt address={broker.address} topic=tls/t tls-ca-file="{tls.ca}"')
    assert feed.start() != Gst.StateChangeReturn.FAILURE
    for i in range(3):
        feed.push(i)
    msgs = feed.finish()
    feed.stop()
    assert msgs[-1].type == Gst.MessageType.EOS
    assert texts(msgs, Gst.MessageType.WARNING) == []
    assert len(sub.wait()) == 3

    # A CA that did not sign the broker's certificate: an error naming the
    # reason and the property, whether the handshake failed while starting
    # or just after (libmosquitto does not retry a failed first handshake).
    feed = Feeder(f'method=mqtt address={broker.address} topic=tls/t '
                  f'tls-ca-file="{other.ca}"')
    feed.start()
    errors = texts(feed.messages(timeout_s=10), Gst.MessageType.ERROR)
    feed.stop()
    assert any(broker.address in e and "certificate verify failed" in e
               and "tls-ca-file" in e for e in errors), errors


def test_credentials_are_used_and_a_refusal_is_an_error(mqtt):
    broker = mqtt.broker(users={"cam": "s3cret"})
    sub = mqtt.subscriber(broker, "auth/t", count=2, timeout_s=30, user=("cam", "s3cret"))
    feed = Feeder(f"method=mqtt address={broker.address} topic=auth/t "
                  "username=cam password=s3cret")
    assert feed.start() != Gst.StateChangeReturn.FAILURE
    feed.push(0)
    feed.push(1)
    assert feed.finish()[-1].type == Gst.MessageType.EOS
    feed.stop()
    assert len(sub.wait()) == 2

    feed = Feeder(f"method=mqtt address={broker.address} topic=auth/t "
                  "username=cam password=wrong")
    feed.start()
    errors = texts(feed.messages(timeout_s=10), Gst.MessageType.ERROR)
    feed.stop()
    assert any("refused" in e and broker.address in e and "password" in e
               for e in errors), errors


def test_meta_without_label_is_a_warning_and_skipped(tmp_path):
    path = tmp_path / "d.jsonl"
    feed = Feeder(f'file-path="{path}"')
    assert feed.start() != Gst.StateChangeReturn.FAILURE
    buf = Gst.Buffer.new_wrapped(b"\0" * 16)
    buf.pts = 0
    GstHyrsm.buffer_add_hyrsm_meta(buf, Gst.Structure.new_empty("hyrsm"))
    feed.src.emit("push-buffer", buf)
    feed.push(1)
    msgs = feed.finish()
    feed.stop()
    assert msgs[-1].type == Gst.MessageType.EOS
    assert any("could not be published" in w for w in texts(msgs, Gst.MessageType.WARNING))
    assert [json.loads(line)["label"] for line in path.read_text().splitlines()] == ["falling"]


def test_stopping_interrupts_the_drain_at_eos(mqtt):
    broker = mqtt.broker(start=False)  # nothing listens there
    feed = Feeder(f"method=mqtt address={broker.address} drain-timeout={60 * Gst.SECOND}")
    assert feed.start() != Gst.StateChangeReturn.FAILURE
    feed.push(0)
    feed.src.emit("end-of-stream")
    time.sleep(0.5)                    # the streaming thread now waits in the drain
    t0 = time.monotonic()
    feed.stop()
    assert time.monotonic() - t0 < 5
    assert feed.stats.get_uint("queued")[1] == 1


def start_error(props):
    feed = Feeder(props)
    ret = feed.start()
    msgs = feed.messages(timeout_s=2)
    feed.stop()
    assert ret == Gst.StateChangeReturn.FAILURE
    errors = texts(msgs, Gst.MessageType.ERROR)
    assert errors, "no error posted"
    return errors[0]


@pytest.mark.parametrize("topic", ["cams/#", "cams/+/actions", "#", "+", ""])
def test_bad_topic_is_rejected_at_start(topic):
    error = start_error(f'method=mqtt address=127.0.0.1:1 topic="{topic}"')
    assert '"topic"' in error, error


@pytest.mark.parametrize("address", ["localhost", "localhost:0", "localhost:70000", ":1883"])
def test_bad_address_is_rejected_at_start(address):
    error = start_error(f'method=mqtt address="{address}"')
    assert '"address"' in error and address in error, error


def test_missing_tls_file_is_named(tmp_path):
    missing = tmp_path / "ca.pem"
    error = start_error(f'method=mqtt address=127.0.0.1:1 tls-ca-file="{missing}"')
    assert "tls-ca-file" in error and str(missing) in error, error


def test_tls_file_that_is_a_named_pipe_is_refused_at_once(tmp_path):
    """A FIFO would block the state change until someone writes to it: it
    is refused, as anything not a regular file. (After 5 s a writer keeps
    unblocking whoever opens it, so that a regression fails instead of
    hanging.)"""
    import os
    import threading
    fifo = tmp_path / "ca.pem"
    os.mkfifo(fifo)
    done = threading.Event()

    def unblock():
        done.wait(5)
        while not done.wait(0.1):
            try:
                os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
            except OSError:
                pass  # nobody is opening it for reading
    threading.Thread(target=unblock, daemon=True).start()
    t0 = time.monotonic()
    try:
        error = start_error(f'method=mqtt address=127.0.0.1:1 tls-ca-file="{fifo}"')
    finally:
        done.set()
    assert time.monotonic() - t0 < 3
    assert "tls-ca-file" in error and str(fifo) in error, error
    assert "not a regular file" in error, error


def test_tls_cert_without_key_names_the_missing_property(tmp_path):
    (tmp_path / "tls").mkdir()
    tls = TlsFiles(tmp_path / "tls")
    error = start_error(f'method=mqtt address=127.0.0.1:1 tls-ca-file="{tls.ca}" '
                        f'tls-cert-file="{tls.cert}"')
    assert "tls-key-file" in error and "tls-cert-file" in error, error
    assert "Invalid function arguments" not in error, error


# ---- file ----

def test_file_is_appended_and_flushed_per_decision(tmp_path):
    path = tmp_path / "d.jsonl"
    feed = Feeder(f'file-path="{path}" source=cam7')
    assert feed.start() != Gst.StateChangeReturn.FAILURE
    feed.push(0)
    feed.push(1, with_decision=False)
    feed.push(2)
    # Flushed per decision: readable before EOS.
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and len(path.read_text().splitlines()) < 2:
        time.sleep(0.05)
    docs = [json.loads(line) for line in path.read_text().splitlines()]
    assert [d["label"] for d in docs] == ["waving", "sitting"]
    assert docs[0]["stream"]["source"] == "cam7"
    # Missing fields are null, so that every document has the same shape.
    assert docs[0]["model"]["fingerprint"] is None
    assert docs[0]["window"]["end"]["wall-clock"] is None
    assert feed.finish()[-1].type == Gst.MessageType.EOS
    feed.stop()
    assert feed.stats.get_uint64("published")[1] == 2


def test_unwritable_file_is_an_error_naming_it(tmp_path):
    path = tmp_path / "no-such-dir" / "d.jsonl"
    error = start_error(f'file-path="{path}"')
    assert str(path) in error and "file-path" in error, error


def test_unresolvable_host_is_an_error_naming_it():
    error = start_error("method=mqtt address=no-such-host.invalid:1883")
    assert "no-such-host.invalid" in error and "address" in error, error
