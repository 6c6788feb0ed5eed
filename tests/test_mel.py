"""Mel front-ends: filterbank vs librosa, framing, the image affine, batching."""

import numpy as np
import pytest
import torch

from melfoley.core.audio import load_audio
from melfoley.core.mel import MEL_CONFIGS, LogMel, from_unit, get_mel_config, log_mel, slaney_filterbank, to_unit


@pytest.mark.parametrize("name", sorted(MEL_CONFIGS))
def test_filterbank_matches_librosa_slaney(name):
    librosa = pytest.importorskip("librosa")
    c = MEL_CONFIGS[name]
    ref = librosa.filters.mel(sr=c.sample_rate, n_fft=c.n_fft, n_mels=c.n_mels, fmin=c.f_min, fmax=c.f_max)
    ours = slaney_filterbank(c.sample_rate, c.n_fft, c.n_mels, c.f_min, c.f_max)
    assert ours.shape == ref.shape
    np.testing.assert_allclose(ours, ref, atol=1e-5, rtol=0)


def test_named_configs_hold_the_spec_values():
    a = get_mel_config("auffusion16k")
    assert (a.sample_rate, a.n_fft, a.win_length, a.hop_length, a.n_mels, a.f_max) == (16000, 1024, 1024, 160, 256, 8000)
    assert a.frame_rate == 100.0 and a.pad == 432
    h = get_mel_config("hifigan22k")
    assert (h.sample_rate, h.n_fft, h.hop_length, h.n_mels, h.f_max, h.pad) == (22050, 1024, 256, 80, 8000, 384)
    with pytest.raises(ValueError, match="unknown mel front-end"):
        get_mel_config("nope")


def test_ten_seconds_give_1000_frames():
    x = np.random.default_rng(0).standard_normal(160000).astype(np.float32) * 0.1
    assert log_mel(x, "auffusion16k").shape == (256, 1000)
    assert log_mel(x[:22050], "hifigan22k").shape == (80, 22050 // 256)


def test_logmel_matches_a_plain_numpy_stft_on_corpus_audio(corpus_sample):
    cfg = get_mel_config("auffusion16k")
    x = load_audio(corpus_sample[3].path, cfg)[: 16000]
    padded = np.pad(x, (cfg.pad, cfg.pad), mode="reflect")
    n = 1 + (len(padded) - cfg.n_fft) // cfg.hop_length
    win = np.hanning(cfg.n_fft + 1)[:-1]  # periodic Hann, as torch.hann_window
    frames = np.stack([padded[i * cfg.hop_length: i * cfg.hop_length + cfg.n_fft] * win for i in range(n)], axis=1)
    spec = np.fft.rfft(frames, axis=0)
    mag = np.sqrt(spec.real**2 + spec.imag**2 + 1e-9)
    ref = np.log(np.maximum(slaney_filterbank(16000, 1024, 256, 0.0, 8000.0) @ mag, 1e-5))
    ours = log_mel(x, cfg).numpy()
    assert ours.shape == ref.shape
    # float32 vs float64 FFT: compare in the linear domain (log differences blow up near the floor)
    np.testing.assert_allclose(np.exp(ours), np.exp(ref), rtol=1e-3, atol=1e-6)


def test_batched_equals_one_by_one():
    rng = np.random.default_rng(1)
    batch = torch.from_numpy(rng.standard_normal((3, 8000)).astype(np.float32))
    together = LogMel("auffusion16k")(batch)
    for i in range(3):
        torch.testing.assert_close(together[i], log_mel(batch[i], "auffusion16k"), atol=1e-4, rtol=1e-4)


def test_log_floor_and_image_affine():
    silent = np.zeros(4000, dtype=np.float32)
    m = log_mel(silent, "auffusion16k")
    assert torch.allclose(m, torch.full_like(m, np.log(1e-5)), atol=1e-4)  # sqrt(1e-9) is below the clamp
    unit = to_unit(torch.tensor([np.log(1e-6), np.log(1e-5), 0.0, np.log(200.0), 10.0]))
    assert unit[0] == 0 and unit[1] == 0 and unit[3] == 1 and unit[4] == 1
    assert 0 < unit[2] < 1
    back = from_unit(unit[1:4])
    np.testing.assert_allclose(back.numpy(), [np.log(1e-5), 0.0, np.log(200.0)], atol=1e-5)
