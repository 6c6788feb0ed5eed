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
(and the engine options, e.g. the weights folder the artist chose); ``about`` answers with the
child's interpreter, path and main module (what a host checks).

Inside another program's Python (a host editor docking the panel), ``sys.executable`` is the
host's binary and ``sys.path`` the host's. :func:`use_interpreter` (or ``$MELFOLEY_PYTHON``)
names melfoley's own Python: the child is then started with it (``set_executable``, only while
the child starts: the setting is process-wide, and the host keeps its own), with that
interpreter's own ``sys.path`` (asked of it once; melfoley's folder first when it is not
there), without the host's ``PYTHONHOME`` / ``PYTHONPATH``, and without re-running the host's
``__main__``: spawn's preparation data (``multiprocessing.spawn.get_preparation_data``, what
``prepare()`` applies in the child) is given ``sys_path`` and ``sys_argv`` of our own and no
``init_main_from_path`` / ``init_main_from_name``, and its command line
(``spawn.get_command_line``) drops the host interpreter's flags (``-I``, ``-S`` ...).
"""

from __future__ import annotations

import atexit
import contextlib
import json
import multiprocessing as mp
import os
import subprocess
import sys
import threading
import traceback
from pathlib import Path
from typing import Callable

from melfoley.core.errors import MelfoleyError
from melfoley.core.engines import DEFAULT_ENGINE
from melfoley.plugin.hosts.bridge import HOST_PYTHON_VARS, child_env

from .render import Cancelled

_HOSTS: dict[str, "EngineHost"] = {}
NICE = 5  # scheduling priority of the engine process, relative to the panel
_INTERPRETER: str | None = None  # melfoley's own Python, when the panel runs in another program's
_LAUNCH = threading.Lock()  # one child starts at a time (the spawn settings below are process-wide)
_CLEAN_PATHS: dict[str, list[str]] = {}
MELFOLEY_ROOT = str(Path(__file__).resolve().parents[2])  # the folder melfoley is imported from


def use_interpreter(python: str | None) -> None:
    """Start engine processes with melfoley's Python ``python`` (None: this interpreter, as spawn
    does by default). A host that docks the panel calls it with the Python of its install record."""
    global _INTERPRETER
    if python is not None and not Path(python).is_file():
        raise MelfoleyError(f"melfoley's Python {python} does not exist; run 'melfoley host install' again")
    _INTERPRETER = python


def interpreter() -> str | None:
    """The Python engine processes run when it is not this one's own (None: this interpreter)."""
    return _INTERPRETER or os.environ.get("MELFOLEY_PYTHON") or None


def clean_path(python: str) -> list[str]:
    """``python``'s own ``sys.path`` (asked of it, once), with melfoley's folder first if it lacks it."""
    if python not in _CLEAN_PATHS:
        try:
            out = subprocess.run([python, "-c", "import json, sys; print(json.dumps(sys.path))"], env=child_env(),
                                 capture_output=True, text=True, timeout=60, cwd=MELFOLEY_ROOT, check=True)
            path = [p for p in json.loads(out.stdout.strip().splitlines()[-1]) if p]
        except (OSError, ValueError, IndexError, subprocess.SubprocessError) as exc:
            raise MelfoleyError(f"melfoley's Python {python} does not start ({exc}); run 'melfoley host install' "
                                "again from melfoley's environment") from exc
        _CLEAN_PATHS[python] = path if MELFOLEY_ROOT in path else [MELFOLEY_ROOT, *path]
    return _CLEAN_PATHS[python]


@contextlib.contextmanager
def _launching(python: str | None):
    """While a child starts: melfoley's interpreter, its own path, no host __main__ (see the module doc)."""
    if python is None:
        yield
        return
    from multiprocessing import spawn

    path = clean_path(python)
    with _LAUNCH:
        executable, prepare, command = spawn.get_executable(), spawn.get_preparation_data, spawn.get_command_line
        saved = {k: os.environ.pop(k) for k in HOST_PYTHON_VARS if k in os.environ}

        def preparation(name):
            data = prepare(name)
            data.pop("init_main_from_path", None)
            data.pop("init_main_from_name", None)
            data.update(sys_path=list(path), sys_argv=[python, "-m", "melfoley.ui.engine_host"])
            return data

        def command_line(**kwds):  # without the host interpreter's flags (-I, -S, -E ... are not melfoley's)
            argv = command(**kwds)
            return [argv[0], *argv[argv.index("-c"):]] if "-c" in argv else argv

        spawn.set_executable(python)
        spawn.get_preparation_data, spawn.get_command_line = preparation, command_line
        try:
            yield
        finally:
            spawn.get_preparation_data, spawn.get_command_line = prepare, command
            spawn.set_executable(executable)
            os.environ.update(saved)


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
        with _launching(interpreter()):  # the Event's semaphore may start the resource tracker: also melfoley's
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

    if kind == "about":  # which interpreter and path the child runs (a host checks it is melfoley's own)
        main = sys.modules.get("__mp_main__") or sys.modules.get("__main__")
        return {"executable": sys.executable, "prefix": sys.prefix, "path": list(sys.path), "pid": os.getpid(),
                "main": getattr(main, "__file__", None), "torch": "torch" in sys.modules}
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
