"""Textual-inversion adapter (MELQCD_SPEC.md section 5) and the placeholder-token swap.

The adapter maps a video's CLIP image embedding to ``n`` pseudo-token embeddings: one
CLIP encoder layer (768 hidden, 12 heads, 3072 MLP, quick-GELU, pre-LN), token 0, a
LayerNorm, then an MLP 768 -> 3072 -> 3072 -> 768 * n (GELU, dropout 0.5). The prompt is
``"<event text>, $ $ ... $"`` (n placeholders); the placeholders' token embeddings are
replaced by the adapter outputs before the frozen CLIP text encoder runs.

Parameter names follow transformers' ``CLIPEncoderLayer`` (``self_attn.q_proj``,
``layer_norm1``, ``mlp.fc1`` ...) so the authors' weights map by prefix alone.
"""

from __future__ import annotations

from contextlib import contextmanager

import torch
import torch.nn.functional as F
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from torch import nn

PLACEHOLDER = "$"


class _CLIPAttention(nn.Module):
    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.q_proj, self.k_proj, self.v_proj, self.out_proj = (nn.Linear(dim, dim) for _ in range(4))

    def forward(self, x):
        b, n, c = x.shape
        q, k, v = (p(x).view(b, n, self.heads, c // self.heads).transpose(1, 2)
                   for p in (self.q_proj, self.k_proj, self.v_proj))
        out = F.scaled_dot_product_attention(q, k, v)
        return self.out_proj(out.transpose(1, 2).reshape(b, n, c))


class _CLIPMLP(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x):
        x = self.fc1(x)
        return self.fc2(x * torch.sigmoid(1.702 * x))  # quick-GELU, as CLIP


class CLIPEncoderLayer(nn.Module):
    """One pre-LN CLIP encoder layer (no mask: the adapter attends over the whole input)."""

    def __init__(self, dim: int, heads: int, mlp_dim: int, eps: float = 1e-5):
        super().__init__()
        self.self_attn = _CLIPAttention(dim, heads)
        self.layer_norm1 = nn.LayerNorm(dim, eps=eps)
        self.mlp = _CLIPMLP(dim, mlp_dim)
        self.layer_norm2 = nn.LayerNorm(dim, eps=eps)

    def forward(self, x):
        x = x + self.self_attn(self.layer_norm1(x))
        return x + self.mlp(self.layer_norm2(x))


class InversionAdapter(ModelMixin, ConfigMixin):
    """Image embedding [B, D] or token sequence [B, L, D] -> pseudo-token embeddings [B, n, text_dim]."""

    @register_to_config
    def __init__(
        self,
        input_dim: int = 768,
        num_heads: int = 12,
        mlp_dim: int = 3072,
        hidden_dim: int = 3072,
        text_dim: int = 768,
        num_tokens: int = 32,
        num_encoder_layers: int = 1,
        dropout: float = 0.5,
        layer_norm_eps: float = 1e-5,
    ):
        super().__init__()
        self.encoder_layers = nn.ModuleList(
            CLIPEncoderLayer(input_dim, num_heads, mlp_dim, layer_norm_eps) for _ in range(num_encoder_layers)
        )
        self.post_layernorm = nn.LayerNorm(input_dim, eps=layer_norm_eps)
        self.layers = nn.Sequential(
            nn.Linear(input_dim, hidden_dim), nn.GELU(), nn.Dropout(dropout),
            nn.Linear(hidden_dim, hidden_dim), nn.GELU(), nn.Dropout(dropout),
            nn.Linear(hidden_dim, text_dim * num_tokens),
        )

    def forward(self, image_embeds: torch.Tensor) -> torch.Tensor:
        x = image_embeds if image_embeds.dim() == 3 else image_embeds.unsqueeze(1)
        for layer in self.encoder_layers:
            x = layer(x)
        x = self.post_layernorm(x[:, 0])
        return self.layers(x).view(x.shape[0], self.config.num_tokens, self.config.text_dim)


def inversion_prompt(event: str, num_tokens: int) -> str:
    """``"<event>, $ $ ... $"`` with ``num_tokens`` placeholders."""
    return f"{event.strip()}, " + " ".join([PLACEHOLDER] * num_tokens)


def placeholder_token_id(tokenizer) -> int:
    ids = tokenizer(PLACEHOLDER, add_special_tokens=False).input_ids
    if len(ids) != 1:
        raise ValueError(f"the tokenizer splits the placeholder {PLACEHOLDER!r} into {len(ids)} tokens")
    return int(ids[0])


@contextmanager
def replaced_token_embeddings(text_encoder, input_ids: torch.Tensor, token_id: int, values: torch.Tensor):
    """While active, the text encoder's token embedding of every ``token_id`` in ``input_ids`` is
    replaced, in order, by ``values`` [B, n, dim]. Each row must hold exactly n placeholders
    (fewer when the prompt was truncated: the first ones are used)."""
    where = input_ids == token_id  # [B, L]
    rank = torch.cumsum(where.long(), dim=1) - 1  # which pseudo-token each placeholder takes
    n = values.shape[1]
    if int(where.sum(1).max()) > n:
        raise ValueError(f"prompt holds more {PLACEHOLDER!r} placeholders than the adapter's {n} tokens")
    gathered = torch.gather(values, 1, rank.clamp(0, n - 1).unsqueeze(-1).expand(-1, -1, values.shape[-1]))

    def hook(module, args, output):
        return torch.where(where.unsqueeze(-1).to(output.device), gathered.to(output.dtype), output)

    handle = text_encoder.get_input_embeddings().register_forward_hook(hook)
    try:
        yield
    finally:
        handle.remove()
