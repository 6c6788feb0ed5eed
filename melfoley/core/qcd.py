"""Mel quantization-continuum decomposition: the exact math of MELQCD_SPEC.md section 2.

Pure, vectorised torch functions over any leading batch shape; nothing loops over frames.
torch is imported inside the functions that compute (not at module level), so ``QCDControl``
and everything that only holds, serialises or draws a control (the panel, a host) loads no
torch. Shapes: log-mel ``[..., N, T]`` (mel order, row 0 = lowest band); band maps ``[..., 8, T]``
in image order (row 0 = highest-frequency band); ``E, D`` ``[..., T]``; ternary ``S``
``[..., 8, T]`` in {-1, 0, 1}; codes ``[..., 2, T]`` in [0, 80].
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np

from .mel import MelConfig, get_mel_config, to_unit

if TYPE_CHECKING:
    import torch

BANDS = 8
GROUPS = 2
GROUP_BANDS = BANDS // GROUPS
CODES_PER_GROUP = 3**GROUP_BANDS  # 81
SILENT_CODE = sum(3**i for i in range(GROUP_BANDS))  # all-zero ternary digits -> 40
#: energy at or under this is silence (the artist drew 0): every engine renders it as digital silence
SILENT_E = 1e-4


@lru_cache(maxsize=None)
def _pow3_cpu():
    import torch

    return torch.tensor([3**i for i in range(GROUP_BANDS)], dtype=torch.long)


def _pow3(device):
    return _pow3_cpu().to(device).view(GROUP_BANDS, 1)


def _t(x) -> torch.Tensor:
    import torch

    if isinstance(x, torch.Tensor):
        return x
    x = np.asarray(x)
    return torch.from_numpy(x if x.flags.writeable and x.flags.c_contiguous else np.array(x))


def band_pool(logmel: torch.Tensor, bands: int = BANDS) -> torch.Tensor:
    """Plain mean of N/bands consecutive mel bins, in the log domain, mel order."""
    logmel = _t(logmel)
    n = logmel.shape[-2]
    if n % bands:
        raise ValueError(f"mel bin count {n} does not divide into {bands} bands")
    t = logmel.shape[-1]
    return logmel.reshape(*logmel.shape[:-2], bands, n // bands, t).mean(dim=-2)


def unit_bands(logmel: torch.Tensor, cfg: str | MelConfig = "auffusion16k") -> torch.Tensor:
    """Band means normalised with the image affine to [0, 1], flipped (row 0 = highest band)."""
    return to_unit(band_pool(logmel), get_mel_config(cfg)).flip(-2)


def decompose_bands(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """[..., 8, T] unit band map -> (E, D, S): mean, population std (0 -> 1), ternary z-score."""
    import torch

    x = _t(x)
    e = x.mean(dim=-2)
    d = x.std(dim=-2, correction=0)
    d = torch.where(d == 0, torch.ones_like(d), d)
    s = torch.round((x - e.unsqueeze(-2)) / d.unsqueeze(-2)).clamp(-1, 1).to(torch.int8)
    return e, d, s


def decompose(logmel: torch.Tensor, cfg: str | MelConfig = "auffusion16k"):
    """Log-mel [..., N, T] -> (E, D, S) on the mel frame grid."""
    return decompose_bands(unit_bands(logmel, cfg))


def encode(s: torch.Tensor) -> torch.Tensor:
    """Ternary [..., 8, T] -> codes [..., 2, T]; code_g = sum_i (S_(4g+i) + 1) * 3^i."""
    import torch

    s = _t(s).to(torch.long) + 1
    grouped = s.reshape(*s.shape[:-2], GROUPS, GROUP_BANDS, s.shape[-1])
    return (grouped * _pow3(s.device)).sum(dim=-2)


def decode(codes: torch.Tensor) -> torch.Tensor:
    """Codes [..., 2, T] -> ternary [..., 8, T] (int8); the exact inverse of :func:`encode`."""
    import torch

    codes = _t(codes).to(torch.long)
    if codes.numel() and (int(codes.min()) < 0 or int(codes.max()) >= CODES_PER_GROUP):
        raise ValueError(f"codes must lie in [0, {CODES_PER_GROUP - 1}]")
    digits = (codes.unsqueeze(-2) // _pow3(codes.device)) % 3
    return (digits - 1).reshape(*codes.shape[:-2], BANDS, codes.shape[-1]).to(torch.int8)


def recompose_bands(e, d, s, *, released: bool = False) -> torch.Tensor:
    """f = E + D * S per band ([..., 8, T], image order).

    ``released=True`` reproduces the authors' released inference, which recomposes twice:
    E + D * (E + D * S). Only for loading weights trained that way.
    """
    e, d, s = _t(e).unsqueeze(-2), _t(d).unsqueeze(-2), _t(s).to(_t(e).dtype)
    f = e + d * s
    return e + d * f if released else f


def bands_to_mel(bands: torch.Tensor, n_mels: int) -> torch.Tensor:
    """[..., 8, T] image-order band map -> [..., n_mels, T] mel order, nearest repeat."""
    bands = _t(bands)
    return bands.flip(-2).repeat_interleave(n_mels // bands.shape[-2], dim=-2)


def control_image(
    e, d, codes, n_mels: int, *, frames: int | None = None, released_compat: bool = False
) -> torch.Tensor:
    """The ControlNet input: [..., 3, n_mels, frames] in [-1, 1], low frequencies on the bottom row.

    ``frames`` pads (or crops) the time axis, e.g. 1000 -> 1024. By default E, D and S are
    padded together at the tail with silence (E=0, D=1, S=0), keeping one 100 fps grid.
    ``released_compat=True`` reproduces the released code for its weights: E and D are
    stretched to ``frames`` by linear interpolation while S is zero-padded (a 2.4 % skew at
    1000 -> 1024), and the recomposition is doubled.
    """
    e, d, s = _t(e).float(), _t(d).float(), decode(codes).float()
    t = e.shape[-1]
    target = frames or t
    if released_compat and target != t:
        import torch.nn.functional as F  # noqa: N812

        def stretch(v):
            flat = v.reshape(-1, 1, t)
            return F.interpolate(flat, size=target, mode="linear", align_corners=True).reshape(*v.shape[:-1], target)

        e, d = stretch(e), stretch(d)
        s = _pad_tail(s, target, 0.0)
    else:
        e, d, s = _pad_tail(e, target, 0.0), _pad_tail(d, target, 1.0), _pad_tail(s, target, 0.0)
    f = recompose_bands(e, d, s, released=released_compat).clamp(0.0, 1.0)
    # image order already has the highest band on row 0, i.e. low frequencies at the bottom
    img = f.repeat_interleave(n_mels // BANDS, dim=-2)
    img = img * 2.0 - 1.0
    return img.unsqueeze(-3).expand(*img.shape[:-2], 3, n_mels, target).contiguous()


def _pad_tail(v: torch.Tensor, frames: int, value: float) -> torch.Tensor:
    import torch

    t = v.shape[-1]
    if frames <= t:
        return v[..., :frames]
    pad = torch.full((*v.shape[:-1], frames - t), value, dtype=v.dtype, device=v.device)
    return torch.cat([v, pad], dim=-1)


def reconstruction_error(logmel, e, d, s, cfg: str | MelConfig = "auffusion16k", *, released=False) -> float:
    """Mean |unit mel - recomposed map| over all bins and frames (the spec's [0, 1] units)."""
    cfg = get_mel_config(cfg)
    logmel = _t(logmel)
    target = to_unit(logmel, cfg)
    recon = bands_to_mel(recompose_bands(e, d, s, released=released).clamp(0, 1), logmel.shape[-2])
    return float((target - recon).abs().mean())
