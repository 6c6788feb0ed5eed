"""Audio in: every bad input gets a clear error naming the file and the fix."""

import numpy as np
import pytest
import soundfile as sf

from melfoley.core.audio import load_audio, prepare_waveform
from melfoley.core.control import QCDControl
from melfoley.core.errors import AudioInputError, MelfoleyError


def test_corpus_file_loads_mono_resampled_and_peak_normalised(corpus_sample):
    item = corpus_sample[0]
    x = load_audio(item.path, "auffusion16k")
    assert x.dtype == np.float32 and x.ndim == 1
    assert abs(len(x) / 16000 - item.duration) < 0.01
    assert np.isclose(np.abs(x).max(), 0.95, atol=1e-4)


def test_stereo_is_downmixed_and_odd_rates_resample(tmp_path):
    t = np.arange(int(0.5 * 44100)) / 44100
    left = np.sin(2 * np.pi * 440 * t)
    stereo = np.stack([left, -0.5 * left], axis=1).astype(np.float32)
    path = tmp_path / "stereo.wav"
    sf.write(path, stereo, 44100)
    x = load_audio(path, "auffusion16k")
    assert abs(len(x) - 8000) <= 1
    odd = prepare_waveform(np.sin(2 * np.pi * 300 * np.arange(11025) / 11025), 11025, "hifigan22k")
    assert abs(len(odd) - 22050) <= 1
    # a 300 Hz tone stays a 300 Hz tone after resampling
    spec = np.abs(np.fft.rfft(odd))
    assert abs(np.argmax(spec) * 22050 / len(odd) - 300) < 2


def test_integer_pcm_is_scaled():
    pcm = (np.sin(np.linspace(0, 100, 4000)) * 20000).astype(np.int16)
    x = prepare_waveform(pcm, 16000, "auffusion16k", normalise=False)
    assert 0.5 < np.abs(x).max() <= 1.0


@pytest.mark.parametrize(
    "wave, rate, pattern",
    [
        (np.zeros(0, np.float32), 16000, "empty"),
        (np.array([0.1, np.nan] * 2000, np.float32), 16000, "NaN"),
        (np.array([0.1, np.inf] * 2000, np.float32), 16000, "NaN/Inf"),
        (np.zeros(500, np.float32), 16000, "needs at least 64 ms"),
        (np.zeros(4000, np.float32), 0, "sample rate"),
        (np.zeros((4000, 2, 2), np.float32), 16000, "shape"),
    ],
)
def test_bad_waveforms_raise_clear_errors(wave, rate, pattern):
    with pytest.raises(AudioInputError, match=pattern) as err:
        prepare_waveform(wave, rate, "auffusion16k", source="take_07.wav")
    assert "take_07.wav" in str(err.value)
    assert isinstance(err.value, MelfoleyError)


def test_missing_and_corrupt_files(tmp_path):
    with pytest.raises(AudioInputError, match="does not exist"):
        load_audio(tmp_path / "nope.wav")
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunkjunk")
    with pytest.raises(AudioInputError, match="bad.wav"):
        load_audio(bad)


def test_silence_decomposes_to_silent_control():
    c = QCDControl.from_waveform(np.zeros(16000, np.float32), 16000)
    assert np.all(c.energy == 0) and np.all(c.spread == 1) and np.all(c.codes == 40)
