"""A click detector: full-band discontinuities that stand far above the local level.

A click (a sample jump at a splice, a window edge, a gate, a stem that starts or ends on
a non-zero sample) puts energy into every band at one instant. A real transient (glass,
a footstep, a crackle of fire) rises from its own sound: the signal's roughness right
after its onset is of the same order as the onset itself. The detector therefore asks, at
every sample:

1. roughness: the second difference ``x[n+1] - 2 x[n] + x[n-1]`` (a high-pass that whitens
   most program material) is at least ``ratio`` times the local level, the larger of its
   median magnitude over ``context`` before and after (a gap of ``gap`` left out on both
   sides, so the click does not raise its own reference), and above ``floor_db`` dBFS;
2. full band: in a short Hann window at the sample, the energy in each of the bands
   1-4 kHz, 4-10 kHz and 10 kHz-Nyquist (those the rate has) is at least ``band_ratio``
   times the mean of the same band in the windows ``band_offsets`` away on the louder side.

Detections closer than ``merge`` are one click. The signal is padded with zeros, so a
stem edge on a non-zero sample is a click. Parameters were set on synthetic clicks
(impulses and steps) inserted into corpus recordings and into silence (see
tests/test_clicks.py), never on an engine's output.
"""

from __future__ import annotations

import numpy as np
import scipy.signal

RATIO = 30.0
BAND_RATIO = 10.0
FLOOR_DB = -70.0
CONTEXT_S = 0.005
GAP_S = 0.0005
MERGE_S = 0.005
BANDS_HZ = ((2000.0, 6000.0), (6000.0, 12000.0), (12000.0, None))
_PAD = 16


def _block_medians(a: np.ndarray, block: int) -> np.ndarray:
    n = a.shape[0] // block * block
    m = np.median(a[:n].reshape(-1, block), axis=1)
    if n < a.shape[0]:
        m = np.append(m, np.median(a[n:]))
    return m


def _side_levels(a: np.ndarray, sr: int, context: float, gap: float) -> np.ndarray:
    """Per sample: max(median |a| over [n-gap-context, n-gap], over [n+gap, n+gap+context]), via 0.5 ms blocks."""
    block = max(1, int(round(sr * 0.0005)))
    med = _block_medians(a, block)
    k_ctx = max(1, int(round(context * sr / block)))
    k_gap = max(1, int(np.ceil(gap * sr / block)))
    c = np.concatenate([[0.0], np.cumsum(med)])
    nb = med.shape[0]
    idx = np.arange(nb)
    lo_a, lo_b = np.clip(idx - k_gap - k_ctx, 0, nb), np.clip(idx - k_gap, 0, nb)
    hi_a, hi_b = np.clip(idx + k_gap + 1, 0, nb), np.clip(idx + k_gap + 1 + k_ctx, 0, nb)
    before = (c[lo_b] - c[lo_a]) / np.maximum(lo_b - lo_a, 1)
    after = (c[hi_b] - c[hi_a]) / np.maximum(hi_b - hi_a, 1)
    level = np.maximum(before, after)
    return np.repeat(level, block)[: a.shape[0]]


def _band_energies(x: np.ndarray, centre: int, win: np.ndarray, masks: list[np.ndarray]) -> np.ndarray:
    h = win.shape[0] // 2
    p = np.abs(np.fft.rfft(x[centre - h: centre - h + win.shape[0]] * win)) ** 2
    return np.array([p[m].sum() for m in masks])


def find_clicks(audio, sr: int, *, ratio: float = RATIO, band_ratio: float = BAND_RATIO,
                floor_db: float = FLOOR_DB, context: float = CONTEXT_S, gap: float = GAP_S,
                merge: float = MERGE_S) -> list[float]:
    """Times (s) of the clicks in ``audio`` (mono, or channels averaged) at ``sr`` Hz."""
    x = np.asarray(audio, dtype=np.float64)
    if x.ndim > 1:
        x = x.mean(axis=1)
    if x.size == 0:
        return []
    pad = _PAD + int(sr * 0.008)  # zeros beyond both edges: a stem edge on a non-zero sample counts
    x = np.pad(x, (pad, pad))
    d = np.zeros_like(x)
    d[1:-1] = x[2:] - 2.0 * x[1:-1] + x[:-2]
    a = np.abs(d)
    cand = np.flatnonzero((a > ratio * _side_levels(a, sr, context, gap)) & (a > 10.0 ** (floor_db / 20.0)))
    if cand.size == 0:
        return []
    n_win = max(16, int(round(sr * 0.003)) // 2 * 2)
    win = scipy.signal.windows.blackmanharris(n_win)  # -92 dB sidelobes: low tones do not leak into the bands
    freqs = np.fft.rfftfreq(n_win, 1.0 / sr)
    masks = [(freqs >= lo) & (freqs < (hi or sr)) for lo, hi in BANDS_HZ if lo < 0.45 * sr]
    offsets = [int(round(sr * s)) for s in (0.004, 0.005, 0.006)]
    out: list[float] = []
    last = -np.inf
    for n in cand:
        if n - last < merge * sr:
            continue
        here = _band_energies(x, n, win, masks)
        before = np.mean([_band_energies(x, n - o, win, masks) for o in offsets], axis=0)
        after = np.mean([_band_energies(x, n + o, win, masks) for o in offsets], axis=0)
        if np.all(here >= band_ratio * np.maximum(np.maximum(before, after), 1e-20)):
            out.append(min(max((n - pad) / sr, 0.0), (x.shape[0] - 2 * pad) / sr))
            last = n
    return out


def clicks_per_minute(audio, sr: int, **kw) -> float:
    n = np.asarray(audio).shape[0]
    return len(find_clicks(audio, sr, **kw)) / max(n / sr / 60.0, 1e-9)
