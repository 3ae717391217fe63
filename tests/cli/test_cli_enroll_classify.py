"""gst-hyrsm enroll and classify on real clips (cut from Debian's videos by
tests/fixtures/make_clips.sh) with a small random-weight ResNet-18."""
import json
import os
import shutil
import sys

import numpy as np
import pytest

from cli_helpers import ROOT, SCENES

sys.path.insert(0, str(ROOT / "tools"))
import safetensors_io  # noqa: E402


def enroll_all(tool, model, support, clips, which="clip_1.mkv"):
    for scene in SCENES:
        r = tool("enroll", "--model", model, "--support", support, "--label", scene,
                 clips / "support" / scene / which)
        assert r.returncode == 0, r.stderr


def test_enroll_writes_the_cache_the_loader_reads(tool, model, clips, tmp_path):
    support = tmp_path / "set"
    fp = tool.json("info", model)["fingerprint"]
    res = tool.json("enroll", "--model", model, "--support", support, "--label", "street",
                    clips / "support" / "street" / "clip_1.mkv")
    assert (support / "street" / "clip_1.mkv").is_file()
    cache = support / ".hyrsm-cache" / fp / "street" / "clip_1.mkv.hyrsm"
    assert cache.is_file()
    assert res["enrolled"][0]["features"] == str(cache)
    assert res["enrolled"][0]["how"] == "copied"
    assert res["examples"] == {"street": 1}
    t, md = safetensors_io.read(str(cache))
    assert t["features"].shape == (8, 512)
    assert md["hyrsm.fingerprint"] == fp
    # What hyrsmfilter does at start: nothing left to decode.
    out = tool.json("classify", "--model", model, "--support", support,
                    clips / "support" / "street" / "clip_2.webm")
    assert out["support_decoded"] == 0 and out["support_cached"] == 1


def test_enroll_then_classify_returns_the_enrolled_labels(tool, model, clips, tmp_path):
    support = tmp_path / "set"
    enroll_all(tool, model, support, clips)
    enrolled = [support / s / "clip_1.mkv" for s in SCENES]
    out = tool.json("classify", "--model", model, "--support", support, *enrolled)
    assert out["labels"] == SCENES
    assert out["support_decoded"] == 0
    for res, scene in zip(out["results"], SCENES):
        assert res["label"] == scene, res
        assert res["distance"] == pytest.approx(0.0, abs=1e-5)
        assert set(res["distances"]) == set(SCENES)
        assert res["distances"][scene] == res["distance"]
        assert 0 < res["confidence"] <= 1
        assert res["duration"] == pytest.approx(1.6, abs=0.1)


def test_classify_table(tool, model, clips, tmp_path):
    support = tmp_path / "set"
    shutil.copytree(clips / "support", support)
    r = tool("classify", "--model", model, "--support", support,
             clips / "support" / "tree" / "clip_2.webm")
    assert r.returncode == 0, r.stderr
    header, row = r.stdout.strip().splitlines()
    assert header.split() == ["CLIP", "LABEL", "CONFIDENCE"] + SCENES
    cells = row.split()
    assert cells[1] == "tree"
    assert len(cells) == 3 + len(SCENES)


def test_classify_table_aligns_wide_labels(tool, model, clips, tmp_path):
    """Labels with wide (CJK) characters keep the columns aligned, and no
    distance prints as -0.0000."""
    support = tmp_path / "set"
    shutil.copytree(clips / "support", support)
    (support / "tree").rename(support / "木々")
    r = tool("classify", "--model", model, "--support", support,
             clips / "support" / "street" / "clip_1.mkv",
             clips / "support" / "tree" / "clip_2.webm")
    assert r.returncode == 0, r.stderr
    assert "-0.0000" not in r.stdout

    def width(text):
        import unicodedata
        return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)
    lines = r.stdout.rstrip("\n").splitlines()
    assert len({width(line) for line in lines}) == 1, lines


def test_classify_held_out_segments(tool, model, clips, held_out, tmp_path):
    """Segments of the held-out stream (frames no support clip holds): most
    get their scene even with random weights."""
    support = tmp_path / "set"
    shutil.copytree(clips / "support", support)
    paths = sorted(held_out)
    out = tool.json("classify", "--model", model, "--support", support, *paths)
    right = [r["label"] == held_out[p] for r, p in zip(out["results"], paths)]
    assert sum(right) >= 7, [(p.name, r["label"]) for r, p in zip(out["results"], paths)]


def test_classify_frames_folder_and_feature_file(tool, model, clips, tmp_path):
    support = tmp_path / "set"
    enroll_all(tool, model, support, clips)
    fp = tool.json("info", model)["fingerprint"]
    feat = support / ".hyrsm-cache" / fp / "megamind" / "clip_1.mkv.hyrsm"
    out = tool.json("classify", "--model", model, "--support", support,
                    clips / "frames" / "ball_4", feat)
    assert [r["label"] for r in out["results"]] == ["ball", "megamind"]
    assert "duration" not in out["results"][0]  # frame folders have none


def test_classify_bad_clips_go_on_with_the_others(tool, model, clips, tmp_path):
    support = tmp_path / "set"
    shutil.copytree(clips / "support", support)
    missing = tmp_path / "absent.mkv"
    junk = clips / "junk" / "not-video.mp4"
    good = clips / "support" / "ball" / "clip_2.webm"
    r = tool("classify", "--model", model, "--support", support, "--json", missing, junk, good)
    assert r.returncode == 1
    errors = r.stderr.strip().splitlines()
    assert len(errors) == 2
    assert str(missing) in errors[0] and "does not exist" in errors[0]
    assert str(junk) in errors[1]
    out = json.loads(r.stdout)
    assert "error" in out["results"][0] and "error" in out["results"][1]
    assert out["results"][2]["label"] == "ball"


def test_classify_missing_support(tool, model, tmp_path, clips):
    r = tool("classify", "--model", model, "--support", tmp_path / "nope",
             clips / "support" / "ball" / "clip_1.mkv")
    assert r.returncode == 1
    assert str(tmp_path / "nope") in r.stderr


def test_enroll_link(tool, model, clips, tmp_path):
    src = tmp_path / "mine.webm"
    shutil.copy(clips / "support" / "tree" / "clip_2.webm", src)
    support = tmp_path / "set"
    res = tool.json("enroll", "--model", model, "--support", support, "--label", "tree",
                    "--link", src, "--name", "linked")
    dest = support / "tree" / "linked.webm"
    assert res["enrolled"][0]["file"] == str(dest)
    assert res["enrolled"][0]["how"] == "hard link"
    assert os.stat(dest).st_ino == os.stat(src).st_ino
    # enrolling the same file again is not an error
    again = tool.json("enroll", "--model", model, "--support", support, "--label", "tree",
                      dest)
    assert again["enrolled"][0]["how"] == "already in the set"
    assert again["examples"] == {"tree": 1}


def test_enroll_live_source(tool, model, clips, tmp_path):
    support = tmp_path / "set"
    shutil.copytree(clips / "support", support)
    res = tool.json("enroll", "--model", model, "--support", support, "--label", "bars",
                    "--source", "videotestsrc pattern=smpte ! video/x-raw,width=160,height=120",
                    "--seconds", "1", "--name", "smpte")
    feat = support / "bars" / "smpte.hyrsm"
    assert res["enrolled"][0]["file"] == str(feat)
    t, md = safetensors_io.read(str(feat))
    assert t["features"].shape == (8, 512)
    assert np.all(t["features"] >= 0)
    assert int(md["hyrsm.duration"]) == pytest.approx(1e9, rel=0.1)
    assert md["hyrsm.source"].startswith("videotestsrc")
    # another recording of the same source is recognised
    other = tmp_path / "q"
    tool.json("enroll", "--model", model, "--support", other, "--label", "bars",
              "--source", "videotestsrc pattern=smpte ! video/x-raw,width=160,height=120",
              "--seconds", "1", "--name", "again")
    out = tool.json("classify", "--model", model, "--support", support,
                    other / "bars" / "again.hyrsm")
    assert out["results"][0]["label"] == "bars"


def test_enroll_errors_leave_the_set_unchanged(tool, model, clips, tmp_path):
    support = tmp_path / "set"
    enroll_all(tool, model, support, clips)
    before = sorted(str(p) for p in support.rglob("*"))

    missing = tmp_path / "absent.mkv"
    r = tool("enroll", "--model", model, "--support", support, "--label", "ball", missing)
    assert r.returncode == 1 and str(missing) in r.stderr

    junk = clips / "junk" / "truncated.mkv"
    r = tool("enroll", "--model", model, "--support", support, "--label", "newlabel", junk)
    assert r.returncode == 1
    assert str(junk) in r.stderr and "cannot be used" in r.stderr
    assert "warning" not in r.stderr

    notes = clips / "junk" / "notes.txt"
    r = tool("enroll", "--model", model, "--support", support, "--label", "ball", notes)
    assert r.returncode == 1 and str(notes) in r.stderr and "not a video clip" in r.stderr

    r = tool("enroll", "--model", model, "--support", support, "--label", "ball",
             clips / "support" / "tree" / "clip_1.mkv")
    assert r.returncode == 1 and "already exists" in r.stderr and "--force" in r.stderr

    r = tool("enroll", "--model", model, "--support", support, "--label", "x",
             "--source", "nosuchelement")
    assert r.returncode == 1 and "nosuchelement" in r.stderr

    assert sorted(str(p) for p in support.rglob("*")) == before

    for bad in (["--label", "../up"], ["--label", ".hidden"], ["--label", "a", "--seconds", "-1",
                                                                "--source", "videotestsrc"],
                ["--label", "a", "--source", "videotestsrc", "x.mkv"], ["--label", "a"]):
        r = tool("enroll", "--model", model, "--support", support, *bad)
        assert r.returncode == 2, (bad, r.stderr)


def test_enroll_force_replaces(tool, model, clips, tmp_path):
    support = tmp_path / "set"
    enroll_all(tool, model, support, clips)
    r = tool("enroll", "--model", model, "--support", support, "--label", "ball", "--force",
             "--name", "clip_1", clips / "support" / "tree" / "clip_1.mkv")
    assert r.returncode == 0, r.stderr
    out = tool.json("classify", "--model", model, "--support", support,
                    clips / "support" / "tree" / "clip_1.mkv")
    # both "ball" and "tree" now hold the same clip
    d = out["results"][0]["distances"]
    assert d["ball"] == pytest.approx(0.0, abs=1e-5) and d["tree"] == pytest.approx(0.0, abs=1e-5)
