"""Unpacking ``.otioz`` bundles, under caps, into a bounded cache.

A bundle's media is unpacked so the decoder can read it. A small hostile (or damaged) zip
can claim gigabytes, so before anything is written the central directory is checked: the
unpacked total may be at most :data:`MAX_RATIO` times the bundle's size and at most
:data:`MAX_BYTES`, and must leave :data:`RESERVE_BYTES` free on the disk. The environment
variable ``MELFOLEY_OTIOZ_MAX_BYTES`` (a byte count, ``K``/``M``/``G`` suffixes allowed)
replaces the ratio and size caps for a bundle the user trusts; the free-space check always
holds. Python's ``zipfile`` enforces each entry's declared size and CRC while extracting,
drops absolute paths and ``..`` and creates no symbolic links.

Bundles go to the user cache, one folder per bundle content, unpacked into a temporary
folder first and renamed when complete (an interrupted unpack is never reused); only the
:data:`KEEP_BUNDLES` most recently used are kept.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import shutil
import time
import zipfile
from pathlib import Path

from .formats import TimelineError

MAX_RATIO = 50
MAX_BYTES = 16 << 30
RESERVE_BYTES = 512 << 20
MAX_ENTRIES = 100_000
KEEP_BUNDLES = 4
ENV_LIMIT = "MELFOLEY_OTIOZ_MAX_BYTES"
_DONE = ".melfoley-complete"


def _env_limit() -> int | None:
    raw = os.environ.get(ENV_LIMIT, "").strip()
    if not raw:
        return None
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([KMGT]?)i?B?", raw, re.IGNORECASE)
    if not m:
        raise TimelineError(f"{ENV_LIMIT}={raw!r} is not a size; write a byte count such as 20G")
    return int(float(m.group(1)) * 1024 ** "_KMGT".index(m.group(2).upper() or "_"))


def _fmt(n: int) -> str:
    return f"{n / 2**30:.1f} GiB" if n >= 2**30 else f"{n / 2**20:.1f} MiB"


def check_bundle(path: Path, zf: zipfile.ZipFile, dest_parent: Path) -> int:
    """The unpacked size of ``zf``, or a :class:`TimelineError` if it breaks a cap."""
    infos = zf.infolist()
    if len(infos) > MAX_ENTRIES:
        raise TimelineError(f"timeline {path} holds {len(infos)} files (a bundle holds one per media file, "
                            f"at most {MAX_ENTRIES}); it is not a usable bundle: re-export it")
    total = sum(i.file_size for i in infos)
    size = max(1, path.stat().st_size)
    limit = _env_limit()
    if limit is None and (total > MAX_RATIO * size or total > MAX_BYTES):
        raise TimelineError(f"timeline {path} would unpack to {_fmt(total)} ({total / size:.0f}x its "
                            f"{_fmt(size)}); bundles over {MAX_RATIO}x or {_fmt(MAX_BYTES)} are refused as a "
                            f"likely zip bomb. If you trust it, set {ENV_LIMIT}={total} and rerun")
    if limit is not None and total > limit:
        raise TimelineError(f"timeline {path} would unpack to {_fmt(total)}, over {ENV_LIMIT}={limit}; "
                            "raise the limit if you trust the bundle")
    dest_parent.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(dest_parent).free
    if total + RESERVE_BYTES > free:
        raise TimelineError(f"timeline {path} needs {_fmt(total)} to unpack but {dest_parent} has {_fmt(free)} "
                            f"free (keeping {_fmt(RESERVE_BYTES)} spare); free some space or set "
                            "MELFOLEY_CACHE_DIR to a bigger disk")
    return total


def _digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:20]


def extract_bundle(path: Path, extract_dir: str | os.PathLike | None = None) -> Path:
    """Unpack ``path`` (checked by :func:`check_bundle`) and return the folder its media is in."""
    from ..core.userdirs import cache_dir

    if not zipfile.is_zipfile(path):
        raise TimelineError(f"timeline {path} is not an .otioz bundle (not a zip file); re-export it")
    managed = extract_dir is None
    root = cache_dir() / "otioz" if managed else Path(extract_dir).parent
    dest = root / _digest(path) if managed else Path(extract_dir)
    if (dest / _DONE).exists():
        os.utime(dest / _DONE)  # most recently used
        return dest
    tmp = root / f".{dest.name}.mf{os.getpid()}-{secrets.token_hex(4)}.part"
    try:
        with zipfile.ZipFile(path) as zf:
            check_bundle(path, zf, root)
            zf.extractall(tmp)
        (tmp / _DONE).touch()
        if dest.exists() and managed:  # an unpack that never completed
            shutil.rmtree(dest)
        elif dest.exists() and any(dest.iterdir()):
            raise TimelineError(f"cannot unpack {path} into {dest}: the folder is not empty; choose an empty one")
        elif dest.exists():
            dest.rmdir()
        os.replace(tmp, dest)
    except TimelineError:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    except (OSError, zipfile.BadZipFile, ValueError, RuntimeError) as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise TimelineError(f"timeline {path} could not be unpacked to {root} ({type(exc).__name__}: {exc}); "
                            "free some space or re-export the bundle") from exc
    if managed:
        prune(root)
    return dest


def prune(root: Path, keep: int = KEEP_BUNDLES) -> None:
    """Keep the ``keep`` most recently used unpacked bundles under ``root``; remove the rest and the
    temporary folders of unpacks that died (their process is gone, or a day old)."""
    from ..core.atomic import STALE_AFTER_S, _alive

    done = []
    for d in root.iterdir() if root.exists() else ():
        m = re.match(r"^\..*\.mf(\d+)-[0-9a-f]{8}\.part$", d.name)
        if m:
            pid = int(m.group(1))
            if (pid != os.getpid() and not _alive(pid)) or time.time() - d.stat().st_mtime > STALE_AFTER_S:
                shutil.rmtree(d, ignore_errors=True)
        elif (d / _DONE).exists():
            done.append(((d / _DONE).stat().st_mtime, d))
    for _, d in sorted(done, reverse=True)[keep:]:
        shutil.rmtree(d, ignore_errors=True)
