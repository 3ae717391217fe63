"""gst-hyrsm support publish/pull: support sets shared as one retained
bundle on a real MQTT broker (Debian's mosquitto on a free 127.0.0.1
port). Run through scripts/test.sh (or with scripts/env.sh sourced)."""
import os
import pathlib
import random
import struct
import subprocess

import gi

gi.require_version("Hyrsm", "1.0")
from gi.repository import GLib, Hyrsm  # noqa: E402

import pytest  # noqa: E402

from mqtt_broker import Processes  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[2]
BUILDDIR = pathlib.Path(os.environ.get("HYRSM_BUILDDIR", ROOT / "build"))
TOOL = BUILDDIR / "gst-hyrsm" / "gst-hyrsm"
D = 16


@pytest.fixture
def procs(tmp_path):
    p = Processes(tmp_path)
    yield p
    p.close()


@pytest.fixture(scope="module")
def head_model(make_test_model):
    path = make_test_model("head16.safetensors", "--head", "1shot", "--dim", str(D),
                           "--seed", "5")
    return path, Hyrsm.Model.new_from_file(str(path))


def write_set(model, root, labels, shots=2, seed=0):
    """A support set of .hyrsm feature files with random finite values."""
    rng = random.Random(seed)
    T = model.get_frames()
    for label in labels:
        (root / label).mkdir(parents=True, exist_ok=True)
        for k in range(shots):
            values = [rng.uniform(-1, 3) for _ in range(T * D)]
            data = GLib.Bytes.new(struct.pack(f"<{T * D}f", *values))
            Hyrsm.features_save(str(root / label / f"ex{k}.hyrsm"), model, data,
                                f"{label}/ex{k}")
    return root


def run(*args, check=True):
    r = subprocess.run([str(TOOL), *map(str, args)], capture_output=True, text=True,
                       timeout=60)
    if check:
        assert r.returncode == 0, r.stderr
    return r


def features_of(model, root):
    out = {}
    for f in sorted(root.rglob("*.hyrsm")):
        if ".hyrsm-cache" in f.parts:
            continue
        data = Hyrsm.features_load(str(f), model)[0].get_data()
        out.setdefault(f.parent.name, []).append(bytes(data))
    return {k: sorted(v) for k, v in out.items()}


def test_publish_pull_round_trip(tmp_path, procs, head_model):
    path, model = head_model
    broker = procs.broker()
    uri = f"mqtt://{broker.address}/site/actions"
    src = write_set(model, tmp_path / "set", ["wave", "clap", "sit down"])
    r = run("support", "publish", src, uri, "--model", path, "--origin", "cam-1")
    assert "Published version 1 " in r.stdout
    r = run("support", "pull", uri, tmp_path / "copy", "--model", path)
    assert "Pulled version 1 (from \"cam-1\"" in r.stdout, r.stdout
    assert "3 labels, 6 examples" in r.stdout
    assert features_of(model, tmp_path / "copy") == features_of(model, src)
    # The next publish is the retained version + 1.
    r = run("support", "publish", src, uri, "--model", path)
    assert "Published version 2 " in r.stdout
    # Not over a set that is there.
    r = run("support", "pull", uri, tmp_path / "copy", check=False)
    assert r.returncode == 1 and "not empty" in r.stderr


def test_keys_and_models(tmp_path, procs, head_model, make_test_model):
    path, model = head_model
    broker = procs.broker()
    uri = f"mqtt://{broker.address}/signed"
    key, other = tmp_path / "key", tmp_path / "other"
    key.write_text("correct horse\n")
    other.write_text("battery staple\n")
    src = write_set(model, tmp_path / "set", ["wave"])
    run("support", "publish", src, uri, "--model", path, "--key", key)
    r = run("support", "pull", uri, tmp_path / "a", "--key", other, check=False)
    assert r.returncode == 1 and "HMAC does not match" in r.stderr, r.stderr
    assert not (tmp_path / "a").exists()
    r = run("support", "pull", uri, tmp_path / "b", "--key", key)
    assert "HMAC checked" in r.stdout
    # Unsigned, with a key required.
    uri2 = f"mqtt://{broker.address}/unsigned"
    run("support", "publish", src, uri2, "--model", path)
    r = run("support", "pull", uri2, tmp_path / "c", "--key", key, check=False)
    assert r.returncode == 1 and "no HMAC" in r.stderr, r.stderr
    # Another model's set.
    other_model = make_test_model("other16.safetensors", "--head", "1shot", "--dim",
                                  str(D), "--seed", "6")
    r = run("support", "pull", uri, tmp_path / "d", "--model", other_model, check=False)
    assert r.returncode == 1 and "another model" in r.stderr, r.stderr
    # Over the size limit.
    r = run("support", "pull", uri, tmp_path / "e", "--max-size", "100", check=False)
    assert r.returncode == 1 and "over the limit of 100" in r.stderr, r.stderr


def test_pull_errors(tmp_path, procs):
    broker = procs.broker()
    r = run("support", "pull", f"mqtt://{broker.address}/empty", tmp_path / "x",
            "--timeout", "1", check=False)
    assert r.returncode == 1 and "timed out" in r.stderr, r.stderr
    r = run("support", "pull", "mqtt://127.0.0.1:1/t/#", tmp_path / "x", check=False)
    assert r.returncode == 2 and "wildcard" in r.stderr, r.stderr
    r = run("support", "frobnicate", check=False)
    assert r.returncode == 2
    # Garbage retained on the topic.
    subprocess.run(["/usr/bin/mosquitto_pub", "-h", "127.0.0.1", "-p", str(broker.port),
                    "-t", "junk", "-r", "-q", "1", "-m", "not a bundle"], check=True)
    r = run("support", "pull", f"mqtt://{broker.address}/junk", tmp_path / "y",
            check=False)
    assert r.returncode == 1 and "not a support-set bundle" in r.stderr, r.stderr
