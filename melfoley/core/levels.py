"""Levels every stem leaves with: true peak under a ceiling, optional loudness, edge fades.

- :func:`true_peak` measures the inter-sample peak the way ITU-R BS.1770-4 Annex 2 does:
  4x oversampling (polyphase FIR) and the largest absolute sample, in dBTP.
- :func:`fit_ceiling` lowers the take by one static gain when its true peak exceeds the
  ceiling (default -1 dBTP): no distortion, no pumping; the gain is reported.
- :func:`integrated_loudness` is pyloudnorm's BS.1770 meter (gated, LUFS);
  :func:`apply_levels` optionally brings a take to a loudness target first and then holds
  the ceiling (the ceiling wins, and the report says by how much the target was missed).
- :func:`edge_fades` gives the first and last few ms a raised-cosine fade so that a cut
  never starts or ends on a non-zero sample.

``apply_levels`` returns the audio and a report dictionary that goes into the take
metadata and the stem sidecar. Pure numpy/scipy; pyloudnorm only when a loudness target is
asked for.
"""

from __future__ import annotations

import math

import numpy as np

from .errors import MelfoleyError

CEILING_DBTP = -1.0
FADE_MS = 5.0
OVERSAMPLE = 4
#: headroom kept under the ceiling when gain is reduced, against re-measurement with a
#: different oversampling filter and 24-bit rounding
MARGIN_DB = 0.05
#: shortest audio the gated loudness meter measures (one 400 ms block)
MIN_LOUDNESS_S = 0.4
SILENCE_DB = -200.0


def db(x: float) -> float:
    return 20.0 * math.log10(x) if x > 0 else SILENCE_DB


def true_peak(audio: np.ndarray) -> float:
    """Linear true peak (4x oversampled) of mono or [channels, n] audio."""
    from scipy.signal import resample_poly

    x = np.asarray(audio, np.float64)
    if x.size == 0:
        return 0.0
    x = x.reshape(-1, x.shape[-1]) if x.ndim > 1 else x[None]
    up = resample_poly(x, OVERSAMPLE, 1, axis=-1)
    return float(max(np.abs(up).max(), np.abs(x).max()))


def true_peak_db(audio: np.ndarray) -> float:
    return db(true_peak(audio))


def fit_ceiling(audio: np.ndarray, ceiling_db: float = CEILING_DBTP, *,
                peak: float | None = None) -> tuple[np.ndarray, float]:
    """(audio, gain dB <= 0): one static gain so the true peak sits at most at ``ceiling_db``.
    ``peak``: the audio's linear true peak when the caller has measured it already."""
    x = np.asarray(audio, np.float32)
    tp = true_peak(x) if peak is None else peak
    limit = 10.0 ** ((ceiling_db - MARGIN_DB) / 20.0)
    if tp <= 10.0 ** (ceiling_db / 20.0):
        return x, 0.0
    g = limit / tp
    return (x * np.float32(g)).astype(np.float32), db(g)


def edge_fades(audio: np.ndarray, sample_rate: int, ms: float = FADE_MS) -> np.ndarray:
    """Raised-cosine fade-in and fade-out of ``ms`` milliseconds (at most a quarter of the audio each)."""
    x = np.array(audio, dtype=np.float32, copy=True)
    k = min(int(round(ms * 1e-3 * sample_rate)), x.shape[-1] // 4)
    if k <= 0:
        return x
    ramp = (0.5 - 0.5 * np.cos(np.pi * np.arange(k) / k)).astype(np.float32)  # starts at exactly 0
    x[..., :k] *= ramp
    x[..., -k:] *= ramp[::-1]
    return x


def integrated_loudness(audio: np.ndarray, sample_rate: int) -> float | None:
    """Integrated loudness in LUFS (BS.1770, gated); None for audio shorter than 0.4 s or silent."""
    x = np.asarray(audio, np.float64).reshape(-1)
    if x.shape[0] < MIN_LOUDNESS_S * sample_rate or not np.any(x):
        return None
    import pyloudnorm

    lufs = float(pyloudnorm.Meter(sample_rate).integrated_loudness(x))
    return lufs if math.isfinite(lufs) else None


def check_target(loudness: float | None, ceiling_db: float) -> None:
    if loudness is not None and not (math.isfinite(loudness) and -70.0 <= loudness <= 0.0):
        raise MelfoleyError(f"loudness target {loudness} LUFS: choose a value from -70 to 0 (e.g. --loudness -23)")
    if not (math.isfinite(ceiling_db) and -40.0 <= ceiling_db <= 0.0):
        raise MelfoleyError(f"true-peak ceiling {ceiling_db} dBTP: choose a value from -40 to 0 (default -1)")


def apply_levels(audio: np.ndarray, sample_rate: int, *, ceiling_db: float = CEILING_DBTP,
                 loudness: float | None = None, fade_ms: float = FADE_MS) -> tuple[np.ndarray, dict]:
    """Edge fades, an optional loudness target, then the true-peak ceiling; (audio, report)."""
    check_target(loudness, ceiling_db)
    x = np.asarray(audio, np.float32)
    if not np.all(np.isfinite(x)):
        raise MelfoleyError("the rendered take holds NaN or infinite samples; re-render it (another seed) "
                            "and report the engine and prompt")
    report: dict = {"true_peak_in_dbtp": round(true_peak_db(x), 2), "ceiling_dbtp": ceiling_db,
                    "fade_ms": fade_ms}
    x = edge_fades(x, sample_rate, fade_ms) if fade_ms > 0 else x
    if loudness is not None:
        before = integrated_loudness(x, sample_rate)
        report["loudness_target_lufs"] = loudness
        report["loudness_in_lufs"] = None if before is None else round(before, 2)
        if before is None:
            report["loudness_note"] = "too short or silent to measure; not normalised"
        else:
            g = 10.0 ** ((loudness - before) / 20.0)
            x = (x * np.float32(g)).astype(np.float32)
            report["loudness_gain_db"] = round(db(g), 2)
    peak = true_peak(x)
    x, gain = fit_ceiling(x, ceiling_db, peak=peak)
    report["ceiling_gain_db"] = round(gain, 2)
    report["method"] = "static gain" if gain < 0 else "none needed"
    report["true_peak_dbtp"] = round(db(peak * 10.0 ** (gain / 20.0)), 2)  # the static gain scales it exactly
    if loudness is not None:
        after = integrated_loudness(x, sample_rate)
        report["loudness_lufs"] = None if after is None else round(after, 2)
        if after is not None and after < loudness - 0.5:
            report["loudness_note"] = (f"held {loudness - after:.1f} LU under the target by the "
                                       f"{ceiling_db:g} dBTP ceiling")
    return x, report


def guard_take(audio: np.ndarray, ceiling_db: float = CEILING_DBTP) -> tuple[np.ndarray, dict]:
    """What every engine does to a take before handing it out: the true-peak ceiling, reported."""
    peak = true_peak(audio)
    y, gain = fit_ceiling(audio, ceiling_db, peak=peak)
    return y, {"true_peak_in_dbtp": round(db(peak), 2), "ceiling_dbtp": ceiling_db, "gain_db": round(gain, 2),
               "method": "static gain" if gain < 0 else "none needed"}


def place_take(audio: np.ndarray, sample_rate: int, *, gain_db: float = 0.0, fade_in: float = 0.0,
               fade_out: float = 0.0, nudge: float = 0.0) -> np.ndarray:
    """The artist's placement of a take (clip ``metadata["melfoley"]``): gain in dB, linear fades in
    and out (seconds), and a nudge (seconds, + = later) inside the clip's length, which is kept
    exactly. One function for ``melfoley batch``, the panel's export and the panel's playback."""
    x = np.array(audio, dtype=np.float32, copy=True).reshape(-1)
    n = x.shape[0]
    shift = int(round(nudge * sample_rate))
    if shift and n:
        moved = np.zeros_like(x)
        if 0 < shift < n:
            moved[shift:] = x[:n - shift]
        elif -n < shift < 0:
            moved[:n + shift] = x[-shift:]
        x = moved
    for seconds, head in ((fade_in, True), (fade_out, False)):
        k = min(n, int(round(seconds * sample_rate)))
        if k > 0:
            ramp = np.arange(k, dtype=np.float32) / np.float32(k)  # from silence, linear
            if head:
                x[:k] *= ramp
            else:
                x[n - k:] *= ramp[::-1]
    if gain_db:
        x *= np.float32(10.0 ** (gain_db / 20.0))
    return x
