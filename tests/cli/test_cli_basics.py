"""gst-hyrsm's conventions: --help everywhere, exit status 0/1/2, one-line
errors on stderr naming the file, --json, a progress bar only on a
terminal; and `info` with the fingerprint."""
import json
import os
import pty
import re
import subprocess

import pytest

from cli_helpers import FIXTURES, PYTHON, tool_env

COMMANDS = ["info", "enroll", "classify", "eval", "bench", "convert"]


def test_usage_lists_every_command(tool):
    r = tool("--help")
    assert r.returncode == 0
    for c in COMMANDS:
        assert "\n  %s " % c in r.stdout
    r = tool()
    assert r.returncode == 2
    assert "Usage: gst-hyrsm COMMAND" in r.stderr


@pytest.mark.parametrize("command", COMMANDS)
def test_help(tool, command):
    r = tool(command, "--help")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("Usage:\n  gst-hyrsm %s [OPTION" % command)
    if command != "info":
        assert "--json" in r.stdout
    same = tool("help", command)
    assert same.returncode == 0 and same.stdout == r.stdout


@pytest.mark.parametrize("command", COMMANDS)
def test_unknown_option_is_a_usage_error(tool, command):
    r = tool(command, "--no-such-option")
    assert r.returncode == 2
    assert r.stdout == ""
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("gst-hyrsm: %s: " % command)
    assert "--help" in lines[0]


def test_unknown_command(tool):
    r = tool("frobnicate")
    assert r.returncode == 2
    assert 'unknown command "frobnicate"' in r.stderr


def test_missing_required_options(tool, model):
    for args in (["enroll", "--support", "x", "--label", "a", "c.mp4"],
                 ["classify", "--model", model, "c.mp4"],
                 ["eval", "--model", model],
                 ["bench"]):
        r = tool(*args)
        assert r.returncode == 2, args
        assert "is required" in r.stderr


def test_info_shows_fingerprint(tool, model):
    info = tool.json("info", model)
    assert re.fullmatch(r"[0-9a-f]{16}", info["fingerprint"])
    assert info["backbone"] == "resnet18" and info["crop"] == 64
    text = tool("info", model)
    assert text.returncode == 0
    assert "Fingerprint:  %s" % info["fingerprint"] in text.stdout


def test_info_json_prints_floats_as_written(tool, tmp_path):
    """mean/std parsed from metadata text come out as the file wrote them
    (0.45), not as the float's binary value (0.44999998807907104)."""
    path = tmp_path / "m.safetensors"
    made = subprocess.run([PYTHON, str(FIXTURES / "make_model.py"), str(path),
                           "--backbone", "resnet18", "--head", "none",
                           "--meta", "hyrsm.crop=64", "--meta", "hyrsm.resize=72",
                           "--meta", "hyrsm.mean=0.45,0.45,0.45",
                           "--meta", "hyrsm.std=0.225,0.225,0.225"],
                          capture_output=True, text=True)
    assert made.returncode == 0, made.stderr
    r = tool("info", "--json", path)
    assert r.returncode == 0, r.stderr
    assert "0.44999998" not in r.stdout and "0.22499999" not in r.stdout, r.stdout
    info = json.loads(r.stdout)
    assert info["mean"] == [0.45] * 3 and info["std"] == [0.225] * 3


def test_info_shows_precision_and_rejects_unknown_ones(tool, model):
    # The suite runs with HYRSM_PRECISION=fp32 (tests/conftest.py).
    info = tool.json("info", "--precision", "fp32", model)
    assert info["precision"] == "fp32" and info["device"] == "cpu"
    assert "Precision:    fp32" in tool("info", model).stdout
    for args in (["info", model],
                 ["bench", "--model", model],
                 ["classify", "--support", "x", "--model", model, "c.mp4"],
                 ["eval", "--dataset", "x", "--model", model],
                 ["enroll", "--support", "x", "--label", "a", "--model", model, model]):
        r = tool(args[0], "--precision", "fp8", *args[1:])
        assert r.returncode == 1, (args, r.stderr)
        assert 'precision "fp8" is not one of auto, fp32, bf16, fp16' in r.stderr, args


def test_info_missing_file(tool, tmp_path):
    missing = tmp_path / "absent.safetensors"
    r = tool("info", missing)
    assert r.returncode == 1
    assert str(missing) in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def run_on_terminal(tool, *args):
    """Runs the tool with stderr on a pseudo-terminal; returns (status,
    stdout, what the terminal got)."""
    master, slave = pty.openpty()
    p = subprocess.Popen([str(tool.path)] + [str(a) for a in args], stdout=subprocess.PIPE,
                         stderr=slave, env=tool_env())
    os.close(slave)
    out = p.stdout.read()
    p.wait()
    term = b""
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:
            break
        if not chunk:
            break
        term += chunk
    os.close(master)
    return p.returncode, out.decode(), term.decode(errors="replace")


def test_progress_bar_only_on_a_terminal(tool, model, dataset):
    args = ("eval", "--model", model, "--dataset", dataset, "--episodes", "200", "--json")
    status, out, term = run_on_terminal(tool, *args)
    assert status == 0
    assert "Episodes [" in term and "\r" in term
    json.loads(out)  # stdout stays clean JSON
    piped = tool(*args)
    assert piped.returncode == 0
    assert "\r" not in piped.stderr and "[" not in piped.stderr
    quiet = run_on_terminal(tool, *args, "--quiet")
    assert "Episodes [" not in quiet[2]
