"""Playback across clips: the Foley lanes of an edit mixed into one buffer over a time range.

Each clip contributes its kept take (or, before one is kept, the take being auditioned for
the selected clip, else take 1) at its record position, with its gain, fades and nudge
applied by :func:`melfoley.core.levels.place_take`, the function the stems are written
with, so what plays is what exports. Takes are resampled once to the mix rate and cached.
Pure numpy: no widgets.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MIX_RATE = 48000


@dataclass(frozen=True)
class LaneItem:
    clip_id: str
    start: float       # record offset of the clip, seconds from the edit's start
    duration: float
    take: object       # engine Take (audio, sample_rate)
    placement: dict    # gain_db, fade_in, fade_out, nudge


class EditMixer:
    def __init__(self, rate: int = MIX_RATE):
        self.rate = rate
        self._cache: dict[tuple, np.ndarray] = {}

    def placed(self, item: LaneItem) -> np.ndarray:
        """The take as the stem will hold it, at the mix rate, exactly the clip's length."""
        from melfoley.core.audio import resample
        from melfoley.core.levels import place_take

        key = (id(item.take), tuple(sorted(item.placement.items())), round(item.duration, 6))
        if key not in self._cache:
            x = resample(np.asarray(item.take.audio, np.float32).reshape(-1), int(item.take.sample_rate), self.rate)
            n = int(round(item.duration * self.rate))
            x = x[:n] if x.shape[0] >= n else np.pad(x, (0, n - x.shape[0]))
            self._cache[key] = place_take(x, self.rate, **item.placement)
            while len(self._cache) > 512:
                self._cache.pop(next(iter(self._cache)))
        return self._cache[key]

    def mix(self, items: list[LaneItem], start: float, end: float) -> np.ndarray:
        """Sum of the items over [start, end) seconds of the edit, float32 at the mix rate."""
        n = max(0, int(round((end - start) * self.rate)))
        out = np.zeros(n, np.float32)
        for it in items:
            if it.start >= end or it.start + it.duration <= start:
                continue
            x = self.placed(it)
            a = int(round((it.start - start) * self.rate))
            lo, hi = max(0, a), min(n, a + x.shape[0])
            if hi > lo:
                out[lo:hi] += x[lo - a:hi - a]
        return out
