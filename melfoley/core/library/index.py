"""The sound-library index: one SQLite file (WAL mode, FTS5), written by the scanner, read by the engine.

Tables: ``roots`` (library folders), ``files`` (one row per audio file: identity by path,
size and mtime; format, metadata, licence, true bandwidth, loudness, texture flag, status
``ok`` / ``error`` / ``missing``, a unit text vector), ``events`` (onset, offset, attack,
decay, peak E, levels, E envelope and code histogram blobs), ``files_fts`` (FTS5 over the
searchable text) and ``meta`` (schema version and a generation counter that every
committed change bumps, so readers know when to reload their caches).

A database that is not SQLite or fails its integrity check is moved aside and rebuilt
(roots are kept in a ``.roots.json`` beside it, so ``melfoley library rescan`` restores
it); a database locked by another process is waited for, then reported.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from pathlib import Path

import numpy as np

from ..errors import MelfoleyError

SCHEMA_VERSION = 2
BUSY_TIMEOUT_S = 20.0

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS roots(id INTEGER PRIMARY KEY, path TEXT UNIQUE NOT NULL, added REAL);
CREATE TABLE IF NOT EXISTS files(
  id INTEGER PRIMARY KEY, root_id INTEGER NOT NULL, path TEXT UNIQUE NOT NULL, size INTEGER, mtime_ns INTEGER,
  status TEXT NOT NULL, error TEXT, sample_rate INTEGER, channels INTEGER, duration REAL, format TEXT,
  catid TEXT, category TEXT, subcategory TEXT, fxname TEXT, creator TEXT, description TEXT, text TEXT,
  licence TEXT, attribution TEXT, bandwidth_hz REAL, loudness_db REAL, texture INTEGER, vec BLOB, indexed REAL);
CREATE INDEX IF NOT EXISTS files_root ON files(root_id);
CREATE TABLE IF NOT EXISTS events(
  id INTEGER PRIMARY KEY, file_id INTEGER NOT NULL, kind INTEGER, onset REAL, offset REAL, attack REAL,
  decay REAL, e_peak REAL, peak_db REAL, rms_db REAL, env BLOB, hist BLOB);
CREATE INDEX IF NOT EXISTS events_file ON events(file_id);
CREATE VIRTUAL TABLE IF NOT EXISTS files_fts USING fts5(text);
"""


class LibraryIndexError(MelfoleyError):
    """The library index cannot be used (locked, unwritable, from a newer melfoley)."""


class LibraryFileError(MelfoleyError):
    """A library file the index names is gone or changed since it was indexed."""


def _fix() -> str:
    return "run `melfoley library rescan`"


class LibraryIndex:
    """An open index database. ``LibraryIndex(path)`` creates it when missing."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.rebuilt_from: Path | None = None
        self.rebuild_reason = ""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise LibraryIndexError(f"cannot create the folder of library index {self.path}: {exc}; "
                                    "set MELFOLEY_LIBRARY_DB or --library-db to a writable place") from exc
        self.db = self._connect()
        self._vecs: tuple[int, np.ndarray, np.ndarray] | None = None

    # ------------------------------------------------------------------ opening
    def _connect(self) -> sqlite3.Connection:
        try:
            db = self._open_checked()
        except sqlite3.DatabaseError as exc:
            if _is_locked(exc):
                raise self._locked(exc) from exc
            db = self._rebuild(exc)
        return db

    def _open_checked(self) -> sqlite3.Connection:
        db = sqlite3.connect(str(self.path), timeout=BUSY_TIMEOUT_S, isolation_level=None,
                             check_same_thread=False)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            if db.execute("PRAGMA quick_check").fetchone()[0] != "ok":
                raise sqlite3.DatabaseError("integrity check failed")
            db.executescript(SCHEMA)
            row = db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
            if row is None:
                db.execute("INSERT OR IGNORE INTO meta VALUES('schema', ?)", (str(SCHEMA_VERSION),))
                db.execute("INSERT OR IGNORE INTO meta VALUES('generation', '0')")
            elif int(row[0]) < SCHEMA_VERSION:  # derived data: an older index is re-made, its folders kept
                db.executescript("DROP TABLE IF EXISTS events; DROP TABLE IF EXISTS files; "
                                 "DROP TABLE IF EXISTS files_fts;")
                db.executescript(SCHEMA)
                db.execute("UPDATE meta SET value=? WHERE key='schema'", (str(SCHEMA_VERSION),))
                db.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key='generation'")
            elif int(row[0]) > SCHEMA_VERSION:
                db.close()
                raise LibraryIndexError(f"library index {self.path} was written by a newer melfoley (schema {row[0]}); "
                                        "upgrade melfoley or point --library-db elsewhere")
        except BaseException:
            db.close()
            raise
        return db

    def _locked(self, exc) -> LibraryIndexError:
        return LibraryIndexError(f"library index {self.path} is locked by another process ({exc}) after "
                                 f"{BUSY_TIMEOUT_S:.0f} s; wait for the other `melfoley library` command to finish, "
                                 "then retry")

    def _rebuild(self, exc) -> sqlite3.Connection:
        aside = self.path.with_name(f"{self.path.name}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}")
        for suffix in ("", "-wal", "-shm"):
            p = Path(str(self.path) + suffix)
            if p.exists():
                os.replace(p, Path(str(aside) + suffix))
        self.rebuilt_from = aside
        db = self._open_checked()
        for root in self._saved_roots():
            db.execute("INSERT OR IGNORE INTO roots(path, added) VALUES(?, ?)", (root, time.time()))
        self.rebuild_reason = str(exc)
        return db

    def _roots_file(self) -> Path:
        return self.path.with_name(self.path.name + ".roots.json")

    def _saved_roots(self) -> list[str]:
        try:
            return [str(r) for r in json.loads(self._roots_file().read_text())]
        except (OSError, ValueError, TypeError):
            return []

    def _save_roots(self) -> None:
        target = self._roots_file()
        tmp = target.with_name(target.name + f".{os.getpid()}.part")
        try:
            tmp.write_text(json.dumps([r for _, r in self.roots()], indent=1))
            os.replace(tmp, target)
        except OSError:
            pass  # only a convenience for rebuilding

    def close(self) -> None:
        self.db.close()

    # ------------------------------------------------------------------ writing
    def execute(self, sql: str, args=()):
        try:
            return self.db.execute(sql, args)
        except sqlite3.OperationalError as exc:
            if _is_locked(exc):
                raise self._locked(exc) from exc
            raise LibraryIndexError(f"library index {self.path}: {exc}; {_fix()}") from exc

    def bump(self) -> None:
        self.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key='generation'")

    def generation(self) -> int:
        return int(self.execute("SELECT value FROM meta WHERE key='generation'").fetchone()[0])

    def add_root(self, path: Path) -> int:
        self.execute("INSERT OR IGNORE INTO roots(path, added) VALUES(?, ?)", (str(path), time.time()))
        self._save_roots()
        return int(self.execute("SELECT id FROM roots WHERE path=?", (str(path),)).fetchone()[0])

    def roots(self) -> list[tuple[int, str]]:
        return [(int(i), p) for i, p in self.execute("SELECT id, path FROM roots ORDER BY path")]

    def remove_root(self, path: Path) -> int:
        row = self.execute("SELECT id FROM roots WHERE path=?", (str(path),)).fetchone()
        if row is None:
            raise LibraryIndexError(f"{path} is not in library index {self.path}; see `melfoley library list`")
        rid = int(row[0])
        self.execute("BEGIN IMMEDIATE")
        ids = [r[0] for r in self.execute("SELECT id FROM files WHERE root_id=?", (rid,))]
        self.execute("DELETE FROM events WHERE file_id IN (SELECT id FROM files WHERE root_id=?)", (rid,))
        self.execute("DELETE FROM files_fts WHERE rowid IN (SELECT id FROM files WHERE root_id=?)", (rid,))
        self.execute("DELETE FROM files WHERE root_id=?", (rid,))
        self.execute("DELETE FROM roots WHERE id=?", (rid,))
        self.bump()
        self.execute("COMMIT")
        self._save_roots()
        return len(ids)

    def known(self, root_id: int) -> dict[str, tuple[int, int, str]]:
        """path -> (size, mtime_ns, status) of every file under a root."""
        return {p: (s, m, st) for p, s, m, st in
                self.execute("SELECT path, size, mtime_ns, status FROM files WHERE root_id=?", (root_id,))}

    def put_file(self, root_id: int, path: str, size: int, mtime_ns: int, *, status: str, error: str = "",
                 info=None, meta=None, text: str = "", vec: np.ndarray | None = None, fmt: str = "") -> None:
        """Insert or replace one file and its events (the caller holds a transaction)."""
        old = self.execute("SELECT id FROM files WHERE path=?", (path,)).fetchone()
        if old is not None:
            self.execute("DELETE FROM events WHERE file_id=?", (old[0],))
            self.execute("DELETE FROM files_fts WHERE rowid=?", (old[0],))
            self.execute("DELETE FROM files WHERE id=?", (old[0],))
        m = meta
        cur = self.execute(
            "INSERT INTO files(root_id, path, size, mtime_ns, status, error, sample_rate, channels, duration, format, "
            "catid, category, subcategory, fxname, creator, description, text, licence, attribution, bandwidth_hz, "
            "loudness_db, texture, vec, indexed) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (root_id, path, size, mtime_ns, status, error,
             info.sample_rate if info else None, info.channels if info else None, info.duration if info else None,
             fmt, *(getattr(m, k, "") for k in ("catid", "category", "subcategory", "fxname", "creator",
                                                   "description")),
             text, getattr(m, "licence", ""), getattr(m, "attribution", ""),
             info.bandwidth_hz if info else None, info.loudness_db if info else None,
             int(info.texture) if info else 0,
             vec.astype(np.float16).tobytes() if vec is not None else None, time.time()))
        fid = cur.lastrowid
        if status == "ok":
            self.execute("INSERT INTO files_fts(rowid, text) VALUES(?, ?)", (fid, text))
            self.db.executemany(
                "INSERT INTO events(file_id, kind, onset, offset, attack, decay, e_peak, peak_db, rms_db, env, hist) "
                "VALUES(?,?,?,?,?,?,?,?,?,?,?)",
                [(fid, ev.kind, ev.onset, ev.offset, ev.attack, ev.decay, ev.e_peak, ev.peak_db, ev.rms_db,
                  ev.env.astype(np.float16).tobytes(), ev.hist.tobytes()) for ev in info.events])

    def set_status(self, path: str, status: str, error: str = "") -> None:
        self.execute("UPDATE files SET status=?, error=? WHERE path=?", (status, error, path))

    def mark_missing(self, path: str) -> None:
        """A file found gone or changed at render time: flagged, so queries skip it until a rescan."""
        try:
            self.execute("UPDATE files SET status='missing', error='gone or changed since indexing' WHERE path=?",
                         (path,))
            self.bump()
        except MelfoleyError:
            pass  # a read-only or locked index: the error the caller raises still names the fix

    # ------------------------------------------------------------------ reading
    def stats(self) -> dict:
        q = self.execute("SELECT status, COUNT(*), COALESCE(SUM(duration), 0), COALESCE(SUM(size), 0) "
                         "FROM files GROUP BY status").fetchall()
        by = {s: {"files": n, "hours": d / 3600.0, "bytes": b} for s, n, d, b in q}
        ev = self.execute("SELECT kind, COUNT(*) FROM events GROUP BY kind").fetchall()
        rates = self.execute("SELECT sample_rate, COUNT(*) FROM files WHERE status='ok' GROUP BY sample_rate").fetchall()
        cats = self.execute("SELECT COALESCE(NULLIF(category, ''), '(no UCS category)'), COUNT(*) FROM files "
                            "WHERE status='ok' GROUP BY 1 ORDER BY 2 DESC LIMIT 12").fetchall()
        return {"db": str(self.path), "roots": len(self.roots()), "status": by,
                "events": {("texture" if k else "event"): n for k, n in ev},
                "sample_rates": {int(r or 0): n for r, n in rates}, "categories": dict(cats),
                "generation": self.generation()}

    def problems(self, limit: int = 50) -> list[tuple[str, str, str]]:
        return list(self.execute("SELECT path, status, error FROM files WHERE status != 'ok' ORDER BY path LIMIT ?",
                                 (limit,)))

    def ok_files(self) -> int:
        return int(self.execute("SELECT COUNT(*) FROM files WHERE status='ok'").fetchone()[0])

    def vectors(self) -> tuple[np.ndarray, np.ndarray]:
        """(file ids ascending, unit text vectors [n, dim] float32) of every usable file, cached per generation."""
        gen = self.generation()
        if self._vecs is None or self._vecs[0] != gen:
            rows = self.execute("SELECT id, vec FROM files WHERE status='ok' AND vec IS NOT NULL ORDER BY id").fetchall()
            ids = np.array([r[0] for r in rows], np.int64)
            vecs = (np.stack([np.frombuffer(r[1], np.float16) for r in rows]).astype(np.float32) if rows
                    else np.zeros((0, 1), np.float32))
            self._vecs = (gen, ids, vecs)
        return self._vecs[1], self._vecs[2]

    def fts(self, query: str, limit: int = 200) -> dict[int, float]:
        """file id -> FTS5 rank score (higher is better, bm25 negated) for any of the query's words."""
        words = [w for w in "".join(c if c.isalnum() else " " for c in query.lower()).split() if len(w) > 2]
        if not words:
            return {}
        q = " OR ".join(f'"{w}"' for w in words)
        rows = self.execute("SELECT rowid, bm25(files_fts) FROM files_fts WHERE files_fts MATCH ? "
                            "ORDER BY bm25(files_fts) LIMIT ?", (q, limit)).fetchall()
        return {int(r): -float(s) for r, s in rows}

    def files(self, ids) -> dict[int, dict]:
        ids = [int(i) for i in ids]
        if not ids:
            return {}
        cols = ("id", "path", "size", "mtime_ns", "sample_rate", "channels", "duration", "licence", "attribution",
                "bandwidth_hz", "texture", "fxname", "category", "catid")
        rows = self.execute(f"SELECT {', '.join(cols)} FROM files WHERE status='ok' AND id IN "
                            f"({','.join('?' * len(ids))})", ids).fetchall()
        return {int(r[0]): dict(zip(cols, r)) for r in rows}

    def events_of(self, ids) -> list[tuple]:
        """(id, file_id, kind, onset, offset, attack, decay, e_peak, peak_db, env, hist) of the files' events."""
        ids = [int(i) for i in ids]
        if not ids:
            return []
        return self.execute("SELECT id, file_id, kind, onset, offset, attack, decay, e_peak, peak_db, env, hist "
                            f"FROM events WHERE file_id IN ({','.join('?' * len(ids))})", ids).fetchall()

    def max_bandwidth(self) -> float:
        v = self.execute("SELECT MAX(bandwidth_hz) FROM files WHERE status='ok'").fetchone()[0]
        return float(v or 0.0)


def _is_locked(exc) -> bool:
    msg = str(exc).lower()
    return "locked" in msg or "busy" in msg
