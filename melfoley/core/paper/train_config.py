"""Training settings of the paper tier as one frozen dataclass, read from a JSON or TOML file.

``melfoley train v2x|controlnet|adapter --config FILE``; every field below may appear in the
file (unknown names are refused). Defaults follow MELQCD_SPEC.md: V2X AdamW lr 1e-4 * batch / 256,
weight decay 0.01, 10 % linear warm-up then linear decay, grad-norm clip 1; ControlNet (and
adapter) AdamW lr 1e-5 with ~50 % of captions dropped **[ours, the recipe is not released]**.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path

from ..errors import MelfoleyError

PARTS = ("v2x", "controlnet", "adapter")
PRECISIONS = ("no", "fp16", "bf16")


@dataclass(frozen=True)
class TrainConfig:
    dataset: str  # folder built by `melfoley dataset build`
    out: str  # output folder: checkpoints/, log.csv, samples/ and the trained part in the weights layout
    part: str = "controlnet"
    base: str = ""  # local diffusers folder (Auffusion layout: vae, unet, text_encoder, tokenizer, vocoder)
    init: str = ""  # adapter: weights folder whose controlnet/ is used (frozen); default: base's controlnet/
    steps: int = 10000  # optimiser steps
    batch_size: int = 8  # per process
    grad_accum: int = 1
    lr: float = 0.0  # 0: the spec's default for the part
    weight_decay: float = 0.01
    warmup: float = 0.1  # fraction of the steps
    schedule: str = "linear"  # linear warm-up then "linear" decay, or "constant" after warm-up
    max_grad_norm: float = 1.0
    mixed_precision: str = "no"  # no | fp16 | bf16 (frozen parts are cast to it on a GPU)
    gradient_checkpointing: bool = False
    train_adapter: bool = False  # controlnet: train the inversion adapter jointly (needs CLIP embeddings)
    caption_dropout: float = 0.5
    fixed_noise: bool = False  # overfit checks: the same noise and timesteps for a clip at every step
    seed: int = 0
    checkpoint_every: int = 1000
    keep_checkpoints: int = 3
    validate_every: int = 500
    val_batches: int = 4
    sample_every: int = 0  # controlnet/adapter: render a validation clip every K steps (0: never)
    sample_steps: int = 25
    log_every: int = 10
    num_workers: int = 0  # DataLoader workers per process
    model: dict = field(default_factory=dict)  # V2X constructor overrides (e.g. a tiny size)

    def __post_init__(self):
        if self.part not in PARTS:
            raise MelfoleyError(f"unknown part {self.part!r}; choose one of {', '.join(PARTS)}")
        if self.mixed_precision not in PRECISIONS:
            raise MelfoleyError(f"mixed_precision {self.mixed_precision!r}: choose one of {', '.join(PRECISIONS)}")
        if self.part != "v2x" and not self.base:
            raise MelfoleyError(f"training the {self.part} needs `base`: a local diffusers folder of the text-to-audio "
                                "model (Auffusion layout; see docs/paper_tier.md and `melfoley paper check DIR`)")
        if self.steps < 1 or self.batch_size < 1 or self.grad_accum < 1:
            raise MelfoleyError("steps, batch_size and grad_accum must be >= 1")

    @property
    def learning_rate(self) -> float:
        if self.lr:
            return self.lr
        return 1e-4 * self.batch_size * self.grad_accum / 256 if self.part == "v2x" else 1e-5

    @classmethod
    def from_dict(cls, obj: dict, **overrides) -> "TrainConfig":
        names = {f.name for f in fields(cls)}
        obj = {**obj, **{k: v for k, v in overrides.items() if v is not None}}
        unknown = set(obj) - names
        if unknown:
            raise MelfoleyError(f"unknown training settings {sorted(unknown)}; known: {sorted(names)}")
        missing = {"dataset", "out"} - set(obj)
        if missing:
            raise MelfoleyError(f"the training config needs {sorted(missing)}")
        return cls(**obj)

    @classmethod
    def from_file(cls, path: str | Path, **overrides) -> "TrainConfig":
        return cls.from_dict(read_settings(path), **overrides)


def read_settings(path: str | Path | None) -> dict:
    """A JSON or TOML settings file as a dict (empty without one)."""
    import json

    if path is None:
        return {}
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise MelfoleyError(f"cannot read settings file {path}: {exc.strerror}") from exc
    try:
        if path.suffix.lower() == ".toml":
            import tomllib

            return tomllib.loads(text)
        return json.loads(text)
    except ValueError as exc:
        kind = "TOML" if path.suffix.lower() == ".toml" else "JSON"
        raise MelfoleyError(f"{path} is not valid {kind}: {exc}") from exc
