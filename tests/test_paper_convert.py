"""`melfoley convert` on synthetic checkpoints that use the authors' ldm-style key names.

The ldm names are written here independently of the converter (the inverse mapping, from
the layout of ldm's openaimodel UNet / cldm ControlNet), from tiny random models whose
outputs the converted models must reproduce exactly.
"""

from __future__ import annotations

import json
import re

import pytest
import torch

from melfoley.core.errors import WeightsError
from melfoley.core.paper.adapter import InversionAdapter
from melfoley.core.paper.controlnet import MelQCDControlNetModel
from melfoley.core.paper.tiny import PRESETS, build_components, build_v2x
from melfoley.core.paper.v2x import V2XPredictor
from melfoley.plugin.cli import main

RESNET = (("norm1", "in_layers.0"), ("conv1", "in_layers.2"), ("time_emb_proj", "emb_layers.1"),
          ("norm2", "out_layers.0"), ("conv2", "out_layers.3"), ("conv_shortcut", "skip_connection"))


def _resnet(rest: str) -> str:
    for new, old in RESNET:
        if rest.startswith(new + "."):
            return old + rest[len(new):]
    raise AssertionError(rest)


def ldm_controlnet_name(key: str, per_block: int, n_hint: int) -> str:
    """Our (diffusers) ControlNet key -> the cldm name the authors' checkpoints use."""
    simple = {"time_embedding.linear_1.": "time_embed.0.", "time_embedding.linear_2.": "time_embed.2.",
              "conv_in.": "input_blocks.0.0.", "controlnet_mid_block.": "middle_block_out.0.",
              "controlnet_cond_embedding.conv_out.": f"input_hint_block.{2 * n_hint}.",
              "mid_block.attentions.0.": "middle_block.1."}
    for new, old in simple.items():
        if key.startswith(new):
            return old + key[len(new):]
    if m := re.match(r"down_blocks\.(\d+)\.(resnets|attentions)\.(\d+)\.(.*)", key):
        b, kind, i, rest = int(m[1]), m[2], int(m[3]), m[4]
        idx = 1 + b * (per_block + 1) + i
        return f"input_blocks.{idx}.0.{_resnet(rest)}" if kind == "resnets" else f"input_blocks.{idx}.1.{rest}"
    if m := re.match(r"down_blocks\.(\d+)\.downsamplers\.0\.conv\.(.*)", key):
        return f"input_blocks.{(int(m[1]) + 1) * (per_block + 1)}.0.op.{m[2]}"
    if m := re.match(r"mid_block\.resnets\.(\d)\.(.*)", key):
        return f"middle_block.{2 * int(m[1])}.{_resnet(m[2])}"
    if m := re.match(r"controlnet_down_blocks\.(\d+)\.(.*)", key):
        return f"zero_convs.{m[1]}.0.{m[2]}"
    if m := re.match(r"controlnet_cond_embedding\.blocks\.(\d+)\.(.*)", key):
        return f"input_hint_block.{2 * int(m[1])}.{m[2]}"
    raise AssertionError(f"no ldm name for {key}")


V2X_AUTHORS = (("layers.", "layers_en."), ("final_norm.", "layer_norm_en."), ("code_heads.", "proj_out."),
               ("ed_head.", "proj_ms."))


@pytest.fixture(scope="module")
def parts():
    torch.manual_seed(0)
    comp = build_components("tiny", seed=3)
    return comp["controlnet"].eval(), comp["adapter"].eval(), build_v2x("tiny", seed=4).eval()


def _ckpt(parts):
    controlnet, adapter, _ = parts
    n_hint = len(controlnet.controlnet_cond_embedding.blocks)
    per_block = controlnet.config.layers_per_block
    state = {f"control_model.{ldm_controlnet_name(k, per_block, n_hint)}": v.clone()
             for k, v in controlnet.state_dict().items()}
    assert "control_model.input_hint_block.0.weight" in state and "control_model.zero_convs.0.0.weight" in state
    assert "control_model.middle_block_out.0.weight" in state
    state |= {f"inversion_adapter.inversion_adapter.{k}": v.clone() for k, v in adapter.state_dict().items()}
    state["model.diffusion_model.input_blocks.0.0.weight"] = torch.zeros(3)  # other parts: ignored
    state["first_stage_model.encoder.conv_in.weight"] = torch.zeros(3)
    return {"state_dict": state, "epoch": 7, "global_step": 1234}


def _v2x_ckpt(v2x):
    out = {}
    for k, v in v2x.state_dict().items():
        for ours, theirs in V2X_AUTHORS:
            if k.startswith(ours):
                k = theirs + k[len(ours):]
        out[f"module.{k}"] = v.clone()
    return out


def test_convert_maps_ldm_names_onto_our_models(parts, tmp_path):
    controlnet, adapter, _ = parts
    ckpt = tmp_path / "melqcd.ckpt"
    torch.save(_ckpt(parts), ckpt)
    unet_cfg = tmp_path / "unet_config.json"
    unet_cfg.write_text(json.dumps(PRESETS["tiny"].unet))
    assert main(["convert", str(ckpt), str(tmp_path / "w"), "--unet-config", str(unet_cfg),
                 "--text-dim", "16", "--adapter-heads", "2"]) == 0
    cn = MelQCDControlNetModel.from_pretrained(tmp_path / "w" / "controlnet", local_files_only=True).eval()
    assert (tmp_path / "w" / "controlnet" / "diffusion_pytorch_model.safetensors").exists()
    assert cn.config.conditioning_channels == 8 and tuple(cn.config.conditioning_embedding_out_channels) == (4, 8)
    x, t, ctx, hint = torch.randn(1, 4, 32, 16), torch.tensor(500), torch.randn(1, 77, 16), torch.randn(1, 8, 32, 16)
    with torch.no_grad():
        want = controlnet(x, t, ctx, hint, return_dict=False)
        got = cn(x, t, ctx, hint, return_dict=False)
    for a, b in zip(want[0], got[0]):
        torch.testing.assert_close(a, b)
    torch.testing.assert_close(want[1], got[1])
    ad = InversionAdapter.from_pretrained(tmp_path / "w" / "adapter", local_files_only=True).eval()
    assert ad.config.num_tokens == 4
    e = torch.randn(2, 16)
    torch.testing.assert_close(ad(e), adapter(e))


def test_convert_v2x_code_predictor(parts, tmp_path):
    v2x = parts[2]
    from safetensors.torch import save_file

    src = tmp_path / "v2x.safetensors"
    save_file(_v2x_ckpt(v2x), src)
    assert main(["convert", str(src), str(tmp_path / "w")]) == 0
    back = V2XPredictor.from_pretrained(tmp_path / "w" / "v2x", local_files_only=True).eval()
    assert back.config.num_layers == 2 and back.config.num_heads == 4
    f = torch.randn(1, 6, 16)
    torch.testing.assert_close(back(f).code_logits, v2x(f).code_logits)
    # it says what it was trained on, so the paper engine refuses to feed it melfoley's frame features
    assert json.loads((tmp_path / "w" / "v2x" / "features.json").read_text())["kind"] == "synchformer"


class NotWeights:
    pass


def test_convert_refuses_pickled_objects_and_unknown_checkpoints(tmp_path, capsys):
    bad = tmp_path / "evil.pt"
    torch.save({"state_dict": {"x": torch.zeros(1)}, "payload": NotWeights()}, bad)
    assert main(["convert", str(bad), str(tmp_path / "o")]) == 2
    assert "weights-only" in capsys.readouterr().err
    other = tmp_path / "other.pt"
    torch.save({"encoder.weight": torch.zeros(2, 2)}, other)
    with pytest.raises(WeightsError, match="holds no ControlNet"):
        from melfoley.core.paper.convert import convert_checkpoint

        convert_checkpoint(other, tmp_path / "o")
    assert not (tmp_path / "o").exists()


def test_convert_reports_a_broken_mapping(parts, tmp_path):
    ck = _ckpt(parts)
    del ck["state_dict"]["control_model.zero_convs.1.0.weight"]
    path = tmp_path / "broken.ckpt"
    torch.save(ck, path)
    from melfoley.core.paper.convert import convert_checkpoint

    with pytest.raises(WeightsError, match=r"controlnet: 1 missing keys .*controlnet_down_blocks.1.weight"):
        convert_checkpoint(path, tmp_path / "o", unet_config=PRESETS["tiny"].unet, text_dim=16, adapter_heads=2)


def cldm_layout(channels, per_block: int, attention: tuple[bool, ...], hint: tuple[int, ...]) -> set[str]:
    """The cldm ControlNet's parameter names, enumerated from ldm's openaimodel rules alone (not from
    our models or our mapping): time_embed.{0,2}; input_blocks.0.0 = conv_in; per level, per_block
    ResBlocks (in_layers.{0,2}, emb_layers.1, out_layers.{0,3}, skip_connection when the width changes)
    each followed by a SpatialTransformer at attention levels (only its norm / proj_in / proj_out are
    listed), then a Downsample (op) except at the last level; one zero conv per input block;
    middle_block = ResBlock, SpatialTransformer, ResBlock; middle_block_out.0; the hint block's convs
    at even indices of its Sequential (SiLU between), the last one included."""
    wb = ("weight", "bias")
    res = lambda p, skip: {f"{p}.{m}.{w}" for m in ("in_layers.0", "in_layers.2", "emb_layers.1", "out_layers.0",
                                                    "out_layers.3") + (("skip_connection",) if skip else ()) for w in wb}
    attn = lambda p: {f"{p}.{m}.{w}" for m in ("norm", "proj_in", "proj_out") for w in wb}
    keys = {f"time_embed.{i}.{w}" for i in (0, 2) for w in wb} | {f"input_blocks.0.0.{w}" for w in wb}
    idx, width = 1, channels[0]
    for level, ch in enumerate(channels):
        for _ in range(per_block):
            keys |= res(f"input_blocks.{idx}.0", width != ch)
            if attention[level]:
                keys |= attn(f"input_blocks.{idx}.1")
            width, idx = ch, idx + 1
        if level < len(channels) - 1:
            keys |= {f"input_blocks.{idx}.0.op.{w}" for w in wb}
            idx += 1
    keys |= {f"zero_convs.{i}.0.{w}" for i in range(idx) for w in wb}
    keys |= res("middle_block.0", False) | attn("middle_block.1") | res("middle_block.2", False)
    keys |= {f"middle_block_out.0.{w}" for w in wb}
    keys |= {f"input_hint_block.{2 * i}.{w}" for i in range(len(hint) + 1) for w in wb}
    return keys


def test_our_ldm_names_match_the_independent_cldm_layout(parts):
    controlnet = parts[0]
    cfg = controlnet.config
    ours = {ldm_controlnet_name(k, cfg.layers_per_block, len(controlnet.controlnet_cond_embedding.blocks))
            for k in controlnet.state_dict()}
    ours = {k for k in ours if ".transformer_blocks." not in k}  # attention internals keep diffusers' names
    attention = tuple(t.startswith("CrossAttn") for t in cfg.down_block_types)
    want = cldm_layout(tuple(cfg.block_out_channels), cfg.layers_per_block, attention, PRESETS["tiny"].hint_channels)
    assert ours == want, (sorted(ours - want)[:5], sorted(want - ours)[:5])
