"""Which recorded sounds answer a prompt: text match, envelope fit and variety, seeded.

Text: every usable file's unit text vector (wordllama, from its UCS fields, bext/iXML
description and folder names) against the prompt's, plus a bonus for FTS5 word hits. The
best-scoring files (within :data:`WINDOW` of the best, at most :data:`TOP_FILES`) are the
candidates; their events are the pool. A prompt matches when the best cosine reaches
``text.CONFIDENT`` (or a word hits and the cosine is near it); otherwise the engine falls
back. The pool is a *texture* pool when most of the candidates' weight sits on texture files
(rain, fire, wind, room tone): those are looped, events are placed at contacts.

Per contact the score is the file's text score minus the envelope misfit (mean |E shape
after the contact - event E shape|); the choice is drawn from the best :data:`CHOICES` with
a seeded softmax, never the event just used, so every seed makes its own take.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..text import CONFIDENT
from .index import LibraryIndex
from .segment import ENV_FRAMES

TOP_FILES = 32
WINDOW = 0.12  # cosine below the best that still makes a candidate
FTS_BONUS = 0.12
NEAR = 0.08  # a word hit counts as a match this far below CONFIDENT
CHOICES = 8
TEMPERATURE = 0.08
FIT_WEIGHT = 0.5


@dataclass
class Pool:
    """Candidate sounds for one prompt (arrays are aligned per event)."""

    prompt: str
    matched: bool
    best_score: float
    texture: bool
    files: dict  # file id -> row dict (path, size, mtime_ns, sample_rate, licence, ...)
    ids: np.ndarray
    file_ids: np.ndarray
    kind: np.ndarray
    onset: np.ndarray
    offset: np.ndarray
    e_peak: np.ndarray
    peak_db: np.ndarray
    env: np.ndarray  # [n, ENV_FRAMES]
    hist: np.ndarray  # [n, 2, 81]
    text: np.ndarray  # the file's text score per event

    def subset(self, mask: np.ndarray) -> "Pool":
        out = Pool(**self.__dict__)
        for k in ("ids", "file_ids", "kind", "onset", "offset", "e_peak", "peak_db", "env", "hist", "text"):
            setattr(out, k, getattr(self, k)[mask])
        return out

    def describe(self) -> dict:
        return {"prompt": self.prompt, "matched": self.matched, "best_score": round(self.best_score, 4),
                "mode": "texture" if self.texture else "events", "candidate_files": len(self.files),
                "candidate_events": int(self.ids.shape[0])}


def text_scores(index: LibraryIndex, prompt_vec: np.ndarray, prompt: str) -> tuple[np.ndarray, np.ndarray, set]:
    """(file ids, cosine + FTS bonus, ids with a word hit)."""
    ids, vecs = index.vectors()
    if ids.size == 0:
        return ids, np.zeros(0, np.float32), set()
    cos = vecs @ prompt_vec
    hits = index.fts(prompt)
    if hits:
        top = max(hits.values()) or 1.0
        f = np.fromiter(hits, np.int64, len(hits))
        s = np.fromiter(hits.values(), np.float64, len(hits))
        i = np.clip(np.searchsorted(ids, f), 0, ids.size - 1)  # ids ascend (LibraryIndex.vectors)
        ok = ids[i] == f
        cos[i[ok]] += FTS_BONUS * (0.5 + 0.5 * s[ok] / top if top > 0 else 1.0)
    return ids, cos, set(hits)


def build_pool(index: LibraryIndex, prompt_vec: np.ndarray, prompt: str) -> Pool:
    ids, score, hit = text_scores(index, prompt_vec, prompt)
    empty = Pool(prompt, False, float(score.max()) if score.size else -1.0, False, {}, *([np.zeros(0)] * 7),
                 np.zeros((0, ENV_FRAMES), np.float32), np.zeros((0, 2, 81), np.uint8), np.zeros(0))
    if ids.size == 0:
        return empty
    order = np.argsort(-score, kind="stable")
    best = float(score[order[0]])
    pure = best - (FTS_BONUS if int(ids[order[0]]) in hit else 0.0)
    matched = pure >= CONFIDENT or (int(ids[order[0]]) in hit and pure >= CONFIDENT - NEAR)
    keep = [i for i in order[:TOP_FILES] if score[i] >= best - WINDOW]
    files = index.files(ids[keep])
    fscore = {int(ids[i]): float(score[i]) for i in keep}
    rows = index.events_of(list(files))
    if not rows:
        empty.matched = False
        return empty
    cols = list(zip(*rows))
    file_ids = np.array(cols[1], np.int64)
    pool = Pool(prompt, bool(matched), best, False, files, np.array(cols[0], np.int64), file_ids,
                np.array(cols[2], np.int64), np.array(cols[3], np.float64), np.array(cols[4], np.float64),
                np.array(cols[7], np.float32), np.array(cols[8], np.float32),
                np.stack([np.frombuffer(b, np.float16) for b in cols[9]]).astype(np.float32),
                np.stack([np.frombuffer(b, np.uint8).reshape(2, 81) for b in cols[10]]),
                np.array([fscore[int(f)] for f in file_ids], np.float32))
    w = np.array([max(fscore[f] - (best - WINDOW), 1e-3) for f in files], np.float64)
    tex = np.array([bool(files[f]["texture"]) for f in files], np.float64)
    pool.texture = bool((w * tex).sum() / w.sum() >= 0.5)
    return pool


def misfit(target: np.ndarray, env: np.ndarray, frames: int) -> np.ndarray:
    """Mean |target - env| over the first ``frames`` frames, per event."""
    f = int(np.clip(frames, 3, ENV_FRAMES))
    return np.abs(env[:, :f] - target[None, :f]).mean(axis=1)


def choose(pool: Pool, targets: list[tuple[np.ndarray, int]], seed: int) -> list[int]:
    """One event index (into ``pool``) per target ``(E shape, frames until the next contact)``."""
    n = pool.ids.shape[0]
    if n == 0:
        return []
    rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, 0x11B])
    text = pool.text - pool.text.max()
    out: list[int] = []
    for shape, frames in targets:
        score = text - FIT_WEIGHT * misfit(shape, pool.env, frames)
        if out and n > 1:
            score[out[-1]] = -np.inf  # never the same event twice in a row
        top = np.argsort(-score, kind="stable")[:CHOICES]
        top = top[np.isfinite(score[top])]
        p = np.exp((score[top] - score[top].max()) / TEMPERATURE)
        out.append(int(rng.choice(top, p=p / p.sum())))
    return out


def choose_texture(pool: Pool, seed: int) -> int:
    rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, 0x7E7])
    idx = np.flatnonzero(pool.kind == 1)
    if idx.size == 0:
        idx = np.arange(pool.ids.shape[0])
    s = pool.text[idx] + 0.02 * (pool.offset[idx] - pool.onset[idx]).clip(0, 10)  # longer loops are better
    top = idx[np.argsort(-s, kind="stable")[:CHOICES]]
    p = np.exp((pool.text[top] - pool.text[top].max()) / TEMPERATURE)
    return int(rng.choice(top, p=p / p.sum()))


def dominant_codes(pool: Pool) -> tuple[int, int]:
    """The most used code per group over the pool (weighted by text score): the control's codes."""
    if pool.hist.shape[0] == 0:
        return 40, 40
    w = np.exp((pool.text - pool.text.max()) / TEMPERATURE)[:, None, None]
    h = (pool.hist.astype(np.float64) * w).sum(axis=0)
    return int(np.argmax(h[0])), int(np.argmax(h[1]))
