"""gst-hyrsm enroll against hostile support files (issue #26): an image that
decodes to a huge frame from a small file, a video over the frame size
limit, a device or a named pipe given as a clip. The limit and what it
bounds are in docs/decisions.md, "Hostile support files"."""
import os
import struct
import subprocess
import zlib

from cli_helpers import PYTHON, tool_env

# gsthyrsmdecode.c MAX_FRAME_PIXELS
MAX_FRAME_PIXELS = 4096 * 4096


def write_png(path, width, height):
    """A black RGB PNG, compressed to almost nothing: 16000 x 16000 is about
    750 KB on disk and 768 MB once decoded."""
    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xffffffff))
    z = zlib.compressobj(9)
    row = b"\0" * (1 + width * 3)  # filter byte, then the pixels
    idat = b"".join(z.compress(row) for _ in range(height)) + z.flush()
    path.write_bytes(b"\x89PNG\r\n\x1a\n"
                     + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
                     + chunk(b"IDAT", idat) + chunk(b"IEND", b""))


def run_measured(tool, *args):
    """Runs gst-hyrsm in a child of a fresh Python, so that the peak
    resident size reported (RUSAGE_CHILDREN) is the tool's alone. Returns
    (CompletedProcess, peak RSS in bytes)."""
    script = ("import resource, subprocess, sys\n"
              "r = subprocess.run(sys.argv[1:])\n"
              "sys.stderr.write('\\nmaxrss_kb=%d\\n' % "
              "resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
              "sys.exit(r.returncode)\n")
    r = subprocess.run([PYTHON, "-c", script, str(tool.path)] + [str(a) for a in args],
                       capture_output=True, text=True, env=tool_env(), timeout=600)
    kb = int(r.stderr.rsplit("maxrss_kb=", 1)[1].split()[0])
    return r, kb * 1024


def test_frame_over_the_size_limit_is_refused_before_decoding(tool, model, tmp_path):
    frames = tmp_path / "bomb"
    frames.mkdir()
    write_png(frames / "0001.png", 16000, 16000)
    write_png(frames / "0002.png", 64, 48)
    assert (frames / "0001.png").stat().st_size < 1024 * 1024
    # What the tool takes without the bomb: the model, GStreamer, a frame.
    small = tmp_path / "small"
    small.mkdir()
    write_png(small / "0001.png", 64, 48)
    ok, base = run_measured(tool, "enroll", "--model", model, "--support",
                            tmp_path / "ok", "--label", "x", small)
    assert ok.returncode == 0, ok.stderr

    r, peak = run_measured(tool, "enroll", "--model", model, "--support",
                           tmp_path / "set", "--label", "x", frames)
    assert r.returncode == 1
    assert "0001.png" in r.stderr and "16000 x 16000" in r.stderr, r.stderr
    assert str(MAX_FRAME_PIXELS) in r.stderr, r.stderr
    # Decoded, the frame alone is 768 MB (RGB; the load peaked at 1.7 GB).
    assert peak < base + 200 * 1024 * 1024, (peak, base)


def test_still_image_clip_over_the_size_limit(tool, model, tmp_path):
    clip = tmp_path / "clip.png"
    write_png(clip, 8000, 6000)
    r = tool("enroll", "--model", model, "--support", tmp_path / "set",
             "--label", "x", clip)
    assert r.returncode == 1
    assert "clip.png" in r.stderr and "8000 x 6000" in r.stderr, r.stderr


def test_video_over_the_size_limit(tool, model, tmp_path):
    """MJPEG in Matroska: the size comes from the container's caps, before
    a decoder is plugged."""
    clip = tmp_path / "wide.mkv"
    subprocess.run(["gst-launch-1.0", "-q", "videotestsrc", "num-buffers=2", "pattern=black",
                    "!", "video/x-raw,width=4200,height=4100", "!", "jpegenc", "!", "matroskamux",
                    "!", "filesink", "location=%s" % clip], check=True, timeout=60)
    r = tool("enroll", "--model", model, "--support", tmp_path / "set",
             "--label", "x", clip)
    assert r.returncode == 1
    assert "wide.mkv" in r.stderr and "4200 x 4100" in r.stderr, r.stderr


def test_enroll_names_a_device_or_a_named_pipe(tool, model, tmp_path):
    fifo = tmp_path / "pipe.mkv"
    os.mkfifo(fifo)
    link = tmp_path / "zero.mkv"
    link.symlink_to("/dev/zero")
    for clip in ("/dev/zero", fifo, link):
        r = tool("enroll", "--model", model, "--support", tmp_path / "set",
                 "--label", "x", clip, timeout=60)
        assert r.returncode == 1
        assert "%s is not a regular file" % clip in r.stderr, r.stderr
    assert not (tmp_path / "set").exists()
