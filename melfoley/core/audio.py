"""Audio in: read, check, down-mix, resample (soxr) and peak-normalise.

Every check raises :class:`AudioInputError` with the file named and what to do.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .errors import AudioInputError, where
from .mel import MelConfig, get_mel_config

PEAK = 0.95


def resample(wave: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    """Resample [samples] or [samples, channels] with soxr (VHQ)."""
    if sr_in == sr_out:
        return np.asarray(wave, dtype=np.float32)
    import soxr

    return soxr.resample(np.asarray(wave, dtype=np.float32), sr_in, sr_out, quality="VHQ").astype(np.float32)


def to_mono(wave: np.ndarray, source: str | None = None) -> np.ndarray:
    """[samples] or [samples, channels] -> [samples] (channel mean)."""
    wave = np.asarray(wave)
    if wave.ndim == 1:
        return wave
    if wave.ndim == 2:
        return wave.mean(axis=1)
    raise AudioInputError(f"audio{where(source)} has shape {wave.shape}; expected [samples] or [samples, channels]")


def peak_normalise(wave: np.ndarray, peak: float = PEAK) -> np.ndarray:
    """Scale so max |x| == peak; digital silence stays silent."""
    m = float(np.max(np.abs(wave))) if wave.size else 0.0
    if m <= 0.0:
        return wave.astype(np.float32)
    return (wave * (peak / m)).astype(np.float32)


def check_waveform(wave: np.ndarray, sample_rate: int, cfg: MelConfig, source: str | None = None) -> None:
    """Raise AudioInputError for empty, non-finite or too-short audio."""
    if sample_rate is None or sample_rate <= 0:
        raise AudioInputError(f"audio{where(source)} has sample rate {sample_rate}; give a positive rate in Hz")
    if wave.size == 0:
        raise AudioInputError(f"audio{where(source)} is empty (0 samples); check the file or the source range")
    if not np.all(np.isfinite(wave)):
        bad = int(np.size(wave) - np.count_nonzero(np.isfinite(wave)))
        raise AudioInputError(
            f"audio{where(source)} holds {bad} NaN/Inf samples; re-export it or repair it before analysis"
        )
    n = wave.shape[0]
    need = int(np.ceil(cfg.min_samples * sample_rate / cfg.sample_rate))
    if n < need:
        raise AudioInputError(
            f"audio{where(source)} is {n / sample_rate * 1000:.1f} ms long; the {cfg.name} front-end needs at "
            f"least {cfg.min_samples / cfg.sample_rate * 1000:.0f} ms (one {cfg.n_fft}-sample window); "
            "pad or lengthen the clip"
        )


def prepare_waveform(
    wave: np.ndarray, sample_rate: int, cfg: str | MelConfig, *, normalise: bool = True, source: str | None = None
) -> np.ndarray:
    """Any array at any rate -> checked mono float32 at the front-end's rate, peak 0.95."""
    cfg = get_mel_config(cfg)
    wave = np.asarray(wave)
    if wave.dtype.kind not in "fiu":
        raise AudioInputError(f"audio{where(source)} has dtype {wave.dtype}; expected numbers")
    if wave.dtype.kind in "iu":
        info = np.iinfo(wave.dtype)
        wave = wave.astype(np.float32) / float(max(abs(info.min), info.max))
    mono = to_mono(wave, source).astype(np.float32)
    check_waveform(mono, sample_rate, cfg, source)
    mono = resample(mono, sample_rate, cfg.sample_rate)
    return peak_normalise(mono) if normalise else mono


def read_audio(path: str | Path) -> tuple[np.ndarray, int]:
    """Read a sound file as float32 [samples] or [samples, channels] and its rate."""
    import soundfile as sf

    path = Path(path)
    if not path.exists():
        raise AudioInputError(f"audio file {path} does not exist; check the path")
    try:
        data, sr = sf.read(str(path), dtype="float32", always_2d=False)
    except Exception as exc:  # libsndfile's errors are terse; name the file and the fix
        raise AudioInputError(
            f"cannot read audio file {path}: {exc}; convert it to WAV or FLAC (e.g. with ffmpeg)"
        ) from exc
    return data, int(sr)


def load_audio(path: str | Path, cfg: str | MelConfig = "auffusion16k", *, normalise: bool = True) -> np.ndarray:
    """Read a file and prepare it for ``cfg``: mono, resampled, peak-normalised."""
    data, sr = read_audio(path)
    return prepare_waveform(data, sr, cfg, normalise=normalise, source=str(path))
