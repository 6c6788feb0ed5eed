"""The Mel-QCD ControlNet (MELQCD_SPEC.md section 4) on diffusers' ``ControlNetModel``.

A copy of the SD-1.5 UNet encoder and middle block with zero 1x1 convs into the 12 skips
and the middle block (diffusers' ``controlnet_down_blocks`` / ``controlnet_mid_block``).
Only the control path differs from standard ControlNet: the control image is encoded by
the frozen VAE *encoder* to its raw 8-channel moments at latent resolution (before
``quant_conv``, no scaling), and a hint block of stride-1 3x3 convs
8 -> 16 -> 32 -> 64 -> 128 -> 256 -> 320 (SiLU between, last conv zero-initialised) is
added after ``conv_in``. The hint block reuses ControlNetModel's own config fields:
``conditioning_channels`` (8) and ``conditioning_embedding_out_channels`` (16 ... 256),
so ``save_pretrained`` / ``from_pretrained`` work unchanged.
"""

from __future__ import annotations

import inspect

import torch
from diffusers import ControlNetModel, UNet2DConditionModel
from torch import nn

HINT_CHANNELS = (16, 32, 64, 128, 256)


class StrideOneHintBlock(nn.Module):
    """Stride-1 3x3 convs in -> c0 -> ... -> out with SiLU between; the last conv starts at zero."""

    def __init__(self, in_channels: int, channels: tuple[int, ...], out_channels: int):
        super().__init__()
        dims = (in_channels, *channels)
        self.blocks = nn.ModuleList(nn.Conv2d(a, b, 3, padding=1) for a, b in zip(dims[:-1], dims[1:]))
        self.conv_out = nn.Conv2d(dims[-1], out_channels, 3, padding=1)
        nn.init.zeros_(self.conv_out.weight)
        nn.init.zeros_(self.conv_out.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for conv in self.blocks:
            x = nn.functional.silu(conv(x))
        return self.conv_out(x)


class MelQCDControlNetModel(ControlNetModel):
    """``ControlNetModel`` whose conditioning embedding is the stride-1 hint block over VAE moments."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        c = self.config
        self.controlnet_cond_embedding = StrideOneHintBlock(
            c.conditioning_channels, tuple(c.conditioning_embedding_out_channels), c.block_out_channels[0]
        )

    # diffusers reads the constructor's keyword names from the signature: keep the parent's
    __init__.__signature__ = inspect.signature(ControlNetModel.__init__)

    @classmethod
    def from_unet_melqcd(cls, unet: UNet2DConditionModel, *, hint_channels: tuple[int, ...] = HINT_CHANNELS,
                         load_weights_from_unet: bool = True) -> "MelQCDControlNetModel":
        """The spec's ControlNet for ``unet``: encoder + middle copied from it, zero convs, zero hint output."""
        moments = 2 * unet.config.in_channels
        return cls.from_unet(unet, conditioning_embedding_out_channels=tuple(hint_channels),
                             load_weights_from_unet=load_weights_from_unet, conditioning_channels=moments)


def vae_moments(vae, image: torch.Tensor) -> torch.Tensor:
    """Raw VAE encoder output [B, 2 * latent_channels, H/8, W/8] (before quant_conv, no scaling)."""
    return vae.encoder(image)
