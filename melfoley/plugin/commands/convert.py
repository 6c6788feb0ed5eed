"""``melfoley convert CKPT OUT_DIR``: an authors' ldm-style checkpoint -> safetensors in our layout."""

from __future__ import annotations


def add_parser(sub):
    p = sub.add_parser(
        "convert", help="convert a .pt/.ckpt/.safetensors checkpoint into paper-tier weight folders",
        description="Read a checkpoint (pickles only with weights_only=True), map the authors' ldm-style "
                    "names (ControlNet input_hint_block / zero_convs / middle_block_out, inversion adapter, "
                    "V2X code predictor) onto melfoley's models and write each part as safetensors under "
                    "OUT_DIR/<part>/ (controlnet, adapter, v2x). Add vae/, unet/, text_encoder/, tokenizer/ "
                    "and vocoder/ from the text-to-audio model to complete a --weights folder.")
    p.add_argument("checkpoint", metavar="CKPT", help="checkpoint file (.pt, .ckpt, .pth or .safetensors)")
    p.add_argument("out_dir", metavar="OUT_DIR", help="weights folder to write into (parts are added or replaced)")
    p.add_argument("--unet-config", metavar="JSON",
                   help="the text-to-audio UNet's config.json (default: the SD-1.5 layout)")
    p.add_argument("--text-dim", type=int, default=768, help="CLIP text width the adapter writes into (768)")
    p.add_argument("--adapter-heads", type=int, default=12, help="attention heads of the adapter's CLIP layer (12)")
    return p


def run(args) -> int:
    import json
    from pathlib import Path

    from ...core.errors import WeightsError
    from ...core.paper.convert import convert_checkpoint

    unet_config = None
    if args.unet_config:
        try:
            unet_config = json.loads(Path(args.unet_config).read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise WeightsError(f"--unet-config {args.unet_config} cannot be read as JSON ({exc})") from exc
    try:
        written = convert_checkpoint(args.checkpoint, args.out_dir, unet_config=unet_config,
                                     text_dim=args.text_dim, adapter_heads=args.adapter_heads)
    except KeyError as exc:  # a part is there but some of its tensors are not
        raise WeightsError(f"{args.checkpoint} is incomplete: tensor {exc} of a part it holds is missing (a partial "
                           "or truncated checkpoint?); re-download or re-export the whole checkpoint") from None
    except (ValueError, RuntimeError) as exc:  # tensors of the wrong shape or type
        raise WeightsError(f"{args.checkpoint} does not match melfoley's models ({type(exc).__name__}: "
                           f"{str(exc)[:200]}); check it is the authors' Mel-QCD checkpoint") from None
    for part, folder in written.items():
        print(f"{part:<11} {folder}")
    return 0
