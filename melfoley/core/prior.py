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
        silent = energy <= 1e-4
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
