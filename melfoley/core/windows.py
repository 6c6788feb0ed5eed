"""Long clips: render a control in overlapping windows and join them with equal-power crossfades.

Any engine whose renderer has a natural window (a model trained on W mel frames) sets
``window_frames`` and ``overlap_frames``; :func:`render_windowed` then slices the control,
renders each window with the same seed offset scheme, and crossfades the overlaps. The
output has exactly ``control.frames * hop`` samples (the caller trims to the request).

Pure planning (:func:`plan_windows`) is separate from rendering so it can be tested alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from .control import QCDControl


@dataclass(frozen=True)
class Window:
    start: int  # first mel frame
    stop: int  # one past the last mel frame


def plan_windows(frames: int, window: int, overlap: int) -> list[Window]:
    """Cover ``[0, frames)`` with windows of at most ``window`` frames overlapping by ``overlap``.

    The last window is shifted back to end at ``frames`` (so every window but a lone short
    one is full length, which keeps the model in its trained regime).
    """
    if frames <= 0:
        return []
    if window <= 0 or not 0 <= overlap < window:
        raise ValueError(f"window {window} / overlap {overlap}: need window > overlap >= 0")
    if frames <= window:
        return [Window(0, frames)]
    step = window - overlap
    starts = list(range(0, frames - window, step)) + [frames - window]
    return [Window(s, s + window) for s in starts]


def crossfade_join(pieces: Sequence[np.ndarray], plan: Sequence[Window], hop: int, total: int) -> np.ndarray:
    """Overlap-add audio pieces (piece i covers ``plan[i]`` in frames) with equal-power fades."""
    out = np.zeros(total, dtype=np.float32)
    weight = np.zeros(total, dtype=np.float32)
    for i, (piece, win) in enumerate(zip(pieces, plan)):
        a, b = win.start * hop, min(win.stop * hop, total)
        piece = np.asarray(piece, dtype=np.float32)[: b - a]
        w = np.ones(b - a, dtype=np.float32)
        if i > 0:  # fade in over the overlap with the previous window
            ov = max(0, (plan[i - 1].stop - win.start) * hop)
            ov = min(ov, b - a)
            if ov:
                w[:ov] = np.sin(0.5 * np.pi * (np.arange(ov) + 0.5) / ov) ** 2
        if i + 1 < len(plan):
            ov = max(0, (win.stop - plan[i + 1].start) * hop)
            ov = min(ov, b - a)
            if ov:
                w[-ov:] = np.minimum(w[-ov:], np.cos(0.5 * np.pi * (np.arange(ov) + 0.5) / ov) ** 2)
        out[a : a + piece.shape[0]] += piece * w[: piece.shape[0]]
        weight[a : a + piece.shape[0]] += w[: piece.shape[0]]
    nz = weight > 1e-6
    out[nz] /= weight[nz]
    return out


RenderFn = Callable[[QCDControl, str, int], np.ndarray]


def window_seed(seed: int, index: int, windows: int) -> int:
    """The seed of window ``index`` of a take seeded ``seed``: the take's own when it is one window."""
    return int(seed) * 1_000_003 + index if windows > 1 else int(seed)


def render_windowed(render: RenderFn, control: QCDControl, prompt: str, seed: int, *,
                    window: int, overlap: int) -> np.ndarray:
    """Render ``control`` window by window with ``render(control, prompt, seed)`` and crossfade.

    Window ``i`` gets seed ``seed * 1_000_003 + i`` when there is more than one window, so a
    take stays reproducible and windows do not repeat each other's noise.
    """
    hop = control.config.hop_length
    plan = plan_windows(control.frames, window, overlap)
    if len(plan) <= 1:
        return np.asarray(render(control, prompt, seed), dtype=np.float32)
    pieces = [render(control.slice(w.start, w.stop), prompt, window_seed(seed, i, len(plan)))
              for i, w in enumerate(plan)]
    return crossfade_join(pieces, plan, hop, control.frames * hop)
