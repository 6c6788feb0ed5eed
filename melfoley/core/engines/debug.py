"""The ``debug`` engine: weightless, deterministic and fast (audiocraft's named debug model).

It exercises the whole request -> control -> take path with no trained weights, for
integration tests and for front ends under development; it is not the product.

- predict: timing (E, D) from the picture via ``melfoley.core.motion.predict_timing`` when
  that module is importable, else a flat curve; codes from a fixed pattern keyed by the
  prompt (stable across runs and machines).
- render: white noise shaped, frame by frame in the STFT domain, by the magnitudes of the
  recomposed QCD band map (``QCDControl.recomposed_mel``), seeded by the take seed, at
  22.05 kHz on the ``hifigan22k`` grid. Zero energy renders (near) digital silence.

:func:`picture_timing` and :func:`clip_frames` are shared with the embedded engine.
"""

from __future__ import annotations

import hashlib
import math

import numpy as np

from .. import qcd
from ..control import QCDControl
from ..engine import Engine, FoleyRequest, register_engine
from ..errors import MediaError
from ..mel import from_unit, get_mel_config, slaney_filterbank
from ..motion import PICTURE_SIZE

#: measured: re-analysing shaped noise gives the requested log-mel within 0.05 nats
NOISE_GAIN = 2.366


def clip_frames(duration: float, mel: str = "hifigan22k") -> int:
    """Mel frames that cover ``duration`` seconds (ceil, at least one)."""
    cfg = get_mel_config(mel)
    n = int(round(duration * cfg.sample_rate))
    return max(1, math.ceil(n / cfg.hop_length))


def _decode_picture(request: FoleyRequest):
    """(frames [N, H, W, 3] uint8, fps) for the request: its frames, or its video decoded."""
    if request.frames is not None:
        frames = np.asarray(request.frames)
        fps = request.frame_rate
        if not fps or fps <= 0:
            raise MediaError(f"clip {request.label()}: decoded frames were given without a frame rate; "
                             "pass FoleyRequest(frame_rate=...)")
        return frames, float(fps)
    from ..video import read_frames

    got = read_frames(request.video, request.start, request.duration, clip_id=request.clip_id)
    return got.frames, float(got.fps)


def picture_timing(request: FoleyRequest, n_frames: int, mel: str = "hifigan22k") -> tuple[np.ndarray, np.ndarray, dict]:
    """(energy, spread, info) on the mel grid from the request's picture.

    Uses :func:`melfoley.core.motion.predict_timing` on the request's frames or video.
    """
    from ..motion import predict_timing

    frames, fps = _decode_picture(request)
    tp = predict_timing(frames, fps, n_frames, mel=mel)
    e = np.clip(np.asarray(tp.energy, np.float32).reshape(-1), 0, 1)
    d = np.clip(np.asarray(tp.spread, np.float32).reshape(-1), 0, 1)
    e, d = _fit(e, n_frames), _fit(d, n_frames)
    info = {"timing": "motion", "onsets": [float(x) for x in getattr(tp, "onsets", [])],
            "cuts": [float(x) for x in getattr(tp, "cuts", [])], "levels": [float(x) for x in tp.levels],
            "motion": _fit(np.asarray(tp.motion, np.float32).reshape(-1), n_frames)}
    return e, d, info


def _fit(v: np.ndarray, n: int) -> np.ndarray:
    if v.shape[0] == n:
        return v
    if v.shape[0] == 0:
        return np.zeros(n, np.float32)
    return np.interp(np.linspace(0, 1, n), np.linspace(0, 1, v.shape[0]), v).astype(np.float32)


def pattern_codes(prompt: str, n_frames: int) -> np.ndarray:
    """A fixed code pattern [2, T] keyed by the prompt: a few codes cycled every 8 frames."""
    h = hashlib.sha1(prompt.strip().lower().encode()).digest()
    palette = np.array([[h[i] % qcd.CODES_PER_GROUP for i in range(4)],
                        [h[4 + i] % qcd.CODES_PER_GROUP for i in range(4)]], dtype=np.uint8)
    idx = (np.arange(n_frames) // 8) % 4
    return palette[:, idx]


class _NoiseShaper:
    """Mel magnitudes [80, T] -> linear STFT magnitudes [513, T] (exact for flat spectra)."""

    def __init__(self, mel: str):
        cfg = get_mel_config(mel)
        fb = np.asarray(slaney_filterbank(cfg.sample_rate, cfg.n_fft, cfg.n_mels, cfg.f_min, cfg.f_max))
        norm = fb.T @ fb.sum(axis=1)
        self.inv = (fb.T / np.where(norm > 1e-12, norm, np.inf)[:, None]).astype(np.float32)
        self.cfg = cfg

    def __call__(self, logmel: np.ndarray) -> np.ndarray:
        return self.inv @ np.exp(logmel).astype(np.float32)


def shaped_noise(logmel: np.ndarray, seed: int, mel: str = "hifigan22k") -> np.ndarray:
    """White noise shaped by a log-mel [N, T]: seeded complex Gaussian STFT -> istft, on the mel grid."""
    import torch

    cfg = get_mel_config(mel)
    mag = _shaper(mel)(logmel)  # [F, T]
    g = torch.Generator().manual_seed(int(seed) & 0x7FFFFFFFFFFFFFFF)
    re = torch.randn(mag.shape, generator=g)
    im = torch.randn(mag.shape, generator=g)
    spec = torch.complex(re, im) * torch.from_numpy(mag / math.sqrt(2.0))
    # the analysis window (Hann, center=False with pad (n_fft-hop)/2) centres frame t at
    # t*hop + hop/2; torch.istft(center=True) centres it at t*hop: shift by hop/2
    win = torch.hann_window(cfg.win_length)
    y = torch.istft(spec, cfg.n_fft, cfg.hop_length, cfg.win_length, win, center=True,
                    length=mag.shape[1] * cfg.hop_length)
    # noise frames add incoherently: a measured gain makes the re-analysed log-mel match
    y = y * NOISE_GAIN
    y = torch.cat([torch.zeros(cfg.hop_length // 2), y])[: mag.shape[1] * cfg.hop_length]
    return y.numpy().astype(np.float32)


_SHAPERS: dict[str, _NoiseShaper] = {}


def _shaper(mel: str) -> _NoiseShaper:
    if mel not in _SHAPERS:
        _SHAPERS[mel] = _NoiseShaper(mel)
    return _SHAPERS[mel]


class DebugEngine(Engine):
    """Weightless engine: motion timing + fixed codes -> control; shaped noise -> audio."""

    name = "debug"
    OPTIONS: dict = {}  # weightless and fixed: it takes no options (an --engine-opt for it is refused)
    mel = "hifigan22k"
    sample_rate = 22050
    picture_size = PICTURE_SIZE
    window_frames = 862  # ~10 s: long clips exercise the windowed path like the product engine
    overlap_frames = 22

    def describe(self) -> dict:
        return {"engine": self.name, "weights_sha256": None, "licence": "no weights (procedural)",
                "bandwidth_hz": 11025.0, "content_bandwidth_hz": 8000.0}

    def predict(self, request: FoleyRequest) -> QCDControl:
        n = clip_frames(request.duration, self.mel)
        e, d, _ = picture_timing(request, n, self.mel)
        return QCDControl(e, d, pattern_codes(request.prompt, n), self.mel)

    def render(self, control: QCDControl, prompt: str, seed: int) -> np.ndarray:
        logmel = from_unit(control.recomposed_mel(), control.config)
        return shaped_noise(np.asarray(logmel, np.float32), seed, control.mel)


register_engine("debug", lambda **_: DebugEngine())
