"""Stem levels (melfoley.core.levels): true peak, the ceiling, loudness, edge fades."""


import numpy as np
import pytest

from melfoley.core.errors import MelfoleyError
from melfoley.core.levels import apply_levels, edge_fades, fit_ceiling, integrated_loudness, true_peak_db

SR = 48000


def _intersample_sine(n=SR):
    """A sine at fs/4 sampled 45 degrees off its crest: samples reach 0.707, the waveform 1.0."""
    t = np.arange(n)
    return np.sin(2 * np.pi * t / 4 + np.pi / 4).astype(np.float32)


def test_true_peak_sees_the_peak_between_samples():
    x = _intersample_sine()
    assert np.abs(x).max() == pytest.approx(0.7071, abs=1e-3)
    assert true_peak_db(x) == pytest.approx(0.0, abs=0.3)  # sample peak alone would say -3 dB


def test_ceiling_reduces_gain_once_and_only_when_needed():
    x = _intersample_sine()
    y, g = fit_ceiling(x, -1.0)
    assert true_peak_db(y) <= -1.0 and g < -0.9
    np.testing.assert_allclose(y / x, y[1] / x[1], rtol=1e-5)  # one static gain: no distortion
    quiet = 0.1 * x
    z, g0 = fit_ceiling(quiet, -1.0)
    assert g0 == 0.0 and np.array_equal(z, quiet)


def test_edge_fades_start_and_end_at_zero():
    x = np.ones(SR, np.float32)
    y = edge_fades(x, SR, 5.0)
    k = int(0.005 * SR)
    assert abs(y[0]) < 1e-3 and abs(y[-1]) < 1e-3
    assert np.all(np.diff(y[:k]) >= 0) and np.all(y[k:-k] == 1.0)
    assert edge_fades(np.ones(3, np.float32), SR).shape == (3,)


def _corpus_clip(corpus_items, label):
    import soundfile as sf

    item = sorted((c for c in corpus_items if c.label == label), key=lambda c: str(c.path))[0]
    y, sr = sf.read(str(item.path), dtype="float32", always_2d=True)
    return y.mean(1), sr


def test_loudness_target_on_a_real_recording(corpus_items):
    y, sr = _corpus_clip(corpus_items, "rain")
    y = 0.05 * y / np.abs(y).max()
    out, rep = apply_levels(y, sr, loudness=-23.0)
    assert integrated_loudness(out, sr) == pytest.approx(-23.0, abs=0.3)
    assert rep["loudness_lufs"] == pytest.approx(-23.0, abs=0.3) and rep["true_peak_dbtp"] <= -1.0


def test_the_ceiling_wins_over_a_loud_target_and_says_so(corpus_items):
    y, sr = _corpus_clip(corpus_items, "glass_break")
    out, rep = apply_levels(y, sr, loudness=-3.0)
    assert true_peak_db(out) <= -1.0
    assert "under the target" in rep["loudness_note"]


def test_bad_targets_and_samples_are_refused_clearly():
    with pytest.raises(MelfoleyError, match="--loudness"):
        apply_levels(np.zeros(SR, np.float32), SR, loudness=12.0)
    bad = np.zeros(SR, np.float32)
    bad[5] = np.nan
    with pytest.raises(MelfoleyError, match="NaN"):
        apply_levels(bad, SR)
    assert integrated_loudness(np.zeros(100, np.float32), SR) is None


# ---------------------------------------------------------------------------- stems through the batch
def _batch(tmp_path, name, *, meta=None, handles=0.0, loudness=None):
    from fractions import Fraction

    from melfoley.plugin.batch import BatchConfig, BatchRunner
    from melfoley.plugin.jobs import BatchDefaults
    from test_timeline_media import clip, edit, gap, render_media

    rate = Fraction(25)
    media = render_media(tmp_path, "bounce.mp4", rate, 4.0, kind="bounce")
    tl = edit(tmp_path / f"{name}.otio", [[gap(10, rate), clip("c", media, 20, 60, rate, media_frames=100, meta=meta)]],
              rate, start_frames=90000)
    cfg = BatchConfig(timeline=tl, out_dir=tmp_path / name, use_cache=False,
                      defaults=BatchDefaults(prompt="glass breaking", engine="debug", handles=handles, loudness=loudness))
    report = BatchRunner(cfg).run()
    assert report.ok, [c.reason for c in report.clips]
    import opentimelineio as otio

    out = otio.adapters.read_from_file(report.output_timeline)
    (oc,) = [c for t in out.audio_tracks() for c in t.find_clips()]
    return oc, out  # the timeline keeps the clip's parent alive


def _read(oc):
    import json

    import soundfile as sf
    from wavinfo import WavInfoReader

    path = oc.media_reference.target_url.removeprefix("file://")
    y, sr = sf.read(path, dtype="float64")
    side = json.loads(open(oc.metadata["melfoley"]["sidecar"]).read())
    return y, sr, WavInfoReader(path).bext.time_reference, side


def test_no_stem_over_the_ceiling_with_the_curve_drawn_at_one_and_edges_at_zero(tmp_path):
    oc, _ = _batch(tmp_path, "full", meta={"energy": [1.0, 1.0]})
    y, sr, _, side = _read(oc)
    assert true_peak_db(y) <= -1.0
    assert side["audio"]["levels"]["true_peak_dbtp"] <= -1.0 and side["audio"]["levels"]["ceiling_dbtp"] == -1.0
    assert abs(y[0]) < 1e-4 and abs(y[-1]) < 1e-4  # the cut starts and ends on silence: no click


def test_handles_keep_the_record_position_exact(tmp_path):
    a, ta = _batch(tmp_path, "plain")
    b, tb = _batch(tmp_path, "handles", handles=0.5)
    (pic,) = [c for t in tb.video_tracks() for c in t.find_clips()]
    ya, sr, tref_a, side_a = _read(a)
    yb, _, tref_b, side_b = _read(b)
    hs = side_b["audio"]["handle_samples"]
    assert hs == 24000 and yb.shape[0] == ya.shape[0] + 2 * hs and side_b["audio"]["cut_samples"] == ya.shape[0]
    assert tref_b == tref_a - hs
    # the timeline clip plays the cut only, at the same record position
    assert b.range_in_parent() == a.range_in_parent() == pic.range_in_parent() and b.source_range == a.source_range
    avail = b.media_reference.available_range
    assert avail.start_time.to_seconds() == pytest.approx(a.source_range.start_time.to_seconds() - 0.5, abs=1e-9)
    assert avail.duration.to_seconds() == pytest.approx(a.source_range.duration.to_seconds() + 1.0, abs=1e-9)
    # the sound of each contact sits at the same sample of the cut with or without handles
    env = lambda y: np.log(np.convolve(y ** 2, np.ones(480) / 480, mode="same")[::240] + 1e-9)
    ea, eb = env(ya), env(yb[hs:hs + ya.shape[0]])
    lags = range(-8, 9)
    xc = [np.corrcoef(ea[20 + L:len(ea) - 20 + L], eb[20:len(eb) - 20])[0, 1] for L in lags]
    assert list(lags)[int(np.argmax(xc))] == 0 and max(xc) > 0.8


def test_the_debug_engine_holds_the_ceiling_at_the_source_and_says_so():
    from melfoley.core.engine import FoleyRequest, get_engine

    frames = np.full((50, 32, 32, 3), 40, np.uint8)
    frames[20:, 8:16, 8:16] = 230
    req = FoleyRequest(None, 0.0, 2.0, "glass breaking", frames=frames, frame_rate=25.0, energy=np.ones(10))
    (take,) = get_engine("debug").generate([req])[0]
    lv = take.metadata["levels"]
    assert lv["true_peak_in_dbtp"] > 20.0  # E = 1 asks for far more than full scale ...
    assert true_peak_db(take.audio) <= -1.0 and lv["gain_db"] < -20 and lv["method"] == "static gain"  # ... it gets -1
