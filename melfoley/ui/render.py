"""The panel's heavy work, free of Qt: previews (picture, predicted curve, motion), thumbnails
and generation of clips. It runs in the engine process (:mod:`melfoley.ui.engine_host`), so
decoding and rendering never compete with the UI thread for the interpreter.

Each function takes ``emit(kind, *args)`` to report (``progress``, ``item_started``,
``item_done``, ``item_failed``) and ``check()`` that raises :class:`Cancelled` when the user
cancelled; results are plain picklable objects (engine ``Take`` lists, ``ClipPreview``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from melfoley.core.engines import DEFAULT_ENGINE
from melfoley.core.errors import MelfoleyError

THUMB_STEP = 2        # keep every 2nd pixel for the transport thumbnail

Emit = Callable[..., None]


class Cancelled(MelfoleyError):
    """The user cancelled the job."""


@dataclass(frozen=True, eq=False)
class ClipPreview:
    clip_id: str
    engine: str
    duration: float
    predicted: np.ndarray   # E_t on the engine's control grid (the curve a take gets if not redrawn)
    motion: np.ndarray      # motion magnitude per control frame (for drawing)
    frames: np.ndarray      # small RGB frames [N, h, w, 3]
    times: np.ndarray       # their times in clip seconds


def _motion(frames: np.ndarray, fps: float, n: int, mel: str) -> np.ndarray:
    from melfoley.core.motion import predict_timing

    return np.asarray(predict_timing(frames, fps, n, mel=mel).motion, dtype=np.float32)


def build_preview(session, clip_id: str, engine_name: str, emit: Emit | None = None, *,
                  options: dict | None = None) -> ClipPreview:
    """Decode the clip as it plays in the edit, ask the engine for its control, measure motion."""
    from melfoley.core.engine import FoleyRequest, get_engine

    emit and emit("progress", 0, 3, f"{clip_id}: reading picture")
    engine = get_engine(engine_name, **(options or {}))
    frames, rate = session.picture(clip_id, size=engine.picture_size, fps=engine.picture_fps)
    st = session.state(clip_id)
    video, start, _, _ = session.media_window(clip_id)
    duration = float(st.clip.duration)
    emit and emit("progress", 1, 3, f"{clip_id}: predicting")
    req = FoleyRequest(video=video, start=start, duration=duration, prompt=session.prompt_of(clip_id) or "foley",
                       frames=frames, frame_rate=rate, clip_id=clip_id)
    control = engine.predict(req)
    motion = _motion(frames, rate, control.frames, engine.mel)
    small = np.ascontiguousarray(frames[:, ::THUMB_STEP, ::THUMB_STEP])
    emit and emit("progress", 3, 3, clip_id)
    return ClipPreview(clip_id, engine_name, duration, np.asarray(control.energy, np.float32).copy(), motion, small,
                       np.arange(frames.shape[0], dtype=np.float64) / rate)


def thumbnails(session, clip_ids: list[str], emit: Emit, check: Callable[[], None], size: int = 96) -> int:
    """One frame from the middle of each clip: ``item_done(id, frame)``; ``item_failed(id, why)``
    for media that cannot be probed or decoded (the clip then shows why it cannot be done)."""
    from melfoley.core.video import read_frames

    for i, cid in enumerate(clip_ids):
        check()
        try:
            video, start, dur, _ = session.media_window(cid)
            got = read_frames(video, start + dur / 2, max(0.04, min(dur / 2, 0.2)), size=size, clip_id=cid)
            if len(got.frames):
                emit("item_done", cid, np.ascontiguousarray(got.frames[0]))
        except MelfoleyError as exc:
            emit("item_failed", cid, str(exc))
        emit("progress", i + 1, len(clip_ids), cid)
    return len(clip_ids)


def measure(audio, sample_rate: int) -> dict:
    """True peak (dBTP, 4x oversampled) and integrated loudness (LUFS, None under 0.4 s) of a take."""
    from melfoley.core.levels import integrated_loudness, true_peak_db

    lufs = integrated_loudness(audio, int(sample_rate))
    return {"true_peak_dbtp": round(true_peak_db(audio), 2), "loudness_lufs": None if lufs is None else round(lufs, 2)}


def frame_at(session, clip_id: str, seconds: float, size: int) -> np.ndarray:
    """The frame the edit shows ``seconds`` into the clip, decoded with its short side ``size``
    (the viewer asks for the size it shows, so nothing is blown up from a thumbnail)."""
    rate = float(session.state(clip_id).clip.rate)
    return frames_at(session, clip_id, int(np.floor(float(seconds) * rate + 1e-6)), 1, size)[0]


def frames_at(session, clip_id: str, first: int, count: int, size: int) -> np.ndarray:
    """Frames ``first`` .. ``first + count - 1`` of the clip (numbered at the edit's rate from the
    clip's start) as the edit shows them (speed, reverse and freeze applied), decoded in one pass
    at the short side ``size``: what the viewer decodes ahead of the playhead [count, H, W, 3]."""
    from melfoley.core.video import read_frames

    video, start, media_dur, info = session.media_window(clip_id)
    clip = session.state(clip_id).clip
    rate, fps = float(clip.rate), float(info.fps or 25)
    s = abs(clip.time_scalar)
    t = np.clip((first + np.arange(max(1, int(count)))) / rate, 0.0, max(0.0, float(clip.duration) - 1e-3))
    at = np.full(t.shape, start) if s == 0 else start + (
        (float(clip.duration) - t) if clip.time_scalar < 0 else t) * s
    at = np.minimum(at, start + max(0.0, media_dur - 1.0 / fps))
    lo = float(at.min())
    got = read_frames(video, lo, float(at.max()) - lo + 1.5 / fps, size=int(size), clip_id=clip_id)
    if not len(got.frames):
        raise MelfoleyError(f"clip {clip_id}: no frame at {first / rate:.3f} s in {video}")
    # each wanted time shows the first frame at or after it (as a single-frame decode would)
    k = np.clip(np.searchsorted(got.times, at - 1e-3), 0, len(got.frames) - 1)
    return np.ascontiguousarray(got.frames[k])


def join_segments(per_segment: list[list]) -> list:
    """Takes of consecutive prompt segments -> whole-clip takes (audio joined as ``melfoley batch`` joins it)."""
    from melfoley.core.control import QCDControl
    from melfoley.core.engine import Take
    from melfoley.plugin.picture import join_audio

    if len(per_segment) == 1:
        return per_segment[0]
    out = []
    for k in range(len(per_segment[0])):
        parts = [seg[k] for seg in per_segment]
        audio = join_audio([p.audio for p in parts])  # the batch's join: short fades, no clicks
        meta = {**parts[0].metadata, "segments": [p.metadata.get("prompt", "") for p in parts]}
        out.append(Take(audio, parts[0].sample_rate, QCDControl.concat([p.control for p in parts]),
                        parts[0].seed, meta))
    return out


def generate_clips(session, engine_name: str, tasks: list[tuple[str, int]], emit: Emit,
                   check: Callable[[], None], *, default_engine: str = DEFAULT_ENGINE, options: dict | None = None) -> dict:
    """Render ``tasks`` ((clip id, takes), in order) with the named engine; one clip failing does
    not stop the others; ``check`` is called between takes so a cancel stops at the next one."""
    from melfoley.core.engine import get_engine

    emit("progress", 0, 1, f"loading engine {engine_name}")
    engine = get_engine(engine_name, **(options or {}))
    total = sum(max(1, n) for _, n in tasks)
    done = 0
    summary = {"done": [], "failed": []}
    for cid, n_takes in tasks:
        check()
        emit("item_started", cid)
        base = done
        emit("progress", base, total, f"{cid}: reading picture")
        try:
            requests = session.requests(cid, engine, default_engine)
            per = max(1, len(requests))

            def step(d, _t, _msg, base=base, cid=cid, per=per):
                emit("progress", base + d // per, total, cid)
                check()

            takes = join_segments(engine.generate(requests, step))
            for take in takes:  # measured here, so the panel never measures on its UI thread
                take.metadata["levels"] = measure(take.audio, take.sample_rate)
        except Cancelled:
            emit("item_failed", cid, "cancelled")
            raise
        except MelfoleyError as exc:
            emit("item_failed", cid, str(exc))
            summary["failed"].append(cid)
        except Exception as exc:  # noqa: BLE001 - one bad clip must not sink the batch
            emit("item_failed", cid, f"{type(exc).__name__}: {exc}")
            summary["failed"].append(cid)
        else:
            emit("item_done", cid, takes)
            summary["done"].append(cid)
        done = base + max(1, n_takes)
        emit("progress", done, total, cid)
    return summary
