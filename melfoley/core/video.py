"""Frame-accurate picture decoding with PyAV.

``probe(path)`` reads a clip's video stream facts (exact nominal rate as a Fraction,
duration, size, frame count, whether the rate is variable). ``read_frames`` decodes
exactly a source range ``[start, start + duration)`` in media seconds, relative to the
first frame of the stream (the stream's ``start_time``): it seeks to the keyframe at or
before ``start``, decodes forward and keeps the frames whose presentation time falls in
the range; frames are scaled by libswscale (``VideoFrame.reformat``) straight to the size
asked for, and only the frames kept are converted.

Timing rules (documented choices):
- A frame belongs to the range when ``start - TOL <= t < start + duration - TOL`` with
  ``TOL = 1 ms``: container timestamps are rounded to ticks (e.g. 29.97 in a 1/12800
  time base) and source ranges arrive as floats, so exact equality cannot be relied on;
  1 ms is far below any frame interval (16.7 ms at 59.94).
- ``fps=None`` returns the native frames (VFR stays VFR; ``times`` hold their real
  presentation times). ``fps=r`` returns a uniform grid ``start + k / r`` for
  ``k < ceil(duration * r)``, each point taking the nearest-earlier frame (a grid point
  before the first frame takes the first frame). This is how VFR media is conformed.
- A range past the end of the media: what exists is decoded and returned (fewer frames
  than asked; a grid point counts as existing while it lies before the last frame's end).
  Only when nothing of the range exists is a ``MediaError`` raised, naming the clip,
  the file, the media duration and the fix. Callers compare ``len(times)`` with what
  they asked for if they need the whole range.
- Rotation metadata is not applied; anamorphic pixels are resized to square pixels
  when ``size`` is given.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from .errors import MediaError

TOL = 1e-3  # seconds: timestamp tolerance when deciding if a frame is in range
_VFR_SCAN_PACKETS = 1000  # probe reads at most this many packet timestamps (VFR check, exact count)


@dataclass(frozen=True)
class VideoInfo:
    path: Path
    fps: Fraction  # nominal (average) rate, exact, e.g. Fraction(24000, 1001)
    duration: float  # seconds of picture
    width: int
    height: int
    frame_count: int
    variable_frame_rate: bool
    start_time: float  # seconds: the stream's first presentation time in the container
    has_video: bool


@dataclass(frozen=True)
class Frames:
    frames: np.ndarray  # uint8 [N, H, W, 3] RGB
    times: np.ndarray  # float64 [N] presentation times, media seconds relative to the stream start
    fps: float  # rate of the returned grid (the nominal rate for native frames)


# ---------------------------------------------------------------------------- helpers
def _label(clip_id: str, path: Path) -> str:
    return f"clip {clip_id!r} ({path})" if clip_id else f"{path}"


def _open(path: Path, clip_id: str):
    import av

    if not path.exists():
        raise MediaError(
            f"{_label(clip_id, path)}: media file not found; relink the clip to the moved media "
            "(e.g. --media-root) or restore the file"
        )
    if path.is_dir():
        raise MediaError(f"{_label(clip_id, path)}: is a folder, not a video file; point the clip at the media file")
    if not path.is_file():  # a FIFO would block the demuxer forever, a device never ends
        raise MediaError(f"{_label(clip_id, path)}: is not a regular file (a device, pipe or socket), not a "
                         "video file; point the clip at the media file")
    try:
        return av.open(str(path), metadata_errors="ignore")
    except (av.FFmpegError, OSError, UnicodeDecodeError) as exc:
        raise MediaError(
            f"{_label(clip_id, path)}: cannot be opened as media ({exc}); the file is corrupt, truncated "
            "or not a video; re-export or re-copy it"
        ) from exc


def _is_picture(stream) -> bool:
    """A real video stream, not cover art attached to a sound file (one still image)."""
    try:
        return not (int(stream.disposition) & 1024)  # AV_DISPOSITION_ATTACHED_PIC
    except (AttributeError, TypeError, ValueError):
        return True


def _video_stream(container, path: Path, clip_id: str):
    streams = [s for s in container.streams.video if _is_picture(s)]
    if not streams:
        container.close()
        raise MediaError(
            f"{_label(clip_id, path)}: has no video stream (audio-only or data file); "
            "link the clip to its picture media"
        )
    return streams[0]


def _nominal_rate(stream) -> Fraction:
    """The stream's average rate, snapped to the simplest fraction within 0.01 % (e.g. a
    muxer's 2700000/112613 is 24000/1001)."""
    for rate in (stream.average_rate, stream.guessed_rate, stream.base_rate):
        if rate and rate > 0:
            exact = Fraction(rate.numerator, rate.denominator)
            simple = exact.limit_denominator(1001)
            return simple if abs(simple - exact) <= exact * Fraction(1, 10000) else exact
    return Fraction(0)


def _stream_start(stream) -> int:
    return int(stream.start_time) if stream.start_time is not None else 0


def _is_vfr(pts: list[int], tb: Fraction, fps: Fraction) -> bool:
    if len(pts) < 3:
        return False
    d = np.diff(np.sort(np.asarray(pts, dtype=np.int64)))
    d = d[d > 0]
    if d.size < 2:
        return False
    med = float(np.median(d))
    # tick rounding makes a CFR stream alternate by one tick (e.g. 29.97 at 1/12800)
    tol = max(2.0, 0.05 * med)
    if fps > 0:
        nominal = float(1 / (fps * tb))
        if abs(med - nominal) > max(2.0, 0.05 * nominal):
            return True
    return bool(np.any(np.abs(d - med) > tol))


# ---------------------------------------------------------------------------- probe
def probe(path, *, clip_id: str = "") -> VideoInfo:
    """Facts about the first video stream of ``path`` (raises MediaError if it has none)."""
    path = Path(path)
    container = _open(path, clip_id)
    try:
        stream = _video_stream(container, path, clip_id)
        tb = stream.time_base or Fraction(1, 1_000_000)
        tb = Fraction(tb.numerator, tb.denominator)
        fps = _nominal_rate(stream)
        start = _stream_start(stream)
        pts: list[int] = []
        complete = True
        try:
            for packet in container.demux(stream):
                if packet.size == 0:
                    continue
                if packet.pts is not None:
                    pts.append(int(packet.pts))
                if len(pts) >= _VFR_SCAN_PACKETS:
                    complete = False
                    break
        except Exception as exc:  # noqa: BLE001 - any demux failure is a corrupt file
            raise MediaError(
                f"{_label(clip_id, path)}: the video stream cannot be read ({exc}); the file is corrupt "
                "or truncated; re-export or re-copy it"
            ) from exc
        vfr = _is_vfr(pts, tb, fps)
        if stream.duration:
            duration = float(stream.duration * tb)
        elif complete and pts:
            step = float(1 / fps) if fps > 0 else 0.0
            duration = float((max(pts) - start) * tb) + step
        elif container.duration:
            duration = container.duration / 1_000_000
        else:
            duration = 0.0
        if complete and pts:
            frame_count = len(pts)
        elif stream.frames:
            frame_count = int(stream.frames)
        else:
            frame_count = int(round(duration * float(fps))) if fps > 0 else 0
        if fps <= 0 and duration > 0 and frame_count:
            fps = Fraction(frame_count / duration).limit_denominator(1001)
        cc = stream.codec_context
        return VideoInfo(path, fps, duration, int(cc.width), int(cc.height), frame_count, vfr,
                         float(start * tb), True)
    finally:
        container.close()


# ---------------------------------------------------------------------------- decode
def _target_size(width: int, height: int, sar, size: int | None) -> tuple[int, int]:
    if size is None:
        return width, height
    if size <= 0:
        raise ValueError(f"size must be a positive number of pixels, got {size}")
    disp_w = width * float(sar) if sar and float(sar) > 0 else float(width)
    if disp_w <= height:
        return size, max(1, int(round(height * size / disp_w)))
    return max(1, int(round(disp_w * size / height))), size


def read_frames(path, start: float, duration: float, *, size: int | None = 224, fps: float | None = None,
                clip_id: str = "") -> Frames:
    """Decode the source range ``[start, start + duration)`` (media seconds) of ``path``.

    ``size`` is the short side in pixels (aspect kept; ``None`` = native pixels). ``fps``
    ``None`` keeps the native frames; a number resamples onto the uniform grid
    ``start + k / fps`` by nearest-earlier frame. See the module notes for the rules.
    """
    import av

    path = Path(path)
    who = _label(clip_id, path)
    if math.isfinite(start) and -TOL < start < 0:
        start = 0.0  # float noise from timeline arithmetic (e.g. -1e-12)
    if not (math.isfinite(start) and math.isfinite(duration)) or start < 0 or duration <= 0:
        raise MediaError(
            f"{who}: source range start={start} s, duration={duration} s is not a valid range; "
            "the start must be >= 0 and the duration > 0 (check the clip's source range)"
        )
    if fps is not None and not (fps > 0 and math.isfinite(fps)):
        raise ValueError(f"fps must be a positive rate or None, got {fps}")
    container = _open(path, clip_id)
    try:
        stream = _video_stream(container, path, clip_id)
        stream.thread_type = "AUTO"
        tb = Fraction(stream.time_base.numerator, stream.time_base.denominator)
        s0 = _stream_start(stream)
        nominal = _nominal_rate(stream)
        cc = stream.codec_context
        out_w, out_h = _target_size(cc.width, cc.height, stream.sample_aspect_ratio, size)
        end = start + duration
        if fps is None:
            grid = None
        else:
            n_grid = max(1, int(math.ceil(duration * fps - 1e-6)))
            grid = start + np.arange(n_grid, dtype=np.float64) / fps

        def convert(frame) -> np.ndarray:
            if frame.width != out_w or frame.height != out_h or frame.format.name != "rgb24":
                frame = frame.reformat(width=out_w, height=out_h, format="rgb24", interpolation="AREA")
            return frame.to_ndarray()

        if grid is not None:
            estimate = len(grid)
        else:
            estimate = int(math.ceil(duration * float(nominal or 30) * 1.05)) + 2
        # allocate for what the media holds, not for what was asked (a 10 h clip on 5 s of media)
        extent = _extent(container, stream, tb)
        if extent is not None:
            avail = max(0.0, extent - start) + 1.0
            estimate = min(estimate, int(math.ceil(avail * max(float(fps or 0), float(nominal or 30)) * 1.05)) + 2)
        kept = _FrameBuffer(estimate, (out_h, out_w, 3))
        times: list[float] = []
        state = {"g": 0, "prev": None, "prev_t": None, "last_t": None, "bad": 0, "decoded": 0}

        def emit_grid_until(limit: float) -> None:
            # grid points before `limit` take the previous frame (nearest-earlier)
            prev = state["prev"]
            if prev is None:
                return
            arr = None
            while state["g"] < len(grid) and grid[state["g"]] < limit - TOL:
                if arr is None:
                    arr = convert(prev)
                kept.append(arr)
                times.append(float(grid[state["g"]]))
                state["g"] += 1

        def take(frame, t: float) -> bool:
            """Handle one decoded frame; return True when the range is done."""
            state["decoded"] += 1
            state["last_t"] = t if state["last_t"] is None else max(state["last_t"], t)
            if grid is None:
                if t >= end - TOL:
                    return True
                if t >= start - TOL:
                    kept.append(convert(frame))
                    times.append(t)
                return False
            if state["prev"] is None:
                if t > start + TOL:
                    # grid points before the first frame we have take that first frame
                    state["prev"] = frame
                    emit_grid_until(t)
                state["prev"], state["prev_t"] = frame, t
            else:
                emit_grid_until(t)
                state["prev"], state["prev_t"] = frame, t
            return state["g"] >= len(grid)

        _decode_range(container, stream, tb, s0, start, take, state, who)
        if grid is not None and state["prev"] is not None and state["g"] < len(grid):
            # the tail: grid points up to the last frame's end still exist
            step = float(1 / nominal) if nominal > 0 else 1.0 / fps
            emit_grid_until(min(end, state["prev_t"] + step))
    finally:
        container.close()

    if not len(kept):
        media_end = _media_end_hint(state["last_t"], nominal)
        raise MediaError(
            f"{who}: nothing to decode in the source range {start:.3f}-{end:.3f} s"
            + (f"; the picture ends at {media_end:.3f} s" if media_end is not None else "; no frame could be decoded")
            + ". Check the clip's source range against the media (wrong media linked or trimmed file?)"
        )
    frames = kept.result()
    rate = float(fps) if fps is not None else float(nominal) if nominal > 0 else 0.0
    return Frames(frames, np.asarray(times, dtype=np.float64), rate)


class _FrameBuffer:
    """Frames written straight into one preallocated array (no list-then-stack double copy)."""

    def __init__(self, capacity: int, shape: tuple[int, int, int]):
        self.data = np.empty((max(1, capacity),) + shape, np.uint8)
        self.n = 0

    def append(self, frame: np.ndarray) -> None:
        if self.n == len(self.data):  # VFR or an optimistic estimate: grow by half
            grown = np.empty((len(self.data) + len(self.data) // 2 + 1,) + self.data.shape[1:], np.uint8)
            grown[: self.n] = self.data[: self.n]
            self.data = grown
        self.data[self.n] = frame
        self.n += 1

    def __len__(self) -> int:
        return self.n

    def result(self) -> np.ndarray:
        if self.n == len(self.data):
            return self.data
        return self.data[: self.n].copy() if self.n < 0.8 * len(self.data) else self.data[: self.n]


def _extent(container, stream, tb: Fraction) -> float | None:
    """Seconds of picture the file claims (stream, else container duration), or None."""
    if stream.duration:
        return float(stream.duration * tb)
    if container.duration:
        return container.duration / 1_000_000
    return None


def _media_end_hint(last_t: float | None, nominal: Fraction) -> float | None:
    if last_t is None:
        return None
    return last_t + (float(1 / nominal) if nominal > 0 else 0.0)


def _decode_range(container, stream, tb: Fraction, s0: int, start: float, take, state: dict, who: str) -> None:
    """Seek to the keyframe at or before ``start`` and feed decoded frames to ``take``."""
    import av

    back = 0.0
    for attempt in range(4):
        target = start - back
        if target > TOL:
            try:
                container.seek(s0 + int(math.floor(target / tb)), stream=stream, backward=True, any_frame=False)
            except av.FFmpegError:
                container.seek(0)
        elif attempt:
            container.seek(s0, stream=stream, backward=True, any_frame=False)
        first = True
        restart = False
        index = 0
        for packet in container.demux(stream):
            try:
                decoded = packet.decode()
            except av.error.InvalidDataError:
                state["bad"] += 1
                if state["bad"] > 50 and not state["decoded"]:
                    raise MediaError(f"{who}: the video data is corrupt (no decodable frame); re-export or re-copy it")
                continue
            except av.FFmpegError as exc:
                raise MediaError(f"{who}: decoding failed ({exc}); the file is corrupt; re-export or re-copy it") from exc
            for frame in decoded:
                pts = frame.pts if frame.pts is not None else frame.dts
                if pts is None:
                    t = index / float(stream.average_rate or 25)
                else:
                    t = float((pts - s0) * tb)
                index += 1
                if first:
                    first = False
                    # the demuxer landed after the start: seek further back and retry
                    if t > start + TOL and target > TOL:
                        restart = True
                        break
                if take(frame, t):
                    return
            if restart:
                break
        if not restart:
            return
        back = max(1.0, back * 4)
    # could not land before start even from the beginning: decode from wherever we are
    container.seek(s0, stream=stream, backward=True, any_frame=False)
    for frame in container.decode(stream):
        if take(frame, float(((frame.pts or 0) - s0) * tb)):
            return


# ---------------------------------------------------------------------------- timecode
def parse_timecode(tc: str, rate: Fraction) -> Fraction | None:
    """Seconds of a non-drop ``HH:MM:SS:FF`` timecode (``;`` read as ``:``) at ``rate``, or None."""
    import re

    m = re.fullmatch(r"\s*(\d{1,2})[:;](\d{2})[:;](\d{2})[:;.](\d{2,3})\s*", tc or "")
    if not m or rate <= 0:
        return None
    h, mi, s, f = (int(g) for g in m.groups())
    nominal = max(1, round(rate))
    if mi > 59 or s > 59 or f >= nominal:
        return None
    return Fraction(((h * 60 + mi) * 60 + s) * nominal + f) / rate


def media_timecode(path, rate: Fraction) -> Fraction | None:
    """The start timecode a movie file carries (QuickTime ``tmcd`` / ``timecode`` tag), in seconds."""
    import av

    path = Path(path)
    if not path.is_file():
        return None
    try:
        with av.open(str(path), metadata_errors="ignore") as c:
            tags = [dict(c.metadata)] + [dict(st.metadata) for st in c.streams]
    except Exception:  # noqa: BLE001 - unreadable files are reported by the decoder
        return None
    for tag in tags:
        t = parse_timecode(tag.get("timecode") or "", Fraction(rate))
        if t is not None:
            return t
    return None
