"""Finding a clip's media file: URLs and paths as editors write them, and relinking moved media.

Media paths: file URLs (percent-encoded, ``localhost``, Windows drives, UNC hosts), plain
POSIX or Windows paths, paths relative to the timeline, and ``media_root`` relinking by the
path's trailing components; a clip without a media file (EDL) by its name under ``media_root``.
Only regular files count as media: a folder, a device
(``/dev/zero``) or a pipe named as media is reported as what it is, not as "not found".
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path, PurePosixPath, PureWindowsPath
from urllib.parse import unquote, urlsplit

import opentimelineio as otio

_DRIVE = re.compile(r"^/?([A-Za-z]):[/\\]")


def url_to_path(url: str) -> tuple[str, str]:
    """(kind, path) for a media URL or path: kind is ``posix``, ``windows``, ``unc`` or ``relative``."""
    s = url.strip()
    if s.lower().startswith("file:"):
        parts = urlsplit(s)
        host, p = parts.netloc, unquote(parts.path)
        if re.fullmatch(r"[A-Za-z]:", host or ""):  # file://D:/x
            return "windows", host + p
        if host and host.lower() != "localhost":  # file://server/share/x
            return "unc", "//" + host + p
        if _DRIVE.match(p):  # file:///D:/x, file://localhost/D%3a/x
            return "windows", p.lstrip("/")
        if p.startswith("//"):
            return "unc", p
        return "posix", p
    if re.match(r"^[A-Za-z]:[/\\]", s):
        return "windows", s
    if s.startswith("\\\\"):
        return "unc", s.replace("\\", "/")
    if s.startswith("/"):
        return "posix", s
    return "relative", s


def _components(kind: str, p: str) -> list[str]:
    pure = PureWindowsPath(p) if kind in ("windows", "unc") or "\\" in p else PurePosixPath(p)
    return [c for c in pure.parts if c not in ("/", "\\") and not re.fullmatch(r"[A-Za-z]:\\?|\\\\.*", c)
            and not c.startswith("//")]


def media_candidates(url: str, *, timeline_dir: Path | None = None, media_root: Path | None = None) -> list[Path]:
    """Where the media of ``url`` may be, most specific first (the original location, then relinks)."""
    kind, p = url_to_path(url)
    out: list[Path] = []
    native_windows = os.name == "nt"
    if kind == "posix" or (kind in ("windows", "unc") and native_windows):
        out.append(Path(p))
    elif kind == "relative":
        rel = Path(p.replace("\\", "/"))
        out.append((timeline_dir or Path.cwd()) / rel)
        if unquote(p) != p:
            out.append((timeline_dir or Path.cwd()) / unquote(p).replace("\\", "/"))
    if media_root is not None:
        comps = _components(kind, p)
        for k in range(len(comps), 0, -1):  # longest tail first: keeps sub-folders apart
            out.append(Path(media_root).joinpath(*comps[-k:]))
    seen, uniq = set(), []
    for c in out:
        if str(c) not in seen:
            seen.add(str(c))
            uniq.append(c)
    return uniq


def not_media(path: Path) -> str | None:
    """Why an existing ``path`` cannot be picture media (a folder, a device, a pipe), or None."""
    try:
        mode = path.stat().st_mode
    except (OSError, ValueError):
        return None
    if stat.S_ISREG(mode):
        return None
    return "is a folder" if stat.S_ISDIR(mode) else "is not a regular file (a device, pipe or socket)"


def resolve_media(url: str, *, timeline_dir: Path | None = None, media_root: Path | None = None) -> tuple[Path | None, list[Path]]:
    """(the first existing regular file among :func:`media_candidates`, all candidates tried)."""
    cands = media_candidates(url, timeline_dir=timeline_dir, media_root=media_root)
    for c in cands:
        try:
            if c.is_file():
                return c.absolute(), cands
        except (OSError, ValueError):  # a name the OS refuses (NUL, too long)
            continue
    return None, cands


def media_problem(url: str, tried: list[Path]) -> str:
    """The message for media that was not found among ``tried`` (or exists but is no media file)."""
    for t in tried:
        why = not_media(t)
        if why:
            return f"media {t} {why}, not a video file; relink the clip to its picture media"
    return (f"media not found: {url!r} (tried {', '.join(str(t) for t in tried[:4])}"
            f"{' ...' if len(tried) > 4 else ''}); relink with --media-root FOLDER")


#: extensions tried after a clip's bare name when an edit names no media file (EDL)
_MOVIE_EXTS = (".mov", ".mp4", ".mxf", ".mkv")


def clip_media(ref, name: str, *, timeline_dir: Path | None = None, media_root: Path | None = None
               ) -> tuple[str, Path | None, otio.opentime.TimeRange | None, str | None]:
    """(url, media file or None, the reference's available range, the problem or None) of a clip
    whose media reference is ``ref`` and whose name is ``name``. An external reference is resolved
    (:func:`resolve_media`); one without a file (EDL, AAF with embedded media) is relinked by the
    clip's name under ``media_root``; an image sequence is refused, saying what to do."""
    if isinstance(ref, otio.schema.ExternalReference):
        url = ref.target_url or ""
        path, tried = resolve_media(url, timeline_dir=timeline_dir, media_root=media_root)
        return url, path, ref.available_range, None if path is not None else media_problem(url, tried)
    if isinstance(ref, otio.schema.ImageSequenceReference):
        return (ref.target_url_base or "", None, None,
                "image-sequence media is not supported yet; render the shot to a movie file")
    if media_root is not None and name:
        for cand in (name, *(name + ext for ext in _MOVIE_EXTS)):
            path, _ = resolve_media(cand, timeline_dir=None, media_root=media_root)
            if path is not None:
                return "", path, None, None
    return "", None, None, (f"the edit names no media file for this clip"
                            f"{' (looked for ' + repr(name) + ' under --media-root)' if media_root else ''}; "
                            "export the edit with media paths or relink with --media-root FOLDER")
