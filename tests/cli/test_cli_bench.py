"""gst-hyrsm bench: its report, --vs-torch, and what happens without torch."""
import pytest

from cli_helpers import PYTHON

QUICK = ["--batch", "1,2", "--support-classes", "2,8", "--min-time", "0.05"]


def test_bench_json(tool, model):
    r = tool.json("bench", "--model", model, "--device", "cpu", *QUICK)
    assert r["device"] == "cpu"
    assert [b["batch"] for b in r["backbone"]] == [1, 2]
    assert [q["classes"] for q in r["query"]] == [2, 8]
    for b in r["backbone"]:
        assert b["frames_per_second"] > 0 and b["ms_per_batch"] > 0
        assert "speedup" not in b
    for q in r["query"]:
        assert q["ms_per_query"] > 0 and q["ms_per_enroll"] > 0
    assert r["torch"] is None


def test_bench_text(tool, model):
    r = tool("bench", "--model", model, *QUICK)
    assert r.returncode == 0, r.stderr
    assert "frames/s" in r.stdout and "ms per query" in r.stdout
    assert r.stderr == ""


def test_bench_vs_torch(tool, model):
    r = tool.json("bench", "--model", model, "--vs-torch", *QUICK)
    assert r["torch"]["device"] == "cpu"
    for row in r["backbone"] + r["query"]:
        assert row["speedup"] > 0
    assert r["backbone"][0]["torch_frames_per_second"] > 0
    assert r["query"][0]["torch_ms_per_query"] > 0


def test_bench_vs_torch_without_torch(tool, model, no_torch_python):
    r = tool("bench", "--model", model, "--vs-torch", *QUICK,
             env={"HYRSM_PYTHON": no_torch_python})
    assert r.returncode == 1
    assert "python3-torch" in r.stderr
    assert "frames/s" in r.stdout  # gst-hyrsm's own numbers are still printed


@pytest.mark.parametrize("args", [
    ["--batch", "0"], ["--batch", "1,x"], ["--support-classes", ""], ["--min-time", "0"],
])
def test_bench_bad_values(tool, model, args):
    r = tool("bench", "--model", model, *args)
    assert r.returncode == 2, r.stderr
    assert r.stderr.startswith("gst-hyrsm: bench: ")


def test_bench_no_device(tool, model):
    r = tool("bench", "--model", model, "--device", "nosuchdevice", *QUICK)
    assert r.returncode in (1, 2)
    assert r.stderr.startswith("gst-hyrsm: bench: ")
