"""Stem levels (melfoley.core.levels): true peak, the ceiling, loudness, edge fades."""

import glob

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


def _corpus_clip(label="rain"):
    import soundfile as sf

    files = sorted(glob.glob(f"/work/shared/corpus/sfx/{label}/*.flac"))
    if not files:
        pytest.skip("corpus not mounted at /work/shared/corpus")
    y, sr = sf.read(files[0], dtype="float32", always_2d=True)
    return y.mean(1), sr


def test_loudness_target_on_a_real_recording():
    y, sr = _corpus_clip("rain")
    y = 0.05 * y / np.abs(y).max()
    out, rep = apply_levels(y, sr, loudness=-23.0)
    assert integrated_loudness(out, sr) == pytest.approx(-23.0, abs=0.3)
    assert rep["loudness_lufs"] == pytest.approx(-23.0, abs=0.3) and rep["true_peak_dbtp"] <= -1.0


def test_the_ceiling_wins_over_a_loud_target_and_says_so():
    y, sr = _corpus_clip("glass_break")
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
