"""Scene videos with known contacts and no-touch spans (synthvideo.render_scene_video), read back from the file."""

from __future__ import annotations

import numpy as np
import pytest

from melfoley.core import synthvideo as sv
from melfoley.core.video import read_frames

SEED = 101
W, H = 320, 240
FLOOR = int(H * 0.85)


def _scene(tmp_path, kind, seed=SEED):
    path = tmp_path / f"{kind}{seed}.mp4"
    truth = sv.render_scene_video(path, kind, seed=seed, size=(W, H))
    got = read_frames(path, 0.0, truth.duration, size=None)
    return truth, got.frames, np.asarray(got.times)


def _mask(frame: np.ndarray, color) -> np.ndarray:
    return np.abs(frame.astype(np.int32) - np.asarray(color)[None, None, :] * 0.8).max(axis=-1) < 60


def _colors(seed=SEED):
    return [sv_colors[(seed + k) % len(sv_colors)] for k in range(3)]


sv_colors = [(235, 80, 60), (60, 200, 90), (240, 220, 70), (90, 140, 250), (230, 120, 230)]


def _bottom(frame, color) -> float:
    rows = np.flatnonzero(_mask(frame, color).sum(axis=1) >= 3)
    return float(rows.max()) if rows.size else float("nan")


def _centre_x(frame, color) -> float:
    cols = np.flatnonzero(_mask(frame, color).sum(axis=0) >= 3)
    return float(cols.mean()) if cols.size else float("nan")


def _floor_row(frame) -> int:
    """The top row of the floor as the frame shows it (a zoom moves it down)."""
    floor = np.abs(frame.astype(np.int32) - np.array([110, 85, 60])[None, None, :]).max(axis=-1) < 25
    return int(np.flatnonzero(floor.mean(axis=1) > 0.5)[0])


def _at(times, t) -> int:
    return int(np.argmin(np.abs(times - t)))


def test_bounce_keeps_its_late_small_bounces(tmp_path):
    truth, frames, times = _scene(tmp_path, "bounce")
    c = np.asarray(truth.contacts)
    assert len(c) == 7  # the drop and six bounces
    gaps = np.diff(c)
    assert np.all(np.diff(gaps) < 0) and 0.08 < gaps[-1] / gaps[0] < 0.3  # 0.7 ** 5 = 0.17, frame-snapped
    assert all(np.isclose(t * 25, round(t * 25)) for t in c)  # contacts land on frames
    ball = _colors()[0]
    for t in c:
        assert abs(_bottom(frames[_at(times, t)], ball) - FLOOR) <= 2, t  # touching the floor at each contact
    heights = [FLOOR - _bottom(frames[_at(times, (a + b) / 2)], ball) for a, b in zip(c[:-1], c[1:])]
    assert heights[0] > 60 and heights[0] > heights[1] > heights[2] > heights[3] >= 2
    spans = {what for *_, what in truth.quiet}
    assert {"before first contact", "in the air", "rest"} <= spans
    before = next(s for s in truth.quiet if s[2] == "before first contact")
    assert before[:2] == (0.0, c[0])


@pytest.mark.parametrize("kind", ["slide", "roll"])
def test_sliding_and_rolling_objects_move_on_the_floor_without_contact(tmp_path, kind):
    truth, frames, times = _scene(tmp_path, kind)
    a, b, what = truth.quiet[0]
    assert what == kind and len(truth.contacts) == 1 and truth.contacts[0] > b
    obj = _colors()[1]
    idx = [i for i, t in enumerate(times) if a <= t <= b]
    xs = [_centre_x(frames[i], obj) for i in idx]
    assert xs[-1] - xs[0] > 20  # it travels
    assert np.all(np.diff(xs) > -1.5)  # one way, slowing down
    assert all(abs(_bottom(frames[i], obj) - FLOOR) <= 3 for i in idx)  # never leaves the floor


def test_camera_moves_and_spins_have_no_contact_until_the_drop(tmp_path):
    for kind in ("pan", "zoom", "rotate"):
        truth, frames, times = _scene(tmp_path, kind)
        a, b, what = truth.quiet[0]
        assert what in ("pan", "zoom", "rotation") and len(truth.contacts) == 1 and truth.contacts[0] > b
        i0, i1 = _at(times, a), _at(times, b)
        changed = (np.abs(frames[i1].astype(np.int32) - frames[i0].astype(np.int32)).max(axis=-1) > 40).sum()
        assert changed > 150, kind  # the picture moves during the span
        ball = _colors()[0]
        k = _at(times, truth.contacts[0])
        assert abs(_bottom(frames[k], ball) + 1 - _floor_row(frames[k])) <= 3, kind  # the drop lands on the floor


def test_seeds_vary_the_scene(tmp_path):
    a = sv.render_scene_video(tmp_path / "a.mp4", "bounce", seed=1, size=(160, 120))
    b = sv.render_scene_video(tmp_path / "b.mp4", "bounce", seed=2, size=(160, 120))
    assert a.contacts != b.contacts
    with pytest.raises(ValueError, match="kind must be one of"):
        sv.render_scene_video(tmp_path / "c.mp4", "explode")
