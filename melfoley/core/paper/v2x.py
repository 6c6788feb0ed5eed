"""V2X predictor: per-frame visual features -> (E, D, two 81-way code streams) at the mel rate.

MELQCD_SPEC.md section 3: features [B, N, 768] at 25 fps are linearly interpolated x4 in
time to the mel frame rate (100 fps), projected 768 -> 512 and run through 6 pre-LayerNorm
transformer blocks (8 heads, FFN 2048 GELU, dropout 0.1) that share one relative-position
bias (an MLP 1 -> 256 -> 256 -> 256 -> heads over the offset (i - j) / 4), with a key
padding mask; a final LayerNorm; heads: 2 x Linear(512 -> 81) for the code groups and an
MLP 512 -> 256 -> 128 -> 2 for (E, D). Loss: focal (gamma 2) per code head, masked mean,
averaged over the heads, plus MSE(E) + MSE(D).

Module names follow the structure of the authors' CodePredictor so their checkpoints map
by renaming a few prefixes (see :mod:`melfoley.core.paper.convert`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from torch import nn

from .. import qcd
from ..control import QCDControl


@dataclass
class V2XOutput:
    code_logits: torch.Tensor  # [B, groups, T, codes]
    energy: torch.Tensor  # [B, T] (raw regression, spec unit scale)
    spread: torch.Tensor  # [B, T]
    mask: torch.Tensor  # [B, T] bool, True on valid mel frames

    def to_controls(self, mel: str = "auffusion16k") -> list[QCDControl]:
        """One ``QCDControl`` per batch item, trimmed to its valid frames; E, D clipped to [0, 1]."""
        codes = self.code_logits.detach().argmax(-1)  # [B, G, T]
        out = []
        for b in range(codes.shape[0]):
            n = int(self.mask[b].sum())
            e = self.energy[b, :n].detach().float().clamp(0, 1).cpu().numpy()
            d = self.spread[b, :n].detach().float().clamp(0, 1).cpu().numpy()
            out.append(QCDControl(e, d, codes[b, :, :n].cpu().numpy().astype(np.int64), mel))
        return out


class RelativePositionBias(nn.Module):
    """MLP over the scalar offset (i - j) / scale -> one bias per head, SiLU between layers."""

    def __init__(self, hidden: int, heads: int, depth: int = 3):
        super().__init__()
        dims = [1] + [hidden] * depth
        self.net = nn.ModuleList(nn.Sequential(nn.Linear(a, b), nn.SiLU()) for a, b in zip(dims[:-1], dims[1:]))
        self.net.append(nn.Linear(hidden, heads))

    def forward(self, length: int, scale: float) -> torch.Tensor:
        """[heads, length, length] bias for offsets i - j."""
        device = self.net[-1].weight.device
        dtype = self.net[-1].weight.dtype
        offsets = torch.arange(-length + 1, length, device=device, dtype=dtype).unsqueeze(-1) / scale
        x = offsets
        for layer in self.net:
            x = layer(x)  # [2L-1, heads]
        idx = torch.arange(length, device=device)
        rel = idx.view(-1, 1) - idx.view(1, -1) + length - 1
        return x[rel].permute(2, 0, 1)


class Attention(nn.Module):
    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.to_q = nn.Linear(dim, dim, bias=False)
        self.to_kv = nn.Linear(dim, 2 * dim, bias=False)
        self.to_out = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        q = self.to_q(x)
        k, v = self.to_kv(x).chunk(2, dim=-1)
        q, k, v = (t.view(b, n, self.heads, c // self.heads).transpose(1, 2) for t in (q, k, v))
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias)
        return self.to_out(out.transpose(1, 2).reshape(b, n, c))


class Block(nn.Module):
    """Pre-LN transformer block: x + Drop(Attn(LN x)); x + Drop(FFN(LN x))."""

    def __init__(self, dim: int, heads: int, ffn: int, dropout: float):
        super().__init__()
        self.attention = Attention(dim, heads)
        self.norm1 = nn.LayerNorm(dim)
        self.norm2 = nn.LayerNorm(dim)
        self.feed_forward = nn.Sequential(nn.Linear(dim, ffn), nn.GELU(), nn.Linear(ffn, dim))
        self.dropout1 = nn.Dropout(dropout)
        self.dropout2 = nn.Dropout(dropout)

    def forward(self, x, bias):
        x = x + self.dropout1(self.attention(self.norm1(x), bias))
        return x + self.dropout2(self.feed_forward(self.norm2(x)))


class V2XPredictor(ModelMixin, ConfigMixin):
    """Visual features [B, N, feature_dim] (+ valid mask [B, N]) -> :class:`V2XOutput` on 4N mel frames."""

    @register_to_config
    def __init__(
        self,
        feature_dim: int = 768,
        dim: int = 512,
        num_layers: int = 6,
        num_heads: int = 8,
        ffn_dim: int = 2048,
        dropout: float = 0.1,
        rel_pos_hidden: int = 256,
        upsample: int = 4,
        groups: int = qcd.GROUPS,
        codes: int = qcd.CODES_PER_GROUP,
        ed_hidden: tuple = (256, 128),
    ):
        super().__init__()
        self.proj_in = nn.Linear(feature_dim, dim)
        self.rel_pos_bias = RelativePositionBias(rel_pos_hidden, num_heads)
        self.layers = nn.ModuleList(Block(dim, num_heads, ffn_dim, dropout) for _ in range(num_layers))
        self.final_norm = nn.LayerNorm(dim)
        self.code_heads = nn.ModuleList(nn.Linear(dim, codes) for _ in range(groups))
        h1, h2 = ed_hidden
        self.ed_head = nn.Sequential(nn.Linear(dim, h1), nn.ReLU(), nn.Linear(h1, h2), nn.ReLU(), nn.Linear(h2, 2))

    def forward(self, features: torch.Tensor, mask: torch.Tensor | None = None) -> V2XOutput:
        b, n, _ = features.shape
        up = self.config.upsample
        if mask is None:
            mask = torch.ones(b, n, dtype=torch.bool, device=features.device)
        mask = mask.to(torch.bool)
        x = _edge_pad(features, mask)
        x = F.interpolate(x.transpose(1, 2), scale_factor=up, mode="linear", align_corners=False).transpose(1, 2)
        m = mask.repeat_interleave(up, dim=1)  # [B, T]
        t = x.shape[1]
        h = self.proj_in(x)
        bias = self.rel_pos_bias(t, float(up)).to(h.dtype).unsqueeze(0)  # [1, H, T, T]
        neg = torch.tensor(torch.finfo(h.dtype).min, dtype=h.dtype, device=h.device)
        bias = torch.where(m[:, None, None, :], bias, neg)  # key padding mask -> [B, H, T, T]
        for block in self.layers:
            h = block(h, bias)
        h = self.final_norm(h)
        logits = torch.stack([head(h) for head in self.code_heads], dim=1)
        ed = self.ed_head(h)
        return V2XOutput(logits, ed[..., 0], ed[..., 1], m)

    @torch.no_grad()
    def predict(self, features: torch.Tensor, mel: str = "auffusion16k", *, window: int = 250,
                overlap: int = 25) -> QCDControl:
        """Features [N, feature_dim] of one clip -> its ``QCDControl`` (4N frames).

        Clips longer than ``window`` feature frames (10 s at 25 fps, the training length) are
        predicted in overlapping windows, batched: E and D are crossfaded over each overlap,
        the codes switch windows at the middle of the overlap.
        """
        from ..windows import crossfade_join, plan_windows

        feats = features.to(self.device, self.dtype)
        plan = plan_windows(feats.shape[0], window, overlap)
        if len(plan) == 1:
            return self(feats.unsqueeze(0)).to_controls(mel)[0]
        out = self(torch.stack([feats[w.start:w.stop] for w in plan]))
        up = self.config.upsample
        n = feats.shape[0] * up
        e = crossfade_join([x.float().cpu().numpy() for x in out.energy], plan, up, n)
        d = crossfade_join([x.float().cpu().numpy() for x in out.spread], plan, up, n)
        win_codes = out.code_logits.argmax(-1).cpu().numpy()  # [W, G, window * up]
        codes = np.zeros((win_codes.shape[1], n), np.int64)
        for k, w in enumerate(plan):
            lo = 0 if k == 0 else (w.start + plan[k - 1].stop) // 2 * up
            codes[:, lo:w.stop * up] = win_codes[k][:, lo - w.start * up:]
        return QCDControl(np.clip(e, 0, 1), np.clip(d, 0, 1), codes, mel)


def _edge_pad(features: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Replace padded feature rows by the last valid row, so interpolation near the end ignores padding."""
    if bool(mask.all()):
        return features
    lengths = mask.sum(1).clamp(min=1)
    idx = torch.arange(features.shape[1], device=features.device).unsqueeze(0)
    idx = torch.minimum(idx, (lengths - 1).unsqueeze(1))
    return torch.gather(features, 1, idx.unsqueeze(-1).expand_as(features))


# ---------------------------------------------------------------------------- loss
def focal_loss(logits: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, gamma: float = 2.0) -> torch.Tensor:
    """Focal loss -(1 - p_t)^gamma log p_t, masked mean over [..., T]; logits [..., T, C], target [..., T]."""
    logp = F.log_softmax(logits.float(), dim=-1).gather(-1, target.long().unsqueeze(-1)).squeeze(-1)
    loss = -((1.0 - logp.exp()) ** gamma) * logp
    w = mask.to(loss.dtype).expand_as(loss)
    return (loss * w).sum() / w.sum().clamp(min=1.0)


def masked_mse(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    w = mask.to(torch.float32)
    return (((pred.float() - target.float()) ** 2) * w).sum() / w.sum().clamp(min=1.0)


def v2x_loss(out: V2XOutput, codes: torch.Tensor, energy: torch.Tensor, spread: torch.Tensor,
             gamma: float = 2.0) -> dict[str, torch.Tensor]:
    """Spec loss: mean over the code heads of the masked focal loss, + MSE(E) + MSE(D).

    ``codes`` [B, groups, T], ``energy`` / ``spread`` [B, T] on the output's frame grid.
    Returns the total and its parts, plus code accuracy (the spec's metric).
    """
    m = out.mask
    groups = out.code_logits.shape[1]
    focal = sum(focal_loss(out.code_logits[:, g], codes[:, g], m, gamma) for g in range(groups)) / groups
    mse_e = masked_mse(out.energy, energy, m)
    mse_d = masked_mse(out.spread, spread, m)
    with torch.no_grad():
        hit = (out.code_logits.argmax(-1) == codes).float() * m[:, None].float()
        acc = hit.sum() / (m.float().sum() * groups).clamp(min=1.0)
    return {"loss": focal + mse_e + mse_d, "focal": focal, "mse_e": mse_e, "mse_d": mse_d, "accuracy": acc}
