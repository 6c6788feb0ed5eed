"""A picture clip as it plays in the edit, and the engine requests made from it.

One place for what ``melfoley batch`` and the panel both need: decode the media window
(speed changes, reverse and freeze frames applied, VFR conformed to its nominal grid, a
short media end held) and cut it into one ``FoleyRequest`` per prompt segment.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def clip_picture(clip, info, start: float, media_dur: float, *, size: int | None = 224,
                 fps: float | None = None, notes: list[str] | None = None) -> tuple[np.ndarray, float]:
    """(frames [N, H, W, 3], frames per record second) of ``clip`` (a PictureClip).

    ``info`` is the media's VideoInfo; ``start`` / ``media_dur`` its media window. Remarks a
    user should see (a held media end) are appended to ``notes``.
    """
    from ..core.video import read_frames

    if fps is None and info.variable_frame_rate:
        fps = float(info.fps)  # conform VFR to its nominal grid before inference
    nominal = float(fps or info.fps)
    dur = float(clip.duration)
    if clip.time_scalar == 0:  # freeze frame: one picture held for the clip
        got = read_frames(clip.media_path, start, 1.0 / nominal, size=size, fps=fps, clip_id=clip.clip_id)
        return np.repeat(got.frames[:1], max(1, int(round(dur * nominal))), axis=0), nominal
    frames = read_frames(clip.media_path, start, media_dur, size=size, fps=fps, clip_id=clip.clip_id).frames
    want = max(1, int(round(media_dur * nominal)))
    if frames.shape[0] < want:
        if notes is not None:
            notes.append(f"media ends {(want - frames.shape[0]) / nominal:.2f} s before the source range does; "
                         "the last frame is held")
        frames = np.concatenate([frames, np.repeat(frames[-1:], want - frames.shape[0], axis=0)])
    if clip.time_scalar < 0:
        frames = frames[::-1]
    return frames, (frames.shape[0] / dur if dur > 0 else nominal)


def handle_picture(clip, info, start: float, media_dur: float, frames: np.ndarray, rate: float, handles: float,
                   *, size: int | None = 224, fps: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(before, after): the picture of the handles, ``ceil(handles * rate)`` frames each.

    Whole frames: the request made with them starts :func:`handle_lead` seconds before the
    handle, and that lead is trimmed from the rendered audio, so picture and sound stay aligned
    when the handle is not a whole number of frames.

    Forward-playing clips show the media just outside their source range (at the clip's
    speed); where the media has none (its start or end), and for reversed or frozen clips,
    the edge frame of the cut is held (no motion: quiet handles rather than invented ones).
    """
    from ..core.errors import MediaError
    from ..core.video import read_frames

    k = int(np.ceil(float(handles) * rate - 1e-6))
    if k <= 0:
        return frames[:0], frames[:0]
    hold = lambda f: np.repeat(f, k, axis=0)
    pre, post = hold(frames[:1]), hold(frames[-1:])
    s = float(clip.time_scalar)
    if s <= 0:
        return pre, post
    span = float(handles) * s
    for side, (a, b) in (("pre", (max(0.0, start - span), start)),
                         ("post", (start + media_dur, min(float(info.duration or 0.0), start + media_dur + span)))):
        if b - a < 1.0 / max(rate, 1e-6):
            continue
        try:
            got = read_frames(clip.media_path, a, b - a, size=size, fps=fps, clip_id=clip.clip_id).frames
        except MediaError:
            continue
        if not got.shape[0]:
            continue
        n = int(round((b - a) / s * rate))  # the frames the decoded stretch fills at the clip's speed
        got = got[np.minimum((np.arange(n) * got.shape[0]) // max(n, 1), got.shape[0] - 1)]
        if side == "pre":
            pre = np.concatenate([hold(got[:1])[: k - n], got])[-k:]
        else:
            post = np.concatenate([got, hold(got[-1:])])[:k]
    return pre, post


def handle_lead(handles: tuple[np.ndarray, np.ndarray] | None, rate: float, seconds: float) -> float:
    """Seconds of audio before the handle proper that a request extended by ``handles`` renders."""
    return 0.0 if handles is None else max(0.0, handles[0].shape[0] / rate - float(seconds))


def clip_requests(job, clip, start: float, frames: np.ndarray, rate: float, *, label: str = "",
                  handles: tuple[np.ndarray, np.ndarray] | None = None) -> list:
    """One ``FoleyRequest`` per prompt segment of ``job`` (markers), over the clip's decoded picture.

    ``handles`` (from :func:`handle_picture`) extend the first request backwards and the last
    forwards by ``job.handles`` seconds (the first starts :func:`handle_lead` earlier still, on a
    whole frame: trim that from its audio); an energy edit is held at its edge values there.
    """
    from ..core.engine import FoleyRequest

    out = []
    h = float(job.handles) if handles is not None else 0.0
    for i, seg in enumerate(job.segments):
        a = int(np.floor(float(seg.start) * rate + 1e-6))
        b = max(a + 1, min(frames.shape[0], int(np.ceil(float(seg.end) * rate - 1e-6))))
        pic, dur, t0, energy = frames[a:b], float(seg.end - seg.start), float(seg.start), job.segment_energy(seg)
        first, last = i == 0 and h > 0, i == len(job.segments) - 1 and h > 0
        if first or last:
            pre, post = handles if handles is not None else (frames[:0], frames[:0])
            pic = np.concatenate([pre if first else pic[:0], pic, post if last else pic[:0]])
            before = pre.shape[0] / rate if first else 0.0
            if energy is not None:  # the curve covers the segment: hold its ends over the handles
                per_s = energy.shape[0] / max(dur, 1e-9)
                energy = np.pad(energy, (int(round(before * per_s)), int(round(h * per_s)) if last else 0),
                                mode="edge")
            dur += before + (h if last else 0.0)
            t0 -= before
        out.append(FoleyRequest(video=Path(clip.media_path), start=max(0.0, start + t0 * abs(clip.time_scalar)),
                                duration=dur, prompt=seg.prompt, takes=job.takes,
                                seed=job.seed, energy=energy, frames=pic,
                                frame_rate=rate, clip_id=label or clip.clip_id))
    return out


def join_audio(parts: list[np.ndarray], ramp: int = 64) -> np.ndarray:
    """Prompt segments' audio end to end (lengths kept exactly), with ~3 ms fades at each join against
    clicks: the one join of ``melfoley batch`` and the panel."""
    out = []
    for i, p in enumerate(parts):
        p = np.array(p, dtype=np.float32, copy=True)
        k = min(ramp, p.shape[0] // 4)
        if k > 0 and i > 0:
            p[:k] *= np.linspace(0.0, 1.0, k, dtype=np.float32)
        if k > 0 and i < len(parts) - 1:
            p[-k:] *= np.linspace(1.0, 0.0, k, dtype=np.float32)
        out.append(p)
    return np.concatenate(out) if out else np.zeros(0, np.float32)
