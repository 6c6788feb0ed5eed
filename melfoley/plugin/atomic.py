"""Atomic output files: write beside the destination, then ``os.replace``.

A reader (an editor relinking media, a farm node, a rerun) never sees a half-written stem,
sidecar, cache entry or timeline, and an interrupted write leaves nothing behind.
"""

from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Callable, Iterator


def public(path: str | os.PathLike) -> None:
    """mkstemp files are private (0600); give outputs the usual permissions (umask applied)."""
    mask = os.umask(0)
    os.umask(mask)
    os.chmod(path, 0o666 & ~mask)


@contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = ".tmp") -> Iterator[str]:
    """A fresh temporary name beside ``path`` (not created); moved onto ``path`` if the block succeeds.

    For writers that insist on creating the file themselves (OTIO adapters). On any error the
    temporary file, if it was made, is removed and ``path`` is left as it was.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem[:40]}.", suffix=suffix, dir=path.parent)
    os.close(fd)
    os.unlink(tmp)
    try:
        yield tmp
        public(tmp)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def atomic_write(path: str | os.PathLike, write: Callable[[BinaryIO], None]) -> None:
    """Call ``write(binary file)`` on a temporary file, fsync it, then move it onto ``path``."""
    with atomic_path(path) as tmp:
        with open(tmp, "xb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())


def atomic_text(path: str | os.PathLike, text: str) -> None:
    atomic_write(path, lambda fh: fh.write(text.encode("utf-8")))
