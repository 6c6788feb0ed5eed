"""Bench-side scorers of rendered stems: an independent onset detector, sync, silence, noise floor.

The onset detector is librosa's (spectral flux of a log-mel spectrogram, ``onset_detect``
with its default peak picker and backtracking to the preceding energy minimum), not
melfoley's own ``core.onsets`` / ``core.motion``. Two things are added around it, both
set on synthetic signals only:
- a level gate: the spectrogram is floored at the level of -70 dBFS white noise, so what
  lies under the silence goal never counts as an onset;
- a bias: the median error on ideal decaying noise bursts at known times is subtracted.

Sync scoring (one-to-one matching within +-50 ms, ``core.onsets.match_onsets``): onsets
that are not matched but fall within ``INNER_S`` after a true contact are the recorded
event's own inner onsets (a glass's shards, a door's rattle), not false hits; every other
unmatched onset is a false hit. Silence is the RMS over the spans where nothing touches,
leaving a guard of ``GUARD_BEFORE_S`` before and ``TAIL_S`` after each contact (the
contact's own ring-out).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from melfoley.core.onsets import match_onsets

TOL_S = 0.05
INNER_S = 0.25
GUARD_BEFORE_S = 0.05
TAIL_S = 0.5
FLOOR_DBFS = -70.0
HOP_S = 0.0025
NOISE_WIN_S = 0.05
NOISE_CLEAR_S = 0.3

_CACHE: dict = {}


def _logmel(y: np.ndarray, sr: int) -> np.ndarray:
    import librosa

    hop = max(1, int(round(sr * HOP_S)))
    s = librosa.feature.melspectrogram(y=np.asarray(y, np.float32), sr=sr, n_fft=1024, hop_length=hop, n_mels=64,
                                       fmax=sr / 2, power=2.0)
    key = ("floor", sr)
    if key not in _CACHE:  # the mel power of -70 dBFS white noise, per band
        rng = np.random.default_rng(0)
        noise = rng.standard_normal(sr).astype(np.float32) * 10 ** (FLOOR_DBFS / 20)
        _CACHE[key] = librosa.feature.melspectrogram(y=noise, sr=sr, n_fft=1024, hop_length=hop, n_mels=64,
                                                     fmax=sr / 2, power=2.0).mean(axis=1, keepdims=True)
    return 10 * np.log10(np.maximum(s, _CACHE[key]))


def _raw_onsets(y: np.ndarray, sr: int) -> np.ndarray:
    import librosa

    y = np.asarray(y, np.float32)
    if y.size < 2048 or not np.any(y):
        return np.zeros(0)
    hop = max(1, int(round(sr * HOP_S)))
    db = _logmel(y, sr)
    if np.ptp(db) < 1e-6:  # everything under the gate
        return np.zeros(0)
    env = librosa.onset.onset_strength(S=db, sr=sr, hop_length=hop, lag=2, max_size=1)
    rms = librosa.feature.rms(y=y, frame_length=1024, hop_length=hop)[0]
    frames = librosa.onset.onset_detect(onset_envelope=env, sr=sr, hop_length=hop, backtrack=True,
                                        energy=rms, units="frames")
    return librosa.frames_to_time(frames, sr=sr, hop_length=hop)


def detector_bias(sr: int = 48000) -> float:
    """Seconds the detector reports late (+) or early (-) on ideal decaying noise bursts at known times."""
    key = ("bias", sr)
    if key not in _CACHE:
        rng = np.random.default_rng(0)
        y = np.zeros(sr * 6, np.float32)
        times = np.arange(0.3, 5.6, 0.41)
        for k, t in enumerate(times):
            i, n = int(round(t * sr)), int(0.15 * sr)
            burst = rng.standard_normal(n).astype(np.float32) * np.exp(-np.arange(n) / (0.03 * sr))
            y[i:i + n] += burst * (0.5 if k % 2 else 0.05)
        errs, *_ = match_onsets(_raw_onsets(y, sr), times, tol=TOL_S)
        _CACHE[key] = float(np.median(errs)) if errs else 0.0
    return _CACHE[key]


def detect_onsets(y: np.ndarray, sr: int) -> np.ndarray:
    """Onset times (s) in a stem: librosa's detector, level-gated at -70 dBFS, bias removed."""
    return _raw_onsets(y, sr) - detector_bias(sr)


def _near(t: float, contacts, before: float, after: float) -> bool:
    return any(c - before <= t <= c + after for c in contacts)


def _span_mask(n: int, sr: int, spans, contacts) -> np.ndarray:
    """Samples inside the spans, minus [contact - GUARD_BEFORE_S, contact + TAIL_S] around every contact."""
    m = np.zeros(n, bool)
    for a, b, *_ in spans:
        m[max(0, int(a * sr)):min(n, int(b * sr))] = True
    for c in contacts:
        m[max(0, int((c - GUARD_BEFORE_S) * sr)):min(n, int((c + TAIL_S) * sr))] = False
    return m


def db(x: float) -> float:
    return float(20 * np.log10(x)) if x > 0 else float("-inf")


@dataclass
class SyncTally:
    """Pooled sync and silence figures over many stems."""

    errors: list[float] = field(default_factory=list)
    contacts: int = 0
    matched: int = 0
    inner: int = 0
    false_hits: int = 0
    free_s: float = 0.0  # seconds away from every contact (for false hits per minute)
    quiet_sq: float = 0.0  # sum of squares over no-touch samples
    quiet_n: int = 0
    quiet_by: dict = field(default_factory=dict)  # what -> [sum sq, n]
    noise_rms: list[float] = field(default_factory=list)  # 50 ms RMS away from events
    late: list[bool] = field(default_factory=list)  # late contacts heard or not
    hits_by: dict = field(default_factory=dict)  # what -> onsets inside that no-touch span (guards left out)
    span_db: list[float] = field(default_factory=list)  # RMS dBFS of every no-touch span (guards left out)

    def add(self, y: np.ndarray, sr: int, contacts, quiet, late_from: int | None = None) -> dict:
        """Score one stem; ``late_from``: contacts from this index on are also tallied as late (quiet) ones."""
        y = np.asarray(y, np.float64)
        contacts = list(contacts)
        onsets = detect_onsets(y, sr)
        errs, tp, _, fn = match_onsets(onsets, contacts, tol=TOL_S)
        matched_pred, hit = set(), []
        for c in contacts:  # which predictions match_onsets used (same greedy rule), and which contacts got one
            d = np.abs(onsets - c)
            got = False
            for i in np.argsort(d, kind="stable"):
                if d[i] > TOL_S:
                    break
                if int(i) not in matched_pred:
                    matched_pred.add(int(i))
                    got = True
                    break
            hit.append(got)
        self.late += hit[late_from:] if late_from is not None else []
        rest = [t for i, t in enumerate(onsets) if i not in matched_pred]
        inner = [t for t in rest if _near(t, contacts, 0.0, INNER_S)]
        false = [t for t in rest if not _near(t, contacts, 0.0, INNER_S)]
        self.errors += errs
        self.contacts += len(contacts)
        self.matched += tp
        self.inner += len(inner)
        self.false_hits += len(false)
        dur = y.shape[0] / sr
        near = sum(min(dur, c + INNER_S) - max(0.0, c - TOL_S) for c in contacts)
        self.free_s += max(0.0, dur - near)
        for a, b, what in quiet:
            m = _span_mask(y.shape[0], sr, [(a, b)], contacts)
            inside = [t for t in onsets if 0 <= int(t * sr) < m.shape[0] and m[int(t * sr)]]
            self.hits_by[what] = self.hits_by.get(what, 0) + len(inside)
            s = self.quiet_by.setdefault(what, [0.0, 0])
            s[0] += float(np.sum(y[m] ** 2))
            s[1] += int(m.sum())
            if m.sum() >= int(0.05 * sr):  # spans the guards leave at least 50 ms of
                self.span_db.append(db(float(np.sqrt(np.mean(y[m] ** 2)))))
        m = _span_mask(y.shape[0], sr, quiet, contacts)
        self.quiet_sq += float(np.sum(y[m] ** 2))
        self.quiet_n += int(m.sum())
        w = int(NOISE_WIN_S * sr)
        for k in range(y.shape[0] // w):
            centre = (k + 0.5) * NOISE_WIN_S
            if not _near(centre, contacts, NOISE_CLEAR_S, NOISE_CLEAR_S):
                self.noise_rms.append(float(np.sqrt(np.mean(y[k * w:(k + 1) * w] ** 2))))
        return {"onsets": len(onsets), "matched": tp, "missed": fn, "inner": len(inner), "false": len(false)}

    # ------------------------------------------------------------------ figures
    def recall(self) -> float:
        return self.matched / self.contacts if self.contacts else float("nan")

    def late_recall(self) -> float:
        return float(np.mean(self.late)) if self.late else float("nan")

    def median_ms(self) -> float:
        return float(np.median(np.abs(self.errors)) * 1000) if self.errors else float("nan")

    def signed_median_ms(self) -> float:
        """Median of (onset - contact): positive = late."""
        return float(np.median(self.errors) * 1000) if self.errors else float("nan")

    def false_per_min(self) -> float:
        return self.false_hits / (self.free_s / 60) if self.free_s > 0 else float("nan")

    def quiet_dbfs(self) -> float:
        return db(np.sqrt(self.quiet_sq / self.quiet_n)) if self.quiet_n else float("nan")

    def silent_spans(self, goal: float = -70.0) -> str:
        """How many no-touch spans are at or under ``goal`` dBFS, as "k/n"."""
        return f"{sum(v <= goal for v in self.span_db)}/{len(self.span_db)}"

    def quiet_dbfs_by(self) -> dict[str, float]:
        return {k: db(np.sqrt(s / n)) for k, (s, n) in sorted(self.quiet_by.items()) if n}

    def noise_floor_dbfs(self) -> float:
        return db(float(np.percentile(self.noise_rms, 10))) if self.noise_rms else float("nan")
