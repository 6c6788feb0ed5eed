"""The engine facade every front end uses: request -> takes.

``FoleyRequest`` names a picture clip (video path + source range in media seconds, or
decoded frames) and the artist's settings; ``Take`` is one rendered variant with the
``QCDControl`` that produced it. Engines register by name (``embedded``, ``debug``,
``paper``); ``get_engine(name, **options)`` builds one (options typed by the engine's declared
``OPTIONS``) and keeps the most recently used ones resident.

Subclasses implement ``predict`` (picture + prompt -> control) and ``render`` (control +
prompt + seed -> waveform at ``sample_rate``); ``generate`` here orchestrates takes,
seeds, energy overrides and exact output length.
"""

from __future__ import annotations

import os
import sys
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from .control import QCDControl
from .engines import DEFAULT_ENGINE
from .errors import MelfoleyError


@dataclass(frozen=True)
class FoleyRequest:
    """One picture clip to foley.

    ``start`` / ``duration`` are seconds in the media (the clip's source range). ``energy``
    optionally replaces the predicted energy curve; it is resampled to the control's
    frame grid if its length differs. ``clip_id`` names the clip in messages.
    """

    video: Path | None
    start: float
    duration: float
    prompt: str
    takes: int = 1
    seed: int = 0
    energy: np.ndarray | None = None
    frames: np.ndarray | None = None  # decoded frames [N, H, W, 3] uint8 instead of a path
    frame_rate: float | None = None  # rate of ``frames``
    clip_id: str = ""

    def label(self) -> str:
        return self.clip_id or (str(self.video) if self.video else "<frames>")


@dataclass
class Take:
    audio: np.ndarray  # float32 mono, exactly round(duration * sample_rate) samples
    sample_rate: int
    control: QCDControl
    seed: int
    metadata: dict = field(default_factory=dict)

    @property
    def duration(self) -> float:
        return self.audio.shape[0] / self.sample_rate


ProgressFn = Callable[[int, int, str], None]  # (done, total, message)


class Engine:
    """Base class: subclasses set ``name``, ``mel`` and ``sample_rate`` and implement the two stages."""

    name = "base"
    mel = "hifigan22k"
    sample_rate = 22050
    #: the picture the engine wants from a front end that decodes for it (batch, panel):
    #: short side in px and frame rate (None: the media's own frames)
    picture_size: int | None = 224
    picture_fps: float | None = None
    #: renderers with a fixed window set these; longer controls are rendered in overlapping windows
    window_frames: int | None = None
    overlap_frames: int = 0

    def describe(self) -> dict:
        """Metadata recorded with every take (model, weights hash, licence, bandwidth)."""
        return {"engine": self.name}

    def predict(self, request: FoleyRequest) -> QCDControl:  # pragma: no cover - abstract
        raise NotImplementedError

    def render(self, control: QCDControl, prompt: str, seed: int) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    # ------------------------------------------------------------------ orchestration
    def render_long(self, control: QCDControl, prompt: str, seed: int) -> np.ndarray:
        """``render``, or overlapping windows with crossfades when ``window_frames`` is set."""
        if not self.window_frames or control.frames <= self.window_frames:
            return self.render(control, prompt, seed)
        from .windows import render_windowed

        return render_windowed(self.render, control, prompt, seed, window=self.window_frames,
                               overlap=self.overlap_frames)

    def apply_energy(self, control: QCDControl, energy: np.ndarray | None) -> QCDControl:
        if energy is None:
            return control
        energy = np.asarray(energy, dtype=np.float32).reshape(-1)
        if energy.shape[0] != control.frames:
            src = np.linspace(0.0, 1.0, energy.shape[0])
            energy = np.interp(np.linspace(0.0, 1.0, control.frames), src, energy).astype(np.float32)
        return control.with_energy(energy)

    def generate(self, requests: Sequence[FoleyRequest], progress: ProgressFn | None = None) -> list[list[Take]]:
        """Takes for every request, in order; each take is exactly the requested duration."""
        out: list[list[Take]] = []
        total = sum(max(1, r.takes) for r in requests)
        done = 0
        for req in requests:
            check_request(req)
            control = self.apply_energy(self.predict(req), req.energy)
            takes = []
            n = int(round(req.duration * self.sample_rate))
            for k in range(req.takes):
                seed = req.seed + k
                from .levels import guard_take

                audio, levels = guard_take(fit_length(self.render_long(control, req.prompt, seed), n))
                meta = {**self.describe(), "prompt": req.prompt, "seed": seed, "levels": levels}
                takes.append(Take(audio, self.sample_rate, control, seed, meta))
                done += 1
                if progress:
                    progress(done, total, req.label())
            out.append(takes)
        return out


def fit_length(audio: np.ndarray, n: int) -> np.ndarray:
    """Trim or zero-pad to exactly ``n`` samples."""
    audio = np.asarray(audio, dtype=np.float32).reshape(-1)
    if audio.shape[0] >= n:
        return audio[:n]
    return np.pad(audio, (0, n - audio.shape[0]))


def check_request(req: FoleyRequest) -> None:
    if not (np.isfinite(req.duration) and req.duration > 0):
        raise MelfoleyError(f"clip {req.label()}: duration {req.duration} s is not positive; check its source range")
    if not (np.isfinite(req.start) and req.start >= 0):
        raise MelfoleyError(f"clip {req.label()}: start {req.start} s is negative; check its source range")
    if not 1 <= req.takes <= 64:
        raise MelfoleyError(f"clip {req.label()}: {req.takes} takes requested; choose 1 to 64")
    if req.video is None and req.frames is None:
        raise MelfoleyError(f"clip {req.label()}: no picture (neither a video path nor frames)")


_ENGINES: dict[str, Callable[..., Engine]] = {}
_RESIDENT: "OrderedDict[tuple, Engine]" = OrderedDict()
#: engines kept built at once (least recently used first out); ``MELFOLEY_RESIDENT_ENGINES`` changes it
MAX_RESIDENT = 2


def register_engine(name: str, factory: Callable[..., Engine]) -> None:
    _ENGINES[name] = factory


def available_engines() -> list[str]:
    """Every engine's name: the built-in ones without importing them (listing names loads no
    torch, so a panel inside a host's Python can list them), and any registered since."""
    return sorted(set(BUILTIN_ENGINES) | set(_ENGINES))


def engine_options(name: str, options: dict) -> dict:
    """``options`` typed by engine ``name``'s declared ``OPTIONS``; unknown engines and keys are refused."""
    from .engine_options import typed_options

    _load_builtin()
    if name not in _ENGINES:
        raise MelfoleyError(f"unknown engine {name!r}; available: {', '.join(sorted(_ENGINES))}")
    return typed_options(name, _ENGINES[name], options)


def get_engine(name: str = DEFAULT_ENGINE, **options) -> Engine:
    """Build (once per name + typed options) and return a resident engine.

    At most :data:`MAX_RESIDENT` engines stay built; the least recently used one is released
    (its ``close()`` called if it has one, and the GPU cache emptied) when another is built."""
    options = engine_options(name, options)
    key = (name, tuple(sorted((k, repr(v)) for k, v in options.items())))
    if key in _RESIDENT:
        _RESIDENT.move_to_end(key)
        return _RESIDENT[key]
    engine = _ENGINES[name](**options)
    _RESIDENT[key] = engine
    limit = max(1, int(os.environ.get("MELFOLEY_RESIDENT_ENGINES", MAX_RESIDENT) or MAX_RESIDENT))
    while len(_RESIDENT) > limit:
        _, old = _RESIDENT.popitem(last=False)
        if old is not engine and old not in _RESIDENT.values():
            _release(old)
    return engine


def release_engines() -> None:
    """Release every resident engine (tests, a host closing the panel)."""
    while _RESIDENT:
        _release(_RESIDENT.popitem()[1])


def _release(engine: Engine) -> None:
    close = getattr(engine, "close", None)
    if callable(close):
        close()
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        import gc

        gc.collect()
        torch.cuda.empty_cache()


#: the built-in engines: name -> the module that registers it when imported
BUILTIN_ENGINES = {name: f"melfoley.core.engines.{name}" for name in ("debug", "embedded", "library", "paper")}
_BUILTIN_LOADED = False


def _load_builtin() -> None:
    """Import the built-in engine modules, which call :func:`register_engine` (once: every clip asks)."""
    global _BUILTIN_LOADED
    if _BUILTIN_LOADED:
        return
    import importlib

    for mod in BUILTIN_ENGINES.values():
        importlib.import_module(mod)
    _BUILTIN_LOADED = True
