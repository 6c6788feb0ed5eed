"""Timing from picture: motion, contacts and cuts -> E_t and D_t on the mel frame grid.

Pipeline (pure numpy, about 0.1-0.3 s per 10 s of picture on one core):
1. Frames -> small grey pictures (short side about ``WORK_SIDE`` px); exact repeats
   (held frames, VFR conformed to a grid) are dropped, velocities are per nominal frame.
2. Block-matching flow (4x4 blocks at a 2 px stride, exhaustive +-``SEARCH`` px with a bias
   towards no motion, sub-pixel parabola) for every frame k both ways: how its content
   arrived from k-1 and how it leaves to k+1. Camera motion (pan, shake) is subtracted.
3. A *contact* at frame k is a velocity change of the content there: |v_out - v_in| over
   the speed moving, weighted by how well each block matched. A drop that stops, a bounce
   that reverses and two objects meeting all give 1; steady or gravity-like motion ~0.
   Each moving region is also judged on its own motion: a coherent region that reverses, or
   that stops dead (then stays unchanged), is a contact however small it is next to the
   clip's biggest impacts (a ball's last bounces).
4. Cuts: colour-histogram change between consecutive frames; flow across a cut is ignored.
5. E_t = the quiet floor, plus for every onset an impulse (one-frame rise at the mel frame
   of the onset, exponential decay), plus a small continuous term from motion energy;
   D_t follows E between the measured quiet and hit spreads. The constants are
   :data:`CALIBRATION` (see :class:`TimingCalibration`). Notes: docs/timing.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .mel import get_mel_config

PICTURE_SIZE = 128  # px: short side to decode frames at for predict_timing (read_frames(size=...))
WORK_SIDE = 64  # px: short side of the grayscale frames the flow runs on
BLOCK = 4  # px: flow block size at the working size
STRIDE = 2  # px between flow blocks
SEARCH = 9  # px: flow search radius at the working size
CHANGE_MIN = 1.5  # grey levels per pixel: blocks changing less are still
REPEAT_LEVEL = 0.5  # grey levels: a frame whose every 4x4 patch changes less repeats the previous
DV_DEADZONE = 1.2  # working px per frame: velocity changes below this are flow noise
GLOBAL_CHANGE = 0.6  # share of the picture's 4x4 patches changing that makes a frame change global
CAMERA_FRACTION = 0.3  # share of moving blocks above which their median motion is the camera's
HOLD_FRAMES = 2  # repeats at the end of a clip that make a hold rather than a timing artefact
MIN_MOMENTUM = 0.02  # weight * px per block below which a frame counts as still
MATCH_RATIO = 0.35  # best-shift residual / no-motion residual a block must reach to count
ZERO_BIAS = 0.4  # grey levels per pixel per px of shift: prefer no motion on flat blocks
START_RATIO = 0.5  # incoming speed under this share of the outgoing one (same direction): a start, not a contact
SLOW_RATIO = 0.3  # outgoing speed over this share of the incoming one, within SLOW_COS of its direction: a slowdown
SLOW_COS = 0.7  # (cos 45 degrees) -- timing jitter of a VFR clip conformed to a grid, not a contact
STRENGTH_POWER = 0.25  # contact = reversal fraction x (velocity change / the clip's 95th percentile) ** this
# moving regions (blocks joined when at most one block apart), judged on their own motion, not the clip's:
REGION_COHERENCE = 0.6  # |mean velocity| / mean |velocity| a region needs: it translates (a spin does not)
REGION_MIN_SPEED = 0.4  # working px per frame a region must move at on each side of a reversal, or arrive at to stop
STOP_MIN_WEIGHT = 9.0  # summed block weight of a region that stops dead
STOP_HOLD_S = 0.2  # a dead stop: the region then stays unchanged this long
REVERSAL_MIN_WEIGHT = 50.0  # summed block weight (arriving + leaving) of a region that reverses
REVERSAL_RATIO = 0.85  # |v_out - v_in| / (|v_in| + |v_out|, camera included) of a reversal
REGION_CHUNK = 256  # frames labelled at a time
REVERSAL_SUBPIXEL = 0.75  # the same ratio from the region's sub-pixel shifts (Lucas-Kanade over its pixels): at an
#                           arc's apex the blocks' ~1 px quantised flow reads a reversal that the sub-pixel shifts spread over two frames


@dataclass(frozen=True)
class TimingCalibration:
    """E/D levels of real recordings, so that a predicted hit looks like a real one.

    Measured by ``bench/calibrate_timing.py`` (its ``measure_calibration``) with
    ``QCDControl.from_waveform`` on all 526 corpus sounds (hifigan22k front-end, peak-normalised
    to 0.95 as the engine does), 2026-11-27:
    ``floor_e`` = median over files of each file's 5th-percentile E (the quiet floor);
    onsets = sharp rises of E (> 0.1 within 3 frames) in the impact-class files
    (``IMPACT_LABELS`` of the bench, and a file that opens on a hit; 294 onsets), ``min_peak_e`` /
    ``peak_e`` = 25th / 75th percentile of their peak E (a weak / a strong hit); ``decay_s`` = median time from an onset peak
    until E falls to 1/e of its height above the floor; ``floor_d`` / ``peak_d`` = median D
    on quiet frames / at onset peaks. The remaining fields are detector settings, tuned on
    the procedural videos of :mod:`melfoley.core.synthvideo`.
    """

    floor_e: float = 0.306
    min_peak_e: float = 0.475
    peak_e: float = 0.564
    decay_s: float = 0.180
    floor_d: float = 0.055
    peak_d: float = 0.046
    motion_gain: float = 0.03  # E added by sustained motion at the clip's full motion level
    onset_threshold: float = 0.45  # contact strength that counts as an onset
    min_gap_s: float = 0.06  # onsets closer than this merge
    cut_threshold: float = 0.5  # L1 histogram change (0..2) that counts as a cut
    cut_level: float = 0.5  # a cut's accent, as a fraction of a weak hit's height above the floor


CALIBRATION = TimingCalibration()


@dataclass(frozen=True)
class TimingPrediction:
    energy: np.ndarray  # float32 [n_frames] in [0, 1]
    spread: np.ndarray  # float32 [n_frames] in [0, 1]
    motion: np.ndarray  # float32 [n_frames] raw motion magnitude per mel frame (px/frame * weight)
    onsets: np.ndarray  # float64 seconds, relative to the clip start
    cuts: np.ndarray  # float64 seconds
    levels: np.ndarray = field(default_factory=lambda: np.zeros(0))  # float64 peak E of each onset (strength mapped between weak and strong hits)


# ---------------------------------------------------------------------------- picture
def to_gray_small(frames: np.ndarray, side: int = WORK_SIDE) -> np.ndarray:
    """[N, H, W, 3] uint8 -> [N, h, w] float32 grey at a short side of about ``side`` px."""
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"frames must be [N, H, W, 3], got {frames.shape}")
    n, h, w, _ = frames.shape
    f = max(1, int(round(min(h, w) / side)))
    hh, ww = (h // f) * f, (w // f) * f
    luma = np.array([0.299, 0.587, 0.114], np.float32)
    out = np.empty((n, hh // f, ww // f), np.float32)
    for i in range(0, n, 128):  # chunks keep a 5-minute clip's float copy small
        gray = frames[i:i + 128, :hh, :ww].astype(np.float32) @ luma
        out[i:i + 128] = gray.reshape(-1, hh // f, f, ww // f, f).mean(axis=(2, 4))
    # a light [1, 2, 1] blur against aliasing of fine texture (it would not match across frames)
    gray = np.pad(out, ((0, 0), (1, 1), (1, 1)), mode="edge")
    gray = 0.25 * (gray[:, :-2] + 2 * gray[:, 1:-1] + gray[:, 2:])
    gray = 0.25 * (gray[:, :, :-2] + 2 * gray[:, :, 1:-1] + gray[:, :, 2:])
    return np.ascontiguousarray(gray)


def _sad(ref_win: np.ndarray, blk: np.ndarray) -> np.ndarray:
    """Sum of absolute differences of blocks [M, b, b] at every shift inside their reference
    windows [M, b + 2r, b + 2r] -> [M, 2r + 1, 2r + 1] (one pass per block pixel: no 5-D temporary)."""
    b = blk.shape[-1]
    side = ref_win.shape[-1] - b + 1
    out = np.zeros((blk.shape[0], side, side), np.float32)
    tmp = np.empty_like(out)
    for py in range(b):
        for px in range(b):
            np.subtract(ref_win[:, py:py + side, px:px + side], blk[:, py, px, None, None], out=tmp)
            np.abs(tmp, out=tmp)
            out += tmp
    return out


def match_blocks(cur: np.ndarray, ref: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where each block of ``cur`` is found in ``ref``: ([N, by, bx, 2] (dx, dy) px, [N, by, bx] weight).

    Blocks of BLOCK px at a stride of STRIDE px. Only blocks that change between the two
    frames are searched (the rest have zero motion and weight): exhaustive search over
    +-SEARCH px with a small bias towards no motion, then a sub-pixel parabola on each axis.
    The weight is the mean absolute difference per pixel that the best shift saves over no
    shift; it is 0 on still or flat blocks and on blocks the best shift explains only
    loosely (background uncovered by a moving object matches some other background).
    """
    from numpy.lib.stride_tricks import sliding_window_view

    r, c, b = SEARCH, STRIDE, BLOCK
    n = cur.shape[0]
    h, w = (cur.shape[1] // c) * c, (cur.shape[2] // c) * c
    cur, ref = cur[:, :h, :w], ref[:, :h, :w]
    area = b * b
    diff = sliding_window_view(np.abs(cur - ref), (b, b), axis=(1, 2))[:, ::c, ::c]
    zero = np.einsum("nyxhw->nyx", diff)  # [N, by, bx] no-motion SAD of every block
    by, bx = zero.shape[1:]
    flow = np.zeros((n, by, bx, 2), np.float32)
    weight = np.zeros((n, by, bx), np.float32)
    fi, yi, xi = np.nonzero(zero > CHANGE_MIN * area)
    if fi.size == 0:
        return flow, weight
    side = 2 * r + 1
    sh = np.array([(dy, dx) for dy in range(-r, r + 1) for dx in range(-r, r + 1)], np.float32)
    bias = ZERO_BIAS * area * np.abs(sh).sum(axis=1)
    pad = np.pad(ref, ((0, 0), (r, r), (r, r)), mode="edge")
    cur_win = sliding_window_view(cur, (b, b), axis=(1, 2))[:, ::c, ::c]
    ref_win = sliding_window_view(pad, (b + 2 * r, b + 2 * r), axis=(1, 2))[:, ::c, ::c]
    for s0 in range(0, fi.size, 2048):
        sel = slice(s0, s0 + 2048)
        f, y, x = fi[sel], yi[sel], xi[sel]
        blk = cur_win[f, y, x]  # [M, b, b]
        sad = _sad(ref_win[f, y, x], blk).reshape(len(f), -1)
        cost = sad + bias
        k = np.argmin(cost, axis=1)
        z = sad[:, (side * side) // 2]
        best = sad[np.arange(len(f)), k]
        wt = np.where(best <= MATCH_RATIO * z, np.maximum(z - best, 0.0) / area, 0.0)
        d = sh[k]  # (dy, dx)
        for axis, step in ((0, side), (1, 1)):
            kk = (k // side) if axis == 0 else (k % side)
            inner = (kk > 0) & (kk < side - 1) & (wt > 0)
            rows = np.arange(len(f))
            cm = cost[rows, np.clip(k - step, 0, side * side - 1)]
            cp = cost[rows, np.clip(k + step, 0, side * side - 1)]
            den = cm - 2 * cost[rows, k] + cp
            frac = np.where(inner & (den > 1e-6), 0.5 * (cm - cp) / np.maximum(den, 1e-6), 0.0)
            d[:, axis] += np.clip(frac, -0.5, 0.5)
        flow[f, y, x] = d[:, ::-1]
        weight[f, y, x] = wt
    return flow, weight


def histogram_change(frames: np.ndarray, bins: int = 8) -> np.ndarray:
    """L1 distance (0..2) between colour histograms of consecutive frames, [N-1]."""
    n = frames.shape[0]
    step = max(1, min(frames.shape[1], frames.shape[2]) // 48)
    hist = np.empty((n, bins ** 3), np.float32)
    for i in range(0, n, 256):
        small = frames[i:i + 256, ::step, ::step].astype(np.int16) * bins // 256
        code = (small[..., 0] * bins + small[..., 1]) * bins + small[..., 2]
        for k, c in enumerate(code.reshape(code.shape[0], -1)):
            hist[i + k] = np.bincount(c, minlength=bins ** 3)
    hist /= np.maximum(hist.sum(axis=1, keepdims=True), 1)
    return np.abs(np.diff(hist, axis=0)).sum(axis=1)


@dataclass(frozen=True)
class PictureEvents:
    """Per distinct picture (exact repeats dropped): its time, motion, contact strength, cut flag."""

    times: np.ndarray  # [M] seconds
    motion: np.ndarray  # [M] motion energy of the interval ending at each frame (0 at the first)
    contact: np.ndarray  # [M] contact strength located at each frame (0..~2)
    cut: np.ndarray  # [M] bool, True on the first frame of a new shot


def analyse_frames(frames: np.ndarray, times: np.ndarray, calibration: "TimingCalibration | None" = None
                   ) -> PictureEvents:
    """Motion, contacts and cuts of frames [N, H, W, 3] shown at ``times`` (seconds, rising).

    Repeats (a held frame, a VFR clip conformed to a grid, pulldown: no 4x4 patch of the
    working picture changes by REPEAT_LEVEL since the last kept frame) are dropped first and
    velocities are taken per nominal frame interval, so irregular timing is neither a stop
    nor a start, and slow motion is measured over as many frames as it needs to show.
    """
    cal = CALIBRATION if calibration is None else calibration
    times = np.asarray(times, np.float64)
    end = float(times[-1]) if times.size else 0.0  # before repeats are dropped: how long the clip stays
    gray = to_gray_small(frames)
    if len(gray) >= 2:
        keep = np.zeros(len(gray), bool)
        keep[0] = True
        last = gray[0]
        h, w = (gray.shape[1] // 4) * 4, (gray.shape[2] // 4) * 4
        for i in range(1, len(gray)):
            # compared with the last kept frame, so that slow motion accumulates and is kept
            change = np.abs(gray[i, :h, :w] - last[:h, :w]).reshape(h // 4, 4, w // 4, 4).mean(axis=(1, 3))
            if change.max() >= REPEAT_LEVEL:  # something changed somewhere
                keep[i] = True
                last = gray[i]
        # a clip that ends on a hold of HOLD_FRAMES or more repeats ends at rest: keep its last
        # frame so that a stop just before the hold shows as a stop (mid-clip, the next kept
        # frame plays that part)
        tail = len(keep) - 1 - int(np.flatnonzero(keep)[-1])
        if tail >= HOLD_FRAMES:
            keep[-1] = True
        gray, times, frames = gray[keep], times[keep], frames[keep]
    n = len(gray)
    motion = np.zeros(n, np.float32)
    contact = np.zeros(n, np.float32)
    cut = np.zeros(n, bool)
    if n < 2:
        return PictureEvents(times, motion, contact, cut)
    cut[1:] = histogram_change(frames) > cal.cut_threshold
    dt = np.diff(times)
    pace = (dt / max(float(np.median(dt)), 1e-6))[:, None, None, None]  # intervals in nominal frames
    # for every frame k, how its content arrived (from k-1) and how it leaves (to k+1)
    v_out, w_out = match_blocks(gray[:-1], gray[1:])  # frames 0..N-2
    s_in, w_in = match_blocks(gray[1:], gray[:-1])  # frames 1..N-1
    v_out, v_in = v_out / pace, -s_in / pace
    speed_out, speed_in = np.linalg.norm(v_out, axis=-1), np.linalg.norm(v_in, axis=-1)  # camera included
    v_out, v_in = _remove_camera(v_out, w_out), _remove_camera(v_in, w_in)
    motion[1:] = (w_in * np.linalg.norm(v_in, axis=-1)).mean(axis=(1, 2))
    if n >= 3:
        vi, wi = v_in[:-1], w_in[:-1]  # frames 1..N-2
        vo, wo = v_out[1:], w_out[1:]
        om = np.maximum(wi, wo)
        # velocity changes within the flow's noise (sub-pixel error, gravity over one frame) are none
        dv = np.linalg.norm(vo - vi, axis=-1)
        dv[dv < DV_DEADZONE] = 0.0
        # a contact stops or turns what was moving; content setting off from rest (a drop released,
        # a slide or a pan starting) changes velocity too but touches nothing
        sp_i, sp_o = np.linalg.norm(vi, axis=-1), np.linalg.norm(vo, axis=-1)
        dv[(sp_i < START_RATIO * sp_o) & ((vi * vo).sum(axis=-1) >= 0)] = 0.0
        # nor is a slowdown that keeps its heading and a good part of its speed (a conformed VFR clip's
        # irregular frame times read as such speed changes; a stop, a bounce or a landing turns or ends it)
        dv[(sp_o > SLOW_RATIO * sp_i) & ((vi * vo).sum(axis=-1) > SLOW_COS * sp_i * sp_o)] = 0.0
        acc = (om * dv).sum(axis=(1, 2))
        # what was moving in the picture, camera motion included (a pan dilutes, never creates)
        mom = (om * (speed_in[:-1] + speed_out[1:])).sum(axis=(1, 2))
        frac = acc / np.maximum(mom, 1e-6)  # 1 for a stop or a reversal, ~0 for steady motion
        scale = max(float(np.percentile(acc, 95)), 1e-6)
        contact[1:-1] = frac * np.clip(acc / scale, 0, None) ** STRENGTH_POWER
        # a still picture must not produce contacts from compression noise
        contact[1:-1][mom < MIN_MOMENTUM * om.shape[1] * om.shape[2]] = 0
        # a small object's own reversal or dead stop counts, whatever the clip's biggest impacts
        for k in _region_contacts(gray, times, end, pace.ravel(), vi, wi, vo, wo, speed_in[:-1], speed_out[1:]):
            contact[k + 1] = max(contact[k + 1], cal.onset_threshold)
    # flow across a cut is meaningless; so is flow where nearly all the picture changes and the
    # blocks cannot follow it coherently (hand-held shake, flicker): no contact is read there
    h4, w4 = (gray.shape[1] // 4) * 4, (gray.shape[2] // 4) * 4
    diff = np.abs(np.diff(gray[:, :h4, :w4], axis=0)).reshape(n - 1, h4 // 4, 4, w4 // 4, 4).mean(axis=(2, 4))
    whole = (diff > CHANGE_MIN).mean(axis=(1, 2)) > GLOBAL_CHANGE
    lost = whole & (np.maximum((w_in > 0).mean(axis=(1, 2)), (w_out > 0).mean(axis=(1, 2))) < CAMERA_FRACTION)
    for k in np.flatnonzero(lost) + 1:
        contact[max(0, k - 1):k + 2] = 0
    for k in np.flatnonzero(cut):
        contact[max(0, k - 1):k + 2] = 0
        motion[k] = 0
    return PictureEvents(times, motion, contact, cut)


#: 8-connectivity within each frame of an [N, H, W] stack, none across frames
_PER_FRAME_8 = np.zeros((3, 3, 3), bool)
_PER_FRAME_8[1] = True


def _components(mask: np.ndarray) -> np.ndarray:
    """Labels (0 = none) of the 8-connected components of each frame of ``mask`` [N, H, W] bool,
    unique across frames (numbered in scan order)."""
    from scipy import ndimage

    return ndimage.label(mask, structure=_PER_FRAME_8)[0]


def _dilate(mask: np.ndarray) -> np.ndarray:
    """3x3 dilation of each frame of an [N, H, W] bool array."""
    from scipy import ndimage

    return ndimage.binary_dilation(mask, structure=_PER_FRAME_8)


def _region_contacts(gray, times, end, pace, vi, wi, vo, wo, raw_in, raw_out) -> list[int]:
    """Frames (index into the middle frames 1..N-2, i.e. k - 1) where a moving region reverses or stops dead.

    A region is a connected set of blocks that move at frame k (joined when at most one block
    apart), with its arrival velocity (weighted mean of its blocks' ``vi``) and departure velocity
    (``vo``); both must be coherent (a translation, not a spin). A *reversal*: both at least
    REGION_MIN_SPEED, the change at least DV_DEADZONE and REVERSAL_RATIO of the speed moving
    (the camera's included), region weight at least REVERSAL_MIN_WEIGHT, and the same within one
    frame in the region's sub-pixel shifts (REVERSAL_SUBPIXEL; an apex's is spread over two). A *dead stop*: arriving
    at REGION_MIN_SPEED or more, leaving with under a quarter of that (or nothing left to
    follow), weight at least STOP_MIN_WEIGHT, and the region's picture then unchanged (no 4x4
    block by CHANGE_MIN) for STOP_HOLD_S. Judged on the region's own motion, a ball's last small
    bounces count next to its first big ones; a slide or a pan easing to rest has no arrival
    speed left, and a slow arc's apex has no hold.
    """
    found: set[int] = set()
    for c0 in range(0, len(wi), REGION_CHUNK):  # in chunks of frames: a long clip's labels stay small
        part = slice(c0, c0 + REGION_CHUNK)
        for k, blocks, kind in _region_candidates(vi[part], wi[part], vo[part], wo[part], raw_in[part], raw_out[part]):
            k += c0
            if kind == "reversal":
                pixels = _pixels(_dilate(_dilate(blocks[None]))[0], gray.shape[1:])
                v_a = _subpixel_shift(gray[k], gray[k + 1], pixels) / pace[k]
                v_b = _subpixel_shift(gray[k + 1], gray[k + 2], pixels) / pace[k + 1]
                if np.linalg.norm(v_b - v_a) >= REVERSAL_SUBPIXEL * (np.linalg.norm(v_a) + np.linalg.norm(v_b)):
                    found.add(k)
            elif k not in found and _stays_still(gray, times, end, k + 1, blocks):
                found.add(k)
    return sorted(found)


def _region_candidates(vi, wi, vo, wo, raw_in, raw_out):
    """(frame index, region blocks [by, bx] bool, "reversal" or "stop") of the regions whose block
    flow reverses or stops (see :func:`_region_contacts`), reversals first."""
    om = np.maximum(wi, wo)
    active = om > 0
    if not active.any():
        return []
    lab = _components(_dilate(active)) * active
    sel = lab > 0
    uniq, inv = np.unique(lab[sel], return_inverse=True)
    m = len(uniq)

    def total(x):
        return np.bincount(inv, weights=x[sel], minlength=m)

    w_i, w_o = total(wi), total(wo)
    mean_i = np.stack([total(wi * vi[..., c]) for c in (0, 1)], -1) / np.maximum(w_i, 1e-9)[:, None]
    mean_o = np.stack([total(wo * vo[..., c]) for c in (0, 1)], -1) / np.maximum(w_o, 1e-9)[:, None]
    s_i, s_o = np.linalg.norm(mean_i, axis=1), np.linalg.norm(mean_o, axis=1)
    coh_i = s_i / np.maximum(total(wi * np.linalg.norm(vi, axis=-1)) / np.maximum(w_i, 1e-9), 1e-9)
    coh_o = s_o / np.maximum(total(wo * np.linalg.norm(vo, axis=-1)) / np.maximum(w_o, 1e-9), 1e-9)
    raw = (total(wi * raw_in) / np.maximum(w_i, 1e-9)) + (total(wo * raw_out) / np.maximum(w_o, 1e-9))
    dv = np.linalg.norm(mean_o - mean_i, axis=1)
    reversal = ((w_i + w_o >= REVERSAL_MIN_WEIGHT) & (w_o > 0) & (coh_i >= REGION_COHERENCE)
                & (coh_o >= REGION_COHERENCE) & (np.minimum(s_i, s_o) >= REGION_MIN_SPEED)
                & (dv >= DV_DEADZONE) & (dv >= REVERSAL_RATIO * np.maximum(raw, s_i + s_o)))
    stop = ((w_i >= STOP_MIN_WEIGHT) & (s_i >= REGION_MIN_SPEED) & (coh_i >= REGION_COHERENCE)
            & ((w_o < 0.25 * w_i) | (s_o < 0.25 * s_i)))
    frame_of = np.empty(m, int)
    frame_of[inv] = np.nonzero(sel)[0]
    regions = [(int(frame_of[r]), lab[frame_of[r]] == uniq[r], "reversal") for r in np.flatnonzero(reversal)]
    return regions + [(int(frame_of[r]), lab[frame_of[r]] == uniq[r], "stop") for r in np.flatnonzero(stop & ~reversal)]


def _pixels(blocks: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Pixel mask [h, w] covered by the flow blocks ``blocks`` (block grid, BLOCK px at STRIDE)."""
    out = np.zeros(shape, bool)
    for y, x in zip(*np.nonzero(blocks)):
        out[STRIDE * y:STRIDE * y + BLOCK, STRIDE * x:STRIDE * x + BLOCK] = True
    return out


def _subpixel_shift(a: np.ndarray, b: np.ndarray, pixels: np.ndarray, iterations: int = 4) -> np.ndarray:
    """(dx, dy) px that the content under ``pixels`` moves from picture ``a`` to ``b``: iterated
    Lucas-Kanade (one translation for the whole region, ``b`` resampled bilinearly)."""
    gy, gx = np.gradient(0.5 * (a + b))
    ys, xs = np.nonzero(pixels)
    gxs, gys, base = gx[ys, xs], gy[ys, xs], a[ys, xs]
    normal = np.array([[gxs @ gxs, gxs @ gys], [gxs @ gys, gys @ gys]]) + 1e-6 * np.eye(2)
    h, w = a.shape
    v = np.zeros(2)
    for _ in range(iterations):
        x = np.clip(xs + v[0], 0, w - 1.001)
        y = np.clip(ys + v[1], 0, h - 1.001)
        x0, y0 = x.astype(int), y.astype(int)
        fx, fy = x - x0, y - y0
        warped = ((b[y0, x0] * (1 - fx) + b[y0, x0 + 1] * fx) * (1 - fy)
                  + (b[y0 + 1, x0] * (1 - fx) + b[y0 + 1, x0 + 1] * fx) * fy)
        step = -np.linalg.solve(normal, np.array([gxs @ (warped - base), gys @ (warped - base)]))
        v += step
        if np.abs(step).max() < 0.01:
            break
    return v


def _stays_still(gray, times, end, k, blocks) -> bool:
    """Whether the picture under ``blocks`` (flow-block grid of frame k, dilated by a block) stays
    unchanged (every 4x4 block by under CHANGE_MIN per pixel) from frame k for STOP_HOLD_S."""
    from numpy.lib.stride_tricks import sliding_window_view

    if end < times[k] + STOP_HOLD_S:
        return False  # the clip ends before the stop can be confirmed
    near = _dilate(blocks[None])[0]
    ys, xs = np.nonzero(near)
    inside = near[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
    rows = slice(STRIDE * ys.min(), STRIDE * ys.max() + BLOCK)
    cols = slice(STRIDE * xs.min(), STRIDE * xs.max() + BLOCK)
    for j in range(k + 1, len(times)):  # kept frames only: a dropped repeat did not change
        if times[j] > times[k] + STOP_HOLD_S:
            break
        diff = np.abs(gray[j, rows, cols] - gray[k, rows, cols])
        per_block = sliding_window_view(diff, (BLOCK, BLOCK))[::STRIDE, ::STRIDE].mean(axis=(2, 3))
        if (per_block[inside] >= CHANGE_MIN).any():
            return False
    return True


def _remove_camera(v: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Subtract the camera's motion where most of the picture moves together (pan, shake).

    When more than CAMERA_FRACTION of the blocks are measured (changed and matched), the
    median of their velocities is the camera's, and objects keep their motion relative to it:
    a pan that stops is not a contact, a ball hitting the floor during a pan still is.
    """
    v = v.copy()
    measured = w > 0
    for i in np.flatnonzero(measured.mean(axis=(1, 2)) > CAMERA_FRACTION):
        m = measured[i]
        v[i][m] -= np.median(v[i][m], axis=0)
    return v


def pick_peaks(x: np.ndarray, times: np.ndarray, threshold: float, min_gap: float) -> np.ndarray:
    """Indices of local maxima above ``threshold``, strongest first, at least ``min_gap`` s apart."""
    if x.size == 0:
        return np.zeros(0, int)
    left = np.concatenate([[-np.inf], x[:-1]])
    right = np.concatenate([x[1:], [-np.inf]])
    cand = np.flatnonzero((x >= threshold) & (x >= left) & (x > right))
    chosen: list[int] = []
    for i in cand[np.argsort(-x[cand], kind="stable")]:
        if all(abs(times[i] - times[j]) >= min_gap for j in chosen):
            chosen.append(int(i))
    return np.array(sorted(chosen), int)


# ---------------------------------------------------------------------------- E / D
def _envelope(n_frames: int, rate: float, onsets: np.ndarray, levels: np.ndarray, cal: TimingCalibration) -> np.ndarray:
    env = np.zeros(n_frames, np.float32)
    j = np.arange(n_frames)
    tau = cal.decay_s * rate
    for t, a in zip(onsets, levels):
        j0 = int(np.floor(t * rate + 1e-9))
        if j0 >= n_frames:
            continue
        k = j[max(j0, 0):] - j0
        env[max(j0, 0):] = np.maximum(env[max(j0, 0):], a * np.exp(-k / tau))
    return env


def predict_timing(frames: np.ndarray, fps: float, n_frames: int, mel: str = "hifigan22k",
                   calibration: TimingCalibration = CALIBRATION, *, times: np.ndarray | None = None
                   ) -> TimingPrediction:
    """E_t, D_t (length ``n_frames`` on ``mel``'s frame grid) from frames sampled at ``fps``.

    Frame ``i`` is at ``i / fps`` seconds from the clip start (or at ``times[i]`` when given,
    e.g. the native times of a VFR clip, relative to the clip start); mel frame ``j`` at
    ``j / frame_rate``. An onset at ``t`` raises E at mel frame ``floor(t * frame_rate)``.
    """
    cal = calibration
    cfg = get_mel_config(mel)
    rate = cfg.frame_rate
    n_frames = int(n_frames)
    if n_frames < 0:
        raise ValueError(f"n_frames must be >= 0, got {n_frames}")
    if not fps or fps <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
    frames = np.asarray(frames)
    n = frames.shape[0] if frames.ndim == 4 else 0
    if times is None:
        times = np.arange(n) / float(fps)
    times = np.asarray(times, np.float64)
    if times.shape != (n,):
        raise ValueError(f"times has shape {times.shape}; expected one time per frame ({n})")
    if n:
        ev = analyse_frames(frames, times, cal)
    else:
        ev = PictureEvents(np.zeros(0), np.zeros(0), np.zeros(0), np.zeros(0, bool))
    mt = np.arange(n_frames) / rate
    motion = np.interp(mt, ev.times, ev.motion).astype(np.float32) if n else np.zeros(n_frames, np.float32)

    idx = pick_peaks(ev.contact, ev.times, cal.onset_threshold, cal.min_gap_s)
    onsets = ev.times[idx]
    cuts = ev.times[ev.cut]
    strength = ev.contact[idx]
    top = max(float(strength.max()) if strength.size else 1.0, 1e-6)
    levels = cal.min_peak_e + (cal.peak_e - cal.min_peak_e) * np.clip(strength / top, 0, 1)
    hit = _envelope(n_frames, rate, onsets, levels - cal.floor_e, cal)
    cut_env = _envelope(n_frames, rate, cuts, np.full(cuts.shape, cal.cut_level * (cal.min_peak_e - cal.floor_e)), cal)
    mscale = max(float(np.percentile(ev.motion, 95)) if n else 0.0, 1.0)
    cont = cal.motion_gain * np.clip(motion / mscale, 0, 1)
    energy = np.clip(cal.floor_e + np.maximum(np.maximum(hit, cut_env), cont), 0, 1).astype(np.float32)
    lift = np.clip((energy - cal.floor_e) / max(cal.peak_e - cal.floor_e, 1e-6), 0, 1)
    spread = np.clip(cal.floor_d + (cal.peak_d - cal.floor_d) * lift, 0, 1).astype(np.float32)
    keep = onsets < n_frames / rate
    return TimingPrediction(energy, spread, motion, onsets[keep].astype(np.float64),
                            cuts[cuts < n_frames / rate].astype(np.float64), levels[keep].astype(np.float64))
