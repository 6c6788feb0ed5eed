"""The chunk list of a RIFF, RF64 or BW64 WAVE file (EBU Tech 3285 / 3306), read without loading audio.

One reader for the stem writer's checks (:func:`melfoley.plugin.bwf.read_chunks`) and the sound
library's metadata (:mod:`melfoley.core.library.metadata`). Only the 12-byte header and the chunk
headers are parsed; bodies are read only for the chunks asked for, and ``data`` never is (its size
comes from ``ds64`` when the 32-bit field says 0xFFFFFFFF). Chunks are word-aligned: an odd-sized
body is followed by one pad byte.
"""

from __future__ import annotations

import struct
from typing import BinaryIO, Callable, Iterator

#: the RIFF forms of a WAVE file: classic, EBU RF64 and ITU BW64
WAVE_FORMS = (b"RIFF", b"RF64", b"BW64")
_SIZE_IN_DS64 = 0xFFFFFFFF


class NotWave(ValueError):
    """The file does not start with a RIFF/RF64/BW64 ``WAVE`` header."""


def iter_chunks(fh: BinaryIO, *, read: Callable[[bytes], bool] = lambda tag: True,
                max_body: int | None = None, max_chunks: int | None = None) -> Iterator[tuple[bytes, int, bytes | None]]:
    """(id, size, body) of each top-level chunk of the WAVE file open in ``fh`` (at its start).

    ``body`` is the chunk's bytes (its first ``max_body`` bytes) when ``read(id)`` says so, else
    None; ``data`` is never loaded. ``size`` is the chunk's real size (``ds64``'s for RF64 ``data``).
    ``max_chunks`` bounds the walk (a damaged file of empty chunks then cannot keep it going).
    Raises :class:`NotWave` when the header is not a WAVE one; a truncated file just ends the walk."""
    head = fh.read(12)
    if len(head) < 12 or head[:4] not in WAVE_FORMS or head[8:12] != b"WAVE":
        raise NotWave("not a RIFF/RF64/BW64 WAVE file")
    data_size = None
    n = 0
    while max_chunks is None or n < max_chunks:
        hdr = fh.read(8)
        if len(hdr) < 8:
            return
        n += 1
        tag, size = hdr[:4], struct.unpack("<I", hdr[4:])[0]
        if tag == b"ds64":  # needed for the data size: always read (28 bytes + a table)
            body = fh.read(size)
            if len(body) >= 16:
                data_size = struct.unpack("<Q", body[8:16])[0]
            fh.seek(size & 1, 1)
            yield tag, size, body
            continue
        if tag == b"data" and size == _SIZE_IN_DS64 and data_size is not None:
            size = data_size
        body = None
        if tag != b"data" and read(tag):
            k = size if max_body is None else min(size, max_body)
            body = fh.read(k)
            fh.seek(size - k + (size & 1), 1)
        else:
            fh.seek(size + (size & 1), 1)
        yield tag, size, body
