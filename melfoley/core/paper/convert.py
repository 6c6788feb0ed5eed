"""Convert the authors' ldm-style checkpoints into our local-folder layout (safetensors).

Recognised parts of a ``.pt`` / ``.ckpt`` / ``.safetensors`` state dict (optionally nested
under ``state_dict``; pickles are read with ``weights_only=True`` only):

- ControlNet (``control_model.*`` in a ControlLDM checkpoint, or a bare ControlNet):
  ``time_embed``, ``input_blocks``, ``middle_block`` and ``zero_convs.N`` /
  ``middle_block_out`` go through diffusers' own ldm -> diffusers ControlNet mapping; the
  stride-1 hint block ``input_hint_block.{0,2,...,2n}`` maps onto
  ``controlnet_cond_embedding.blocks.i`` and its last conv onto ``...conv_out``.
- Inversion adapter (``...inversion_adapter.{encoder_layers,post_layernorm,layers}.*``):
  the names already match ours; the prefix is dropped.
- V2X code predictor (``proj_in``, ``rel_pos_bias``, ``layers_en``, ``layer_norm_en``,
  ``proj_out``, ``proj_ms``): renamed onto :class:`V2XPredictor`.

Each part is loaded strictly into our model (so a wrong mapping cannot pass silently) and
saved with ``save_pretrained`` into ``OUT/controlnet``, ``OUT/adapter``, ``OUT/v2x``.
"""

from __future__ import annotations

import re
from pathlib import Path

import torch

from ..errors import WeightsError

SD15_UNET = dict(
    in_channels=4, layers_per_block=2, block_out_channels=(320, 640, 1280, 1280), cross_attention_dim=768,
    attention_head_dim=8,
    down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
    up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
)
_ADAPTER = re.compile(r"^(?:.*\.)?inversion_adapter\.((?:encoder_layers|post_layernorm|layers)\..*)$")
_V2X_RENAMES = (("layers_en.", "layers."), ("layer_norm_en.", "final_norm."), ("proj_out.", "code_heads."),
                ("proj_ms.", "ed_head."))
_V2X_ROOTS = ("proj_in.", "rel_pos_bias.", "layers_en.", "layer_norm_en.", "proj_out.", "proj_ms.")


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Tensors of a checkpoint file; pickles only with ``weights_only=True``."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"checkpoint {path} not found")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(path)
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file becomes one clear message
        raise WeightsError(f"{path} cannot be read as a weights-only checkpoint ({str(exc)[:200]}); "
                           "it may hold arbitrary pickled objects, which melfoley refuses to load") from exc
    for key in ("state_dict", "model", "module"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict):
        raise WeightsError(f"{path} does not hold a state dict (got {type(state).__name__})")
    return {k: v for k, v in state.items() if isinstance(v, torch.Tensor)}


# ---------------------------------------------------------------------------- ControlNet
def controlnet_keys(state: dict) -> dict[str, torch.Tensor]:
    """The ldm ControlNet tensors without the ``control_model.`` prefix ({} when there are none)."""
    inner = {k[len("control_model."):]: v for k, v in state.items() if k.startswith("control_model.")}
    if inner:
        return inner
    return {k: v for k, v in state.items() if k.startswith(("input_hint_block.", "zero_convs.", "middle_block_out."))
            or (k.startswith(("time_embed.", "input_blocks.", "middle_block.")) and "input_hint_block.0.weight" in state)}


def convert_controlnet(ldm: dict[str, torch.Tensor], unet_config: dict | None = None):
    """ldm ControlNet tensors -> a loaded :class:`MelQCDControlNetModel` (strict)."""
    from diffusers.loaders.single_file_utils import convert_controlnet_checkpoint

    from .controlnet import MelQCDControlNetModel

    hint = sorted({int(k.split(".")[1]) for k in ldm if k.startswith("input_hint_block.")})
    if not hint:
        raise WeightsError("the checkpoint's ControlNet has no input_hint_block.* tensors")
    cfg = {**SD15_UNET, **(unet_config or {})}
    ctx = next((v for k, v in ldm.items() if k.endswith("attn2.to_k.weight")), None)
    if ctx is not None and unet_config is None:
        cfg["cross_attention_dim"] = int(ctx.shape[1])
    body = {k: v for k, v in ldm.items() if not k.startswith("input_hint_block.")}
    new = convert_controlnet_checkpoint(body, {"layers_per_block": cfg["layers_per_block"]})
    new = {k: v for k, v in new.items() if v is not None and not k.startswith("controlnet_cond_embedding.")}
    for i, idx in enumerate(hint):
        name = "conv_out" if i == len(hint) - 1 else f"blocks.{i}"
        for p in ("weight", "bias"):
            new[f"controlnet_cond_embedding.{name}.{p}"] = ldm[f"input_hint_block.{idx}.{p}"]
    channels = tuple(int(ldm[f"input_hint_block.{i}.weight"].shape[0]) for i in hint[:-1])
    keep = ("in_channels", "layers_per_block", "block_out_channels", "cross_attention_dim", "attention_head_dim",
            "down_block_types", "norm_num_groups", "num_attention_heads", "use_linear_projection",
            "transformer_layers_per_block", "only_cross_attention", "upcast_attention", "mid_block_type")
    with torch.device("meta"):  # no memory or init time; every tensor comes from the checkpoint
        model = MelQCDControlNetModel(
            **{k: v for k, v in cfg.items() if k in keep},
            conditioning_channels=int(ldm[f"input_hint_block.{hint[0]}.weight"].shape[1]),
            conditioning_embedding_out_channels=channels,
        )
    _load_strict(model, new, "controlnet")
    return model


# ---------------------------------------------------------------------------- adapter
def adapter_keys(state: dict) -> dict[str, torch.Tensor]:
    out = {}
    for k, v in state.items():
        m = _ADAPTER.match(k)
        if m:
            out[m.group(1)] = v
    return out


def convert_adapter(sd: dict[str, torch.Tensor], *, text_dim: int = 768, num_heads: int = 12):
    """Adapter tensors (our names) -> a loaded :class:`InversionAdapter`; sizes read from the shapes."""
    from .adapter import InversionAdapter

    lin = sorted(int(k.split(".")[1]) for k in sd if k.startswith("layers.") and k.endswith(".weight"))
    out_dim = int(sd[f"layers.{lin[-1]}.weight"].shape[0])
    if out_dim % text_dim:
        raise WeightsError(f"adapter output {out_dim} is not a multiple of the text width {text_dim}; pass --text-dim")
    n_layers = len({k.split(".")[1] for k in sd if k.startswith("encoder_layers.")})
    model = InversionAdapter(
        input_dim=int(sd["post_layernorm.weight"].shape[0]), num_heads=num_heads,
        mlp_dim=int(sd["encoder_layers.0.mlp.fc1.weight"].shape[0]), hidden_dim=int(sd[f"layers.{lin[0]}.weight"].shape[0]),
        text_dim=text_dim, num_tokens=out_dim // text_dim, num_encoder_layers=n_layers,
    )
    _load_strict(model, sd, "adapter")
    return model


# ---------------------------------------------------------------------------- V2X
def v2x_keys(state: dict) -> dict[str, torch.Tensor]:
    out = {}
    for k, v in state.items():
        for prefix in ("", "module.", "model."):
            if k.startswith(prefix) and k[len(prefix):].startswith(_V2X_ROOTS):
                name = k[len(prefix):]
                for old, new in _V2X_RENAMES:
                    if name.startswith(old):
                        name = new + name[len(old):]
                out[name] = v
                break
    return out if "proj_in.weight" in out else {}


def convert_v2x(sd: dict[str, torch.Tensor]):
    from .v2x import V2XPredictor

    rel = sorted(int(k.split(".")[2]) for k in sd if k.startswith("rel_pos_bias.net.") and k.endswith("weight"))
    heads_key = next(k for k in sd if k.startswith(f"rel_pos_bias.net.{rel[-1]}.") and k.endswith("weight"))
    ed = sorted(int(k.split(".")[1]) for k in sd if k.startswith("ed_head.") and k.endswith("weight"))
    model = V2XPredictor(
        feature_dim=int(sd["proj_in.weight"].shape[1]), dim=int(sd["proj_in.weight"].shape[0]),
        num_layers=len({k.split(".")[1] for k in sd if k.startswith("layers.")}),
        num_heads=int(sd[heads_key].shape[0]), ffn_dim=int(sd["layers.0.feed_forward.0.weight"].shape[0]),
        rel_pos_hidden=int(sd["rel_pos_bias.net.0.0.weight"].shape[0]),
        groups=len({k.split(".")[1] for k in sd if k.startswith("code_heads.")}),
        codes=int(sd["code_heads.0.weight"].shape[0]),
        ed_hidden=(int(sd[f"ed_head.{ed[0]}.weight"].shape[0]), int(sd[f"ed_head.{ed[1]}.weight"].shape[0])),
    )
    _load_strict(model, sd, "v2x")
    return model


# ---------------------------------------------------------------------------- driver
def _load_strict(model, sd: dict, part: str) -> None:
    meta = any(p.is_meta for p in model.parameters())
    try:
        missing, unexpected = model.load_state_dict(sd, strict=False, assign=meta)
    except RuntimeError as exc:
        raise WeightsError(f"{part}: tensor shapes do not match the model ({str(exc)[:300]})") from exc
    if missing or unexpected:
        raise WeightsError(f"{part}: {len(missing)} missing keys (e.g. {missing[:3]}) and {len(unexpected)} "
                           f"unexpected keys (e.g. {unexpected[:3]}) after mapping the checkpoint")


def convert_checkpoint(src: str | Path, out_dir: str | Path, *, unet_config: dict | None = None,
                       text_dim: int = 768, adapter_heads: int = 12) -> dict[str, Path]:
    """Convert every recognised part of ``src`` into ``out_dir/<part>/``; returns {part: folder}."""
    state = read_state_dict(src)
    out_dir = Path(out_dir)
    found = {}
    cn = controlnet_keys(state)
    if cn:
        found["controlnet"] = convert_controlnet(cn, unet_config)
    ad = adapter_keys(state)
    if ad:
        found["adapter"] = convert_adapter(ad, text_dim=text_dim, num_heads=adapter_heads)
    vx = v2x_keys(state)
    if vx:
        found["v2x"] = convert_v2x(vx)
    if not found:
        sample = ", ".join(sorted(state)[:5])
        raise WeightsError(f"{src} holds no ControlNet, inversion adapter or V2X tensors that melfoley knows "
                           f"(first keys: {sample})")
    written = {}
    for part, model in found.items():
        written[part] = out_dir / part
        model.save_pretrained(written[part], safe_serialization=True)
    if "v2x" in written:  # the authors' V2X reads Synchformer features: the engine refuses it (engines/paper.py)
        import json

        (written["v2x"] / "features.json").write_text(json.dumps(
            {"kind": "synchformer", "note": "authors' checkpoint: Synchformer MotionFormer features over 16-frame "
                                            "windows, which melfoley cannot compute"}))
    return written
