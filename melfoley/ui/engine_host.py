"""The engine process: decoding, prediction and generation run in a child Python process.

Threads alone are not enough for a panel that must answer within 100 ms: Python threads
share one interpreter lock, and on a loaded machine a worker thread that holds it while
the OS preempts it freezes the UI with it. So the heavy work (:mod:`melfoley.ui.render`)
runs in a ``spawn``-ed child that keeps its engines resident; the panel talks to it over
a pipe from a pool thread that only waits and relays (see :func:`melfoley.ui.workers.host_job`).

``EngineHost.call(kind, payload, on_message, is_cancelled)`` sends one request and relays
the child's messages until its result; a cancel sets a shared event that the child checks
between takes. A dead child is reported as an error and restarted on the next call.
Requests: ``warm``, ``thumbnails``, ``preview``, ``frame``, ``generate``; the child reopens the
edit itself (from its path) and applies the settings the panel sends with each request
(and the engine options, e.g. the weights folder the artist chose).
"""

from __future__ import annotations

import atexit
import multiprocessing as mp
import threading
import traceback
from pathlib import Path
from typing import Callable

from melfoley.core.errors import MelfoleyError
from melfoley.core.engines import DEFAULT_ENGINE

from .render import Cancelled

_HOSTS: dict[str, "EngineHost"] = {}
NICE = 5  # scheduling priority of the engine process, relative to the panel


class EngineHost:
    def __init__(self, name: str = "engine"):
        self.name = name
        self._ctx = mp.get_context("spawn")
        self._proc = None
        self._conn = None
        self._cancel = None
        self._lock = threading.Lock()

    def alive(self) -> bool:
        return self._proc is not None and self._proc.is_alive()

    def _start(self) -> None:
        if self.alive():
            return
        parent, child = self._ctx.Pipe()
        self._cancel = self._ctx.Event()
        self._proc = self._ctx.Process(target=serve, args=(child, self._cancel), daemon=True,
                                       name=f"melfoley-{self.name}")
        self._proc.start()
        child.close()
        self._conn = parent

    def call(self, kind: str, payload, on_message: Callable[..., None] | None = None,
             is_cancelled: Callable[[], bool] = lambda: False):
        """Run one request in the child; relays ``(tag, *args)`` messages; returns its result."""
        with self._lock:
            self._start()
            self._cancel.clear()
            self._conn.send((kind, payload))
            while True:
                if is_cancelled():
                    self._cancel.set()
                try:
                    ready = self._conn.poll(0.05)
                except (EOFError, OSError):
                    ready = True
                if not ready:
                    if not self._proc.is_alive():
                        code = self._proc.exitcode
                        self._proc = None
                        raise MelfoleyError(f"the engine process stopped (exit code {code}) during {kind}; "
                                            "it restarts on the next request; if it keeps stopping, check memory")
                    continue
                try:
                    msg = self._conn.recv()
                except (EOFError, OSError) as exc:
                    self._proc = None
                    raise MelfoleyError(f"lost the engine process during {kind} ({exc}); it restarts on the next "
                                        "request") from exc
                tag = msg[0]
                if tag == "result":
                    return msg[1]
                if tag == "failed":
                    raise MelfoleyError(msg[1])
                if tag == "cancelled":
                    raise Cancelled("cancelled")
                if on_message is not None:
                    on_message(*msg)

    def cancel(self) -> None:
        if self._cancel is not None:
            self._cancel.set()

    def close(self, timeout: float = 3.0) -> None:
        if self._proc is None:
            return
        self.cancel()
        try:
            if self._lock.acquire(timeout=timeout):
                try:
                    self._conn.send(("quit", None))
                finally:
                    self._lock.release()
        except (OSError, ValueError):
            pass
        self._proc.join(timeout)
        if self._proc.is_alive():
            self._proc.terminate()
            self._proc.join(timeout)
        self._proc = None


def shared_host(role: str) -> EngineHost:
    """The process-wide host for ``role`` ("generate" or "preview"): engines stay resident across panels."""
    if role not in _HOSTS:
        _HOSTS[role] = EngineHost(role)
    return _HOSTS[role]


@atexit.register
def close_all() -> None:
    for host in list(_HOSTS.values()):
        host.close(1.0)


# ---------------------------------------------------------------------------- the child side
def serve(conn, cancel) -> None:  # pragma: no cover - runs in the child process (covered via the panel tests)
    """The child's loop. It runs at a lower priority (nice +5): when the machine is busy, the
    UI process gets the CPU first, and rendering takes what is left."""
    import os

    if hasattr(os, "nice"):
        try:
            os.nice(NICE)
        except OSError:
            pass
    sessions: dict = {}

    def emit(*msg) -> None:
        conn.send(msg)

    def check() -> None:
        if cancel.is_set():
            raise Cancelled("cancelled")

    while True:
        try:
            kind, payload = conn.recv()
        except (EOFError, OSError, KeyboardInterrupt):
            return
        if kind == "quit":
            return
        try:
            result = handle(kind, payload, sessions, emit, check)
        except Cancelled:
            conn.send(("cancelled",))
        except MelfoleyError as exc:
            conn.send(("failed", str(exc)))
        except Exception as exc:  # noqa: BLE001 - report, keep serving
            conn.send(("failed", f"{kind} failed: {type(exc).__name__}: {exc}\n{traceback.format_exc(limit=5)}"))
        else:
            conn.send(("result", result))


def _session(doc: dict, sessions: dict):
    """The child's own copy of the panel's edit (re-read when the file changed)."""
    from .session import Session

    path = Path(doc["path"])
    key = (str(path), str(doc.get("media_root")), path.stat().st_mtime_ns)
    if key not in sessions:
        sessions.clear()
        sessions[key] = Session.open(path, media_root=doc.get("media_root"), restore_autosave=False)
    return sessions[key]


def _apply(session, settings: dict) -> None:
    from . import settings_io

    for cid, meta in settings.items():
        st = session.state(cid)
        st.settings = settings_io.read(meta, st.clip)


def handle(kind: str, payload: dict, sessions: dict, emit, check):
    from . import render

    if kind == "warm":
        from melfoley.core.engine import get_engine
        from melfoley.plugin.jobs import event_for

        event_for("footsteps")
        get_engine(payload["engine"], **(payload.get("options") or {}))
        return True
    session = _session(payload["doc"], sessions)
    if payload["doc"].get("markers") is not None:  # the panel's foley: markers (added, moved, edited)
        from .markers import Marker

        session.set_markers(Marker(float(a), float(b), str(t)) for a, b, t in payload["doc"]["markers"])
    _apply(session, payload.get("settings", {}))
    session.default_prompt = payload.get("default_prompt", session.default_prompt)
    if kind == "thumbnails":
        return render.thumbnails(session, payload["clip_ids"], emit, check)
    if kind == "preview":
        return render.build_preview(session, payload["clip_id"], payload["engine"], emit,
                                    options=payload.get("options") or {})
    if kind == "frame":
        return render.frame_at(session, payload["clip_id"], payload["seconds"], payload["size"])
    if kind == "frames":
        return render.frames_at(session, payload["clip_id"], payload["first"], payload["count"], payload["size"])
    if kind == "generate":
        return render.generate_clips(session, payload["engine"], payload["tasks"], emit, check,
                                     default_engine=payload.get("default_engine", DEFAULT_ENGINE),
                                     options=payload.get("options") or {})
    raise MelfoleyError(f"unknown engine-process request {kind!r}")
