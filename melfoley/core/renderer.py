"""The embedded renderer: QCDControl + event weights -> 80-mel log spectrogram (hifigan22k grid).

A small conditional convolutional network over time (mel bins as channels). Its input is
the control as the spec recomposes it (the [0, 1] band map E + D*S repeated over 80 mel
rows) plus E_t and D_t; the sound event enters as a learned event-embedding table blended
by the prompt-match weights, applied to every block as FiLM (scale and shift). The network
predicts a residual on top of the recomposed map (so the control's energy path is kept by
construction) and a per-bin Laplace scale; it is trained with the Laplace negative
log-likelihood on the corpus train split (``melfoley train renderer``).

Takes: ``sample`` adds seeded, time-smoothed noise times the predicted scale (times a
temperature), so takes differ by seed and the same seed gives the same take; temperature
0 gives the mean. Pure module, no I/O besides ``save``/``load`` (safetensors + config.json).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .errors import WeightsError
from .qcd import SILENT_E


@dataclass(frozen=True)
class RendererConfig:
    n_mels: int = 80
    n_events: int = 47
    event_dim: int = 32
    channels: int = 96
    kernel: int = 3
    dilations: tuple[int, ...] = (1, 2, 4, 8, 1, 2, 4, 8)
    mel: str = "hifigan22k"
    #: default sampling temperature (scale of the seeded noise relative to the learned spread)
    temperature: float = 0.5
    #: frames of the moving average applied to the sampling noise (texture, not speckle)
    noise_smooth: int = 3
    labels: tuple[str, ...] = field(default_factory=tuple)

    @classmethod
    def from_json_dict(cls, obj: dict) -> "RendererConfig":
        kw = {k: v for k, v in obj.items() if k in cls.__dataclass_fields__}
        for k in ("dilations", "labels"):
            if k in kw:
                kw[k] = tuple(kw[k])
        return cls(**kw)


class _Block(nn.Module):
    def __init__(self, ch: int, kernel: int, dilation: int, event_dim: int):
        super().__init__()
        self.norm = nn.GroupNorm(1, ch)
        self.conv = nn.Conv1d(ch, 2 * ch, kernel, padding=dilation * (kernel - 1) // 2, dilation=dilation)
        self.film = nn.Linear(event_dim, 2 * ch)
        self.out = nn.Conv1d(ch, ch, 1)

    def forward(self, x, ev):
        h = self.norm(x)
        scale, shift = self.film(ev).unsqueeze(-1).chunk(2, dim=1)
        h = h * (1 + scale) + shift
        a, b = self.conv(h).chunk(2, dim=1)
        return x + self.out(torch.tanh(a) * torch.sigmoid(b))


class MelRenderer(nn.Module):
    """(recomposed unit map [B, 80, T], E [B, T], D [B, T], event weights [B, n_events]) -> unit mel."""

    def __init__(self, config: RendererConfig = RendererConfig()):
        super().__init__()
        self.config = c = config
        self.events = nn.Embedding(c.n_events, c.event_dim)
        self.inp = nn.Conv1d(c.n_mels + 2, c.channels, 3, padding=1)
        self.blocks = nn.ModuleList(_Block(c.channels, c.kernel, d, c.event_dim) for d in c.dilations)
        self.head = nn.Conv1d(c.channels, 2 * c.n_mels, 1)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def forward(self, recomposed, energy, spread, event_weights):
        ev = event_weights @ self.events.weight  # blended event embedding [B, event_dim]
        x = self.inp(torch.cat([recomposed, energy.unsqueeze(1), spread.unsqueeze(1)], dim=1))
        for blk in self.blocks:
            x = blk(x, ev)
        delta, log_b = self.head(x).chunk(2, dim=1)
        mean = recomposed + delta
        return mean, log_b.clamp(-7.0, 1.0)

    # ------------------------------------------------------------------ inference
    @torch.inference_mode()
    def sample(self, recomposed, energy, spread, event_weights, seeds: list[int],
               temperature: float | None = None) -> torch.Tensor:
        """Unit-domain mel [B, 80, T] in [0, 1]; batch item i is seeded by ``seeds[i]``."""
        t = self.config.temperature if temperature is None else float(temperature)
        mean, log_b = self(recomposed, energy, spread, event_weights)
        if t > 0:
            noise = torch.stack([seeded_noise(mean.shape[1:], s, self.config.noise_smooth) for s in seeds])
            mean = mean + t * log_b.exp() * noise.to(mean.dtype)
        # silence (E = 0) stays silent whatever the noise says
        gate = (energy > SILENT_E).to(mean.dtype).unsqueeze(1)
        return (mean * gate).clamp(0.0, 1.0)

    # ------------------------------------------------------------------ persistence
    def save(self, folder: Path, extra: dict | None = None) -> Path:
        from safetensors.torch import save_file

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "renderer.safetensors"
        save_file({k: v.detach().contiguous().cpu() for k, v in self.state_dict().items()}, str(path))
        cfg = {**asdict(self.config), **(extra or {})}
        (folder / "renderer.json").write_text(json.dumps(cfg, indent=1))
        return path

    @classmethod
    def load(cls, folder: Path, device="cpu") -> "MelRenderer":
        from safetensors.torch import load_file

        folder = Path(folder)
        path, cfg_path = folder / "renderer.safetensors", folder / "renderer.json"
        for p in (path, cfg_path):
            if not p.exists():
                raise WeightsError(f"renderer weights {p} not found; train them with "
                                   f"`melfoley train renderer --out {folder}`")
        model = cls(RendererConfig.from_json_dict(json.loads(cfg_path.read_text())))
        model.load_state_dict(load_file(str(path)))
        return model.eval().to(device)


def seeded_noise(shape, seed: int, smooth: int = 3) -> torch.Tensor:
    """Unit-variance Gaussian noise [C, T] from ``seed``, moving-averaged over ``smooth`` frames."""
    g = torch.Generator().manual_seed(int(seed) & 0x7FFFFFFFFFFFFFFF)
    # drawn time-major, so a longer request shares its first frames' noise with a shorter one
    n = torch.randn(tuple(shape)[::-1], generator=g).T.contiguous()
    if smooth > 1 and n.shape[-1] > 1:
        k = torch.ones(1, 1, smooth) / np.sqrt(smooth)
        n = F.conv1d(n.unsqueeze(1), k, padding=smooth // 2).squeeze(1)[..., : shape[-1]]
    return n


def laplace_nll(mean, log_b, target, mask=None) -> torch.Tensor:
    """Mean Laplace negative log-likelihood |y - mu| / b + log b (masked over frames)."""
    nll = (target - mean).abs() * torch.exp(-log_b) + log_b
    if mask is None:
        return nll.mean()
    m = mask.unsqueeze(1).to(nll.dtype)
    return (nll * m).sum() / (m.sum() * nll.shape[1]).clamp(min=1)


class HighBand:
    """Band replication above the mel's 8 kHz edge: per-event spectral shape of 8-11.025 kHz.

    ``table[event, bin]`` is the mean log ratio of each STFT bin above 8 kHz to the level of
    the 6.5-8 kHz region as estimated from the log-mel; at render time that region of the
    vocoder's output is replaced by seeded noise with this shape, following the top band's
    level frame by frame (trained by :func:`melfoley.core.train.train_highband`).
    """

    def __init__(self, table: np.ndarray, labels, mel: str = "hifigan22k"):
        from .mel import get_mel_config, slaney_filterbank

        self.cfg = cfg = get_mel_config(mel)
        self.labels = tuple(labels)
        bin_hz = cfg.sample_rate / cfg.n_fft
        self.lo = int(np.ceil(cfg.f_max / bin_hz))  # first bin above the mel's edge
        self.top = int(np.floor(6500.0 / bin_hz))
        self.n_high = cfg.n_fft // 2 + 1 - self.lo
        self.table = np.asarray(table, np.float32)
        fb = np.asarray(slaney_filterbank(cfg.sample_rate, cfg.n_fft, cfg.n_mels, cfg.f_min, cfg.f_max))
        norm = fb.T @ fb.sum(axis=1)
        self._inv = (fb.T / np.where(norm > 1e-12, norm, np.inf)[:, None]).astype(np.float32)[self.top:self.lo]

    def top_level(self, logmel: np.ndarray) -> np.ndarray:
        """Linear STFT magnitude of 6.5-8 kHz per frame, estimated from a log-mel [80, T]."""
        return (self._inv @ np.exp(np.asarray(logmel, np.float32))).mean(0)

    def shape(self, weights: np.ndarray) -> np.ndarray:
        w = np.asarray(weights, np.float32)
        w = w / w.sum() if w.sum() > 0 else np.full(len(self.labels), 1.0 / len(self.labels), np.float32)
        return w @ self.table  # [n_high] log ratios

    def apply(self, y: np.ndarray, logmel: np.ndarray, weights: np.ndarray, seed: int) -> np.ndarray:
        """Replace the vocoder's content above 8 kHz by the event-shaped band; same length as ``y``."""
        from .engines.debug import NOISE_GAIN

        c = self.cfg
        y = torch.from_numpy(np.ascontiguousarray(y, np.float32))
        win = torch.hann_window(c.win_length)
        spec = torch.stft(y, c.n_fft, c.hop_length, c.win_length, win, center=True, return_complex=True)
        T = spec.shape[-1]
        level = self.top_level(logmel)
        level = np.pad(level, (0, max(0, T - level.shape[0])), mode="edge")[:T] if level.size else np.zeros(T)
        mag = torch.from_numpy(np.exp(self.shape(weights))[:, None] * level[None, :].astype(np.float32))
        g = torch.Generator().manual_seed((int(seed) * 7919 + 17) & 0x7FFFFFFFFFFFFFFF)
        noise = torch.complex(torch.randn(mag.shape, generator=g), torch.randn(mag.shape, generator=g))
        spec[self.lo:] = noise * mag * (NOISE_GAIN / np.sqrt(2.0))
        out = torch.istft(spec, c.n_fft, c.hop_length, c.win_length, win, center=True, length=y.shape[0])
        return out.numpy().astype(np.float32)

    def save(self, folder: Path) -> Path:
        Path(folder).mkdir(parents=True, exist_ok=True)
        path = Path(folder) / "highband.json"
        path.write_text(json.dumps({"labels": list(self.labels), "lo_bin": self.lo, "top_bin": self.top,
                                    "table": np.round(self.table, 4).tolist()}))
        return path

    @classmethod
    def load(cls, folder: Path) -> "HighBand | None":
        path = Path(folder) / "highband.json"
        if not path.exists():
            return None
        obj = json.loads(path.read_text())
        return cls(np.asarray(obj["table"], np.float32), obj["labels"])
