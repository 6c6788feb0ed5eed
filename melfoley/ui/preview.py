"""What the panel shows before generating: per-clip thumbnails, motion and the predicted curve.

Both jobs run on pool threads. ``preview_job`` decodes the clip's picture once, asks the
engine for its control (the same ``predict`` that ``generate`` uses, so the predicted curve
shown is the one a take gets when the artist does not redraw it), computes the motion
envelope, and keeps small frames for the transport's thumbnail. ``thumbnails_job`` decodes
one small frame per clip for the timeline view.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from melfoley.core.errors import MelfoleyError

from .workers import Job

PREDICT_SIZE = 224    # px, what the engines decode by default (melfoley.core.video.read_frames)
THUMB_STEP = 2        # keep every 2nd pixel for the transport thumbnail


@dataclass(frozen=True, eq=False)
class ClipPreview:
    clip_id: str
    engine: str
    duration: float
    predicted: np.ndarray   # E_t on the engine's control grid
    motion: np.ndarray      # motion magnitude per control frame (for drawing)
    frames: np.ndarray      # small RGB frames [N, h, w, 3]
    times: np.ndarray       # their times in clip seconds


def _motion(frames: np.ndarray, fps: float, n: int, mel: str) -> np.ndarray:
    try:
        from melfoley.core.motion import predict_timing

        return np.asarray(predict_timing(frames, fps, n, mel=mel).motion, dtype=np.float32)
    except ImportError:  # the picture predictor is optional: mean frame difference
        diff = np.abs(np.diff(frames.astype(np.int16), axis=0)).mean(axis=(1, 2, 3)) if len(frames) > 1 else []
        from .curve_ops import resample

        return resample(np.concatenate([[0.0], diff]).astype(np.float32), n)


def build_preview(clip_id: str, engine_name: str, video: Path, start: float, duration: float, prompt: str,
                  ctx=None) -> ClipPreview:
    from melfoley.core.engine import FoleyRequest, get_engine
    from melfoley.core.video import read_frames

    if ctx:
        ctx.progress(0, 3, f"{clip_id}: reading picture")
    got = read_frames(video, start, duration, size=PREDICT_SIZE, clip_id=clip_id)
    if ctx:
        ctx.progress(1, 3, f"{clip_id}: predicting")
    engine = get_engine(engine_name)
    req = FoleyRequest(video=video, start=start, duration=duration, prompt=prompt or "foley",
                       frames=got.frames, frame_rate=float(got.fps), clip_id=clip_id)
    control = engine.predict(req)
    motion = _motion(got.frames, float(got.fps), control.frames, engine.mel)
    small = np.ascontiguousarray(got.frames[:, ::THUMB_STEP, ::THUMB_STEP])
    if ctx:
        ctx.progress(3, 3, clip_id)
    return ClipPreview(clip_id, engine_name, duration, np.asarray(control.energy, np.float32).copy(), motion, small,
                       np.asarray(got.times, dtype=np.float64) - start)


def preview_job(clip_id: str, engine_name: str, video: Path, start: float, duration: float, prompt: str) -> Job:
    return Job(lambda ctx: build_preview(clip_id, engine_name, video, start, duration, prompt, ctx), name="preview")


def thumbnails_job(items: list[tuple[str, Path, float, float]], size: int = 96) -> Job:
    """One frame from the middle of each (clip id, video, start, duration): ``item_done(id, frame)``."""

    def work(ctx):
        from melfoley.core.video import read_frames

        for i, (cid, video, start, dur) in enumerate(items):
            ctx.check()
            try:
                got = read_frames(video, start + dur / 2, min(dur / 2, 0.2), size=size, clip_id=cid)
                if len(got.frames):
                    ctx.signals.item_done.emit(cid, got.frames[0])
            except MelfoleyError as exc:
                ctx.signals.item_failed.emit(cid, str(exc))
            ctx.progress(i + 1, len(items), cid)
        return len(items)

    return Job(work, name="thumbnails")
