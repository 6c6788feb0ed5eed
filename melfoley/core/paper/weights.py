"""Paper-tier weights from a local folder in the diffusers layout; nothing is fetched from a hub.

```
WEIGHTS/
  model_index.json          pipeline settings (window, overlap, released_compat) and parts
  vae/ unet/ controlnet/    diffusers models: config.json + diffusion_pytorch_model.safetensors
  text_encoder/ tokenizer/  transformers CLIP text model and tokenizer
  vocoder/                  config.json (HiFiGANConfig) + model.safetensors
  scheduler/                scheduler_config.json (optional; the SD-1.5 schedule otherwise)
  adapter/                  textual-inversion adapter (optional)
  v2x/                      V2X predictor (optional; needed to predict controls from picture)
  visual_encoder/           frozen frame encoder for V2X (optional; see encoders.py)
```
Every part loads with ``from_pretrained(dir, local_files_only=True)`` (or, for the vocoder,
its config + safetensors). Missing folders and keys that do not match the model are all
collected into one :class:`WeightsError` that lists them and says how to fix it.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from ..errors import WeightsError
from ..hifigan import HiFiGANConfig, HiFiGANGenerator, fuse_weight_norm
from .pipeline import MelQCDPipeline, PipelineConfig

REQUIRED = ("vae", "text_encoder", "tokenizer", "unet", "controlnet", "vocoder")
OPTIONAL = ("adapter", "v2x", "scheduler", "visual_encoder")
VOCODER_WEIGHTS = "model.safetensors"


def _loaders():
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextModel, CLIPTokenizer

    from .adapter import InversionAdapter
    from .controlnet import MelQCDControlNetModel
    from .v2x import V2XPredictor

    return {
        "vae": AutoencoderKL, "unet": UNet2DConditionModel, "controlnet": MelQCDControlNetModel,
        "text_encoder": CLIPTextModel, "tokenizer": CLIPTokenizer, "adapter": InversionAdapter,
        "v2x": V2XPredictor,
    }


def missing_parts(root: str | Path) -> list[str]:
    """Required sub-folders (or their files) that ``root`` lacks, as readable strings."""
    root = Path(root)
    if not root.is_dir():
        return [f"{root} (not a folder)"]
    out = []
    for part in REQUIRED:
        d = root / part
        if not d.is_dir():
            out.append(f"{part}/")
        elif part == "vocoder":
            out += [f"vocoder/{f}" for f in ("config.json", VOCODER_WEIGHTS) if not (d / f).exists()]
        elif part != "tokenizer" and not any(d.glob("*.safetensors")):
            out.append(f"{part}/*.safetensors")
    return out


def _load_model(cls, path: Path, part: str, dtype, problems: list[str]):
    try:
        model, info = cls.from_pretrained(path, local_files_only=True, output_loading_info=True, torch_dtype=dtype)
    except (OSError, ValueError, RuntimeError, KeyError, TypeError) as exc:
        problems.append(f"{part}: {_short(exc)}")
        return None
    for kind in ("missing_keys", "unexpected_keys", "mismatched_keys"):
        keys = list(info.get(kind) or [])
        if keys:
            problems.append(f"{part}: {len(keys)} {kind.replace('_', ' ')}, e.g. {[str(k) for k in keys[:3]]}")
    return model


def load_vocoder(path: str | Path, dtype=torch.float32) -> HiFiGANGenerator:
    """HiFi-GAN from ``path/config.json`` + ``path/model.safetensors`` (weight-norm pairs are fused)."""
    from safetensors.torch import load_file

    path = Path(path)
    try:
        config = HiFiGANConfig.from_json_dict(json.loads((path / "config.json").read_text()))
        state = fuse_weight_norm(load_file(path / VOCODER_WEIGHTS))
    except (OSError, ValueError) as exc:
        raise WeightsError(f"vocoder in {path} cannot be read ({exc}); it needs config.json and {VOCODER_WEIGHTS}") from exc
    model = HiFiGANGenerator(config)
    try:
        missing, unexpected = model.load_state_dict(state, strict=False)
    except RuntimeError as exc:
        raise WeightsError(f"vocoder weights in {path} do not match its config.json: {str(exc)[:300]}") from exc
    if missing or unexpected:
        raise WeightsError(f"vocoder weights in {path} do not match its config.json: missing {missing[:3]}, "
                           f"unexpected {unexpected[:3]}")
    return model.to(dtype=dtype).eval()


def load_pipeline(root: str | Path, *, device="cpu", dtype=torch.float32) -> MelQCDPipeline:
    """The paper pipeline from a local weights folder (see the module docstring for the layout)."""
    root = Path(root)
    missing = missing_parts(root)
    if missing:
        raise WeightsError(f"paper-tier weights in {root} are incomplete; missing: {', '.join(missing)}. "
                           "Point --weights at a folder in the diffusers layout (see docs/paper_tier.md), "
                           "or convert a checkpoint with `melfoley convert CKPT OUT_DIR`")
    index = _read_index(root)
    loaders = _loaders()
    problems: list[str] = []
    parts = {}
    for part in ("vae", "text_encoder", "unet", "controlnet") + (("adapter",) if (root / "adapter").is_dir() else ()):
        parts[part] = _load_model(loaders[part], root / part, part, dtype, problems)
    try:
        parts["tokenizer"] = loaders["tokenizer"].from_pretrained(root / "tokenizer", local_files_only=True)
    except (OSError, ValueError, TypeError) as exc:
        problems.append(f"tokenizer: {_short(exc)}")
    try:
        parts["vocoder"] = load_vocoder(root / "vocoder", dtype)
    except WeightsError as exc:
        problems.append(str(exc))
    if problems:
        raise WeightsError(f"paper-tier weights in {root} do not match the models: " + "; ".join(problems)
                           + ". Re-export the folder, or convert the checkpoint again with `melfoley convert`")
    sched = root / "scheduler" / "scheduler_config.json"
    scheduler_config = json.loads(sched.read_text()) if sched.exists() else None
    pipe = MelQCDPipeline(**parts, scheduler_config=scheduler_config,
                          config=PipelineConfig(**index.get("pipeline", {})))
    return pipe.to(device, dtype)


def load_v2x(root: str | Path, *, device="cpu", dtype=torch.float32):
    """The V2X predictor in ``root/v2x``."""
    root = Path(root)
    if not (root / "v2x").is_dir():
        raise WeightsError(f"no V2X predictor in {root} (expected {root / 'v2x'}/ with config.json and "
                           "safetensors); it is needed to predict controls from picture")
    problems: list[str] = []
    model = _load_model(_loaders()["v2x"], root / "v2x", "v2x", dtype, problems)
    if problems:
        raise WeightsError(f"V2X weights in {root / 'v2x'} do not match the model: " + "; ".join(problems))
    return model.to(device).eval()


def content_id(root: str | Path) -> str:
    """Identity of a weights folder (or file) from the *content* of its files.

    Each file is hashed once (sha256); the digest is cached in the user cache dir under its
    absolute path, size and modification time, so a retrained checkpoint of the same shape
    gets a new identity while an unchanged folder costs one ``stat`` per file.
    """
    import hashlib

    root = Path(root)
    files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
    cache = _IdCache.get()
    h = hashlib.sha256()
    for p in files:
        h.update(f"{p.relative_to(root) if p != root else p.name}:{cache.digest(p)}\n".encode())
    cache.flush()
    return h.hexdigest()[:16]


class _IdCache:
    """path -> (size, mtime_ns, sha256) in ``<cache dir>/weights_ids.json``."""

    _instances: dict = {}

    def __init__(self, path: Path):
        self.path, self.dirty = path, False
        try:
            self.entries = json.loads(path.read_text())
        except (OSError, ValueError):
            self.entries = {}

    @classmethod
    def get(cls) -> "_IdCache":
        from ..userdirs import cache_dir

        path = cache_dir() / "weights_ids.json"
        if path not in cls._instances:
            cls._instances[path] = cls(path)
        return cls._instances[path]

    def digest(self, p: Path) -> str:
        import hashlib

        st = p.stat()
        key = str(p.resolve())
        hit = self.entries.get(key)
        if hit and hit[0] == st.st_size and hit[1] == st.st_mtime_ns:
            return hit[2]
        h = hashlib.sha256()
        with p.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 22), b""):
                h.update(block)
        self.entries[key] = [st.st_size, st.st_mtime_ns, h.hexdigest()]
        self.dirty = True
        return self.entries[key][2]

    def flush(self) -> None:
        if not self.dirty:
            return
        from ..atomic import atomic_text

        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            atomic_text(self.path, json.dumps(self.entries))
            self.dirty = False
        except OSError:
            pass  # a read-only cache only costs re-hashing next time


def _short(exc: Exception, limit: int = 400) -> str:
    text = " ".join(line.strip() for line in str(exc).splitlines() if line.strip())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _read_index(root: Path) -> dict:
    p = root / "model_index.json"
    if not p.exists():
        return {}
    try:
        return json.loads(p.read_text())
    except json.JSONDecodeError as exc:
        raise WeightsError(f"{p} is not valid JSON ({exc}); fix or delete it") from exc


def save_pipeline(pipe: MelQCDPipeline, root: str | Path, *, v2x=None, scheduler: str | None = None) -> Path:
    """Write every part of ``pipe`` (and optionally a V2X predictor) to ``root`` in the layout above;
    ``scheduler`` ("dpm++" or "pndm", default: the pipeline's) is written as the folder's scheduler."""
    from safetensors.torch import save_file

    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    for part in ("vae", "text_encoder", "unet", "controlnet", "adapter", "tokenizer"):
        obj = getattr(pipe, part)
        if obj is not None:
            obj.save_pretrained(root / part)
    if v2x is not None:
        v2x.save_pretrained(root / "v2x")
    voc = root / "vocoder"
    voc.mkdir(exist_ok=True)
    (voc / "config.json").write_text(json.dumps(pipe.vocoder.config.to_json_dict(), indent=2))
    save_file({k: v.detach().contiguous().cpu() for k, v in pipe.vocoder.state_dict().items()}, voc / VOCODER_WEIGHTS)
    from .pipeline import make_scheduler

    # the scheduler the pipeline runs by default, saved by diffusers itself: class name and settings are true
    cfg = {k: v for k, v in pipe.scheduler_config.items() if not k.startswith("_")}
    make_scheduler(scheduler or pipe.default_scheduler, cfg).save_config(root / "scheduler")
    index = {"_class_name": "MelQCDPipeline", "pipeline": pipe.config.to_dict(),
             "parts": sorted(p.name for p in root.iterdir() if p.is_dir())}
    (root / "model_index.json").write_text(json.dumps(index, indent=2))
    return root
