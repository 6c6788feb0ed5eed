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


def clip_requests(job, clip, start: float, frames: np.ndarray, rate: float, *, label: str = "") -> list:
    """One ``FoleyRequest`` per prompt segment of ``job`` (markers), over the clip's decoded picture."""
    from ..core.engine import FoleyRequest

    out = []
    for seg in job.segments:
        a = int(np.floor(float(seg.start) * rate + 1e-6))
        b = max(a + 1, min(frames.shape[0], int(np.ceil(float(seg.end) * rate - 1e-6))))
        out.append(FoleyRequest(video=Path(clip.media_path), start=start + float(seg.start) * abs(clip.time_scalar),
                                duration=float(seg.end - seg.start), prompt=seg.prompt, takes=job.takes,
                                seed=job.seed, energy=job.segment_energy(seg), frames=frames[a:b],
                                frame_rate=rate, clip_id=label or clip.clip_id))
    return out
