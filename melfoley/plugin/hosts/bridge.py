"""The host side of every bridge: find melfoley, run its batch in a child process, read the result.

Standard library only (it runs inside Resolve's or Hiero's Python). The child is
``<recorded python> -m melfoley.plugin.cli host run EDIT -o OUT ...``; it prints one JSON
object per line on stdout (``progress`` events, then ``result``) and stops cleanly (finished
stems and a valid partial timeline kept) on SIGINT / SIGTERM, or CTRL_BREAK on Windows.

:func:`read_foley_edit` reads the Foley tracks of the edit melfoley wrote (plain OTIO JSON,
read with :mod:`json`: the host needs no OTIO) as frames: absolute record frame (timeline
start included), the in-frame inside the stem file and the length, at the timeline's rate.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

ENV_SUFFIX = ".json"  # the recorded environment sits beside each entry script: <script stem>.json
TRACK_PREFIX = "FOLEY"


class BridgeError(Exception):
    """Something the artist can fix (no timeline open, melfoley moved, a failed export): one line."""


# ---------------------------------------------------------------------------- environment
def load_env(entry_script: str | os.PathLike) -> dict:
    """The environment recorded at install time beside ``entry_script`` (python, version, out root)."""
    path = Path(entry_script).with_suffix(ENV_SUFFIX)
    try:
        env = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BridgeError(f"melfoley's host record {path} is missing or unreadable ({exc}); "
                          "run 'melfoley host install' again") from exc
    python = env.get("python", "")
    if not python or not Path(python).exists():
        raise BridgeError(f"melfoley's Python {python!r} (recorded in {path}) no longer exists; "
                          "run 'melfoley host install' again from melfoley's environment")
    return env


_ABOUT = ("import json, os, site, sys, melfoley; print(json.dumps({'version': list(sys.version_info[:2]), "
          "'site': site.getsitepackages(), 'root': os.path.dirname(os.path.dirname(os.path.abspath("
          "melfoley.__file__)))}))")


def env_python(env: dict) -> dict:
    """What melfoley's recorded Python is: its ``version`` [major, minor], its ``site`` folders and
    the ``root`` folder melfoley is imported from (asked of it, in a child process)."""
    try:
        out = subprocess.run([env["python"], "-c", _ABOUT], env=child_env(), stdin=subprocess.DEVNULL,
                             capture_output=True, text=True, timeout=60)
        if out.returncode:
            raise BridgeError(f"melfoley's Python {env['python']} cannot import melfoley "
                              f"({(out.stderr.strip().splitlines() or ['no output'])[-1]}); run 'melfoley host "
                              "install' again from melfoley's environment")
        return json.loads(out.stdout.strip().splitlines()[-1])
    except (OSError, ValueError, IndexError, subprocess.SubprocessError) as exc:
        raise BridgeError(f"melfoley's Python {env['python']} does not answer ({exc}); run 'melfoley host "
                          "install' again from melfoley's environment") from exc


def output_root(env: dict, host: str) -> Path:
    """Where a host's jobs go: $MELFOLEY_HOST_OUT, else the recorded root, else ~/melfoley/<host>."""
    root = os.environ.get("MELFOLEY_HOST_OUT") or env.get("output_root") or str(Path.home() / "melfoley")
    return Path(root).expanduser() / host


def log_line(log_path: Path, text: str) -> None:
    """One time-stamped line in a job's log (the child batch appends its own output after it)."""
    log_path = Path(log_path)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "a", encoding="utf-8") as fh:
        fh.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} melfoley bridge: {text}\n")


def safe_name(text: str) -> str:
    keep = "".join(ch if ch.isalnum() or ch in " ._-" else "_" for ch in str(text)).strip(" .")
    return keep or "untitled"


# ---------------------------------------------------------------------------- the child batch
@dataclass
class Settings:
    """What every clip gets unless its metadata says otherwise (the batch's defaults)."""

    prompt: str = "footsteps"
    takes: int = 1
    seed: int = 0
    engine: str = "library"  # melfoley.core.engines.DEFAULT_ENGINE (this module runs in the host: stdlib only)
    media_root: str | None = None
    window: bool = False  # the child shows its own progress window (hosts without Qt: Resolve)

    def argv(self) -> list[str]:
        out = ["--prompt", self.prompt, "--takes", str(self.takes), "--seed", str(self.seed),
               "--engine", self.engine]
        if self.media_root:
            out += ["--media-root", str(self.media_root)]
        return out + (["--window"] if self.window else [])


#: another Python's settings, which must not reach melfoley's interpreter from a host's environment
HOST_PYTHON_VARS = ("PYTHONHOME", "PYTHONPATH")


def child_env() -> dict:
    """The environment for a melfoley child: the host's own Python settings do not leak into it."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    for var in HOST_PYTHON_VARS:
        env.pop(var, None)
    return env


def batch_command(env: dict, edit: Path, out: Path, settings: Settings) -> list[str]:
    return [env["python"], "-m", "melfoley.plugin.cli", "host", "run", str(edit), "-o", str(out),
            *settings.argv()]


class ChildBatch:
    """``melfoley host run`` in a child process: iterate :meth:`events`, :meth:`cancel` at any time."""

    def __init__(self, argv: list[str], log_path: Path):
        self.argv, self.log_path = argv, Path(log_path)
        self.proc: subprocess.Popen | None = None
        self.result: dict | None = None
        self.cancelled = False

    def start(self) -> "ChildBatch":
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        kwargs: dict = {}
        if sys.platform == "win32":
            kwargs["creationflags"] = subprocess.CREATE_NEW_PROCESS_GROUP  # so CTRL_BREAK reaches it alone
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.argv, stdout=subprocess.PIPE, stderr=self._log, stdin=subprocess.DEVNULL,
                                     env=child_env(), **kwargs)
        return self

    def events(self):
        """Each JSON event the child prints; the last is ``{"event": "result", ...}``."""
        assert self.proc is not None and self.proc.stdout is not None
        for raw in self.proc.stdout:
            try:
                ev = json.loads(raw.decode("utf-8", "replace"))
            except ValueError:
                continue  # a stray print: not ours
            if ev.get("event") == "result":
                self.result = ev
            yield ev
        self.proc.wait()
        self._log.close()

    def cancel(self) -> None:
        """Ask the child to stop after writing what it has (its partial timeline stays valid)."""
        self.cancelled = True
        if self.proc is None or self.proc.poll() is not None:
            return
        if sys.platform == "win32":
            self.proc.send_signal(signal.CTRL_BREAK_EVENT)
        else:
            self.proc.send_signal(signal.SIGINT)

    def run(self, on_event=None) -> dict:
        """Start, relay every event to ``on_event``, and return the result (or raise BridgeError)."""
        if self.proc is None:
            self.start()
        for ev in self.events():
            if on_event is not None:
                on_event(ev)
        if self.result is None:
            raise BridgeError(f"melfoley stopped without a result (exit code {self.proc.returncode}); "
                              f"see {self.log_path}")
        if self.result.get("error"):
            raise BridgeError(self.result["error"])
        return self.result


def describe_failures(result: dict) -> list[str]:
    """One line per failed clip: id, name, record timecode and the reason (its own clip prefix dropped)."""
    out = []
    for c in result.get("failed", []):
        reason, prefix = c["reason"], f"clip {c['clip_id']} '{c['name']}': "
        if reason.startswith(prefix):
            reason = reason[len(prefix):]
        out.append(f"{c['clip_id']} {c['name']!r} {c.get('timecode', '')}: {reason}")
    return out


# ---------------------------------------------------------------------------- the Foley edit, as frames
@dataclass(frozen=True)
class StemItem:
    path: Path
    name: str
    record_frame: int  # absolute timeline frame (timeline start included)
    source_in: int     # first frame used inside the stem file
    frames: int
    picture_clip: str


@dataclass(frozen=True)
class FoleyTrack:
    name: str
    enabled: bool
    items: tuple[StemItem, ...]


@dataclass(frozen=True)
class FoleyEdit:
    rate: float
    start_frame: int  # the timeline's start (global start time) in frames
    tracks: tuple[FoleyTrack, ...]


def url_to_path(url: str) -> Path:
    """file:///a/b%20c, file:///C:/x, file://localhost/x, or a plain path -> Path."""
    parts = urlsplit(url)
    if parts.scheme.lower() != "file":
        return Path(url)
    path = unquote(parts.path)
    if len(path) >= 3 and path[0] == "/" and path[2] == ":":  # /C:/x -> C:/x
        path = path[1:]
    if parts.netloc and parts.netloc.lower() != "localhost":
        path = f"//{parts.netloc}{path}"
    return Path(path)


def _frames(t: dict | None, rate: float) -> int:
    if not t:
        return 0
    return int(round(float(t["value"]) * rate / float(t["rate"])))


def _reference(clip: dict) -> dict:
    refs = clip.get("media_references")
    if refs:
        return refs.get(clip.get("active_media_reference_key", "DEFAULT_MEDIA")) or next(iter(refs.values()))
    return clip.get("media_reference") or {}


def read_foley_edit(path: str | os.PathLike) -> FoleyEdit:
    """The ``FOLEY ...`` audio tracks melfoley added to its output edit, placed in timeline frames."""
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BridgeError(f"cannot read melfoley's output edit {path}: {exc}") from exc
    gs = doc.get("global_start_time")
    rate = float(gs["rate"]) if gs else None
    tracks = []
    for tr in doc["tracks"]["children"]:
        ours = "melfoley" in (tr.get("metadata") or {})  # not an artist's own track that happens to be "FOLEY ..."
        if tr.get("kind") != "Audio" or not ours or not str(tr.get("name", "")).startswith(TRACK_PREFIX):
            continue
        items, pos = [], 0
        for child in tr.get("children", []):
            sr = child.get("source_range")
            if rate is None and sr:
                rate = float(sr["duration"]["rate"])
            dur = _frames(sr["duration"], rate) if sr else 0
            if str(child.get("OTIO_SCHEMA", "")).startswith("Clip"):
                ref = _reference(child)
                avail = ref.get("available_range")
                src_in = _frames(sr["start_time"], rate) - (_frames(avail["start_time"], rate) if avail else 0)
                items.append(StemItem(url_to_path(ref.get("target_url", "")), child.get("name", ""),
                                      _frames(gs, rate) + pos, max(0, src_in), dur,
                                      child.get("metadata", {}).get("melfoley", {}).get("picture_clip", "")))
            pos += dur
        tracks.append(FoleyTrack(tr["name"], bool(tr.get("enabled", True)), tuple(items)))
    rate = rate or 24.0
    return FoleyEdit(rate, _frames(gs, rate), tuple(tracks))
