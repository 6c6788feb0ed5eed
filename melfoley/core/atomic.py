"""Atomic, verified output files: write beside the destination, check, then ``os.replace``.

A reader (an editor relinking media, a farm node, a rerun) never sees a half-written stem,
sidecar, cache entry or timeline, and a failed write (a full disk, an I/O error) leaves the
previous file exactly as it was and raises. Every write is verified before the rename: the
bytes are flushed and fsynced, the file's size on disk is checked against what was written,
and callers may re-read it (``check``) where that is cheap. Temporary files carry the
writer's process id (``.<stem>.mf<pid>-<random><suffix>``), so :func:`sweep_stale_temps`
can remove the ones a killed process (SIGKILL, power loss) left behind and leave those of
a run still writing alone.

Permissions: temporary files are created by ``open()`` (mode 0o666 less the umask, as any
file the user makes), so the process umask is never changed (panel worker threads write
files concurrently).
"""

from __future__ import annotations

import os
import re
import secrets
import time
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Callable, Iterator

from .errors import MelfoleyError

_TEMP = re.compile(r"^\..*\.mf(\d+)-[0-9a-f]{8}(\.[A-Za-z0-9]+)?$")
#: a temporary file of a live process is only removed when older than this (pid reuse)
STALE_AFTER_S = 24 * 3600


class WriteError(MelfoleyError, OSError):
    """An output file that could not be written completely (full disk, I/O error, no permission)."""


def _temp_name(path: Path, suffix: str) -> Path:
    return path.parent / f".{path.stem[:40]}.mf{os.getpid()}-{secrets.token_hex(4)}{suffix}"


def _fail(path: Path, exc: BaseException) -> WriteError:
    why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    hint = "free some space on that disk" if getattr(exc, "errno", None) == 28 else \
        "check the folder exists and is writable, and that the disk is healthy"
    return WriteError(f"cannot write {path}: {why}; {hint}, then rerun (the previous file, if any, is unchanged)")


def fsync_file(path: str | os.PathLike) -> None:
    """Flush a file some other writer made (an OTIO adapter) to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = ".tmp",
                check: Callable[[str], None] | None = None) -> Iterator[str]:
    """A fresh temporary name beside ``path`` (not created); moved onto ``path`` if the block succeeds.

    For writers that insist on creating the file themselves (OTIO adapters). Before the move
    the file must exist and be non-empty, is fsynced, and ``check(tmp)`` (if given) may read it
    back and raise. On any error the temporary file is removed, ``path`` is left as it was and
    a :class:`WriteError` (or the error ``check`` raised) goes up.
    """
    path = Path(path)
    tmp = _temp_name(path, suffix)
    try:
        yield str(tmp)
        st = os.stat(tmp)
        if st.st_size == 0:
            raise WriteError(f"cannot write {path}: the writer produced an empty file; "
                             "check the disk has space, then rerun (the previous file is unchanged)")
        fsync_file(tmp)
        if check is not None:
            check(str(tmp))
        os.replace(tmp, path)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(exc, OSError) and not isinstance(exc, MelfoleyError):
            raise _fail(path, exc) from exc
        raise


def atomic_write(path: str | os.PathLike, write: Callable[[BinaryIO], None]) -> None:
    """Call ``write(binary file)`` on a temporary file, verify and fsync it, then move it onto ``path``."""
    path = Path(path)
    with atomic_path(path) as tmp:
        with open(tmp, "xb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
            written = fh.tell()
            if os.fstat(fh.fileno()).st_size != written:
                raise WriteError(f"cannot write {path}: {written} bytes written but "
                                 f"{os.fstat(fh.fileno()).st_size} on disk; check the disk, then rerun")


def atomic_bytes(path: str | os.PathLike, data: bytes) -> None:
    def write(fh):
        if fh.write(data) != len(data):
            raise OSError(28, "short write (disk full?)")

    atomic_write(path, write)


def atomic_text(path: str | os.PathLike, text: str) -> None:
    atomic_bytes(path, text.encode("utf-8", "surrogateescape"))


def sweep_stale_temps(*folders: str | os.PathLike) -> list[Path]:
    """Remove the temporary files that writers killed mid-write left in ``folders`` (not recursive).

    A temporary file is stale when the process that made it is gone, or it is older than
    :data:`STALE_AFTER_S`; files of live writers and every other file are left alone.
    """
    removed = []
    for folder in folders:
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for e in entries:
            m = _TEMP.match(e.name)
            if not m or not e.is_file(follow_symlinks=False):
                continue
            pid = int(m.group(1))
            try:
                old = time.time() - e.stat(follow_symlinks=False).st_mtime > STALE_AFTER_S
            except OSError:
                continue
            if old or (pid != os.getpid() and not _alive(pid)):
                try:
                    os.unlink(e.path)
                    removed.append(Path(e.path))
                except OSError:
                    pass
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: someone else's live process
        return True
    return True
