"""Indexing library folders: walk, read (only ever read), analyse, commit in small batches.

Incremental: a file whose (path, size, mtime) is already in the index is not read again;
files that vanished are marked ``missing``. Resumable: every batch of :data:`BATCH` files
is one transaction, so an interrupted scan (Ctrl-C, a crash) keeps what it committed and
the next run carries on. One scanner per index at a time: a second process waits on an
advisory lock (``<db>.lock``) and then finds the work done. Per-file problems (corrupt,
empty, unreadable, unsupported rate or channel count) are recorded with their reason and
skipped; they never stop the scan.
"""

from __future__ import annotations

import os
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..errors import MelfoleyError
from .index import LibraryIndex
from .metadata import file_meta, read_licences

AUDIO_EXT = {".wav", ".wave", ".bwf", ".rf64", ".w64", ".flac", ".aif", ".aiff", ".aifc", ".ogg", ".oga", ".opus",
             ".mp3", ".caf", ".au", ".snd", ".wv"}
MIN_RATE, MAX_RATE = 8000, 384000
MAX_CHANNELS = 64
BATCH = 32
PARALLEL_MIN = 200  # files to index before worker processes pay off


@dataclass
class ScanProgress:
    done: int
    total: int
    indexed: int
    skipped: int  # unchanged, not read
    failed: int
    elapsed: float
    current: str

    @property
    def rate(self) -> float:
        return self.done / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def eta(self) -> float | None:
        r = (self.indexed + self.failed) / self.elapsed if self.elapsed > 0 else 0.0
        return (self.total - self.done) / r if r > 0 else None


@dataclass
class ScanReport:
    roots: list[str]
    total: int = 0
    indexed: int = 0
    unchanged: int = 0
    missing: int = 0
    problems: list[tuple[str, str]] = field(default_factory=list)
    interrupted: bool = False
    seconds: float = 0.0


class LibraryFolderError(MelfoleyError):
    """A library folder that does not exist, is not a folder or cannot be listed."""


def check_folder(folder: Path) -> Path:
    folder = Path(folder).expanduser()
    if not folder.exists():
        raise LibraryFolderError(f"library folder {folder} does not exist; check the path (a network share "
                                 "must be mounted)")
    if not folder.is_dir():
        raise LibraryFolderError(f"{folder} is a file, not a folder; give the folder that holds your sound files")
    try:
        next(os.scandir(folder), None)
    except OSError as exc:
        raise LibraryFolderError(f"cannot list library folder {folder}: {exc.strerror or exc}; "
                                 "check its permissions") from exc
    return folder.resolve()


def _inside_root(index: LibraryIndex, folder: Path, notify) -> Path:
    """A folder inside a library folder already indexed is that folder (its files have one owner)."""
    for _, root in index.roots():
        r = Path(root)
        if folder != r and folder.is_relative_to(r):
            if notify:
                notify(f"{folder} is inside library folder {r}, already in the index: rescanning {r}")
            return r
    return folder


def walk(folder: Path) -> tuple[list[Path], list[tuple[str, str]]]:
    """Audio files under ``folder`` (sorted) and the sub-folders that could not be listed."""
    found, problems = [], []

    def onerror(exc: OSError):
        problems.append((str(exc.filename), f"unreadable folder: {exc.strerror or exc}"))

    for dirpath, dirnames, filenames in os.walk(folder, onerror=onerror, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in filenames:
            if not name.startswith(".") and Path(name).suffix.lower() in AUDIO_EXT:
                found.append(Path(dirpath) / name)
    return sorted(found), problems


@contextmanager
def scan_lock(index: LibraryIndex, notify: Callable[[str], None] | None = None):
    """Hold ``<db>.lock`` exclusively; a second scanner waits for the first."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: SQLite's own locking still keeps the index whole
        yield
        return
    path = index.path.with_name(index.path.name + ".lock")
    with open(path, "a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            if notify:
                notify(f"another melfoley process is indexing {index.path}; waiting for it to finish")
            fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def read_file(path: Path):
    """(data, rate, format) or raises ValueError with the reason (the file is only read)."""
    import numpy as np
    import soundfile as sf

    try:
        info = sf.info(str(path))
    except Exception as exc:  # libsndfile: "Format not recognised", "Error in WAV file" ...
        raise ValueError(f"unreadable or unsupported ({str(exc).splitlines()[-1][:120]})") from None
    if info.frames <= 0:
        raise ValueError("empty (no audio frames)")
    if not MIN_RATE <= info.samplerate <= MAX_RATE:
        raise ValueError(f"unsupported sample rate {info.samplerate} Hz (readable: {MIN_RATE}-{MAX_RATE} Hz)")
    if not 1 <= info.channels <= MAX_CHANNELS:
        raise ValueError(f"unsupported channel count {info.channels} (readable: 1-{MAX_CHANNELS})")
    try:
        data, sr = sf.read(str(path), dtype="float32", always_2d=False)
    except Exception as exc:
        raise ValueError(f"corrupt ({str(exc).splitlines()[-1][:120]})") from None
    if data.size == 0:
        raise ValueError("empty (no audio frames)")
    if not np.all(np.isfinite(data)):
        raise ValueError("holds NaN/Inf samples")
    return data, int(sr), f"{info.format}/{info.subtype}"


def _embedder():
    from ..text import get_matcher

    return get_matcher().embedder


def scan(index: LibraryIndex, folders: list[Path] | None = None, *,
         progress: Callable[[ScanProgress], None] | None = None, notify: Callable[[str], None] | None = None,
         should_stop: Callable[[], bool] | None = None, workers: int = 1) -> ScanReport:
    """Index ``folders`` (added as roots), or rescan every root when ``folders`` is None.

    ``should_stop`` is polled between files (the dialog's cancel); KeyboardInterrupt is
    caught too. Either way what was committed stays and the report says ``interrupted``.
    ``workers``: analysis processes for scans of :data:`PARALLEL_MIN` files or more (0: one per
    core, at most 2). They are *spawned*: the calling program's main module must be guarded by
    ``if __name__ == "__main__"`` (the ``melfoley`` command and the panel are), so library code
    that cannot know its caller (the engine's starter index) keeps the default of 1.
    """
    t0 = time.perf_counter()
    with scan_lock(index, notify):
        if folders is not None:
            checked = [_inside_root(index, check_folder(f), notify) for f in folders]
            roots = list(dict.fromkeys((index.add_root(f), str(f)) for f in checked))
        else:
            roots = index.roots()
        report = ScanReport([r for _, r in roots])
        work = []  # (root id, root, path, size, mtime)
        for rid, root in roots:
            rpath = Path(root)
            if not rpath.is_dir():
                report.problems.append((root, "library folder is missing (unmounted or moved); its files are "
                                              "marked missing"))
                _mark_gone(index, index.known(rid), set(), report)
                continue
            files, bad = walk(rpath)
            report.problems.extend(bad)
            known = index.known(rid)
            seen = set()
            for p in files:
                try:
                    st = p.stat()
                except OSError as exc:
                    report.problems.append((str(p), f"unreadable: {exc.strerror or exc}"))
                    continue
                seen.add(str(p))
                k = known.get(str(p))
                if k is not None and k[0] == st.st_size and k[1] == st.st_mtime_ns:
                    report.unchanged += 1
                    if k[2] == "missing":
                        index.set_status(str(p), "ok")
                        index.bump()
                    elif k[2] == "error":
                        err = index.execute("SELECT error FROM files WHERE path=?", (str(p),)).fetchone()[0]
                        report.problems.append((str(p), err))
                    continue
                work.append((rid, rpath, p, st.st_size, st.st_mtime_ns))
            _mark_gone(index, known, seen, report)
        report.total = report.unchanged + len(work)
        licences = {root: read_licences(Path(root)) for _, root in roots}
        jobs = [(rid, str(rpath), str(p), size, mtime, licences.get(str(rpath))) for rid, rpath, p, size, mtime in work]
        done, failed, ok = report.unchanged, 0, 0
        pending: list = []
        results, pool = _results(jobs, workers)
        try:
            for row in results:
                if should_stop and should_stop():
                    report.interrupted = True
                    break
                if row[4] != "ok":
                    failed += 1
                    report.problems.append((row[1], row[5]))
                else:
                    ok += 1
                pending.append(row)
                done += 1
                if len(pending) >= BATCH:
                    report.indexed += _commit(index, pending)
                if progress:
                    progress(ScanProgress(done, report.total, ok, report.unchanged, failed, time.perf_counter() - t0, Path(row[1]).name))
        except KeyboardInterrupt:
            report.interrupted = True
        finally:
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)
            if pending:
                report.indexed += _commit(index, pending)
    report.seconds = time.perf_counter() - t0
    return report


def index_one(job) -> tuple:
    """Read and analyse one file (in a worker process or here): the row :func:`_commit` writes."""
    from .segment import analyse

    rid, root, path, size, mtime, licences = job
    p = Path(path)
    try:
        data, sr, fmt = read_file(p)
        info = analyse(data, sr)
        meta = file_meta(p, Path(root), licences)
        return (rid, path, size, mtime, "ok", "", info, meta, meta.text(p), meta.short(p), fmt)
    except ValueError as exc:
        return (rid, path, size, mtime, "error", str(exc), None, None, "", "", "")
    except OSError as exc:
        return (rid, path, size, mtime, "error", f"unreadable: {exc.strerror or exc}", None, None, "", "", "")


def _worker_init() -> None:
    import torch

    torch.set_num_threads(1)


def _results(jobs: list, workers: int):
    """(iterator of rows in order, the process pool or None): files are analysed in ``workers``
    processes when there are enough of them to pay for the start-up (about 2 s per process)."""
    n = workers if workers > 0 else min(2, os.cpu_count() or 1)
    if n <= 1 or len(jobs) < PARALLEL_MIN:
        return map(index_one, jobs), None
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    pool = ProcessPoolExecutor(max_workers=n, mp_context=mp.get_context("spawn"), initializer=_worker_init)
    return pool.map(index_one, jobs, chunksize=8), pool


def _mark_gone(index: LibraryIndex, known: dict, seen: set, report: ScanReport) -> None:
    gone = [p for p, (_, _, st) in known.items() if p not in seen and st != "missing"]
    for p in gone:
        index.set_status(p, "missing", "not found at the last rescan")
    report.missing += len(gone)
    if gone:
        index.bump()


def _commit(index: LibraryIndex, pending: list) -> int:
    """Write one batch in one transaction (text vectors embedded together); returns the ok count."""
    texts = [row[9] for row in pending if row[4] == "ok"]
    vecs = iter(_embedder().embed(texts)) if texts else iter(())
    index.execute("BEGIN IMMEDIATE")
    ok = 0
    try:
        for rid, path, size, mtime, status, err, info, meta, text, _short, fmt in pending:
            vec = next(vecs) if status == "ok" else None
            index.put_file(rid, path, size, mtime, status=status, error=err, info=info, meta=meta, text=text,
                           vec=vec, fmt=fmt)
            ok += status == "ok"
        index.bump()
        index.execute("COMMIT")
    except BaseException:
        index.execute("ROLLBACK")
        raise
    pending.clear()
    return ok
