"""Frame-accurate decoding (melfoley.core.video) on generated counter videos and the corpus.

Counter videos show their own frame index as a bar code (melfoley.core.synthvideo), so a
test reads back exactly which source frames a range decoded to.
"""

from __future__ import annotations

import csv
import math
from fractions import Fraction

import numpy as np
import pytest

from melfoley.core import synthvideo as sv
from melfoley.core.corpus import corpus_root
from melfoley.core.errors import MediaError
from melfoley.core.video import TOL, Frames, probe, read_frames

RATES = [Fraction(24000, 1001), Fraction(24), Fraction(25), Fraction(30000, 1001), Fraction(30), Fraction(50),
         Fraction(60000, 1001)]
SECONDS = 3.0
GOP = 12
VIDEO_DIR = corpus_root() / "video"


def _expected(times: list[float], start: float, duration: float) -> list[int]:
    return [i for i, t in enumerate(times) if start - TOL <= t < start + duration - TOL]


@pytest.fixture(scope="module")
def counters(tmp_path_factory):
    """One counter video per rate (libx264 .mp4 with B-frames, GOP 12), and two .mov/mpeg4 ones."""
    root = tmp_path_factory.mktemp("counters")
    out = {}
    for rate in RATES:
        n = int(math.ceil(SECONDS * rate))
        path = root / f"c_{float(rate):.3f}.mp4"
        out[(rate, "mp4")] = (path, sv.render_counter_video(path, rate, n, size=(160, 120), gop=GOP))
    for rate in (Fraction(24000, 1001), Fraction(25)):
        n = int(math.ceil(SECONDS * rate))
        path = root / f"c_{float(rate):.3f}.mov"
        out[(rate, "mov")] = (path, sv.render_counter_video(path, rate, n, size=(160, 120), gop=GOP, codec="mpeg4"))
    return out


def _indices(frames: Frames) -> list[int]:
    return [sv.read_counter(f) for f in frames.frames]


@pytest.mark.parametrize("rate", RATES, ids=lambda r: f"{float(r):.3f}")
def test_probe_exact_rate_and_count(counters, rate):
    path, times = counters[(rate, "mp4")]
    info = probe(path)
    assert info.fps == rate  # exact, e.g. 24000/1001 and not 23.976
    assert info.frame_count == len(times)
    assert not info.variable_frame_rate
    assert info.has_video and (info.width, info.height) == (160, 120)
    assert info.duration == pytest.approx(len(times) / float(rate), abs=1e-3)


@pytest.mark.parametrize("rate", RATES, ids=lambda r: f"{float(r):.3f}")
def test_range_mid_gop_is_frame_exact(counters, rate):
    path, times = counters[(rate, "mp4")]
    first = GOP + 5  # mid-GOP: the decoder must start at the keyframe before and drop the lead-in
    start, duration = float(first / rate), float(23 / rate)
    got = read_frames(path, start, duration, size=None)
    want = _expected(times, start, duration)
    assert want[0] == first and len(want) == 23
    assert _indices(got) == want
    np.testing.assert_allclose(got.times, [times[i] for i in want], atol=1e-4)
    assert got.frames.dtype == np.uint8 and got.frames.shape[1:] == (120, 160, 3)
    assert got.fps == pytest.approx(float(rate))


@pytest.mark.parametrize("rate", RATES, ids=lambda r: f"{float(r):.3f}")
def test_start_between_frames_and_resampled_grid(counters, rate):
    path, times = counters[(rate, "mp4")]
    start = float((31 + 0.4) / rate)  # between frames 31 and 32
    got = read_frames(path, start, 0.5, size=64)
    assert _indices(got) == _expected(times, start, 0.5)
    assert _indices(got)[0] == 32
    # a 10 fps grid takes the nearest-earlier frame at every grid point (a frame within
    # TOL after a grid point counts as at it)
    grid = read_frames(path, start, 1.0, size=64, fps=10.0)
    assert grid.fps == 10.0 and len(grid.times) == 10
    np.testing.assert_allclose(grid.times, start + np.arange(10) / 10.0)
    ts = np.asarray(times)
    want = [int(np.flatnonzero(ts <= start + k / 10.0 + TOL)[-1]) for k in range(10)]
    assert _indices(grid) == want
    assert min(grid.frames.shape[1:3]) == 64


@pytest.mark.parametrize("rate", [Fraction(24000, 1001), Fraction(25)], ids=["23.976", "25"])
def test_mov_mpeg4(counters, rate):
    path, times = counters[(rate, "mov")]
    assert probe(path).fps == rate
    got = read_frames(path, float(14 / rate), 1.0, size=None)
    assert _indices(got) == _expected(times, float(14 / rate), 1.0)


def test_whole_file_and_range_past_the_end(counters):
    path, times = counters[(Fraction(30000, 1001), "mp4")]
    whole = read_frames(path, 0.0, 100.0, size=32)  # past the end: what exists comes back
    assert _indices(whole) == list(range(len(times)))
    tail = read_frames(path, times[-5], 10.0, size=32, fps=30000 / 1001)
    assert _indices(tail) == list(range(len(times) - 5, len(times)))
    with pytest.raises(MediaError, match=r"clip 'C7'.*nothing to decode.*ends at"):
        read_frames(path, times[-1] + 1.0, 1.0, clip_id="C7")


def test_variable_frame_rate(tmp_path):
    path = tmp_path / "vfr.mp4"
    times = sv.render_counter_video(path, 30, 90, size=(160, 120), vfr=True, seed=3)
    assert len(set(np.round(np.diff(times), 5))) > 2  # really irregular
    info = probe(path)
    assert info.variable_frame_rate and info.frame_count == 90
    native = read_frames(path, 0.7, 1.3, size=None)
    want = _expected(times, 0.7, 1.3)
    assert _indices(native) == want
    np.testing.assert_allclose(native.times, [times[i] for i in want], atol=1e-4)
    # conformed to 25 fps: each grid point shows the last frame presented at or before it
    grid = read_frames(path, 0.7, 1.3, size=None, fps=25.0)
    ts = np.asarray(times)
    want_grid = [int(np.flatnonzero(ts <= t + TOL)[-1]) for t in 0.7 + np.arange(33) / 25.0]
    assert len(grid.times) == 33 and _indices(grid) == want_grid


# ---------------------------------------------------------------------------- corpus
def _corpus_rows():
    manifest = VIDEO_DIR / "manifest.csv"
    if not manifest.exists():
        return []
    with manifest.open(newline="") as fh:
        return list(csv.DictReader(fh))


needs_corpus = pytest.mark.skipif(not (VIDEO_DIR / "manifest.csv").exists(),
                                  reason=f"corpus videos not found at {VIDEO_DIR} (set MELFOLEY_CORPUS)")


@needs_corpus
@pytest.mark.parametrize("row", _corpus_rows(), ids=lambda r: r["path"])
def test_corpus_probe_and_seek_match_sequential_decode(row):
    path = VIDEO_DIR / row["path"]
    info = probe(path)
    w, h = map(int, row["resolution"].split("x"))
    assert (info.width, info.height) == (w, h)
    assert float(info.fps) == pytest.approx(float(row["fps"]))
    assert info.duration == pytest.approx(float(row["duration_s"]), abs=1.5 / float(info.fps))
    assert not info.variable_frame_rate
    everything = read_frames(path, 0.0, info.duration + 1.0, size=48)
    assert len(everything.times) == info.frame_count
    np.testing.assert_allclose(np.diff(everything.times), 1 / float(info.fps), atol=1e-4)
    # a range from the middle, decoded after a seek, is pixel-identical to the same frames
    # decoded sequentially from the start
    k0 = info.frame_count // 2 - 3
    start = float(k0 / info.fps)
    part = read_frames(path, start, float(7 / info.fps), size=48)
    assert len(part.times) == 7
    np.testing.assert_array_equal(part.frames, everything.frames[k0:k0 + 7])
    np.testing.assert_allclose(part.times, everything.times[k0:k0 + 7])


@needs_corpus
def test_corpus_sizes():
    bbb = read_frames(VIDEO_DIR / "bigbuckbunny.mp4", 1.0, 0.4, clip_id="bbb")
    assert bbb.frames.shape == (10, 224, 398, 3)  # 1280x720 -> short side 224, aspect kept


@pytest.mark.skipif(not (VIDEO_DIR / "picchu_seq0100_snippet_dnx.mov").exists(),
                    reason="the DNxHD clip is only in the full corpus (tests/data leaves it out: licence unverified)")
def test_corpus_dnxhd():
    dnx = read_frames(VIDEO_DIR / "picchu_seq0100_snippet_dnx.mov", 0.5, 0.25, size=None)
    assert dnx.frames.shape == (6, 1080, 1920, 3)
    assert dnx.frames.std() > 1.0  # real picture, not a blank


# ---------------------------------------------------------------------------- errors
def test_missing_file_names_clip_file_and_fix(tmp_path):
    missing = tmp_path / "gone.mov"
    with pytest.raises(MediaError, match=r"clip 'A012'.*gone\.mov.*not found.*relink"):
        read_frames(missing, 0, 1, clip_id="A012")
    with pytest.raises(MediaError, match="not found"):
        probe(missing)


def test_audio_only_and_garbage_files(tmp_path):
    import soundfile as sf

    wav = tmp_path / "tone.wav"
    sf.write(wav, np.zeros(4800, np.float32), 48000)
    with pytest.raises(MediaError, match=r"no video stream"):
        read_frames(wav, 0, 0.05, clip_id="snd")
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"this is not a movie" * 100)
    with pytest.raises(MediaError, match=r"junk\.mp4.*(cannot be opened|corrupt)"):
        read_frames(junk, 0, 1)


def test_truncated_file(counters, tmp_path):
    path, times = counters[(Fraction(25), "mp4")]
    cut = tmp_path / "cut.mp4"
    data = path.read_bytes()
    cut.write_bytes(data[: len(data) // 3])  # the moov atom (at the end) is gone
    with pytest.raises(MediaError, match=r"cut\.mp4"):
        read_frames(cut, 0, 1)


def test_bad_ranges(counters):
    path, _ = counters[(Fraction(25), "mp4")]
    for start, dur in ((-1.0, 1.0), (0.0, 0.0), (float("nan"), 1.0)):
        with pytest.raises(MediaError, match="source range"):
            read_frames(path, start, dur, clip_id="X")
