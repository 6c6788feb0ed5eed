"""One library file -> its sound events, on the QCD energy of the hifigan22k front-end.

Per file: the mono mix at 22.05 kHz is decomposed (``qcd.decompose``); E_t is the curve the
engine matches against. Events are sharp rises of E (onset refined to the sample on the
file's own rate), each with its offset, attack and decay times, the E shape of its first
:data:`ENV_FRAMES` frames (the envelope the selector fits to the requested one), its code
histogram, peak E, peak and RMS level. Long steady files (E stays up with little variation)
are marked as textures instead: one texture event over the steady span. Per file too: the
true bandwidth (the highest frequency with content within 70 dB of the spectrum's peak; a
22.05 kHz file never claims more than 11.025 kHz) and the level where it sounds (RMS dBFS).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .. import qcd
from ..mel import get_mel_config, log_mel

MEL = "hifigan22k"
#: bump when the analysis or the searchable text changes (the starter index is rebuilt)
ANALYSIS_VERSION = 4
ENV_FRAMES = 43  # ~0.5 s of E after an onset: the shape the selector compares
RISE = 0.05  # E rise (unit scale) within RISE_FRAMES that starts an event
RISE_FRAMES = 3
MIN_GAP_S = 0.06
MAX_EVENT_S = 6.0
TEXTURE_MIN_S = 3.0
TEXTURE_STD = 0.08  # E standard deviation over the steady span, at most
TEXTURE_COVER = 0.6  # share of the file E stays up over, at least
BANDWIDTH_DB = 70.0


@dataclass
class EventInfo:
    kind: int  # 0 event, 1 texture
    onset: float  # s in the file, sample-accurate
    offset: float
    attack: float
    decay: float
    e_peak: float  # peak E (texture: mean E) in unit scale
    peak_db: float
    rms_db: float
    env: np.ndarray  # [ENV_FRAMES] float32, (E - floor) / (peak - floor)
    hist: np.ndarray  # [2, 81] uint8, code counts scaled to 255


@dataclass
class FileAnalysis:
    sample_rate: int
    channels: int
    frames: int
    duration: float
    bandwidth_hz: float
    loudness_db: float | None  # RMS dBFS where it sounds
    texture: bool
    events: list[EventInfo] = field(default_factory=list)


def mono(data: np.ndarray) -> np.ndarray:
    if data.ndim == 1:
        return data
    return data @ np.full(data.shape[1], 1.0 / data.shape[1], data.dtype)  # a BLAS dot: 10x a mean over axis 1


def true_bandwidth(x: np.ndarray, sr: int) -> float:
    """Highest frequency whose smoothed power is within :data:`BANDWIDTH_DB` of the peak (Hz)."""
    n = 4096 if sr > 64000 else 2048
    if x.shape[0] < n:
        x = np.pad(x, (0, n - x.shape[0]))
    hop = max(n, (x.shape[0] - n) // 48)
    starts = np.arange(0, x.shape[0] - n + 1, hop)[:48]
    frames = np.stack([x[s:s + n] for s in starts]) * np.hanning(n)
    p = (np.abs(np.fft.rfft(frames, axis=1)) ** 2).mean(axis=0)
    p = np.convolve(p, np.ones(9) / 9, mode="same")
    if p.max() <= 0:
        return 0.0
    above = np.flatnonzero(p >= p.max() * 10 ** (-BANDWIDTH_DB / 10))
    return float(min(above[-1] * sr / n, sr / 2))


def active_level(y: np.ndarray, e: np.ndarray, floor: float, peak: float, hop: int) -> float | None:
    """RMS level (dBFS) over the frames where E is up (above a quarter of its range): the file's loudness
    when it sounds, unaffected by its silences (BS.1770 gating in spirit, at a tenth of pyloudnorm's cost)."""
    up = np.flatnonzero(e >= floor + 0.25 * (peak - floor))
    if up.size == 0:
        return None
    idx = (up[:, None] * hop + np.arange(hop)[None, :]).reshape(-1)
    idx = idx[idx < y.shape[0]]
    return _db(np.sqrt(np.mean(y[idx].astype(np.float64) ** 2))) if idx.size else None


def energy_curve(x: np.ndarray, sr: int):
    """(E [T], codes [2, T], the 22.05 kHz signal) of a mono signal on the hifigan22k grid."""
    import soxr
    import torch

    cfg = get_mel_config(MEL)
    # timing only needs the band below 8 kHz: soxr's medium quality is plenty and 3x faster
    y = soxr.resample(x.astype(np.float32), sr, cfg.sample_rate, quality="MQ") if sr != cfg.sample_rate else x
    y = np.asarray(y, np.float32)
    if y.shape[0] < cfg.n_fft:
        y = np.pad(y, (0, cfg.n_fft - y.shape[0]))
    with torch.inference_mode():
        e, _, s = qcd.decompose(log_mel(torch.from_numpy(y), cfg), cfg)
        codes = qcd.encode(s)
    return e.numpy().astype(np.float32), codes.numpy().astype(np.uint8), y


def find_rises(e: np.ndarray, rise: float = RISE, rise_frames: int = RISE_FRAMES, min_gap: int = 5) -> list[int]:
    """Frames where E starts a rise of at least ``rise`` within ``rise_frames`` frames.

    The frame returned is the first frame that climbs (for the motion predictor's one-frame
    hits, exactly the contact's frame; E before the clip counts as E[0]). Shared by the
    segmenter (library files) and the placer (the requested curve).
    """
    e = np.asarray(e, np.float32)
    n = e.size
    if n == 0:
        return []
    pad = np.concatenate([np.full(rise_frames, e[0], np.float32), e])
    lows = np.min(np.stack([pad[k:k + n] for k in range(rise_frames)]), axis=0)
    hit = (e - lows) >= rise
    step = e - pad[rise_frames - 1:rise_frames - 1 + n]  # e[j] - e[j-1]
    out: list[int] = []
    j = 0
    while j < n:
        if not hit[j]:
            j += 1
            continue
        start = j
        for k in range(j - 1, max(-1, j - rise_frames), -1):
            if step[k] > rise * 0.25:
                start = k
            else:
                break
        if step[start] <= rise * 0.25:  # the jump itself is the frame after a flat one
            start = j
        if not out or start - out[-1] >= min_gap:
            out.append(start)
        while j < n and hit[j]:
            j += 1
    return out


def _refine_onset(x: np.ndarray, sr: int, t0: float) -> float:
    """The first sample near ``t0`` where |x| reaches 20 % of the local peak."""
    lo = max(0, int((t0 - 0.03) * sr))
    hi = min(x.shape[0], int((t0 + 0.06) * sr))
    seg = np.abs(x[lo:hi])
    if seg.size == 0 or seg.max() <= 0:
        return t0
    return (lo + int(np.argmax(seg >= 0.2 * seg.max()))) / sr


def analyse(data: np.ndarray, sr: int) -> FileAnalysis:
    """Analyse decoded audio [samples] or [samples, channels] at ``sr``."""
    cfg = get_mel_config(MEL)
    channels = 1 if data.ndim == 1 else int(data.shape[1])
    x = mono(np.asarray(data, np.float32))
    n = x.shape[0]
    dur = n / sr
    bw = true_bandwidth(x, sr)
    e, codes, y = energy_curve(x, sr)
    rate = cfg.frame_rate
    T = e.shape[0]
    floor = float(np.percentile(e, 5)) if T else 0.0
    peak = float(e.max()) if T else 0.0
    res = FileAnalysis(sr, channels, n, dur, bw, active_level(y, e, floor, peak, cfg.hop_length), False)
    if peak - floor < 0.02 or float(np.abs(x).max(initial=0.0)) <= 1e-6:
        return res  # silent or flat: nothing to place
    lvl = floor + 0.5 * (peak - floor)
    up = np.flatnonzero(e >= floor + 0.25 * (peak - floor))
    span = (up[0], up[-1] + 1) if up.size else (0, 0)
    steady = e[span[0]:span[1]]
    if (dur >= TEXTURE_MIN_S and steady.size and up.size / T >= TEXTURE_COVER
            and float(np.std(steady)) <= TEXTURE_STD and float(np.mean(steady >= lvl - 0.05)) >= 0.7):
        return _texture(res, x, sr, e, codes, span, floor, peak)
    rises = find_rises(e, rise=max(RISE, 0.2 * (peak - floor)), min_gap=int(MIN_GAP_S * rate))
    if not rises and dur >= TEXTURE_MIN_S and up.size:  # long and without hits: a (less steady) texture
        return _texture(res, x, sr, e, codes, span, floor, peak)
    if not rises:  # a short file that opens loud: its start is the event
        rises = [int(up[0]) if up.size else 0]
    rises = gestures(e, rises, floor, rate)
    for i, j0 in enumerate(rises):
        nxt = rises[i + 1] if i + 1 < len(rises) else T
        stop = min(nxt, j0 + int(MAX_EVENT_S * rate), T)
        pk = j0 + int(np.argmax(e[j0:stop]))
        ep = float(e[pk])
        if ep - floor < 0.02:
            continue
        below = np.flatnonzero(e[pk:stop] <= floor + 0.1 * (ep - floor))
        end = pk + int(below[0]) + 1 if below.size else stop
        dec = np.flatnonzero(e[pk:end] <= floor + (ep - floor) / np.e)
        onset = _refine_onset(x, sr, j0 / rate)
        offset = min(end / rate, dur)
        if offset - onset < 0.02:
            continue
        seg = x[int(onset * sr):int(offset * sr)]
        res.events.append(EventInfo(0, onset, offset, max(0.0, pk / rate - onset),
                                    float(dec[0]) / rate if dec.size else (end - pk) / rate, ep,
                                    _db(np.abs(seg).max()), _db(np.sqrt(np.mean(seg ** 2))),
                                    _env(e, j0, floor, ep), _hist(codes[:, j0:end])))
    return res


def gestures(e: np.ndarray, rises: list[int], floor: float, rate: float) -> list[int]:
    """Rises that start a sound: a rise while the previous one still sounds (E never fell below a
    third of its height in between, within :data:`MAX_EVENT_S`) is that sound's own inner onset
    (glass shards, a door's rattle) and stays inside it."""
    out: list[int] = []
    for j in rises:
        if out:
            a = out[-1]
            height = float(e[a:j].max()) - floor
            if j - a < MAX_EVENT_S * rate and float(e[a:j][int(0.03 * rate):].min(initial=np.inf)) > floor + height / 3:
                continue
        out.append(j)
    return out


def _texture(res: FileAnalysis, x, sr, e, codes, span, floor, peak) -> FileAnalysis:
    rate = get_mel_config(MEL).frame_rate
    res.texture = True
    a, b = span[0] / rate, min(span[1] / rate, res.duration)
    seg = x[int(a * sr):int(b * sr)]
    res.events.append(EventInfo(1, a, b, 0.0, 0.0, float(np.mean(e[span[0]:span[1]])), _db(np.abs(seg).max()),
                                _db(np.sqrt(np.mean(seg ** 2))), _env(e, span[0], floor, peak),
                                _hist(codes[:, span[0]:span[1]])))
    return res


def _db(v: float) -> float:
    return float(20 * np.log10(max(float(v), 1e-10)))


def _env(e: np.ndarray, j0: int, floor: float, peak: float) -> np.ndarray:
    seg = e[j0:j0 + ENV_FRAMES]
    seg = np.pad(seg, (0, ENV_FRAMES - seg.shape[0]), constant_values=floor)
    return np.clip((seg - floor) / max(peak - floor, 1e-3), 0, 1.5).astype(np.float32)


def _hist(codes: np.ndarray) -> np.ndarray:
    h = np.zeros((qcd.GROUPS, qcd.CODES_PER_GROUP), np.float64)
    for g in range(qcd.GROUPS):
        h[g] = np.bincount(codes[g].astype(np.int64), minlength=qcd.CODES_PER_GROUP)[: qcd.CODES_PER_GROUP]
    m = h.max()
    return np.round(h / m * 255).astype(np.uint8) if m > 0 else h.astype(np.uint8)
