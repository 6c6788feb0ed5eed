"""Prompt -> text embedding -> nearest sound events of the vocabulary.

The embedding is wordllama's ``l2_supercat_256`` model, read from inside the installed
wheel (``WordLlama.load(cache_dir=<package dir>, disable_download=True)``): no network.
Each event of ``resources/vocabulary.json`` is embedded from its label, phrase and extra
phrasings; a prompt scores against an event by the best cosine similarity over those.
Free text always lands somewhere: an odd prompt degrades to the nearest events and the
match (with its score and a ``confident`` flag) is reported, so the user sees it.

``EventMatch.weights`` (a softmax over the top-k scores) is what the prior and the
renderer blend event tables and embeddings with.
"""

from __future__ import annotations

import importlib.util
import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from .errors import WeightsError

#: below this cosine similarity a match is reported as not confident (measured: unrelated
#: prompts such as "a symphony orchestra" or "asdkjh" score under it, paraphrases above)
CONFIDENT = 0.4
TEMPERATURE = 0.05


@dataclass(frozen=True)
class Event:
    label: str
    phrase: str
    catid: str
    also: tuple[str, ...] = ()

    def texts(self) -> list[str]:
        return [self.label.replace("_", " "), self.phrase, *self.also]


@dataclass(frozen=True)
class EventMatch:
    """The nearest events for one prompt, best first."""

    prompt: str
    labels: tuple[str, ...]
    scores: tuple[float, ...]
    weights: tuple[float, ...]
    confident: bool

    @property
    def best(self) -> str:
        return self.labels[0]

    def as_metadata(self) -> dict:
        return {"prompt": self.prompt, "confident": self.confident,
                "events": [{"label": l, "score": round(s, 4), "weight": round(w, 4)}
                           for l, s, w in zip(self.labels, self.scores, self.weights)]}


def vocabulary_path() -> Path:
    return Path(__file__).resolve().parents[1] / "resources" / "vocabulary.json"


@lru_cache(maxsize=1)
def load_vocabulary() -> tuple[Event, ...]:
    obj = json.loads(vocabulary_path().read_text())
    return tuple(Event(e["label"], e["phrase"], e["catid"], tuple(e.get("also", ()))) for e in obj["events"])


def event(label: str) -> Event:
    for ev in load_vocabulary():
        if ev.label == label:
            return ev
    raise KeyError(label)


class TextEmbedder:
    """wordllama from its wheel, offline; ``embed(texts) -> [n, 256]`` unit vectors (zeros for empty text)."""

    def __init__(self):
        spec = importlib.util.find_spec("wordllama")
        if spec is None or not spec.submodule_search_locations:
            raise WeightsError("prompt matching needs the PyPI package wordllama (its weights are inside the wheel); "
                               "install it with `pip install wordllama==0.4.0.post1`")
        from wordllama import WordLlama

        pkg = Path(list(spec.submodule_search_locations)[0])
        try:
            self._model = WordLlama.load(cache_dir=pkg, disable_download=True)
        except Exception as exc:  # its loader raises plain errors when files are absent
            raise WeightsError(f"wordllama weights not found inside {pkg} ({exc}); reinstall wordllama") from exc
        self.dim = int(self._model.embed(["x"]).shape[1])

    def embed(self, texts: list[str]) -> np.ndarray:
        v = np.asarray(self._model.embed([t if t.strip() else " " for t in texts]), dtype=np.float32)
        n = np.linalg.norm(v, axis=1, keepdims=True)
        return np.where(n > 1e-8, v / np.maximum(n, 1e-8), 0.0).astype(np.float32)


def _normalise_prompt(prompt: str) -> str:
    return re.sub(r"[_\s]+", " ", prompt.strip().lower())


class EventMatcher:
    """Nearest vocabulary events for free text."""

    def __init__(self, embedder: TextEmbedder | None = None, events: tuple[Event, ...] | None = None):
        self.embedder = embedder or TextEmbedder()
        self.events = events or load_vocabulary()
        self.labels = tuple(e.label for e in self.events)
        texts, owner = [], []
        for i, ev in enumerate(self.events):
            for t in ev.texts():
                texts.append(t)
                owner.append(i)
        self._vecs = self.embedder.embed(texts)
        self._owner = np.asarray(owner)
        self._exact = {}
        for i, ev in enumerate(self.events):
            for t in (ev.label, ev.label.replace("_", " "), ev.phrase):
                self._exact[_normalise_prompt(t)] = i

    def scores(self, prompt: str) -> np.ndarray:
        """Cosine similarity of the prompt to every event (best phrasing), [n_events]."""
        out = np.full(len(self.events), -1.0, np.float32)
        key = _normalise_prompt(prompt)
        sims = self._vecs @ self.embedder.embed([key])[0]
        np.maximum.at(out, self._owner, sims)
        if key in self._exact:
            out[self._exact[key]] = 1.0
        return out

    def match(self, prompt: str, k: int = 3) -> EventMatch:
        s = self.scores(prompt)
        order = np.argsort(-s, kind="stable")[: max(1, k)]
        top = s[order].astype(np.float64)
        w = np.exp((top - top.max()) / TEMPERATURE)
        w /= w.sum()
        return EventMatch(prompt, tuple(self.labels[i] for i in order), tuple(float(x) for x in top),
                          tuple(float(x) for x in w), bool(top[0] >= CONFIDENT))

    def weight_vector(self, match: EventMatch) -> np.ndarray:
        """The match's weights spread over all events (zeros elsewhere), [n_events]."""
        v = np.zeros(len(self.labels), np.float32)
        for label, w in zip(match.labels, match.weights):
            v[self.labels.index(label)] = w
        return v


@lru_cache(maxsize=1)
def get_matcher() -> EventMatcher:
    """The process-wide matcher (the embedding model loads once, ~0.3 s)."""
    return EventMatcher()


def match_prompt(prompt: str, k: int = 3) -> EventMatch:
    return get_matcher().match(prompt, k)
