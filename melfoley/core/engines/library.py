"""The ``library`` engine: Foley cut from recorded library sounds onto the Mel-QCD control.

predict: timing (E, D) from the picture exactly as the other engines (``picture_timing``);
codes: the dominant codes of the sounds the prompt selects. render: the prompt picks a
pool of recordings in the index (text match, :mod:`melfoley.core.library.select`); every
contact of E gets one recorded event placed on it, or a texture is looped along E
(:mod:`melfoley.core.library.place`); 48 kHz out, so stems are not resampled.

Library: the user's index (``melfoley library add``; ``MELFOLEY_LIBRARY_DB`` or the
``library_db`` option), or, when the user has added none, the starter library shipped in
``melfoley/resources/library`` (indexed once into the cache folder). A prompt nothing in
the library answers falls back to the generative ``embedded`` engine (``fallback="none"``
makes it an error) and the take's metadata says so. Every take lists its sources: file,
offset, duration, gain, licence, attribution.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Sequence

import numpy as np

from .. import qcd
from ..control import QCDControl
from ..engine import Engine, FoleyRequest, ProgressFn, Take, check_request, fit_length, get_engine, register_engine
from ..errors import MelfoleyError
from ..library.index import LibraryFileError, LibraryIndex
from ..motion import PICTURE_SIZE
from .debug import clip_frames, picture_timing

FALLBACKS = ("embedded", "none")


def starter_dir() -> Path:
    return Path(__file__).resolve().parents[2] / "resources" / "library"


def starter_index() -> LibraryIndex:
    """The starter library's index in the cache folder, built on first use (a few seconds)."""
    from ..library.scan import scan
    from ..userdirs import cache_dir

    root = starter_dir()
    manifest = root / "manifest.csv"
    if not manifest.exists():
        raise MelfoleyError(f"the starter sound library is missing ({manifest}); reinstall melfoley, or add your "
                            "own library with `melfoley library add DIR`")
    from ..library.segment import ANALYSIS_VERSION

    tag = hashlib.sha1(manifest.read_bytes() + f"{root}|{ANALYSIS_VERSION}".encode()).hexdigest()[:12]
    folder = cache_dir() / "library"
    index = LibraryIndex(folder / f"starter-{tag}.sqlite")
    if index.ok_files() == 0:
        scan(index, [root])
        for old in folder.glob("starter-*"):  # indexes of older analysis versions: rebuilt, not needed
            if not old.name.startswith(f"starter-{tag}."):
                old.unlink(missing_ok=True)
    return index


class LibraryEngine(Engine):
    name = "library"
    mel = "hifigan22k"
    sample_rate = 48000
    picture_size = PICTURE_SIZE
    OPTIONS = {"library_db": Path, "fallback": str}

    def __init__(self, library_db: str | Path | None = None, fallback: str = "embedded"):
        from ..library.place import SourceReader
        from ..text import get_matcher
        from ..userdirs import library_db as default_db

        if fallback not in FALLBACKS:
            raise MelfoleyError(f"library engine: fallback {fallback!r}; choose one of {', '.join(FALLBACKS)}")
        self.fallback = fallback
        path = Path(library_db).expanduser() if library_db else default_db()
        user = LibraryIndex(path) if (library_db or path.exists()) else None
        if user is not None and user.roots():
            if user.ok_files() == 0:
                why = (f" (it was unreadable and has been rebuilt; the old file is {user.rebuilt_from})"
                       if user.rebuilt_from else "")
                raise MelfoleyError(f"library index {path} holds no usable sound files{why}; run "
                                    "`melfoley library rescan` (or `melfoley library add DIR`)")
            self.index, self.source = user, "user"
        else:
            if user is not None:
                user.close()
            self.index, self.source = starter_index(), "starter"
        self.embedder = get_matcher().embedder
        self.reader = SourceReader(self.index)
        self._pools: dict = {}
        self._renders: list[dict] = []
        self._described: tuple = (-1, 0.0, 0)

    # ------------------------------------------------------------------ parts
    def describe(self) -> dict:
        gen = self.index.generation()
        if self._described[0] != gen:  # two table scans: once per index generation, not per take
            self._described = (gen, self.index.max_bandwidth(), self.index.ok_files())
        _, bw, files = self._described
        return {"engine": self.name, "library": self.source, "library_db": str(self.index.path),
                "library_generation": gen, "library_files": files,
                "weights_sha256": None, "licence": "per source file: see the take's 'sources' (starter library: "
                "CC0 / CC-BY-3.0 / CC-BY-SA-3.0, melfoley/resources/library/manifest.csv)",
                "sample_rate": self.sample_rate, "bandwidth_hz": bw, "content_bandwidth_hz": bw,
                "fallback_engine": self.fallback}

    def pool(self, prompt: str):
        from ..library.select import build_pool

        key = (prompt, self.index.generation())
        if key not in self._pools:
            vec = self.embedder.embed([prompt.strip().lower() or " "])[0]
            self._pools[key] = build_pool(self.index, vec, prompt)
        return self._pools[key]

    # ------------------------------------------------------------------ stages
    def predict(self, request: FoleyRequest) -> QCDControl:
        n = clip_frames(request.duration, self.mel)
        e, d, _ = picture_timing(request, n, self.mel)
        from ..library.select import dominant_codes

        c0, c1 = dominant_codes(self.pool(request.prompt))
        sounding = e > float(np.percentile(e, 5)) + 0.02 if e.size else np.zeros(0, bool)
        codes = np.full((qcd.GROUPS, n), qcd.SILENT_CODE, np.uint8)
        codes[0, sounding], codes[1, sounding] = c0, c1
        return QCDControl(e, d, codes, self.mel)

    def render(self, control: QCDControl, prompt: str, seed: int) -> np.ndarray:
        from ..library import place, select

        pool = self.pool(prompt)
        energy = control.energy
        n = int(np.ceil(control.duration * self.sample_rate))
        events = pool.subset(pool.kind == 0) if (pool.kind == 0).any() else pool
        if pool.texture or events.ids.size == 0:
            y, sources = place.place_texture(pool, select.choose_texture(pool, seed), energy, n, self.reader, seed)
        else:
            cons = place.contacts(energy)
            picks = select.choose(events, [(c.shape(energy), c.frames) for c in cons], seed)
            y, sources = place.place_events(events, picks, cons, energy, n, self.reader)
        y = place.finish(y, energy, sources)
        bw = max((s["bandwidth_hz"] for s in sources), default=0.0)
        self._renders.append({"sources": sources, "library_match": pool.describe(), "content_bandwidth_hz": bw,
                              "bandwidth_note": f"true bandwidth of the sources used: {bw:.0f} Hz (48 kHz output)"})
        return y

    # ------------------------------------------------------------------ orchestration
    def generate(self, requests: Sequence[FoleyRequest], progress: ProgressFn | None = None) -> list[list[Take]]:
        """The base orchestration per request; each take gets its sources, or the fallback's takes."""
        out: list[list[Take]] = []
        total, done = sum(max(1, r.takes) for r in requests), 0
        for req in requests:
            check_request(req)
            pool = self.pool(req.prompt)
            if not pool.matched:
                takes = self._fallback(req, pool)
            else:
                self._renders = []
                try:
                    takes = super().generate([req])[0]
                except LibraryFileError as exc:
                    raise LibraryFileError(f"clip {req.label()}: {exc}") from None
                for take, extra in zip(takes, self._renders):
                    take.metadata.update(extra)
            out.append(takes)
            done += len(takes)
            if progress:
                progress(done, total, req.label())
        return out

    def _fallback(self, req: FoleyRequest, pool) -> list[Take]:
        why = (f"no sound in the {self.source} library matches {req.prompt!r} (best text score "
               f"{pool.best_score:.2f})")
        if self.fallback == "none":
            raise MelfoleyError(f"clip {req.label()}: {why}; add a library that has it (`melfoley library add DIR`) "
                                "or change the prompt")
        from ..audio import resample

        n = int(round(req.duration * self.sample_rate))
        takes = []
        for t in get_engine(self.fallback).generate([req])[0]:
            audio = fit_length(resample(t.audio, t.sample_rate, self.sample_rate), n)
            meta = {**t.metadata, "engine": self.name, "rendered_by": self.fallback, "sources": [],
                    "fallback": {"engine": self.fallback, "reason": why}, "library_match": pool.describe()}
            takes.append(Take(audio, self.sample_rate, t.control, t.seed, meta))
        return takes


def _factory(**options):
    return LibraryEngine(**options)


register_engine("library", _factory)
