"""Semantic code prior: (sound event(s), energy path) -> the two 81-class code streams.

A count-based model learned from the corpus train split (``melfoley train prior``): for
each code group g, the next code is drawn from an interpolation of

- the event's bigram ``counts[event, prev, cur]`` (how this event's spectral shape moves
  frame to frame), smoothed towards
- ``global_bigram[ebin, prev, cur]`` (all events pooled, at this loudness: the energy path
  is quantised into a few bins, so quiet tails and silence get their own codes) with a
  Dirichlet prior of strength ``beta``: p = (n_e(prev, cur) + beta * g(cur | prev, ebin)) /
  (n_e(prev) + beta);
- mixed with weight ``mix_unigram`` with ``unigram[event, ebin, cur]`` (which shapes the
  event has at this loudness);

``beta`` and ``mix_unigram`` are chosen on the validation split by log-likelihood (the
training command prints the comparison that justifies the model). Several events blend by the
prompt-match weights. Sampling is ancestral, vectorised over groups, seeded.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from . import qcd
from .errors import WeightsError

K = qcd.CODES_PER_GROUP
G = qcd.GROUPS


@dataclass(frozen=True)
class PriorConfig:
    labels: tuple[str, ...] = ()
    #: upper edges of the energy bins (the last bin is open)
    energy_edges: tuple[float, ...] = (0.05, 0.35, 0.45, 0.55)
    beta: float = 20.0  # Dirichlet strength of the global bigram behind each event's bigram
    mix_unigram: float = 0.1
    alpha: float = 0.05  # additive smoothing of the pooled tables
    temperature: float = 1.0

    @classmethod
    def from_json_dict(cls, obj: dict) -> "PriorConfig":
        kw = {k: tuple(v) if isinstance(v, list) else v for k, v in obj.items() if k in cls.__dataclass_fields__}
        return cls(**kw)


def energy_bins(energy: np.ndarray, edges) -> np.ndarray:
    return np.searchsorted(np.asarray(edges), np.asarray(energy), side="right").astype(np.int64)


@dataclass
class CodePrior:
    config: PriorConfig
    counts: np.ndarray  # [G, n_events, K, K] event bigram counts (prev -> cur)
    unigram: np.ndarray  # [G, n_events, n_bins, K]
    global_bigram: np.ndarray  # [G, n_bins, K, K]
    extra: dict = field(default_factory=dict)

    @property
    def labels(self) -> tuple[str, ...]:
        return self.config.labels

    # ------------------------------------------------------------------ fitting
    @classmethod
    def fit(cls, sequences: list[tuple[int, np.ndarray, np.ndarray]], config: PriorConfig) -> "CodePrior":
        """``sequences``: (event index, codes [2, T], energy [T]) per training clip."""
        n_ev, n_bins = len(config.labels), len(config.energy_edges) + 1
        bi = np.zeros((G, n_ev, K, K))
        uni = np.zeros((G, n_ev, n_bins, K))
        gbi = np.zeros((G, n_bins, K, K))
        for ev, codes, energy in sequences:
            b = energy_bins(energy, config.energy_edges)
            codes = np.asarray(codes, np.int64)
            for g in range(G):
                c = codes[g]
                np.add.at(uni[g, ev], (b, c), 1.0)
                if c.shape[0] > 1:
                    np.add.at(bi[g, ev], (c[:-1], c[1:]), 1.0)
                    np.add.at(gbi[g], (b[1:], c[:-1], c[1:]), 1.0)
        a = config.alpha

        def norm(x):
            x = x + a
            return (x / x.sum(-1, keepdims=True)).astype(np.float32)

        return cls(config, bi.astype(np.float32), norm(uni), norm(gbi))

    def with_params(self, beta: float, mix_unigram: float) -> "CodePrior":
        from dataclasses import replace

        return CodePrior(replace(self.config, beta=float(beta), mix_unigram=float(mix_unigram)), self.counts,
                         self.unigram, self.global_bigram, self.extra)

    # ------------------------------------------------------------------ scoring
    def log_likelihood(self, ev: int, codes: np.ndarray, energy: np.ndarray) -> tuple[float, int]:
        """Total natural-log likelihood of a clip's codes (both groups) and the number of codes scored."""
        beta, m = self.config.beta, self.config.mix_unigram
        bins = energy_bins(energy, self.config.energy_edges)
        codes = np.asarray(codes, np.int64)
        total = 0.0
        for g in range(G):
            cur, prev, eb = codes[g, 1:], codes[g, :-1], bins[1:]
            cnt = self.counts[g, ev]
            pb = (cnt[prev, cur] + beta * self.global_bigram[g, eb, prev, cur]) / (cnt[prev].sum(-1) + beta)
            p = (1 - m) * pb + m * self.unigram[g, ev, eb, cur]
            total += float(np.log(p).sum())
        return total, 2 * max(0, codes.shape[1] - 1)

    # ------------------------------------------------------------------ sampling
    def sample(self, weights: np.ndarray, energy: np.ndarray, seed: int, temperature: float | None = None) -> np.ndarray:
        """Codes [2, T] for blended event ``weights`` [n_events] along the energy path ``energy`` [T]."""
        w = np.asarray(weights, np.float64)
        w = w / w.sum() if w.sum() > 0 else np.full(len(self.labels), 1.0 / len(self.labels))
        temp = self.config.temperature if temperature is None else temperature
        bins = energy_bins(np.asarray(energy), self.config.energy_edges)
        T = bins.shape[0]
        out = np.empty((G, T), np.uint8)
        if T == 0:
            return out
        rng = np.random.default_rng(int(seed) & 0xFFFFFFFF)
        beta, m = self.config.beta, self.config.mix_unigram
        active = np.nonzero(w > 1e-4)[0]
        wa = w[active]
        cnt = self.counts[:, active]  # [G, e, K, K]
        rows = cnt.sum(-1)  # [G, e, K]
        uni = np.einsum("e,gebk->gbk", wa, self.unigram[:, active])  # [G, n_bins, K]
        u = rng.random((T, G))
        gi, ei = np.arange(G)[:, None], np.arange(len(active))[None, :]
        prev = None
        for t in range(T):
            eb = bins[t]
            if prev is None:
                p = uni[:, eb, :]
            else:
                glob = self.global_bigram[np.arange(G), eb, prev, :]  # [G, K]
                c = cnt[gi, ei, prev[:, None], :]  # [G, e, K]
                pb = (c + beta * glob[:, None, :]) / (rows[gi, ei, prev[:, None]][..., None] + beta)
                p = (1 - m) * np.einsum("e,gek->gk", wa, pb) + m * uni[:, eb, :]
            if temp != 1.0:
                p = p ** (1.0 / max(temp, 1e-3))
            cdf = np.cumsum(p, axis=1)
            cur = (cdf < (u[t] * cdf[:, -1])[:, None]).sum(axis=1).clip(0, K - 1)
            out[:, t] = cur
            prev = cur
        silent = energy <= qcd.SILENT_E
        out[:, silent] = qcd.SILENT_CODE
        return out

    # ------------------------------------------------------------------ persistence
    def save(self, folder: Path) -> Path:
        from safetensors.numpy import save_file

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "prior.safetensors"
        save_file({"counts": self.counts.astype(np.float32), "unigram": self.unigram.astype(np.float16),
                   "global_bigram": self.global_bigram.astype(np.float16)}, str(path))
        (folder / "prior.json").write_text(json.dumps({**asdict(self.config), **self.extra}, indent=1))
        return path

    @classmethod
    def load(cls, folder: Path) -> "CodePrior":
        from safetensors.numpy import load_file

        folder = Path(folder)
        path, cfg = folder / "prior.safetensors", folder / "prior.json"
        for p in (path, cfg):
            if not p.exists():
                raise WeightsError(f"code prior {p} not found; train it with `melfoley train prior --out {folder}`")
        t = load_file(str(path))
        f = lambda x: x.astype(np.float32)
        return cls(PriorConfig.from_json_dict(json.loads(cfg.read_text())), f(t["counts"]), f(t["unigram"]),
                   f(t["global_bigram"]))


# ---------------------------------------------------------------------------- exemplars
#: events heard as a texture (a bed that goes on), not as contacts: they follow the picture's
#: motion and stay continuous; every other event is impulsive (silent where nothing touches)
CONTINUOUS_EVENTS = frozenset({"bubbling", "fire", "machinery", "rain", "sawing", "sizzle", "vehicle", "water_flow",
                               "water_waves", "wind", "foliage_rustle", "bird", "animal_other", "thunder"})
RISE = 0.1  # E rise within 3 frames that marks an exemplar's hit (as in motion.measure_calibration)


def exemplar_onsets(e: np.ndarray, rate: float) -> np.ndarray:
    """Frames where a recording's E rises sharply (its hits); frame 0 when it opens on one."""
    e = np.asarray(e, np.float64)
    if e.size < 4:
        return np.zeros(0, np.int64)
    floor = float(np.percentile(e, 5))
    rise = e[3:] - np.minimum.reduce([e[:-3], e[1:-2], e[2:-1]])
    starts = list(np.flatnonzero(rise > RISE) + 1)  # the first frame of the rise
    if e[:4].max() > floor + RISE:
        starts.insert(0, 0)
    out, last = [], -10 ** 9
    for j in starts:
        if j - last >= int(0.1 * rate):
            out.append(j)
            last = j
    return np.asarray(out, np.int64)


@dataclass
class ExemplarBank:
    """Real (E, D, codes) of a few train-split recordings per event (``melfoley train exemplars``).

    ``controls`` makes the control of a picture from them: for an impulsive event, each picture
    contact gets one real hit of the event (its codes, spread and the shape of its energy above
    its floor, scaled to the contact's strength), placed at the contact's mel frame, with the
    floor in between; for a continuous event, real stretches of the event are laid end to end
    over the clip and their energy follows the picture's motion (a swell, never a thump).

    ``detail`` (optional, [n_mels, F] int8 in steps of ``DETAIL_STEP`` unit-mel): what each frame's
    codes leave out, the recording's unit log-mel minus the recomposition of its own (E, D, codes).
    ``controls(..., sources=True)`` also says which bank frame each frame of the control came from,
    so a renderer can put that detail back (``detail_at``).
    """

    labels: tuple[str, ...]
    owner: np.ndarray  # [n_ex] event index of each exemplar
    offsets: np.ndarray  # [n_ex + 1] frame offsets into the flat arrays
    energy: np.ndarray  # [F] float32
    spread: np.ndarray  # [F] float32
    codes: np.ndarray  # [2, F] uint8
    onsets: list[np.ndarray]  # per exemplar, hit frames (relative)
    rate: float
    sources: tuple[str, ...] = ()
    detail: np.ndarray | None = None  # [n_mels, F] int8, DETAIL_STEP units

    def of_event(self, ev: int) -> list[int]:
        return [int(i) for i in np.flatnonzero(self.owner == ev)]

    def _piece(self, i: int):
        a, b = int(self.offsets[i]), int(self.offsets[i + 1])
        return self.energy[a:b], self.spread[a:b], self.codes[:, a:b]

    def controls(self, weights: np.ndarray, onsets_s: np.ndarray, levels: np.ndarray, floor: float, n: int,
                 seed: int, motion: np.ndarray | None = None, continuous: bool | None = None,
                 sources: bool = False):
        """(E [n], D [n], codes [2, n]) for event ``weights``, contacts at ``onsets_s`` with E peaks ``levels``;
        with ``sources``, a fourth array [n]: the bank frame each frame was taken from (-1: none)."""
        rng = np.random.default_rng((int(seed) * 2654435761 + 97) & 0xFFFFFFFF)
        w = np.asarray(weights, np.float64)
        best = int(np.argmax(w))
        if continuous is None:
            continuous = self.labels[best] in CONTINUOUS_EVENTS
        e = np.full(n, floor, np.float32)
        d = np.zeros(n, np.float32)
        c = np.full((2, n), qcd.SILENT_CODE, np.uint8)
        src = np.full(n, -1, np.int64)
        if n == 0 or continuous:
            e, d, c = self._texture(best, n, rng, motion, e, d, c, src) if n else (e, d, c)
            return (e, d, c, src) if sources else (e, d, c)
        p = w / w.sum() if w.sum() > 0 else np.full(w.shape, 1.0 / len(w))
        frames = np.floor(np.asarray(onsets_s, np.float64) * self.rate + 1e-9).astype(np.int64)
        d[:] = self._quiet_spread(best)
        for k, (j0, lv) in enumerate(zip(frames, levels)):
            if j0 >= n:
                break
            ev = int(rng.choice(len(p), p=p))
            pool = [(i, h) for i in self.of_event(ev) for h in self.onsets[i]] or \
                   [(i, h) for i in self.of_event(best) for h in self.onsets[i]]
            if not pool:
                continue
            i, h = pool[int(rng.integers(len(pool)))]
            pe, pd, pc = self._piece(i)
            stop = next((int(o) for o in self.onsets[i] if o > h), pe.shape[0])
            ex_floor = float(np.percentile(pe, 5))
            rise = np.clip(pe[h:min(stop, h + 6)] - ex_floor, 0, None)
            if rise.size:  # start on the frame the hit is first heard: it lands on the contact's frame
                h += int(np.argmax(rise >= 0.3 * rise.max()))
            nxt = int(frames[k + 1]) if k + 1 < len(frames) else n
            L = max(1, min(stop - h, nxt - j0, n - j0))
            seg = pe[h:h + L].astype(np.float64)
            lift = np.clip(seg - ex_floor, 0, None)
            top = max(float(lift.max()), 1e-6)
            # the hit keeps its own attack and body; its tail is made to die away like a contact's
            # (a recording's long ring or room would be sound where nothing touches)
            k = np.arange(L) / self.rate - HIT_HOLD_S
            lift = lift * np.exp(-np.clip(k, 0, None) / HIT_TAIL_S)
            s = slice(max(j0, 0), max(j0, 0) + L)
            e[s] = floor + (float(lv) - floor) * (lift / top)
            d[s] = pd[h:h + L]
            c[:, s] = pc[:, h:h + L]
            src[s] = int(self.offsets[i]) + h + np.arange(L)
        return (e, d, c, src) if sources else (e, d, c)

    def detail_at(self, src: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """(detail [n_mels, n] float32 unit-mel, has [n] bool) for bank frames ``src`` (-1: none, 0 there);
        None when the bank carries no detail."""
        if self.detail is None:
            return None
        src = np.asarray(src, np.int64)
        has = src >= 0
        out = np.zeros((self.detail.shape[0], src.shape[0]), np.float32)
        out[:, has] = self.detail[:, src[has]].astype(np.float32) * DETAIL_STEP
        return out, has

    def _quiet_spread(self, ev: int) -> float:
        idx = self.of_event(ev)
        return float(np.median(np.concatenate([self._piece(i)[1] for i in idx]))) if idx else 0.05

    def _texture(self, ev, n, rng, motion, e, d, c, src):
        idx = self.of_event(ev)
        if not idx:
            return e, d, c
        t = 0
        while t < n:  # real stretches end to end: the first from a random point, each next where it joins best
            if t == 0:
                i, a = idx[int(rng.integers(len(idx)))], None
            else:
                i, a = self._join(idx, e[t - 1], d[t - 1], c[:, t - 1], rng)
            pe, pd, pc = self._piece(i)
            if a is None:
                a = int(rng.integers(max(1, pe.shape[0] // 2)))
            L = min(pe.shape[0] - a, n - t)
            e[t:t + L], d[t:t + L], c[:, t:t + L] = pe[a:a + L], pd[a:a + L], pc[:, a:a + L]
            src[t:t + L] = int(self.offsets[i]) + a + np.arange(L)
            t += L
        if motion is not None and np.asarray(motion).size == n:
            m = np.asarray(motion, np.float64)
            k = max(1, int(0.5 * self.rate))  # half-second swells: motion shapes the bed, it does not hit
            m = np.convolve(np.pad(m, (k // 2, k - 1 - k // 2), mode="edge"), np.ones(k) / k, mode="valid")
            top = max(float(np.percentile(m, 95)), 1e-6)
            e = np.clip(e + TEXTURE_SWING * (np.clip(m / top, 0, 1) - 0.5), 0.0, 1.0).astype(np.float32)
        return e, d, c

    def _join(self, idx, e0: float, d0: float, c0: np.ndarray, rng) -> tuple[int, int]:
        """The (exemplar, first frame) to continue a texture whose last frame is (e0, d0, c0): drawn among
        the ``JOIN_CHOICES`` starts (first half of each exemplar) closest to it in E, D and codes,
        so a bed does not change its sound at every join (unit selection with a join cost)."""
        best = []
        for i in idx:
            pe, pd, pc = self._piece(i)
            m = max(1, pe.shape[0] // 2)
            cost = (np.abs(pe[:m] - e0) + np.abs(pd[:m] - d0)) / JOIN_SCALE + (pc[:, :m] != c0[:, None]).sum(0)
            best += [(float(cost[a]), i, int(a)) for a in np.argsort(cost, kind="stable")[:JOIN_CHOICES]]
        best.sort(key=lambda x: x[0])
        _, i, a = best[int(rng.integers(min(JOIN_CHOICES, len(best))))]
        return i, a

    # ------------------------------------------------------------------ persistence
    def save(self, folder: Path) -> Path:
        from safetensors.numpy import save_file

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        on = np.concatenate([o for o in self.onsets]) if self.onsets else np.zeros(0, np.int64)
        on_off = np.cumsum([0] + [len(o) for o in self.onsets])
        path = folder / "exemplars.safetensors"
        arrays = {"owner": self.owner.astype(np.int32), "offsets": self.offsets.astype(np.int32),
                  "energy": quantize_unit(self.energy), "spread": quantize_unit(self.spread),
                  "codes": self.codes.astype(np.uint8), "onsets": on.astype(np.int32),
                  "onset_offsets": on_off.astype(np.int32)}
        if self.detail is not None:
            arrays["detail"] = np.ascontiguousarray(self.detail, np.int8)
        save_file(arrays, str(path))
        (folder / "exemplars.json").write_text(json.dumps({"labels": list(self.labels), "rate": self.rate,
                                                           "sources": list(self.sources)}, indent=1))
        return path

    @classmethod
    def load(cls, folder: Path) -> "ExemplarBank | None":
        from safetensors.numpy import load_file

        folder = Path(folder)
        path, meta = folder / "exemplars.safetensors", folder / "exemplars.json"
        if not (path.exists() and meta.exists()):
            return None
        t, m = load_file(str(path)), json.loads(meta.read_text())
        on, oo = t["onsets"].astype(np.int64), t["onset_offsets"]
        return cls(tuple(m["labels"]), t["owner"].astype(np.int64), t["offsets"].astype(np.int64),
                   t["energy"].astype(np.float32) / 255, t["spread"].astype(np.float32) / 255, t["codes"],
                   [on[oo[i]:oo[i + 1]] for i in range(len(oo) - 1)], float(m["rate"]), tuple(m.get("sources", ())),
                   t.get("detail"))


def quantize_unit(x: np.ndarray) -> np.ndarray:
    """[0, 1] values as the bank stores them (uint8, steps of 1/255)."""
    return np.round(np.clip(np.asarray(x), 0.0, 1.0) * 255).astype(np.uint8)


def exemplar_detail(unit_mel: np.ndarray, energy: np.ndarray, spread: np.ndarray, codes: np.ndarray,
                    mel: str) -> np.ndarray:
    """What a recording's codes leave out, as the bank stores it: its unit log-mel [n_mels, T] minus the
    recomposition of its (E, D, codes) as stored (E and D in 1/255 steps), int8 in ``DETAIL_STEP`` units."""
    from .control import QCDControl

    e, d = quantize_unit(energy).astype(np.float32) / 255, quantize_unit(spread).astype(np.float32) / 255
    rec = QCDControl(e, d, np.asarray(codes, np.uint8), mel).recomposed_mel()
    return np.clip(np.round((np.asarray(unit_mel, np.float32) - rec) / DETAIL_STEP), -127, 127).astype(np.int8)


HIT_HOLD_S = 0.15  # s of a real hit kept as recorded
HIT_TAIL_S = 0.12  # s: time constant of the decay imposed after it
#: a texture's joins: E and D differences in units of this (0.02 E is about 3 dB) plus codes that differ
JOIN_SCALE = 0.02
JOIN_CHOICES = 8  # the next stretch is drawn among this many best joins (takes still differ by seed)
TEXTURE_SWING = 0.06  # E units (about 9 dB) a continuous event's bed moves with the picture's motion
#: unit-mel step of the bank's detail (1/256 of the spec's ~146 dB unit: about 0.6 dB; int8 spans +-0.5 unit)
DETAIL_STEP = 1.0 / 256
