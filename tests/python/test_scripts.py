"""The scripts a user sources or runs by hand behave when used wrongly."""
import pathlib
import subprocess

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_env_sh_from_another_directory_says_so(tmp_path):
    # POSIX sh cannot know where a sourced file is: from elsewhere, env.sh
    # must refuse loudly instead of pointing GStreamer at a build that is
    # not there ("no element hyrsmfilter" later).
    r = subprocess.run(["sh", "-c", ". %s/scripts/env.sh && echo sourced" % ROOT],
                       cwd=tmp_path, capture_output=True, text=True,
                       env={"PATH": "/usr/bin:/bin"})
    assert r.returncode != 0 and "sourced" not in r.stdout
    assert "is not the gst-hyrsm repository root" in r.stderr


def test_env_sh_from_bash_anywhere_finds_the_build(tmp_path):
    r = subprocess.run(["bash", "-c", ". %s/scripts/env.sh && echo $GST_PLUGIN_PATH" % ROOT],
                       cwd=tmp_path, capture_output=True, text=True,
                       env={"PATH": "/usr/bin:/bin"})
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().startswith(str(ROOT / "build" / "src" / "gst" / "plugin"))
