"""Content-hash cache of rendered takes, in the user cache folder (``userdirs.cache_dir()/takes``).

The key hashes the media's identity (its size and a SHA-256 of its first and last MiB, so a
moved or relinked file still hits), the source range and time warp, the record duration,
every job setting (prompt, takes, seed, segments, energy edit) and the engine's description
(model, weights hash). The record position is not in the key: a clip moved on the timeline
reuses its takes and only gets new stems (a new TimeReference).

An entry is one ``.npz`` (the takes at the model rate, their seeds) and one ``.json`` (engine
metadata and the QCD controls), each written atomically; an entry is only visible once both
exist, so an interrupted write leaves nothing half-valid. An entry damaged anyway (a bad disk,
a hand edit: truncated, NaN audio, wrong shapes or types) is removed when read and rendered again.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..core.userdirs import cache_dir
from ..core.atomic import atomic_write, sweep_stale_temps

KEY_VERSION = "melfoley.takes/1"
_EDGE = 1 << 20
_IDENTITY: dict[tuple, str] = {}


def media_identity(path: str | os.PathLike) -> str:
    """SHA-256 of (size, first MiB, last MiB): fast, and unchanged by moving or renaming the file."""
    p = Path(path)
    st = p.stat()
    memo = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)  # the file itself, whatever path names it
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
        self._swept: set[Path] = set()

    def _paths(self, key: str) -> tuple[Path, Path]:
        d = self.root / key[:2]
        return d / f"{key}.npz", d / f"{key}.json"

    def get(self, key: str) -> CachedTakes | None:
        """The entry of ``key``, or None. A damaged entry (truncated, wrong types, NaN audio, a
        sample rate or shape no engine makes) is removed, so the clip is rendered again."""
        npz, js = self._paths(key)
        if not (npz.exists() and js.exists()):
            return None
        try:
            meta = json.loads(js.read_text())
            n = int(meta["takes"])
            sr = int(meta["sample_rate"])
            seeds = [int(s) for s in meta["seeds"]]
            with np.load(npz, allow_pickle=False) as z:
                audio = [np.asarray(z[f"take{i}"]) for i in range(n)]
            controls = meta.get("controls", [None] * n)
            if not (1 <= n <= 64 and len(seeds) == n and isinstance(controls, list) and len(controls) == n
                    and 4000 <= sr <= 384000 and isinstance(meta.get("engine", {}), dict)):
                raise ValueError("inconsistent entry")
            for a in audio:
                if a.ndim != 1 or a.size == 0 or a.dtype.kind != "f" or not np.all(np.isfinite(a)):
                    raise ValueError("bad audio")
            return CachedTakes([a.astype(np.float32) for a in audio], seeds, sr, controls, meta.get("engine", {}))
        except Exception:  # noqa: BLE001 - any damage (zip, JSON, types, values) makes a miss
            self.discard(key)
            return None

    def discard(self, key: str) -> None:
        """Remove the entry of ``key`` (both files), if there is one."""
        for p in self._paths(key):
            try:
                p.unlink()
            except OSError:
                pass

    def put(self, key: str, takes: CachedTakes) -> None:
        npz, js = self._paths(key)
        if not npz.parent.exists():
            npz.parent.mkdir(parents=True, exist_ok=True)
        elif npz.parent not in self._swept:  # temporary files of writers that were killed
            sweep_stale_temps(npz.parent)
        self._swept.add(npz.parent)
        arrays = {f"take{i}": np.asarray(a, np.float32) for i, a in enumerate(takes.audio)}
        atomic_write(npz, lambda fh: np.savez(fh, **arrays))
        doc = {"takes": len(takes.audio), "seeds": takes.seeds, "sample_rate": takes.sample_rate,
               "controls": takes.controls, "engine": takes.meta}
        atomic_write(js, lambda fh: fh.write(json.dumps(doc, default=str).encode()))

    def __contains__(self, key: str) -> bool:
        npz, js = self._paths(key)
        return npz.exists() and js.exists()
