"""Recorded sounds onto the requested energy curve, at 48 kHz.

Contacts are the rises of E (:func:`segment.find_rises`, the frame that jumps). The motion
predictor raises E at frame ``floor(t * frame_rate)`` for a contact at ``t``, so a contact is
placed at the centre of its frame, ``(j + 0.5) / frame_rate`` (within 5.8 ms of any ``t`` the
curve can stand for; exact for a contact at a frame centre). Each gets one event whose
sample-accurate onset lands on the contact (a 2 ms pre-roll fades in before it; a 1 ms fade where the
file starts on the sound), gain from
the height of E's peak against the event's own peak E (E is log-mel in the spec's unit
scale: a shift of dE is a gain of exp(dE * span)), played until its own end, the next
contact or the curve's decay, with a 20 ms fade-out. Textures are looped with equal-power
crossfades and follow E frame by frame. Frames the artist erased (E ~ 0) are digital
silence; between contacts nothing sounds. Sources are read (only read) at their own rate
and resampled once to 48 kHz (soxr HQ); a file gone or changed since indexing fails the
clip with its name and the fix.
"""

from __future__ import annotations

import math
import os
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from ..mel import get_mel_config
from ..qcd import SILENT_E
from .index import LibraryFileError, LibraryIndex
from .segment import ENV_FRAMES, MIN_GAP_S, RISE, find_rises

OUT_RATE = 48000
MEL = "hifigan22k"
PRE_S = 0.002
FADE_IN_S = 0.001  # the shortest fade-in, where the file starts on the sound (no full pre-roll)
FADE_OUT_S = 0.02
TAIL_S = 0.3  # an event rings this long past the point where the curve has decayed
XFADE_S = 0.5
HEADROOM = 10 ** (-1.0 / 20)  # the mix never peaks above -1 dBFS
GAIN_RANGE_DB = (-40.0, 24.0)


def span() -> float:
    cfg = get_mel_config(MEL)
    return cfg.img_hi - cfg.img_lo


def gain_db(target_e: float, source_e: float) -> float:
    return float(np.clip(20 / math.log(10) * span() * (target_e - source_e), *GAIN_RANGE_DB))


@dataclass(frozen=True)
class Contact:
    frame: int
    peak: float  # E at the contact's peak
    floor: float  # E before it
    frames: int  # frames until the next contact (or the end)
    decayed: int  # frame where the curve has fallen back near its floor

    def shape(self, energy: np.ndarray) -> np.ndarray:
        seg = energy[self.frame:self.frame + ENV_FRAMES]
        seg = np.pad(seg, (0, ENV_FRAMES - seg.shape[0]), constant_values=self.floor)
        return np.clip((seg - self.floor) / max(self.peak - self.floor, 1e-3), 0, 1.5).astype(np.float32)


def contacts(energy: np.ndarray) -> list[Contact]:
    e = np.asarray(energy, np.float32)
    rate = get_mel_config(MEL).frame_rate
    js = find_rises(e, rise=RISE, min_gap=max(1, int(round(MIN_GAP_S * rate))))
    sounding = e[e > SILENT_E]
    # the clip's resting level: coming back to it from an erased (zero) span is no contact
    rest = float(np.percentile(sounding, 10)) if sounding.size else 0.0
    peaks = [j + int(np.argmax(e[j:j + 10])) for j in js]
    js = [j for j, pk in zip(js, peaks) if e[pk] >= rest + RISE]
    out = []
    for i, j in enumerate(js):
        nxt = js[i + 1] if i + 1 < len(js) else e.shape[0]
        pk = j + int(np.argmax(e[j:min(nxt, j + 10)]))
        floor = float(min(e[max(0, j - 3):j + 1].min(), e[j - 1] if j > 0 else e[j]))
        below = np.flatnonzero(e[pk:nxt] <= floor + 0.1 * (e[pk] - floor))
        out.append(Contact(j, float(e[pk]), floor, nxt - j, pk + int(below[0]) if below.size else nxt))
    return out


class SourceReader:
    """Decoded, resampled segments of library files, checked against the index, LRU-cached."""

    def __init__(self, index: LibraryIndex, capacity: int = 256):
        self.index, self.capacity = index, capacity
        self._cache: OrderedDict = OrderedDict()

    def check(self, row: dict) -> None:
        path = row["path"]
        try:
            st = os.stat(path)
        except OSError:
            self.index.mark_missing(path)
            raise LibraryFileError(f"library file {path} is gone since it was indexed; run `melfoley library "
                                   "rescan` (or restore the file / mount its drive)") from None
        if st.st_size != row["size"] or st.st_mtime_ns != row["mtime_ns"]:
            self.index.mark_missing(path)
            raise LibraryFileError(f"library file {path} changed since it was indexed; run `melfoley library "
                                   "rescan`")

    def read(self, row: dict, start_s: float, stop_s: float) -> tuple[np.ndarray, float]:
        """(mono float32 at 48 kHz, the exact start in s the first sample has in the file)."""
        key = (row["path"], round(start_s, 6), round(stop_s, 6))
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        self.check(row)
        import soundfile as sf
        import soxr

        sr = int(row["sample_rate"])
        a, b = max(0, int(round(start_s * sr))), max(0, int(round(stop_s * sr)))
        try:
            with sf.SoundFile(row["path"], "r") as fh:
                fh.seek(min(a, fh.frames))
                x = fh.read(max(0, b - a), dtype="float32", always_2d=True)
        except Exception as exc:
            raise LibraryFileError(f"cannot read library file {row['path']} ({exc}); run `melfoley library "
                                   "rescan`") from None
        x = x.mean(axis=1) if x.shape[1] > 1 else x[:, 0]
        if sr != OUT_RATE and x.size:
            x = soxr.resample(x, sr, OUT_RATE, quality="HQ").astype(np.float32)
        got = (np.ascontiguousarray(x, np.float32), a / sr)
        self._cache[key] = got
        if len(self._cache) > self.capacity:
            self._cache.popitem(last=False)
        return got


def _source(row: dict, offset: float, dur: float, g_db: float, at: float, kind: str) -> dict:
    return {"file": row["path"], "offset_s": round(offset, 6), "duration_s": round(dur, 6),
            "gain_db": round(g_db, 2), "at_s": round(at, 6), "kind": kind,
            "licence": row.get("licence") or "unknown (see your library's licence)",
            "attribution": row.get("attribution") or "", "sample_rate": int(row["sample_rate"]),
            "bandwidth_hz": float(row["bandwidth_hz"] or 0.0)}


def place_events(pool, picks: list[int], cons: list[Contact], energy: np.ndarray, n: int,
                 reader: SourceReader) -> tuple[np.ndarray, list[dict]]:
    rate = get_mel_config(MEL).frame_rate
    out = np.zeros(n, np.float32)
    sources = []
    for c, i in zip(cons, picks):
        row = pool.files[int(pool.file_ids[i])]
        t = (c.frame + 0.5) / rate  # the contact lies somewhere in frame j: its centre is off by 5.8 ms at most
        # it rings until its own end or the curve's decay (+ a tail), and gives way at the next contact
        stop_frame = min(c.frame + c.frames, c.decayed + int(TAIL_S * rate), len(energy))
        dur = min(float(pool.offset[i] - pool.onset[i]), stop_frame / rate - t - PRE_S)
        if dur <= 0.005:
            continue
        x, start = reader.read(row, pool.onset[i] - PRE_S, pool.onset[i] + dur)
        pre = int(round((pool.onset[i] - start) * OUT_RATE))
        g = gain_db(c.peak, float(pool.e_peak[i]))
        y = x * np.float32(10 ** (g / 20))
        # the fade-in covers the pre-roll; where the file starts on the sound (no room for a full pre-roll,
        # a tightly trimmed recording) it lasts at least FADE_IN_S: never a step
        k = pre if pre >= int(round(PRE_S * OUT_RATE)) else max(pre, int(FADE_IN_S * OUT_RATE))
        k = min(k, y.shape[0] // 4)
        if k > 0:
            y[:k] *= (0.5 - 0.5 * np.cos(np.linspace(0, np.pi, k, dtype=np.float32)))
        fo = min(int(FADE_OUT_S * OUT_RATE), y.shape[0] // 2)
        if fo > 0:
            y[-fo:] *= np.cos(np.linspace(0, np.pi / 2, fo, dtype=np.float32))
        at = int(round(t * OUT_RATE)) - pre
        lo, hi = max(0, at), min(n, at + y.shape[0])
        if hi > lo:
            out[lo:hi] += y[lo - at:hi - at]
            sources.append(_source(row, start, y.shape[0] / OUT_RATE, g, at / OUT_RATE, "event"))
    return out, sources


def equal_power_loop(x: np.ndarray, n: int, xfade: int) -> np.ndarray:
    """``x`` repeated to ``n`` samples, each seam an equal-power (sin/cos) crossfade of ``xfade``."""
    if x.shape[0] >= n:
        return x[:n].copy()
    xfade = int(min(xfade, x.shape[0] // 3))
    out = np.zeros(n + x.shape[0], np.float32)
    fade_in = np.sin(np.linspace(0, np.pi / 2, xfade, dtype=np.float32)) if xfade else np.zeros(0, np.float32)
    fade_out = np.cos(np.linspace(0, np.pi / 2, xfade, dtype=np.float32)) if xfade else np.zeros(0, np.float32)
    pos, first = 0, True
    while pos < n:
        seg = x.copy()
        if not first and xfade:
            seg[:xfade] *= fade_in
        seg[-xfade:] *= fade_out if xfade else 1.0
        out[pos:pos + seg.shape[0]] += seg
        pos += seg.shape[0] - xfade
        first = False
    return out[:n]


def place_texture(pool, pick: int, energy: np.ndarray, n: int, reader: SourceReader, seed: int
                  ) -> tuple[np.ndarray, list[dict]]:
    rate = get_mel_config(MEL).frame_rate
    row = pool.files[int(pool.file_ids[pick])]
    a, b = float(pool.onset[pick]), float(pool.offset[pick])
    need = n / OUT_RATE + XFADE_S
    rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, 0x5EED])
    if b - a > need:  # long enough: a seeded excerpt, no seam
        a = a + float(rng.uniform(0, b - a - need))
        b = a + need
    x, start = reader.read(row, a, b)
    y = equal_power_loop(x, n, int(XFADE_S * OUT_RATE))
    e = np.asarray(energy, np.float64)
    g = np.clip(20 / math.log(10) * span() * (e - float(pool.e_peak[pick])), *GAIN_RANGE_DB)
    g_lin = 10 ** (g / 20)
    tf = np.arange(e.shape[0]) / rate
    ts = np.arange(n) / OUT_RATE
    curve = np.interp(ts, tf, g_lin).astype(np.float32)
    k = int(0.02 * OUT_RATE)
    curve = np.convolve(np.pad(curve, (k // 2, k - k // 2 - 1), mode="edge"), np.ones(k, np.float32) / k, "valid")
    y = y * curve
    src = _source(row, start, min(x.shape[0], n) / OUT_RATE, float(np.median(g)), 0.0, "texture")
    src["looped"] = bool(x.shape[0] < n)
    if src["looped"]:  # where stem time t reads the file: offset_s + t mod loop_period_s (and the seam's crossfade)
        xf = int(min(int(XFADE_S * OUT_RATE), x.shape[0] // 3))
        src["loop_period_s"] = round((x.shape[0] - xf) / OUT_RATE, 6)
        src["loop_crossfade_s"] = round(xf / OUT_RATE, 6)
    return y.astype(np.float32), [src]


def finish(y: np.ndarray, energy: np.ndarray, sources: list[dict]) -> np.ndarray:
    """Erased frames to digital silence, the mix under -1 dBFS (the sources' gains say so)."""
    rate = get_mel_config(MEL).frame_rate
    silent = np.asarray(energy) <= SILENT_E
    if silent.any() and y.size:
        idx = np.minimum((np.arange(y.shape[0]) * (rate / OUT_RATE)).astype(np.int64), silent.shape[0] - 1)
        gate = (~silent[idx]).astype(np.float32)
        gate = np.minimum(gate, np.convolve(gate, np.ones(64, np.float32) / 64, mode="same"))  # ramps stay inside
        y = y * gate
    peak = float(np.abs(y).max(initial=0.0))
    if peak > HEADROOM:
        r = HEADROOM / peak
        y = y * np.float32(r)
        for s in sources:
            s["gain_db"] = round(s["gain_db"] + 20 * math.log10(r), 2)
    return y.astype(np.float32)
