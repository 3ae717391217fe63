"""gst-hyrsm eval: the authors' N-way K-shot protocol over a 5-class dataset
of real clips (3 videos and a folder of frames per class)."""
import json
import shutil

import pytest

from cli_helpers import SCENES

EPISODES = "3000"


def run_eval(tool, model, dataset, *args):
    return tool.json("eval", "--model", model, "--dataset", dataset, "--episodes", EPISODES,
                     *args)


def test_same_seed_same_numbers_other_seed_other_numbers(tool, model, confusable_dataset):
    # 5-way episodes out of 6 classes, two of which random features confuse
    # (megamind, megamind_bugy): the accuracy depends on the episodes drawn.
    dataset = confusable_dataset
    a = run_eval(tool, model, dataset, "--seed", "1")
    b = run_eval(tool, model, dataset, "--seed", "1", "--threads", "2")
    c = run_eval(tool, model, dataset, "--seed", "2")
    assert a["accuracy"] == b["accuracy"] and a["ci95"] == b["ci95"]
    assert a["confusion"] == b["confusion"]
    assert c["accuracy"] != a["accuracy"]
    # the features were computed once: the later runs only read the cache
    assert b["decoded"] == 0 and b["cached"] == 24
    for r in (a, c):
        assert r["classes"] == sorted(SCENES + ["megamind_bugy"])
        assert r["way"] == 5 and r["shot"] == 1 and r["query"] == 1
        assert r["episodes"] == int(EPISODES)
        # random weights still tell most of these scenes apart
        assert 0.6 < r["accuracy"] < 1.0
        assert 0 < r["ci95"] < 0.05
        assert r["episodes_per_second"] > 0
        queries = sum(sum(row) for row in r["confusion"])
        assert queries == int(EPISODES) * 5
        correct = sum(r["confusion"][i][i] for i in range(6))
        assert correct / queries == pytest.approx(r["accuracy"])
        for p in r["most_confused"]:
            assert p["true"] != p["predicted"] and p["count"] > 0


def test_more_shots_and_queries(tool, model, dataset):
    r = run_eval(tool, model, dataset, "--way", "3", "--shot", "2", "--query", "2")
    assert r["way"] == 3 and r["shot"] == 2 and r["query"] == 2
    assert sum(sum(row) for row in r["confusion"]) == int(EPISODES) * 3 * 2


def test_text_report(tool, model, dataset):
    r = tool("eval", "--model", model, "--dataset", dataset, "--episodes", "500", "--seed", "7")
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "5-way 1-shot, 1 query per class, 500 episodes, seed 7" in out
    assert "% +- " in out and "(95% confidence interval)" in out
    assert "episodes/s" in out
    assert "Per class:" in out


def test_too_few_classes(tool, model, dataset):
    r = tool("eval", "--model", model, "--dataset", dataset, "--way", "6")
    assert r.returncode == 1
    assert "5 usable classes" in r.stderr and "--way 6" in r.stderr


def test_too_few_clips(tool, model, dataset):
    r = tool("eval", "--model", model, "--dataset", dataset, "--shot", "3", "--query", "2")
    assert r.returncode == 1
    assert "--shot 3 + --query 2" in r.stderr
    for scene in SCENES:
        assert '"%s" (4)' % scene in r.stderr


def test_unreadable_clips_are_skipped_with_a_warning(tool, model, dataset, clips, tmp_path):
    ds = tmp_path / "ds"
    shutil.copytree(dataset, ds)
    shutil.copy(clips / "junk" / "not-video.mp4", ds / "ball" / "broken.mp4")
    r = tool("eval", "--model", model, "--dataset", ds, "--episodes", "200", "--json")
    assert r.returncode == 0, r.stderr
    assert "warning" in r.stderr and "ball/broken.mp4" in r.stderr
    assert json.loads(r.stdout)["clips"] == 20
    # ... and an error when that leaves a class too few clips
    for name in ("clip_1.mkv", "clip_2.webm", "clip_3.avi"):
        (ds / "tree" / name).unlink()
    shutil.copy(clips / "junk" / "truncated.mkv", ds / "tree" / "truncated.mkv")
    r = tool("eval", "--model", model, "--dataset", ds, "--episodes", "200")
    assert r.returncode == 1
    assert "tree/truncated.mkv" in r.stderr  # the warning
    assert '"tree" (1)' in r.stderr  # the error


@pytest.mark.parametrize("args", [
    ["--way", "1"], ["--way", "abc"], ["--shot", "0"], ["--query", "0"], ["--episodes", "0"],
    ["--threads", "0"], ["--seed", "-1"], ["extra-argument"],
])
def test_bad_option_values(tool, model, dataset, args):
    r = tool("eval", "--model", model, "--dataset", dataset, *args)
    assert r.returncode == 2, r.stderr
    assert r.stderr.startswith("gst-hyrsm: eval: ")


def test_missing_inputs(tool, model, dataset, tmp_path):
    r = tool("eval", "--model", model, "--dataset", tmp_path / "none")
    assert r.returncode == 1
    assert "dataset %s does not exist" % (tmp_path / "none") in r.stderr
    r = tool("eval", "--model", tmp_path / "none.safetensors", "--dataset", dataset)
    assert r.returncode == 1
    assert str(tmp_path / "none.safetensors") in r.stderr
