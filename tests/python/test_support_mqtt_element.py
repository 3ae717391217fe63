"""hyrsmfilter support=mqtt://HOST:PORT/TOPIC: cameras (each its own
process, tests/python/support_mqtt_camera.py) follow the support set
published on a real MQTT broker (Debian's mosquitto on a free 127.0.0.1
port): they swap to each newer bundle while PLAYING, refuse bad ones with
a warning, and start from their cache while the broker is away. Run
through scripts/test.sh (or with scripts/env.sh sourced)."""
import json
import os
import pathlib
import subprocess
import sys
import threading
import time

import pytest

from mqtt_broker import Processes

ROOT = pathlib.Path(__file__).resolve().parents[2]
BUILDDIR = pathlib.Path(os.environ.get("HYRSM_BUILDDIR", ROOT / "build"))
TOOL = BUILDDIR / "gst-hyrsm" / "gst-hyrsm"
CAMERA = pathlib.Path(__file__).resolve().parent / "support_mqtt_camera.py"


@pytest.fixture
def procs(tmp_path):
    p = Processes(tmp_path)
    yield p
    p.close()


def small_resnet(path, seed):
    subprocess.run([sys.executable, str(ROOT / "tests" / "fixtures" / "make_model.py"),
                    str(path), "--backbone", "resnet18", "--head", "none", "--frames", "4",
                    "--seed", str(seed), "--meta", "hyrsm.resize=40",
                    "--meta", "hyrsm.crop=32"], check=True, stdout=subprocess.DEVNULL)
    return path


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    d = tmp_path_factory.mktemp("mqtt-models")
    return small_resnet(d / "a.safetensors", 0), small_resnet(d / "b.safetensors", 1)


@pytest.fixture(scope="module")
def colors(tmp_path_factory):
    """One frame folder of each solid colour (videotestsrc's patterns)."""
    d = tmp_path_factory.mktemp("colors")
    for name in ("red", "green", "blue"):
        (d / name).mkdir()
        subprocess.run(["gst-launch-1.0", "-q", "videotestsrc", f"pattern={name}",
                        "num-buffers=4", "!", "video/x-raw,width=64,height=48", "!",
                        "pngenc", "!", "multifilesink",
                        f"location={d / name}/%02d.png"], check=True)
    return d


def support_set(colors, root, labels):
    """DIR/<label>/clip -> a frame folder of that colour."""
    for label in labels:
        (root / label).mkdir(parents=True)
        (root / label / "clip").symlink_to(colors / label)
    return root


def publish(src, uri, model, *args):
    r = subprocess.run([str(TOOL), "support", "publish", str(src), uri, "--model",
                        str(model), "--no-cache", *map(str, args)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return r


class Camera:
    def __init__(self, tmp_path, model, uri, pattern="blue", cache="cache", props=()):
        env = dict(os.environ, XDG_CACHE_HOME=str(tmp_path / cache))
        self.proc = subprocess.Popen(
            [sys.executable, str(CAMERA), str(model), uri, pattern, *props],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
        self.events = []
        self.cond = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            with self.cond:
                self.events.append(json.loads(line))
                self.cond.notify_all()
        with self.cond:
            self.events.append({"ev": "exit"})
            self.cond.notify_all()

    def wait(self, pred, timeout=20, start=0):
        """The first event from index @start on that @pred accepts."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for e in self.events[start:]:
                    if pred(e):
                        return e
                left = deadline - time.monotonic()
                assert left > 0, f"timed out; events: {self.events[-20:]}"
                self.cond.wait(left)

    def send(self, line):
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def mark(self):
        with self.cond:
            return len(self.events)

    def swaps(self):
        with self.cond:
            return [e for e in self.events if e["ev"] == "swap"]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def cameras():
    made = []
    yield made
    for c in made:
        c.stop()


def is_(kind, **fields):
    return lambda e: e["ev"] == kind and all(e.get(k) == v for k, v in fields.items())


def decided_on(labels):
    """A decision made with the set of @labels: after a swap, a window whose
    match was queued before it still comes (its decision names the old set's
    labels), so the new set is recognised by its labels, not by arrival."""
    return is_("decision", labels=sorted(labels))


def test_swaps_and_decides_new_label(tmp_path, procs, models, colors, cameras):
    model, _ = models
    broker = procs.broker()
    uri = f"mqtt://{broker.address}/site/actions"
    publish(support_set(colors, tmp_path / "v1", ["red", "green"]), uri, model)
    cam = Camera(tmp_path, model, uri, pattern="blue")
    cameras.append(cam)
    cam.wait(is_("swap", version=1, labels=["green", "red"]))
    cam.wait(is_("decision"))
    assert not [e for e in cam.events if e["ev"] == "decision" and e["label"] == "blue"]
    mark = cam.mark()
    publish(support_set(colors, tmp_path / "v2", ["red", "green", "blue"]), uri, model)
    cam.wait(is_("swap", version=2), start=mark)
    mark = cam.mark()
    first = cam.wait(decided_on(["red", "green", "blue"]), start=mark)
    assert first["label"] == "blue", cam.events[mark:]
    assert not [e for e in cam.events if e["ev"] in ("warning", "error")]


def test_fleet_swaps_within_a_second(tmp_path, procs, models, colors, cameras):
    model, _ = models
    broker = procs.broker()
    uri = f"mqtt://{broker.address}/fleet"
    publish(support_set(colors, tmp_path / "v1", ["red", "green"]), uri, model)
    fleet = [Camera(tmp_path, model, uri, cache=f"cache{i}") for i in range(3)]
    cameras.extend(fleet)
    for cam in fleet:
        cam.wait(is_("swap", version=1))
    src = support_set(colors, tmp_path / "v2", ["red", "green", "blue"])
    t0 = time.time()
    publish(src, uri, model, "--origin", "teacher")
    t1 = time.time()
    swaps = [cam.wait(is_("swap", version=2, origin="teacher")) for cam in fleet]
    made = swaps[0]["created"]
    worst = max(s["t"] for s in swaps)
    print(f"\nfleet of 3: bundle made -> all swapped {1000 * (worst - made):.0f} ms; "
          f"publish command returned -> all swapped {1000 * (worst - t1):.0f} ms "
          f"(the command itself took {1000 * (t1 - t0):.0f} ms)")
    for s in swaps:
        assert s["labels"] == ["blue", "green", "red"]
    assert worst - made < 1.0


def test_refused_bundles_keep_the_set(tmp_path, procs, models, colors, cameras):
    model, other = models
    broker = procs.broker()
    uri = f"mqtt://{broker.address}/signed"
    key, wrong = tmp_path / "key", tmp_path / "wrong"
    key.write_text("correct horse\n")
    wrong.write_text("battery staple\n")
    full = support_set(colors, tmp_path / "full", ["red", "green", "blue"])
    publish(full, uri, model, "--key", key, "--set-version", 5)
    cam = Camera(tmp_path, model, uri, props=[f"support-key={key}"])
    cameras.append(cam)
    cam.wait(is_("swap", version=5))
    cases = [
        ([full, uri, model, "--key", wrong, "--set-version", 6], "HMAC does not match"),
        ([full, uri, model, "--set-version", 7], "no HMAC"),
        ([full, uri, other, "--key", key, "--set-version", 8], "another model"),
        ([full, uri, model, "--key", key, "--set-version", 4], "older than version 5"),
    ]
    for args, reason in cases:
        mark = cam.mark()
        publish(*args)
        w = cam.wait(is_("warning"), start=mark)
        assert reason in w["text"] and "keeping version 5" in w["text"], w
    mark = cam.mark()
    subprocess.run(["/usr/bin/mosquitto_pub", "-h", "127.0.0.1", "-p", str(broker.port),
                    "-t", "signed", "-r", "-q", "1", "-m", "not a bundle"], check=True)
    w = cam.wait(is_("warning"), start=mark)
    assert "not a support-set bundle" in w["text"], w
    # Still deciding with the set of version 5.
    mark = cam.mark()
    assert cam.wait(is_("decision"), start=mark)["label"] == "blue"
    assert [s["version"] for s in cam.swaps()] == [5]


def test_starts_from_cache_while_broker_is_down(tmp_path, procs, models, colors,
                                                cameras):
    model, _ = models
    broker = procs.broker()
    uri = f"mqtt://{broker.address}/cached"
    publish(support_set(colors, tmp_path / "v1", ["red", "blue"]), uri, model)
    cam = Camera(tmp_path, model, uri)
    cameras.append(cam)
    cam.wait(is_("swap", version=1, cached=False))
    cam.stop()
    broker.stop()
    # The same cache: starts with version 1 and decides.
    cam = Camera(tmp_path, model, uri)
    cameras.append(cam)
    cam.wait(is_("swap", version=1, cached=True))
    assert cam.wait(is_("decision"))["label"] == "blue"
    # No cache and no broker: the start fails, saying why.
    cam = Camera(tmp_path, model, uri, cache="empty", props=["support-timeout=1000"])
    cameras.append(cam)
    e = cam.wait(is_("error"))
    assert "No support set from" in e["text"] and "no cached one" in e["text"], e


def test_enroll_publishes_next_version(tmp_path, procs, models, colors, cameras):
    model, _ = models
    broker = procs.broker()
    uri = f"mqtt://{broker.address}/enroll"
    key = tmp_path / "key"
    key.write_text("correct horse\n")
    publish(support_set(colors, tmp_path / "v1", ["red", "green"]), uri, model,
            "--key", key)
    cams = [Camera(tmp_path, model, uri, pattern=p, cache=f"c{p}",
                   props=[f"support-key={key}"]) for p in ("blue", "red", "green")]
    cameras.extend(cams)
    teacher = cams[0]
    for cam in cams:
        cam.wait(is_("swap", version=1))
    teacher.wait(is_("decision"))
    teacher.send("enroll blue")
    assert teacher.wait(is_("enrolled"))["ok"]
    for cam in cams:
        s = cam.wait(is_("swap", version=2))
        assert sorted(s["labels"]) == ["blue", "green", "red"] and s["origin"].endswith("/f")
    mark = teacher.mark()
    assert teacher.wait(decided_on(["red", "green", "blue"]), start=mark)["label"] == "blue"
    # Signed with the key: the pull checks it.
    r = subprocess.run([str(TOOL), "support", "pull", uri, str(tmp_path / "pulled"),
                        "--key", str(key)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "version 2" in r.stdout, r.stdout + r.stderr
    assert sorted(p.name for p in (tmp_path / "pulled").iterdir()) == ["blue", "green",
                                                                         "red"]
    assert not [e for c in cams for e in c.events if e["ev"] in ("warning", "error")]


def retained_payload(broker, topic):
    """The bytes the broker retains on @topic (mosquitto_sub -N: no newline)."""
    r = subprocess.run(["/usr/bin/mosquitto_sub", "-h", "127.0.0.1", "-p", str(broker.port),
                        "-t", topic, "-C", "1", "-N", "-W", "10"],
                       capture_output=True, check=True, timeout=30)
    return r.stdout


def test_truncated_and_oversized_bundles_keep_the_set(tmp_path, procs, models, colors,
                                                      cameras):
    model, _ = models
    broker = procs.broker()
    uri = f"mqtt://{broker.address}/limits"
    small = support_set(colors, tmp_path / "small", ["red", "blue"])
    publish(small, uri, model, "--set-version", 1)
    whole = retained_payload(broker, "limits")
    # A limit the 2-example set fits in and a 6-example one does not.
    cam = Camera(tmp_path, model, uri, props=[f"support-max-size={len(whole) + 4096}"])
    cameras.append(cam)
    cam.wait(is_("swap", version=1))
    # The first half of a real bundle (a publisher cut off mid-message).
    cut = tmp_path / "cut.bundle"
    cut.write_bytes(whole[:len(whole) // 2])
    mark = cam.mark()
    subprocess.run(["/usr/bin/mosquitto_pub", "-h", "127.0.0.1", "-p", str(broker.port),
                    "-t", "limits", "-r", "-q", "1", "-f", str(cut)], check=True)
    w = cam.wait(is_("warning"), start=mark)
    assert "keeping version 1" in w["text"], w
    big = tmp_path / "big"
    for label in ("red", "green", "blue"):
        for k in range(2):
            (big / label).mkdir(parents=True, exist_ok=True)
            (big / label / f"clip{k}").symlink_to(colors / label)
    mark = cam.mark()
    publish(big, uri, model, "--set-version", 2)
    w = cam.wait(is_("warning"), start=mark)
    assert "over the limit" in w["text"] and "keeping version 1" in w["text"], w
    mark = cam.mark()
    assert cam.wait(is_("decision"), start=mark)["label"] == "blue"
    assert [s["version"] for s in cam.swaps()] == [1]


def test_broker_restart_between_publishes(tmp_path, procs, models, colors, cameras):
    """The broker restarts (its retained messages gone) between two
    publishes: every camera reconnects and ends on the newest version."""
    model, _ = models
    broker = procs.broker()
    uri = f"mqtt://{broker.address}/restart"
    publish(support_set(colors, tmp_path / "v1", ["red", "green"]), uri, model,
            "--set-version", 1)
    fleet = [Camera(tmp_path, model, uri, cache=f"cache{i}") for i in range(2)]
    cameras.extend(fleet)
    for cam in fleet:
        cam.wait(is_("swap", version=1))
    broker.stop()
    time.sleep(1)
    broker.start()
    publish(support_set(colors, tmp_path / "v2", ["red", "green", "blue"]), uri, model,
            "--set-version", 2)
    for cam in fleet:
        cam.wait(is_("swap", version=2), timeout=30)
        mark = cam.mark()
        assert cam.wait(decided_on(["red", "green", "blue"]), start=mark)["label"] == "blue"
        assert [s["version"] for s in cam.swaps()] == [1, 2]
