"""The ``paper`` engine: the method of the paper on a GPU, with weights the studio supplies.

``get_engine("paper", weights=DIR, device=None, dtype=None, fallback=False)``; without
``weights`` the folder ``<models dir>/paper`` (:func:`melfoley.core.userdirs.models_dir`) is used
when it exists.
- predict: the clip's frames at 25 fps (``video.read_frames``, 224 px) -> the frozen visual
  encoder of the weights folder -> V2X -> ``QCDControl`` on the ``auffusion16k`` grid.
- render: the Mel-QCD pipeline (ControlNet + UNet + VAE + HiFi-GAN), 16 kHz. ``generate``
  sends every take of every clip through the pipeline in one batched call; long clips are
  windowed by the pipeline. With an ``adapter/`` and an ``image_encoder/`` (a CLIP vision
  model) in the weights folder, the mean CLIP embedding of the clip's frames drives the
  textual-inversion adapter.
- Device: CUDA by default (bf16 where supported, else fp16). Without a GPU, or without
  weights, a :class:`MelfoleyError` says so; ``device="cpu"`` runs it in fp32 (slow, for
  checks). ``fallback=True`` returns the ``embedded`` engine instead of failing.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Sequence

import numpy as np

from ..control import QCDControl
from ..engine import Engine, FoleyRequest, ProgressFn, Take, check_request, fit_length, register_engine
from ..errors import MediaError, MelfoleyError
from .debug import clip_frames

FPS = 25.0  # V2X's visual frame rate (spec section 3)
DTYPES = {"fp32": "float32", "float32": "float32", "fp16": "float16", "float16": "float16",
          "bf16": "bfloat16", "bfloat16": "bfloat16"}


def _truthy(v) -> bool:
    return v is True or str(v).strip().lower() in ("1", "true", "yes", "on")


def default_weights_dir() -> Path | None:
    """``<models dir>/paper`` (``MELFOLEY_MODELS_DIR`` moves it) when the user put weights there."""
    from ..userdirs import models_dir

    p = models_dir() / "paper"
    return p if p.is_dir() else None


def pick_device_dtype(device=None, dtype=None):
    """(torch.device, torch.dtype): CUDA with bf16 (or fp16) unless told otherwise; fp32 on CPU."""
    import torch

    if device is None:
        if not torch.cuda.is_available():
            raise MelfoleyError("the paper engine needs a CUDA GPU and none is available here; use "
                                "--engine embedded (CPU), pass --fallback to fall back to it automatically, "
                                "or pass device='cpu' to run the paper models on the CPU (very slow)")
        device = "cuda"
    device = torch.device(device)
    if dtype is None:
        if device.type == "cuda":
            return device, torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return device, torch.float32
    if isinstance(dtype, str):
        if dtype.lower() not in DTYPES:
            raise MelfoleyError(f"unknown dtype {dtype!r}; choose fp16, bf16 or fp32")
        dtype = getattr(torch, DTYPES[dtype.lower()])
    if device.type == "cpu" and dtype != torch.float32:
        raise MelfoleyError(f"{dtype} on the CPU is not supported by the paper engine; use fp32 there")
    return device, dtype


class PaperEngine(Engine):
    name = "paper"
    mel = "auffusion16k"
    sample_rate = 16000
    picture_size = 224
    picture_fps = FPS

    OPTIONS = {"weights": Path, "device": str, "dtype": str, "fallback": bool, "scheduler": str, "steps": int,
               "guidance": float, "batch": int}

    def __init__(self, weights: str | Path | None = None, device=None, dtype=None, *, scheduler: str | None = None,
                 steps: int | None = None, guidance: float = 7.5, batch: int = 8):
        if not weights:
            weights = default_weights_dir()
        if not weights:
            from ..userdirs import models_dir

            raise MelfoleyError("the paper engine needs its weights: pass --weights DIR, a local folder in the "
                                f"diffusers layout, or put that folder at {models_dir() / 'paper'} "
                                "(see docs/paper_tier.md); nothing is downloaded")
        from ..paper.weights import load_pipeline, load_v2x, missing_parts

        root = Path(weights).expanduser()
        missing = missing_parts(root)
        if missing:
            from ..errors import WeightsError

            raise WeightsError(f"paper-tier weights in {root} are incomplete; missing: {', '.join(missing)}. "
                               "See docs/paper_tier.md for the layout, or `melfoley convert` for checkpoints")
        self.device, self.dtype = pick_device_dtype(device, dtype)
        self.root = root
        self.pipe = load_pipeline(root, device=self.device, dtype=self.dtype)
        self.v2x = load_v2x(root, device=self.device, dtype=self.dtype) if (root / "v2x").is_dir() else None
        self._visual = self._clip_image = None
        self.features = check_v2x_features(root) if self.v2x is not None else {}
        self.weights_id = _folder_id(root)
        self.scheduler = scheduler or self.pipe.default_scheduler  # the weights folder's scheduler by default
        self.steps, self.guidance, self.batch = steps, float(guidance), int(batch)

    # ------------------------------------------------------------------ parts
    def describe(self) -> dict:
        parts = sorted(p.name for p in self.root.iterdir() if p.is_dir())
        return {"engine": self.name, "weights": str(self.root), "weights_id": self.weights_id,
                "parts": parts, "scheduler": self.scheduler, "steps": self.steps, "guidance": self.guidance,
                "dtype": str(self.dtype).replace("torch.", ""), "bandwidth_hz": 8000}

    def visual_encoder(self):
        if self._visual is None:
            from ..paper.encoders import load_visual_encoder

            self._visual = load_visual_encoder(self.root / "visual_encoder", device=self.device, dtype=self.dtype)
        return self._visual

    def clip_image_encoder(self):
        """CLIP vision model for the inversion adapter, or None when the folder has none."""
        if self._clip_image is None and self.pipe.adapter is not None and (self.root / "image_encoder").is_dir():
            from ..errors import WeightsError
            from ..paper.encoders import ClipImageEncoder

            enc = ClipImageEncoder(self.root / "image_encoder")  # CLIP's own resize, centre crop, mean/std
            if enc.out_dim != self.pipe.adapter.config.input_dim:
                raise WeightsError(f"{self.root / 'image_encoder'} gives {enc.out_dim}-d embeddings but the adapter "
                                   f"takes {self.pipe.adapter.config.input_dim}-d; use the CLIP model it was trained with")
            self._clip_image = enc.to(self.device, self.dtype)
        return self._clip_image

    def frames(self, request: FoleyRequest) -> np.ndarray:
        """The clip's frames on a 25 fps grid (uint8 [N, H, W, 3])."""
        if request.frames is not None:
            if not request.frame_rate or request.frame_rate <= 0:
                raise MediaError(f"clip {request.label()}: frames were given without a frame rate")
            src = np.asarray(request.frames)
            n = max(1, int(np.ceil(request.duration * FPS)))
            idx = np.minimum((np.arange(n) / FPS * request.frame_rate).astype(int), len(src) - 1)
            return src[idx]
        from ..video import read_frames

        return read_frames(request.video, request.start, request.duration, size=224, fps=FPS,
                           clip_id=request.clip_id).frames

    # ------------------------------------------------------------------ stages
    def predict(self, request: FoleyRequest, frames: np.ndarray | None = None) -> QCDControl:
        """V2X's control for the clip (``frames``: its 25 fps frames when already decoded)."""
        if self.v2x is None:
            from ..errors import WeightsError

            raise WeightsError(f"clip {request.label()}: {self.root} has no v2x/ predictor, so the paper engine "
                               "cannot predict a control from picture; add v2x/ (and visual_encoder/) to the folder")
        import torch

        frames = self.frames(request) if frames is None else frames
        feats = self.visual_encoder().encode(frames).to(self.device, self.dtype)
        with torch.no_grad():
            control = self.v2x.predict(feats, self.mel, window=int(10 * FPS), overlap=int(FPS))
        return _fit_control(control, clip_frames(request.duration, self.mel))

    def image_embeds(self, request: FoleyRequest, frames: np.ndarray | None = None):
        """Mean CLIP image embedding of the clip's frames (spec section 5), or None without one."""
        enc = self.clip_image_encoder()
        if enc is None:
            return None
        return enc.encode(self.frames(request) if frames is None else frames).mean(dim=0)

    def render(self, control: QCDControl, prompt: str, seed: int) -> np.ndarray:
        return self._render([control], [prompt], [seed])[0]

    def _render(self, controls, prompts, seeds, embeds=None, progress: ProgressFn | None = None):
        import torch

        gens = [torch.Generator().manual_seed(int(s)) for s in seeds]
        cb = None if progress is None else (lambda d, n, t: progress(d, n, f"denoising step {d}/{n}"))
        out = self.pipe(controls, list(prompts), image_embeds=embeds, scheduler=self.scheduler,
                        num_inference_steps=self.steps, guidance_scale=self.guidance, generator=gens,
                        callback=cb, batch_size=self.batch)
        if out.interrupted:
            raise MelfoleyError("rendering was cancelled")
        return out.audio

    def cancel(self) -> None:
        """Stop a running render after its current step (the panel's cancel button)."""
        self.pipe.interrupt()

    def generate(self, requests: Sequence[FoleyRequest], progress: ProgressFn | None = None) -> list[list[Take]]:
        """Every take of every clip in one batched pipeline call."""
        import torch

        for req in requests:
            check_request(req)
        jobs, embeds = [], []  # (request index, control, seed)
        for i, req in enumerate(requests):
            frames = self.frames(req)  # decoded once for V2X and the adapter
            control = self.apply_energy(self.predict(req, frames), req.energy)
            e = self.image_embeds(req, frames)
            for k in range(req.takes):
                jobs.append((i, control, req.seed + k))
                embeds.append(e)
        use = embeds and all(e is not None for e in embeds)
        audio = self._render([c for _, c, _ in jobs], [requests[i].prompt for i, _, _ in jobs],
                             [s for _, _, s in jobs], torch.stack(embeds) if use else None, progress)
        results: list[list[Take]] = [[] for _ in requests]
        for (i, control, seed), y in zip(jobs, audio):
            req = requests[i]
            meta = {**self.describe(), "prompt": req.prompt, "seed": seed}
            results[i].append(Take(fit_length(y, int(round(req.duration * self.sample_rate))), self.sample_rate,
                                   control, seed, meta))
        return results


def _fit_control(control: QCDControl, frames: int) -> QCDControl:
    """Trim, or pad with silence, to ``frames`` (V2X gives 4 frames per 25 fps picture frame)."""
    if control.frames >= frames:
        return control.slice(0, frames)
    return QCDControl.concat([control, QCDControl.silent(frames - control.frames, control.mel)])


def _folder_id(root: Path) -> str:
    """The weights' identity: a hash of the files' content (each file hashed once, cached by path, size, mtime)."""
    from ..paper.weights import content_id

    return content_id(root)


def check_v2x_features(root: Path) -> dict:
    """What V2X was trained on (``v2x/features.json``), refused when the folder's frame encoder differs.

    The spec's V2X reads Synchformer features over 16-frame windows; melfoley cannot compute those,
    so a V2X trained on them (the authors' weights) is refused, and one trained by
    ``melfoley train v2x`` must be served with the very encoder its dataset used. Without the
    file (older folders) nothing is known and nothing is checked.
    """
    import json

    from ..errors import WeightsError
    from ..paper.weights import content_id

    meta_path = root / "v2x" / "features.json"
    if not meta_path.exists():
        return {}
    meta = json.loads(meta_path.read_text())
    if meta.get("kind") not in ("efficientnet-lite0", "transformers"):
        raise WeightsError(f"{root / 'v2x'} was trained on {meta.get('kind')!r} features, which melfoley cannot "
                           "compute from frames; retrain V2X on your own encoder with `melfoley train v2x` "
                           "(docs/paper_tier.md)")
    enc = root / "visual_encoder"
    have = content_id(enc) if enc.is_dir() else "missing"
    if meta.get("visual_encoder") and have != meta["visual_encoder"]:
        raise WeightsError(f"{root / 'v2x'} was trained on features of the visual encoder {meta['visual_encoder']} but "
                           f"{enc} is {have}; put the encoder folder the V2X dataset was built with in visual_encoder/")
    return meta


def _factory(weights=None, device=None, dtype=None, fallback=False, **options):
    try:
        return PaperEngine(weights, device, dtype, **options)
    except MelfoleyError as exc:
        if not _truthy(fallback):
            raise
        from ..engine import get_engine

        try:
            engine = get_engine("embedded")
        except MelfoleyError as exc2:
            raise MelfoleyError(f"paper engine unavailable ({exc}); the embedded fallback failed too ({exc2})") from exc2
        warnings.warn(f"paper engine unavailable ({exc}); using the embedded engine instead", RuntimeWarning,
                      stacklevel=2)
        return engine


register_engine("paper", _factory)
