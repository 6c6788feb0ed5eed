"""Procedural test videos with known ground truth, written with PyAV.

- ``render_impact_video``: objects that drop, bounce or collide under constant
  acceleration and make contact at known frame times (the returned list). Contacts are
  snapped to frame times, so "the frame of contact" is exact: the object reaches its
  contact position on that frame and stops (drop, collide) or reverses (bounce).
- ``render_counter_video``: every frame shows its own index as a 4x4 bar code of black
  and white blocks (``read_counter`` decodes it), for frame-accuracy tests, including
  variable frame rate (irregular presentation times).
- ``render_scene_video``: scenes for sync and silence scoring, returning a
  :class:`SceneTruth` with the contact times and the spans where nothing touches: a ball
  bouncing with restitution 0.7 down to its sixth (tiny) bounce, a sliding box, a rolling
  ball, a spinning object, a camera pan and a camera zoom (each of the last five followed by
  one drop, so every scene has a contact).

Codecs: ``libx264`` (yuv420p, with B-frames and a short GOP so that seeks land mid-GOP)
or ``mpeg4``, in ``.mp4`` or ``.mov``.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

COUNTER_BITS = 16
_GRID = 4  # 4 x 4 blocks


# ---------------------------------------------------------------------------- encoding
def _as_fraction(fps) -> Fraction:
    if isinstance(fps, Fraction):
        return fps
    f = Fraction(fps).limit_denominator(1001)
    return f


def _vfr_times(n: int, fps: Fraction, seed: int) -> list[Fraction]:
    """Irregular presentation times with the average rate ``fps`` (durations 0.5x-1.6x nominal)."""
    rng = np.random.default_rng(seed + 7919)
    tb = Fraction(1, 90000)
    step = 1 / fps
    times, t = [], Fraction(0)
    for _ in range(n):
        times.append(t)
        d = step * Fraction(int(rng.choice([5, 8, 10, 13, 16])), 10)
        t += max(tb, Fraction(round(d / tb)) * tb)
    return times


def _write(path: Path, images, times: list[Fraction], fps: Fraction, codec: str, gop: int) -> None:
    import av

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.stem + ".part" + path.suffix)
    images = iter(images)
    first = next(images)
    h, w = first.shape[:2]
    # an exact time base for constant rates (1001 ticks a frame at 24000/1001); 1/90000 for VFR
    tb = Fraction(1, fps.numerator) if all((t * fps).denominator == 1 for t in times) else Fraction(1, 90000)
    with av.open(str(tmp), "w") as out:
        stream = out.add_stream(codec, rate=fps)
        stream.width, stream.height = w, h
        stream.pix_fmt = "yuv420p"
        stream.time_base = tb
        stream.codec_context.time_base = tb
        stream.codec_context.framerate = fps
        if codec == "libx264":
            stream.options = {"crf": "16", "preset": "veryfast", "g": str(gop), "bf": "2",
                              "keyint_min": str(gop), "sc_threshold": "0"}
        else:
            stream.options = {"g": str(gop), "qscale": "3"}
            stream.codec_context.gop_size = gop
            stream.codec_context.qmin = 2
        for img, t in zip(itertools.chain([first], images), times):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="rgb24")
            frame.pts = int(round(t / tb))
            frame.time_base = tb
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    tmp.replace(path)


def _frame_times(n: int, fps: Fraction, vfr: bool, seed: int) -> list[Fraction]:
    return _vfr_times(n, fps, seed) if vfr else [Fraction(i) / fps for i in range(n)]


# ---------------------------------------------------------------------------- counter
def counter_image(index: int, size: tuple[int, int] = (320, 240)) -> np.ndarray:
    w, h = size
    img = np.zeros((h, w, 3), np.uint8)
    bw, bh = w // _GRID, h // _GRID
    for b in range(COUNTER_BITS):
        if (index >> b) & 1:
            r, c = divmod(b, _GRID)
            img[r * bh:(r + 1) * bh, c * bw:(c + 1) * bw] = 255
    return img


def read_counter(rgb: np.ndarray) -> int:
    """The index a counter frame shows (block centres thresholded at mid-grey)."""
    h, w = rgb.shape[:2]
    gray = rgb.astype(np.float32).mean(axis=-1)
    value = 0
    for b in range(COUNTER_BITS):
        r, c = divmod(b, _GRID)
        y0, y1 = int((r + 0.3) * h / _GRID), int((r + 0.7) * h / _GRID)
        x0, x1 = int((c + 0.3) * w / _GRID), int((c + 0.7) * w / _GRID)
        if gray[y0:max(y1, y0 + 1), x0:max(x1, x0 + 1)].mean() > 127:
            value |= 1 << b
    return value


def render_counter_video(path, fps=25.0, n_frames: int = 100, *, size: tuple[int, int] = (320, 240),
                         codec: str = "libx264", gop: int = 12, vfr: bool = False, seed: int = 0) -> list[float]:
    """Write ``n_frames`` frames whose picture encodes their index; return their times (s)."""
    fps = _as_fraction(fps)
    times = _frame_times(n_frames, fps, vfr, seed)
    _write(Path(path), (counter_image(i, size) for i in range(n_frames)), times, fps, codec, gop)
    return [float(t) for t in times]


# ---------------------------------------------------------------------------- impacts
def _background(w: int, h: int, floor_y: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed + 101)
    img = np.empty((h, w, 3), np.float32)
    img[:] = (40, 52, 68)
    img += rng.normal(0, 5, (h // 8 + 1, w // 8 + 1, 1)).repeat(8, 0).repeat(8, 1)[:h, :w]
    img[floor_y:] = (110, 85, 60)
    return np.clip(img, 0, 255)


def _sprite(radius: int, color, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A textured disc (checker pattern, so its motion is visible inside it) and its mask."""
    yy, xx = np.mgrid[-radius:radius + 1, -radius:radius + 1]
    mask = (xx ** 2 + yy ** 2) <= radius ** 2
    cell = max(3, radius // 2)
    checker = (((xx + radius) // cell + (yy + radius) // cell) % 2).astype(np.float32)
    img = np.asarray(color, np.float32)[None, None, :] * (0.7 + 0.3 * checker[..., None])
    return img, mask


def _paste(canvas: np.ndarray, sprite, cx: float, cy: float) -> None:
    img, mask = sprite
    r = mask.shape[0] // 2
    x0, y0 = int(round(cx)) - r, int(round(cy)) - r
    h, w = canvas.shape[:2]
    sx0, sy0 = max(0, -x0), max(0, -y0)
    sx1, sy1 = min(mask.shape[1], w - x0), min(mask.shape[0], h - y0)
    if sx1 <= sx0 or sy1 <= sy0:
        return
    region = canvas[y0 + sy0:y0 + sy1, x0 + sx0:x0 + sx1]
    m = mask[sy0:sy1, sx0:sx1]
    region[m] = img[sy0:sy1, sx0:sx1][m]


def _random_impacts(rng, duration: float, kind: str) -> list[float]:
    gap = {"drop": (0.3, 0.8), "bounce": (0.45, 0.9), "collide": (0.6, 1.0)}[kind]
    t, out = 0.6 + rng.uniform(0, 0.3), []
    while t < duration - 0.3:
        out.append(t)
        t += rng.uniform(*gap)
    return out


def _snap(times, fps: Fraction, frame_times: list[Fraction]) -> list[int]:
    ft = np.array([float(t) for t in frame_times])
    idx = sorted({int(np.argmin(np.abs(ft - t))) for t in times})
    return [i for i in idx if 2 <= i < len(ft) - 1]


def _drop_positions(t: float, impacts: list[float], floor: float, w: int, r: int):
    """Each object hangs at the top, falls under gravity and lands (stops) at its impact time."""
    out = []
    top = r + 6.0
    fall = 0.45
    g = 2 * (floor - top) / fall ** 2
    for i, ti in enumerate(impacts):
        x = w * (i + 0.5) / len(impacts)
        if t <= ti - fall:
            y = top
        elif t < ti:
            dt = t - (ti - fall)
            y = top + 0.5 * g * dt * dt
        else:
            y = floor
        out.append((x, min(y, floor)))
    return out


def _bounce_positions(t: float, impacts: list[float], floor: float, w: int, r: int):
    """One ball: hangs, drops from rest, ballistic arcs between contacts, rests after the last."""
    room = floor - (r + 6.0)
    gaps = np.diff(impacts) if len(impacts) > 1 else np.array([0.8])
    g = 8 * room / float(max(gaps.max(), 0.2)) ** 2  # the longest arc just fits the frame
    fall = min(math.sqrt(2 * room / g), impacts[0])
    x = w * 0.2 + w * 0.6 * min(max(t / max(impacts[-1], 1e-6), 0.0), 1.0)
    if t < impacts[0]:
        dt = max(0.0, t - (impacts[0] - fall))
        return [(x, floor - 0.5 * g * fall * fall + 0.5 * g * dt * dt)]
    for a, b in zip(impacts[:-1], impacts[1:]):
        if a <= t < b:
            v, dt = g * (b - a) / 2, t - a
            return [(x, floor - (v * dt - 0.5 * g * dt * dt))]
    return [(x, floor)]


def _collide_positions(t: float, impacts: list[float], floor: float, w: int, r: int):
    """Two pucks: from rest they accelerate towards each other, meet at a contact and rebound,
    then slide apart slowing down under friction until they rest, ready for the next run."""
    cx, y = w / 2, floor
    dist = min(cx - 2 * r - 6.0, 3.0 * r)  # each puck's run from rest to contact
    prev = None
    for ti in impacts:
        gap = ti - prev if prev is not None else ti
        run = min(0.3, 0.45 * gap)
        if t < ti:
            if prev is not None and t < ti - run:
                # rebound: leaves the contact at the speed that brings it to rest at `dist`
                # after time `slide` (constant friction deceleration)
                slide = max(ti - run - prev, 1e-6)
                u = min((t - prev) / slide, 1.0)
                off = dist * (1 - (1 - u) ** 2)
            elif t < ti - run:
                off = dist
            else:
                u = (t - (ti - run)) / run
                off = dist * (1 - u * u)  # constant acceleration from rest, full speed at contact
            return [(cx - r - off, y), (cx + r + off, y)]
        prev = ti
    u = min((t - prev) / 0.5, 1.0) if prev is not None else 1.0
    off = dist * (1 - (1 - u) ** 2) if prev is not None else dist
    return [(cx - r - off, y), (cx + r + off, y)]


def render_impact_video(path, *, kind: str = "drop", fps=25.0, duration: float = 4.0,
                        size: tuple[int, int] = (320, 240), impacts: list[float] | None = None,
                        seed: int = 0, vfr: bool = False, codec: str = "libx264") -> list[float]:
    """Write a video of objects making contact; return the exact contact frame times (s).

    ``impacts`` are wished contact times (snapped to frames); ``None`` draws them at random
    from ``seed``. ``kind``: ``drop`` (objects fall and stop on the floor), ``bounce`` (one
    ball bouncing; contacts reverse its velocity), ``collide`` (pucks meet and stop).
    """
    if kind not in ("drop", "bounce", "collide"):
        raise ValueError(f"kind must be 'drop', 'bounce' or 'collide', got {kind!r}")
    fps = _as_fraction(fps)
    w, h = size
    rng = np.random.default_rng(seed)
    n = int(math.floor(duration * fps + 1e-9))
    frame_times = _frame_times(n, fps, vfr, seed)
    wished = impacts if impacts is not None else _random_impacts(rng, duration, kind)
    idx = _snap(wished, fps, frame_times)
    if kind == "bounce":
        idx = [i for k, i in enumerate(idx) if k == 0 or float(frame_times[i] - frame_times[idx[k - 1]]) >= 0.15]
    true_times = [float(frame_times[i]) for i in idx]
    r = max(6, min(w, h) // 14)
    floor_y = int(h * 0.85)
    contact = floor_y - r  # centre of a ball resting on the floor
    bg = _background(w, h, floor_y, seed)
    colors = [(235, 80, 60), (60, 200, 90), (240, 220, 70), (90, 140, 250), (230, 120, 230)]
    sprites = [_sprite(r, colors[k % len(colors)], seed + k) for k in range(max(2 * len(idx), 1))]
    place = {"drop": _drop_positions, "bounce": _bounce_positions, "collide": _collide_positions}[kind]

    def frames():
        for t in frame_times:
            canvas = bg.copy()
            if true_times:
                for k, (x, y) in enumerate(place(float(t), true_times, contact, w, r)):
                    _paste(canvas, sprites[k % len(sprites)], x, y)
            yield canvas.astype(np.uint8)

    _write(Path(path), frames(), frame_times, fps, codec, gop=max(2, int(round(float(fps) / 2))))
    return true_times


# ---------------------------------------------------------------------------- scenes with no-touch spans
SCENE_KINDS = ("bounce", "slide", "roll", "rotate", "pan", "zoom")
RESTITUTION = 0.7


@dataclass(frozen=True)
class SceneTruth:
    """Ground truth of a scene video: contact times (s) and the spans where nothing touches.

    ``quiet`` holds ``(start, end, what)`` spans (seconds; they may overlap): "before first
    contact", "slide", "roll", "rotation", "pan", "zoom", "rest" (after the last contact).
    A contact's own sound rings past it: scorers leave a guard after each contact.
    """

    kind: str
    contacts: list[float]
    quiet: list[tuple[float, float, str]]
    duration: float


def _disc_sprite(radius: int, color, angle: float = 0.0, square: bool = False):
    """A checker-textured disc (or square) rotated by ``angle`` radians, and its mask."""
    yy, xx = np.mgrid[-radius:radius + 1, -radius:radius + 1].astype(np.float32)
    c, s = math.cos(angle), math.sin(angle)
    u, v = c * xx + s * yy, -s * xx + c * yy
    if square:
        half = radius / math.sqrt(2.0)
        mask = (np.abs(u) <= half) & (np.abs(v) <= half)
    else:
        mask = (xx ** 2 + yy ** 2) <= radius ** 2
    cell = max(3.0, radius / 2.0)
    checker = ((np.floor(u / cell) + np.floor(v / cell)) % 2).astype(np.float32)
    img = np.asarray(color, np.float32)[None, None, :] * (0.6 + 0.4 * checker[..., None])
    return img, mask


def _snap_time(t: float, fps: Fraction) -> float:
    return float(Fraction(round(t * fps)) / fps)


def _drop_y(t: float, contact: float, top: float, floor: float, fall: float) -> float:
    """Height of an object hanging at ``top`` that falls for ``fall`` s and lands on ``floor`` at ``contact``."""
    if t <= contact - fall:
        return top
    if t >= contact:
        return floor
    g = 2 * (floor - top) / fall ** 2
    dt = t - (contact - fall)
    return top + 0.5 * g * dt * dt


def _bounce_plan(rng, fps: Fraction, duration: float) -> tuple[list[float], float]:
    """Contacts of a ball dropped from rest bouncing with restitution 0.7 down to the sixth bounce."""
    fall = rng.uniform(0.42, 0.55)
    t = _snap_time(rng.uniform(0.6, 0.9), fps)
    out = [t]
    for k in range(1, 7):
        gap = 2 * fall * RESTITUTION ** k
        t = max(_snap_time(t + gap, fps), out[-1] + 2 / float(fps))
        out.append(t)
    if out[-1] > duration - 0.5:
        raise ValueError(f"a bounce scene needs {out[-1] + 0.5:.2f} s; got duration {duration}")
    return out, fall


def render_scene_video(path, kind: str = "bounce", *, fps=25.0, duration: float = 5.0,
                       size: tuple[int, int] = (320, 240), seed: int = 0, codec: str = "libx264") -> SceneTruth:
    """Write a scene with known contacts and no-touch spans; return its :class:`SceneTruth`.

    ``bounce``: a ball dropped from rest bounces with restitution 0.7 (contact gaps shrink by
    0.7, heights by 0.49) down to the sixth bounce, then rests; the late bounces are tiny.
    ``slide``: a box slides along the floor and slows to rest (no contact), then a ball drops.
    ``roll``: a ball rolls along the floor (its texture turning) and slows to rest, then a ball drops.
    ``rotate``: an object spins in place in mid-air, then a ball drops.
    ``pan`` / ``zoom``: the camera pans over / zooms into a static scene of resting objects,
    holds, then a ball drops. Timings, speeds, sizes and colours vary with ``seed``;
    contacts land on frame times.
    """
    if kind not in SCENE_KINDS:
        raise ValueError(f"kind must be one of {', '.join(SCENE_KINDS)}, got {kind!r}")
    fps = _as_fraction(fps)
    w, h = size
    rng = np.random.default_rng(seed)
    n = int(math.floor(duration * fps + 1e-9))
    times = _frame_times(n, fps, False, seed)
    r = max(6, min(w, h) // 14)
    floor_y = int(h * 0.85)
    rest = floor_y - r
    top = r + 6.0
    colors = [(235, 80, 60), (60, 200, 90), (240, 220, 70), (90, 140, 250), (230, 120, 230)]
    col = [colors[(seed + k) % len(colors)] for k in range(3)]
    world_w = 2 * w if kind == "pan" else w
    bg = _background(world_w, h, floor_y, seed)
    ball = _sprite(r, col[0], seed)
    props = [(_sprite(r, col[1], seed + 1), world_w * 0.3), (_disc_sprite(r, col[2], 0.5, square=True), world_w * 0.7)]
    quiet: list[tuple[float, float, str]] = []
    m0 = _snap_time(rng.uniform(0.2, 0.5), fps)  # the motion (slide, roll, spin, camera move) runs m0 .. m1
    m1 = _snap_time(m0 + rng.uniform(1.6, 2.2), fps)
    fall = 0.45
    contact = _snap_time(m1 + rng.uniform(0.6, 0.9), fps)
    if kind == "bounce":
        contacts, fall = _bounce_plan(rng, fps, duration)
    else:
        contacts = [contact]
        if contact > duration - 0.5:
            raise ValueError(f"a {kind} scene needs {contact + 0.5:.2f} s; got duration {duration}")
        quiet.append((m0, m1, {"slide": "slide", "roll": "roll", "rotate": "rotation"}.get(kind, kind)))
    quiet.append((0.0, contacts[0], "before first contact"))
    quiet += [(a, b, "in the air") for a, b in zip(contacts[:-1], contacts[1:])]
    quiet.append((contacts[-1], duration, "rest"))
    x_drop = w * rng.uniform(0.55, 0.8)
    x0, x1 = w * rng.uniform(0.1, 0.2), w * rng.uniform(0.35, 0.5)  # slide / roll from x0 to rest at x1
    spin = rng.uniform(2.0, 5.0) * rng.choice([-1.0, 1.0])  # rad/s
    zoom_to = rng.uniform(1.4, 1.9)

    def progress(t: float) -> float:
        """0 -> 1 over the motion span, decelerating uniformly to rest at m1."""
        u = min(max((t - m0) / (m1 - m0), 0.0), 1.0)
        return 1 - (1 - u) ** 2

    def bounce_y(t: float) -> float:
        if t < contacts[0]:
            return _drop_y(t, contacts[0], top, rest, fall)
        g = 2 * (rest - top) / fall ** 2
        for a, b in zip(contacts[:-1], contacts[1:]):
            if a <= t < b:
                v, dt = g * (b - a) / 2, t - a
                return rest - (v * dt - 0.5 * g * dt * dt)
        return rest

    def frame(t: float) -> np.ndarray:
        canvas = bg.copy()
        for spr, px in props if kind in ("pan", "zoom") else []:
            _paste(canvas, spr, px, rest)
        if kind == "bounce":
            _paste(canvas, ball, w * 0.3 + w * 0.3 * min(t / contacts[-1], 1.0), bounce_y(t))
        else:
            if kind in ("slide", "roll"):
                x = x0 + (x1 - x0) * progress(t)
                angle = 0.0 if kind == "slide" else (x - x0) / r
                y = floor_y - r / math.sqrt(2.0) if kind == "slide" else rest  # the box sits on its face
                _paste(canvas, _disc_sprite(r, col[1], angle, square=kind == "slide"), x, y)
            elif kind == "rotate":
                a = spin * (min(max(t, m0), m1) - m0)
                _paste(canvas, _disc_sprite(int(r * 1.5), col[1], a, square=True), w * 0.3, h * 0.4)
            _paste(canvas, ball, x_drop + (w / 2 if kind == "pan" else 0.0), _drop_y(t, contact, top, rest, fall))
        if kind == "pan":
            off = int(round(w * progress(t)))
            canvas = canvas[:, off:off + w]
        elif kind == "zoom":
            z = 1 + (zoom_to - 1) * progress(t)  # about a fixed point on the floor, so the drop stays in view
            ys = np.clip(((np.arange(h) - rest) / z + rest).astype(int), 0, h - 1)
            xs = np.clip(((np.arange(w) - x_drop) / z + x_drop).astype(int), 0, w - 1)
            canvas = canvas[ys][:, xs]
        return canvas.astype(np.uint8)

    _write(Path(path), (frame(float(t)) for t in times), times, fps, codec, gop=max(2, int(round(float(fps) / 2))))
    return SceneTruth(kind, contacts, quiet, float(n / fps))
