"""What a local paper-tier folder holds, what is missing, and making Auffusion's published folder loadable.

The base text-to-audio model is Auffusion's diffusers checkpoint **auffusion/auffusion-full-no-adapter**
(Hugging Face; the SD-1.5 layout with a CLIP-L text encoder, which the spec's ControlNet and
textual inversion build on). Download it yourself (``huggingface-cli download
auffusion/auffusion-full-no-adapter --local-dir DIR``); melfoley never fetches anything. Files
melfoley reads from it:
- ``vae/config.json`` + ``vae/diffusion_pytorch_model.safetensors`` (or ``.bin``)
- ``unet/config.json`` + ``unet/diffusion_pytorch_model.safetensors`` (or ``.bin``)
- ``text_encoder/config.json`` + ``text_encoder/model.safetensors`` (or ``pytorch_model.bin``)
- ``tokenizer/`` (``vocab.json``, ``merges.txt``, ``tokenizer_config.json``, ``special_tokens_map.json``)
- ``vocoder/config.json`` + ``vocoder/vocoder.pt`` (Auffusion's 256-mel HiFi-GAN, a pickle with a
  ``generator`` state dict in weight-norm form)
- ``scheduler/scheduler_config.json`` (PNDM, the SD-1.5 schedule); ``feature_extractor/`` is unused.
``melfoley paper import DIR`` rewrites the pickled files as safetensors (read with
``torch.load(weights_only=True)``, so nothing in them is executed) and the vocoder as
``vocoder/model.safetensors``; ``melfoley paper check DIR`` lists what is there and missing.
The trained parts (``controlnet/``, ``adapter/``, ``v2x/`` + ``visual_encoder/``,
``image_encoder/``) come from ``melfoley train`` (or ``melfoley convert``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from ..errors import WeightsError

#: part -> (what it is, needed for)
PARTS = {
    "vae": ("SD VAE (AutoencoderKL)", "rendering and training"),
    "unet": ("SD-1.5 UNet (UNet2DConditionModel)", "rendering and training"),
    "text_encoder": ("CLIP-L text encoder", "rendering and training"),
    "tokenizer": ("CLIP tokenizer", "rendering and training"),
    "vocoder": ("256-mel HiFi-GAN", "rendering"),
    "controlnet": ("Mel-QCD ControlNet (melfoley train controlnet)", "rendering"),
    "scheduler": ("noise schedule", "optional: SD-1.5 defaults"),
    "adapter": ("textual-inversion adapter (melfoley train adapter)", "optional: semantic correction"),
    "image_encoder": ("CLIP vision model for the adapter", "optional: with adapter/"),
    "v2x": ("V2X predictor (melfoley train v2x)", "predicting controls from picture"),
    "visual_encoder": ("V2X's frozen frame encoder (encoder.json)", "with v2x/"),
}
BASE = ("vae", "unet", "text_encoder", "tokenizer", "vocoder")


@dataclass
class PartReport:
    name: str
    state: str  # "ok", "missing", "convert" (pickles only: run `melfoley paper import`), "incomplete"
    files: list[str]
    note: str = ""


def _weights(d: Path) -> tuple[list[Path], list[Path]]:
    return sorted(d.glob("*.safetensors")), sorted([*d.glob("*.bin"), *d.glob("*.pt"), *d.glob("*.pth")])


def inspect_folder(root: str | Path) -> list[PartReport]:
    root = Path(root)
    if not root.is_dir():
        raise WeightsError(f"{root} is not a folder; give the local diffusers folder to check")
    out = []
    for name in PARTS:
        d = root / name
        if not d.is_dir():
            out.append(PartReport(name, "missing", []))
            continue
        files = sorted(p.name for p in d.iterdir() if p.is_file())
        safe, pickles = _weights(d)
        if name == "tokenizer":
            ok = (d / "vocab.json").exists() or (d / "tokenizer.json").exists()
            out.append(PartReport(name, "ok" if ok else "incomplete", files, "" if ok else "no vocab.json"))
        elif name == "scheduler":
            ok = (d / "scheduler_config.json").exists()
            note = json.loads((d / "scheduler_config.json").read_text()).get("_class_name", "") if ok else ""
            out.append(PartReport(name, "ok" if ok else "incomplete", files, note))
        elif name == "visual_encoder":
            ok = (d / "encoder.json").exists()
            out.append(PartReport(name, "ok" if ok else "incomplete", files, "" if ok else "no encoder.json"))
        elif name == "vocoder":
            if (d / "model.safetensors").exists() and (d / "config.json").exists():
                out.append(PartReport(name, "ok", files))
            elif (d / "vocoder.pt").exists():
                out.append(PartReport(name, "convert", files, "Auffusion's vocoder.pt: run `melfoley paper import`"))
            else:
                out.append(PartReport(name, "incomplete", files, "needs config.json and model.safetensors"))
        elif not (d / "config.json").exists():
            out.append(PartReport(name, "incomplete", files, "no config.json"))
        elif safe:
            out.append(PartReport(name, "ok", files))
        elif pickles:
            out.append(PartReport(name, "convert", files, f"{pickles[0].name} only: run `melfoley paper import`"))
        else:
            out.append(PartReport(name, "incomplete", files, "no weights file"))
    return out


def import_folder(root: str | Path, log=print) -> list[str]:
    """Rewrite the pickled weights of ``root`` as safetensors beside them (originals kept); returns what was written."""
    import torch
    from safetensors.torch import save_file

    root = Path(root)
    written = []
    for rep in inspect_folder(root):
        if rep.state != "convert":
            continue
        d = root / rep.name
        if rep.name == "vocoder":
            state = _load_pickle(d / "vocoder.pt")
            state = state.get("generator", state)
            dest = d / "model.safetensors"
        else:
            src = _weights(d)[1][0]
            state = _load_pickle(src)
            dest = d / ("model.safetensors" if rep.name == "text_encoder" else "diffusion_pytorch_model.safetensors")
        tensors = {k: v.contiguous() for k, v in state.items() if isinstance(v, torch.Tensor)}
        save_file(tensors, dest)
        written.append(str(dest.relative_to(root)))
        log(f"wrote {dest} ({len(tensors)} tensors)")
    return written


def _load_pickle(path: Path) -> dict:
    import pickle

    import torch

    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, OSError) as exc:
        raise WeightsError(f"{path} cannot be read as plain weights ({str(exc)[:200]}); melfoley only reads "
                           "weights-only pickles") from exc
