"""Content-hash cache of rendered takes, in the user cache folder (``userdirs.cache_dir()/takes``).

The key hashes the media's identity (its size and a SHA-256 of its first and last MiB, so a
moved or relinked file still hits), the source range and time warp, the record duration,
every job setting (prompt, takes, seed, segments, energy edit) and the engine's description
(model, weights hash). The record position is not in the key: a clip moved on the timeline
reuses its takes and only gets new stems (a new TimeReference).

An entry is one ``.npz`` (the takes at the model rate, their seeds) and one ``.json`` (engine
metadata and the QCD controls), each written atomically; an entry is only visible once both
exist, so an interrupted write leaves nothing half-valid.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..core.userdirs import cache_dir
from .atomic import atomic_write

KEY_VERSION = "melfoley.takes/1"
_EDGE = 1 << 20
_IDENTITY: dict[tuple, str] = {}


def media_identity(path: str | os.PathLike) -> str:
    """SHA-256 of (size, first MiB, last MiB): fast, and unchanged by moving or renaming the file."""
    p = Path(path)
    st = p.stat()
    memo = (str(p.resolve()), st.st_size, st.st_mtime_ns)
    if memo in _IDENTITY:
        return _IDENTITY[memo]
    h = hashlib.sha256(str(st.st_size).encode())
    with p.open("rb") as fh:
        h.update(fh.read(_EDGE))
        if st.st_size > _EDGE:
            fh.seek(max(_EDGE, st.st_size - _EDGE))
            h.update(fh.read(_EDGE))
    _IDENTITY[memo] = h.hexdigest()
    return _IDENTITY[memo]


def cache_key(*, media: str, source: dict, settings: dict, engine: dict) -> str:
    """Hex SHA-256 of the canonical JSON of everything that changes the rendered takes."""
    doc = {"v": KEY_VERSION, "media": media, "source": source, "settings": settings, "engine": engine}
    return hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()


@dataclass(frozen=True)
class CachedTakes:
    audio: list[np.ndarray]  # one float32 array per take, at ``sample_rate``
    seeds: list[int]
    sample_rate: int
    controls: list[dict | None]  # QCDControl.to_dict() per take
    meta: dict


class TakeCache:
    def __init__(self, root: str | os.PathLike | None = None):
        self.root = Path(root) if root is not None else cache_dir() / "takes"

    def _paths(self, key: str) -> tuple[Path, Path]:
        d = self.root / key[:2]
        return d / f"{key}.npz", d / f"{key}.json"

    def get(self, key: str) -> CachedTakes | None:
        npz, js = self._paths(key)
        if not (npz.exists() and js.exists()):
            return None
        try:
            meta = json.loads(js.read_text())
            with np.load(npz) as z:
                audio = [z[f"take{i}"].astype(np.float32) for i in range(int(meta["takes"]))]
            return CachedTakes(audio, [int(s) for s in meta["seeds"]], int(meta["sample_rate"]),
                               list(meta.get("controls", [None] * len(audio))), meta.get("engine", {}))
        except (OSError, ValueError, KeyError, json.JSONDecodeError):
            return None  # a damaged entry is a miss; it is rewritten

    def put(self, key: str, takes: CachedTakes) -> None:
        npz, js = self._paths(key)
        npz.parent.mkdir(parents=True, exist_ok=True)
        arrays = {f"take{i}": np.asarray(a, np.float32) for i, a in enumerate(takes.audio)}
        atomic_write(npz, lambda fh: np.savez(fh, **arrays))
        doc = {"takes": len(takes.audio), "seeds": takes.seeds, "sample_rate": takes.sample_rate,
               "controls": takes.controls, "engine": takes.meta}
        atomic_write(js, lambda fh: fh.write(json.dumps(doc, default=str).encode()))

    def __contains__(self, key: str) -> bool:
        npz, js = self._paths(key)
        return npz.exists() and js.exists()
