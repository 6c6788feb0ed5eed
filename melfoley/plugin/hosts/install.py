"""``melfoley host install|uninstall resolve|hiero``: the entry scripts into each host's documented folder.

Per-user folders (the hosts' documentation; computed for any OS, not only the running one):

| host | Linux | macOS | Windows |
|---|---|---|---|
| Resolve (Workspace > Scripts > Edit) | ``~/.local/share/DaVinciResolve/Fusion/Scripts/Edit`` | ``~/Library/Application Support/Blackmagic Design/DaVinci Resolve/Fusion/Scripts/Edit`` | ``%APPDATA%\\Blackmagic Design\\DaVinci Resolve\\Support\\Fusion\\Scripts\\Edit`` |
| Nuke Studio / Hiero (startup scripts) | ``~/.nuke/Python/Startup`` | same | ``%USERPROFILE%\\.nuke\\Python\\Startup`` |

Each entry script is written from its template in ``entry/`` with the path of a record
(``<script stem>.json`` beside it) naming melfoley's Python, the host modules' folder and
the output root; the host runs melfoley through that Python, never importing it. Files we
did not write (no marker line) are never overwritten or removed.
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path, PurePath, PurePosixPath, PureWindowsPath
from typing import Mapping

from ... import __version__
from ...core.errors import MelfoleyError
from ...core.atomic import atomic_text

HOSTS = ("resolve", "hiero")
PLATFORMS = ("linux", "macos", "windows")
MARK = "melfoley-host-entry"
PLACEHOLDER = "__MELFOLEY_RECORD__"
#: host -> the installed entry script (one template, entry/host_entry.py, for both)
ENTRIES = {"resolve": "melfoley Foley.py", "hiero": "melfoley_hiero.py"}
TEMPLATE = "host_entry.py"
HOSTS_DIR = Path(__file__).resolve().parent


def current_platform() -> str:
    if sys.platform == "win32":
        return "windows"
    return "macos" if sys.platform == "darwin" else "linux"


def _layout(host: str, platform: str, env: Mapping[str, str]) -> tuple[str | None, tuple[str, ...]]:
    """(base, parts): the folder is ``base / parts``; base None means the user's home."""
    if host not in HOSTS:
        raise MelfoleyError(f"unknown host {host!r}; choose {' or '.join(HOSTS)}")
    if platform not in PLATFORMS:
        raise MelfoleyError(f"unknown platform {platform!r}; choose one of {', '.join(PLATFORMS)}")
    if host == "hiero":
        return None, (".nuke", "Python", "Startup")
    scripts = ("Fusion", "Scripts", "Edit")
    if platform == "linux":
        return None, (".local", "share", "DaVinciResolve", *scripts)
    bmd = ("Blackmagic Design", "DaVinci Resolve")
    if platform == "macos":
        return None, ("Library", "Application Support", *bmd, *scripts)
    if env.get("APPDATA"):
        return env["APPDATA"], (*bmd, "Support", *scripts)
    return None, ("AppData", "Roaming", *bmd, "Support", *scripts)


def script_dir(host: str, platform: str, home: str | PurePath, env: Mapping[str, str] | None = None) -> PurePath:
    """The per-user script / plug-in folder of ``host`` on ``platform`` (that OS's path flavour)."""
    flavour = PureWindowsPath if platform == "windows" else PurePosixPath
    base, parts = _layout(host, platform, env or {})
    return flavour(base if base is not None else home, *parts)


@dataclass(frozen=True)
class Installed:
    host: str
    script: Path
    record: Path


def _target(host: str, home: Path | None, platform: str | None) -> tuple[Path, str]:
    """The entry script's path on this machine; with ``home`` the layout of ``platform`` goes under it."""
    platform = platform or current_platform()
    base, parts = _layout(host, platform, {} if home is not None else os.environ)
    root = Path(base) if base is not None else (home if home is not None else Path.home())
    return Path(root, *parts) / ENTRIES[host], platform


def _ours(path: Path) -> bool:
    try:
        return MARK in path.read_text(encoding="utf-8", errors="replace")[:400]
    except OSError:
        return False


def install(host: str, *, home: Path | None = None, platform: str | None = None, python: str | None = None,
            output_root: Path | None = None) -> Installed:
    script, platform = _target(host, home, platform)
    record = script.with_suffix(".json")
    if script.exists() and not _ours(script):
        raise MelfoleyError(f"{script} exists and was not written by melfoley; move it away, then install again")
    template = (HOSTS_DIR / "entry" / TEMPLATE).read_text(encoding="utf-8")
    if PLACEHOLDER not in template or MARK not in template:
        raise MelfoleyError(f"the {host} entry template is damaged (reinstall melfoley)")
    script.parent.mkdir(parents=True, exist_ok=True)
    doc = {"host": host, "platform": platform, "python": python or sys.executable, "hosts_dir": str(HOSTS_DIR),
           "melfoley_version": __version__, "installed": time.strftime("%Y-%m-%dT%H:%M:%S"),
           "output_root": str(output_root or (home or Path.home()) / "melfoley")}
    atomic_text(record, json.dumps(doc, indent=1))
    atomic_text(script, template.replace(PLACEHOLDER, repr(str(record))))
    return Installed(host, script, record)


def uninstall(host: str, *, home: Path | None = None, platform: str | None = None) -> list[Path]:
    """Remove what :func:`install` wrote (only files carrying our marker); returns the removed paths."""
    script, _ = _target(host, home, platform)
    removed = []
    if script.exists():
        if not _ours(script):
            raise MelfoleyError(f"{script} was not written by melfoley; left in place")
        script.unlink()
        removed.append(script)
    record = script.with_suffix(".json")
    if record.exists():
        try:
            is_ours = json.loads(record.read_text(encoding="utf-8")).get("host") == host
        except (OSError, ValueError):
            is_ours = False
        if is_ours:
            record.unlink()
            removed.append(record)
    return removed
