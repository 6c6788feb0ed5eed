"""The decomposition's exact math (MELQCD_SPEC.md section 2) against a plain numpy reference."""

import itertools

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from melfoley.core import qcd
from melfoley.core.audio import load_audio
from melfoley.core.mel import LOG_CEIL, LOG_FLOOR, log_mel


def reference_decompose(logmel: np.ndarray):
    """A loop-by-loop numpy transcription of the spec, for cross-checking the vectorised code."""
    n, t = logmel.shape
    per = n // 8
    bands = np.stack([logmel[k * per:(k + 1) * per].mean(axis=0) for k in range(8)])  # low -> high
    x = (np.clip(bands, LOG_FLOOR, LOG_CEIL) - LOG_FLOOR) / (LOG_CEIL - LOG_FLOOR)
    x = x[::-1]  # row 0 = highest band
    e = np.empty(t)
    d = np.empty(t)
    s = np.empty((8, t), dtype=np.int64)
    for j in range(t):
        col = x[:, j]
        e[j] = col.mean()
        d[j] = col.std()
        if d[j] == 0:
            d[j] = 1.0
        for k in range(8):
            s[k, j] = min(1, max(-1, round((col[k] - e[j]) / d[j])))  # Python round: half to even
    codes = np.zeros((2, t), dtype=np.int64)
    for g in range(2):
        for i in range(4):
            codes[g] += (s[4 * g + i] + 1) * 3**i
    return e, d, s, codes


def test_all_6561_ternary_vectors_round_trip():
    vecs = np.array(list(itertools.product([-1, 0, 1], repeat=8)), dtype=np.int8).T  # [8, 6561]
    codes = qcd.encode(torch.from_numpy(vecs))
    assert codes.shape == (2, 6561)
    assert int(codes.min()) == 0 and int(codes.max()) == 80
    # the code pair is a bijection onto [0, 81)^2
    pairs = set(zip(codes[0].tolist(), codes[1].tolist()))
    assert len(pairs) == 6561
    assert torch.equal(qcd.decode(codes), torch.from_numpy(vecs))


def test_code_formula_digit_order():
    s = torch.tensor([1, -1, 0, 0, -1, -1, -1, 1], dtype=torch.int8).view(8, 1)
    codes = qcd.encode(s).view(-1).tolist()
    assert codes == [(2) * 1 + 0 * 3 + 1 * 9 + 1 * 27, 0 + 0 + 0 + 2 * 27]
    assert qcd.SILENT_CODE == 40


def test_matches_numpy_reference_on_corpus_files(corpus_sample):
    for item in corpus_sample[::6]:
        logmel = log_mel(load_audio(item.path, "auffusion16k")[: 16000 * 3], "auffusion16k").double()
        e, d, s = qcd.decompose(logmel)
        re, rd, rs, rc = reference_decompose(logmel.numpy())
        np.testing.assert_allclose(e.numpy(), re, atol=1e-12)
        np.testing.assert_allclose(d.numpy(), rd, atol=1e-12)
        np.testing.assert_array_equal(s.numpy(), rs)
        np.testing.assert_array_equal(qcd.encode(s).numpy(), rc)


def test_zero_variance_and_silent_frames():
    logmel = torch.full((256, 5), LOG_FLOOR, dtype=torch.float64)
    logmel[:, 2] = 0.0  # flat but loud: zero spread
    e, d, s = qcd.decompose(logmel)
    assert torch.all(d == 1)
    assert torch.all(s == 0)
    assert abs(float(e[0])) < 1e-12 and 0 < e[2] < 1
    assert torch.all(qcd.encode(s) == qcd.SILENT_CODE)


def test_round_half_to_even_at_the_threshold():
    # bands chosen so that one z-score is exactly +0.5: it must round to 0, not 1
    x = torch.tensor([0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.0, 1.0], dtype=torch.float64).view(8, 1)
    e, d, s = qcd.decompose_bands(x)
    z = (x.view(-1) - e) / d
    assert torch.equal(s.view(-1), torch.round(z).clamp(-1, 1).to(torch.int8))
    x2 = torch.tensor([0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0], dtype=torch.float64).view(8, 1)
    _, d2, s2 = qcd.decompose_bands(x2)
    assert float(d2) == 0.5 and s2.view(-1).tolist() == [-1, -1, -1, -1, 1, 1, 1, 1]


def test_recompose_and_released_double_recomposition():
    e = torch.tensor([0.4]); d = torch.tensor([0.1])
    s = torch.tensor([[1], [0], [-1], [0], [0], [0], [0], [0]], dtype=torch.int8)
    f = qcd.recompose_bands(e, d, s)
    assert torch.allclose(f[:3, 0], torch.tensor([0.5, 0.4, 0.3]))
    g = qcd.recompose_bands(e, d, s, released=True)
    assert torch.allclose(g[0, 0], torch.tensor(0.4 + 0.1 * 0.5))


def test_qcd_beats_released_recomposition_on_corpus(corpus_sample):
    ours, released = [], []
    for item in corpus_sample[::8]:
        logmel = log_mel(load_audio(item.path, "auffusion16k"), "auffusion16k")
        e, d, s = qcd.decompose(logmel)
        ours.append(qcd.reconstruction_error(logmel, e, d, s))
        released.append(qcd.reconstruction_error(logmel, e, d, s, released=True))
    assert np.mean(ours) < np.mean(released)


def test_control_image_layout_and_padding():
    e = torch.linspace(0.2, 0.6, 1000); d = torch.full((1000,), 0.1)
    s = torch.zeros(8, 1000, dtype=torch.int8); s[0] = 1; s[7] = -1  # highest band loud, lowest quiet
    img = qcd.control_image(e, d, qcd.encode(s), 256, frames=1024)
    assert img.shape == (3, 256, 1024)
    assert torch.equal(img[0], img[1]) and torch.equal(img[1], img[2])
    assert img.min() >= -1 and img.max() <= 1
    # row 0 (top) is the highest band, the bottom row the lowest: low frequencies at the bottom
    assert img[0, 0, 10] > img[0, 255, 10]
    assert torch.all(img[0, :, 1000:] == -1)  # padded tail is silence on the same grid
    compat = qcd.control_image(e, d, qcd.encode(s), 256, frames=1024, released_compat=True)
    # released behaviour stretches E over 1024 frames: the ramp reaches its end at the last frame
    assert compat[0, 128, -1] > img[0, 128, 999] - 1e-6 and compat[0, 128, 1010] > -1


@settings(max_examples=60, deadline=None)
@given(arrays(np.float64, st.tuples(st.just(16), st.integers(1, 12)),
              elements=st.floats(-14, 7, allow_nan=False)))
def test_property_vectorised_equals_reference(logmel):
    e, d, s = qcd.decompose(torch.from_numpy(logmel))
    re, rd, rs, rc = reference_decompose(logmel)
    np.testing.assert_allclose(e.numpy(), re, atol=1e-12)
    np.testing.assert_allclose(d.numpy(), rd, atol=1e-12)
    np.testing.assert_array_equal(s.numpy(), rs)


@settings(max_examples=60, deadline=None)
@given(arrays(np.int64, st.tuples(st.just(2), st.integers(0, 40)), elements=st.integers(0, 80)))
def test_property_codes_round_trip(codes):
    assert torch.equal(qcd.encode(qcd.decode(torch.from_numpy(codes))), torch.from_numpy(codes))


def test_decode_rejects_out_of_range_codes():
    with pytest.raises(ValueError, match="codes must lie"):
        qcd.decode(torch.tensor([[81], [0]]))


def test_mel_bins_must_divide_into_eight():
    with pytest.raises(ValueError, match="divide"):
        qcd.band_pool(torch.zeros(100, 4))
