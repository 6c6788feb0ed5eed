"""Pure edits of an energy curve ``E_t`` (float32 in [0, 1], one value per control frame).

Every function returns a new array; none mutates its input. Indices are control frames;
ranges are half-open ``[lo, hi)`` and are clamped to the curve.
"""

from __future__ import annotations

import numpy as np


def _clean(e) -> np.ndarray:
    return np.clip(np.asarray(e, dtype=np.float32).reshape(-1), 0.0, 1.0)


def _span(n: int, lo: int, hi: int) -> tuple[int, int]:
    lo, hi = sorted((int(lo), int(hi)))
    return max(0, lo), min(n, hi)


def draw_segment(e, i0: int, v0: float, i1: int, v1: float) -> np.ndarray:
    """Set frames i0..i1 (inclusive) on the straight line from (i0, v0) to (i1, v1): a pen stroke."""
    out = _clean(e).copy()
    n = out.shape[0]
    if n == 0:
        return out
    if i1 < i0:
        i0, v0, i1, v1 = i1, v1, i0, v0
    a, b = max(0, int(i0)), min(n - 1, int(i1))
    if a > b:
        return out
    idx = np.arange(a, b + 1)
    if i1 == i0:
        out[idx] = v1
    else:
        out[idx] = v0 + (v1 - v0) * (idx - i0) / float(i1 - i0)
    return np.clip(out, 0.0, 1.0)


def drag_point(e, i: int, value: float, radius: int) -> np.ndarray:
    """Move frame ``i`` to ``value``; neighbours within ``radius`` follow with a raised-cosine falloff."""
    out = _clean(e).copy()
    n = out.shape[0]
    if n == 0 or not 0 <= i < n:
        return out
    radius = max(1, int(radius))
    idx = np.arange(max(0, i - radius), min(n, i + radius + 1))
    w = 0.5 * (1.0 + np.cos(np.pi * (idx - i) / (radius + 1)))
    out[idx] += (float(value) - out[i]) * w.astype(np.float32)
    return np.clip(out, 0.0, 1.0)


def smooth(e, lo: int = 0, hi: int | None = None, width: int = 5) -> np.ndarray:
    """Moving average of ``width`` frames over ``[lo, hi)`` (edges reflect), the rest untouched."""
    out = _clean(e).copy()
    n = out.shape[0]
    lo, hi = _span(n, lo, n if hi is None else hi)
    width = max(1, int(width)) | 1  # odd
    if hi - lo < 2 or width == 1:
        return out
    half = width // 2
    padded = np.pad(out, half, mode="reflect" if n > half else "edge")
    kernel = np.ones(width, dtype=np.float32) / width
    avg = np.convolve(padded, kernel, mode="valid")
    out[lo:hi] = avg[lo:hi]
    return np.clip(out, 0.0, 1.0)


def scale(e, lo: int, hi: int, factor: float) -> np.ndarray:
    """Multiply ``[lo, hi)`` by ``factor`` (clipped to [0, 1]): louder or softer over a selection."""
    out = _clean(e).copy()
    lo, hi = _span(out.shape[0], lo, hi)
    out[lo:hi] *= float(factor)
    return np.clip(out, 0.0, 1.0)


def resample(curve, frames: int) -> np.ndarray:
    """Linear resampling of any envelope (motion, a stored edit) onto ``frames`` points."""
    curve = np.asarray(curve, dtype=np.float32).reshape(-1)
    if frames <= 0:
        return np.zeros(0, np.float32)
    if curve.shape[0] == frames:
        return curve.copy()
    if curve.shape[0] == 0:
        return np.zeros(frames, np.float32)
    if curve.shape[0] == 1:
        return np.full(frames, curve[0], np.float32)
    src = np.linspace(0.0, 1.0, curve.shape[0])
    return np.interp(np.linspace(0.0, 1.0, frames), src, curve).astype(np.float32)


def envelope(audio, columns: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-column (min, max) of a waveform, for drawing ``columns`` pixels wide."""
    audio = np.asarray(audio, dtype=np.float32).reshape(-1)
    columns = max(1, int(columns))
    if audio.size == 0:
        z = np.zeros(columns, np.float32)
        return z, z
    edges = np.linspace(0, audio.size, columns + 1).astype(np.int64)
    edges[1:] = np.maximum(edges[1:], edges[:-1] + 1)
    edges = np.minimum(edges, audio.size)
    lo = np.minimum.reduceat(audio, edges[:-1].clip(max=audio.size - 1))
    hi = np.maximum.reduceat(audio, edges[:-1].clip(max=audio.size - 1))
    return lo, hi
