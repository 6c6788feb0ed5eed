"""Broadcast WAV (EBU Tech 3285) writer: PCM ``fmt``, ``bext``, ``iXML`` and ``data`` chunks.

libsndfile does not write ``bext``, so this is a small RIFF chunk writer. Files are written
atomically (a temporary file in the destination folder, then ``os.replace``), so a reader
never sees a half-written stem. Files whose data would pass the 4 GiB RIFF limit are written
as RF64 (EBU Tech 3306) with a ``ds64`` chunk.

Pure helpers: :func:`time_reference` (record-in seconds since midnight x rate), :func:`pcm24`.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from xml.sax.saxutils import escape

import numpy as np

from ..core.errors import MelfoleyError
from ..core.atomic import atomic_write
from ..core.riff import NotWave, iter_chunks

SAMPLE_RATE = 48000
BITS = 24
_RIFF_LIMIT = 0xFFFFFFFF - 4096  # leave room for the header chunks
SECONDS_PER_DAY = 86400


@dataclass(frozen=True)
class Bext:
    """The ``bext`` fields (lengths per EBU Tech 3285; longer text is cut, never an error)."""

    description: str = ""  # 256 chars; summary in the first 64
    originator: str = "melfoley"  # 32
    originator_reference: str = ""  # 32
    origination_date: str = ""  # yyyy-mm-dd
    origination_time: str = ""  # hh:mm:ss
    time_reference: int = 0  # samples since midnight
    coding_history: str = ""  # free text, one CR/LF-terminated line per process
    version: int = 1


@dataclass(frozen=True)
class IXml:
    """The iXML fields we write (all optional in the spec)."""

    project: str = ""
    scene: str = ""
    take: str = ""
    tape: str = ""
    note: str = ""
    file_uid: str = ""
    timecode_rate: Fraction | None = None  # exact, e.g. Fraction(24000, 1001)
    drop_frame: bool = False
    track_names: tuple[str, ...] = field(default_factory=tuple)


def time_reference(seconds: Fraction | float, sample_rate: int = SAMPLE_RATE) -> int:
    """Samples since midnight for a record-in of ``seconds`` (wrapped at 24 h, rounded to a sample).

    Pass a ``Fraction`` to stay exact: 86400 frames x 1001/24000 s = 3603.6 s -> 172,972,800.
    """
    s = Fraction(seconds) % SECONDS_PER_DAY
    return int(round(s * sample_rate))


def pcm24(audio: np.ndarray) -> bytes:
    """Float samples [n] or [n, ch] in [-1, 1] -> interleaved little-endian signed 24-bit PCM."""
    x = np.asarray(audio, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]
    x = np.nan_to_num(x, nan=0.0, posinf=1.0, neginf=-1.0)
    q = np.clip(np.round(x * 8388607.0), -8388608, 8388607).astype("<i4").reshape(-1)
    return q.view(np.uint8).reshape(-1, 4)[:, :3].tobytes()


def _text(value: str, size: int) -> bytes:
    raw = value.encode("ascii", "replace")[:size]
    return raw + b"\0" * (size - len(raw))


def bext_chunk(b: Bext) -> bytes:
    """The ``bext`` payload: 602 fixed bytes, then CodingHistory (CR/LF-terminated lines)."""
    head = (
        _text(b.description, 256) + _text(b.originator, 32) + _text(b.originator_reference, 32)
        + _text(b.origination_date, 10) + _text(b.origination_time, 8)
        + struct.pack("<QH", int(b.time_reference) & 0xFFFFFFFFFFFFFFFF, b.version)
        + b"\0" * 64  # UMID: none
        + b"\0" * 10  # loudness fields (version 2 only): unset
        + b"\0" * 180  # reserved
    )
    assert len(head) == 602
    lines = [ln.strip() for ln in b.coding_history.replace("\r", "\n").split("\n") if ln.strip()]
    history = "".join(ln + "\r\n" for ln in lines).encode("ascii", "replace")
    return head + history


def ixml_chunk(x: IXml, *, sample_rate: int, bits: int, channels: int, time_ref: int) -> bytes:
    """The ``iXML`` payload (UTF-8 XML, root ``BWFXML``)."""
    def el(tag, value):
        return f"<{tag}>{escape(str(value))}</{tag}>" if value not in (None, "") else ""

    speed = ""
    if x.timecode_rate is not None:
        r = Fraction(x.timecode_rate)
        speed = (
            "<SPEED>" + el("MASTER_SPEED", "1/1") + el("CURRENT_SPEED", "1/1")
            + el("TIMECODE_RATE", f"{r.numerator}/{r.denominator}")
            + el("TIMECODE_FLAG", "DF" if x.drop_frame else "NDF")
            + el("FILE_SAMPLE_RATE", sample_rate) + el("AUDIO_BIT_DEPTH", bits)
            + el("DIGITIZER_SAMPLE_RATE", sample_rate)
            + el("TIMESTAMP_SAMPLES_SINCE_MIDNIGHT_HI", (time_ref >> 32) & 0xFFFFFFFF)
            + el("TIMESTAMP_SAMPLES_SINCE_MIDNIGHT_LO", time_ref & 0xFFFFFFFF)
            + el("TIMESTAMP_SAMPLE_RATE", sample_rate) + "</SPEED>"
        )
    names = list(x.track_names) or [f"Ch{i + 1}" for i in range(channels)]
    tracks = "".join(
        f"<TRACK>{el('CHANNEL_INDEX', i + 1)}{el('INTERLEAVE_INDEX', i + 1)}{el('NAME', n)}</TRACK>"
        for i, n in enumerate(names[:channels])
    )
    xml = (
        '<?xml version="1.0" encoding="UTF-8"?>\n<BWFXML>' + el("IXML_VERSION", "2.10")
        + el("PROJECT", x.project) + el("SCENE", x.scene) + el("TAKE", x.take) + el("TAPE", x.tape)
        + el("NOTE", x.note) + el("FILE_UID", x.file_uid) + speed
        + f"<TRACK_LIST>{el('TRACK_COUNT', channels)}{tracks}</TRACK_LIST></BWFXML>\n"
    )
    return xml.encode("utf-8")


def _chunk(tag: bytes, payload: bytes) -> bytes:
    pad = b"\0" if len(payload) % 2 else b""
    return tag + struct.pack("<I", len(payload)) + payload + pad


def write_bwf(path: str | os.PathLike, audio: np.ndarray, *, bext: Bext, ixml: IXml | None = None,
              sample_rate: int = SAMPLE_RATE, rf64: bool | None = None) -> Path:
    """Write ``audio`` (float [n] or [n, ch]) as 24-bit PCM Broadcast WAV, atomically.

    ``rf64=None`` chooses RF64 only when the data passes the RIFF 4 GiB limit.
    """
    path = Path(path)
    x = np.asarray(audio, dtype=np.float32)
    channels = 1 if x.ndim == 1 else int(x.shape[1])
    frames = int(x.shape[0])
    block = channels * BITS // 8
    data_size = frames * block
    if rf64 is None:
        rf64 = data_size > _RIFF_LIMIT
    fmt = struct.pack("<HHIIHH", 1, channels, sample_rate, sample_rate * block, block, BITS)
    meta = _chunk(b"fmt ", fmt) + _chunk(b"bext", bext_chunk(bext))
    if ixml is not None:
        meta += _chunk(b"iXML", ixml_chunk(ixml, sample_rate=sample_rate, bits=BITS, channels=channels,
                                           time_ref=int(bext.time_reference)))
    pad = data_size % 2
    if rf64:
        ds64_payload = struct.pack("<QQQI", 0, data_size, frames, 0)  # riff size patched below
        riff_size = 4 + 8 + len(ds64_payload) + len(meta) + 8 + data_size + pad
        ds64_payload = struct.pack("<QQQI", riff_size, data_size, frames, 0)
        header = b"RF64" + struct.pack("<I", 0xFFFFFFFF) + b"WAVE" + _chunk(b"ds64", ds64_payload) + meta
        header += b"data" + struct.pack("<I", 0xFFFFFFFF)
    else:
        riff_size = 4 + len(meta) + 8 + data_size + pad
        header = b"RIFF" + struct.pack("<I", riff_size) + b"WAVE" + meta + b"data" + struct.pack("<I", data_size)
    path.parent.mkdir(parents=True, exist_ok=True)
    def write(fh) -> None:
        fh.write(header)
        step = 1 << 20  # write in chunks: no full 24-bit copy of long stems in memory
        for i in range(0, frames, step):
            fh.write(pcm24(x[i:i + step]))
        if pad:
            fh.write(b"\0")

    try:
        atomic_write(path, write)
    except OSError as exc:
        raise MelfoleyError(f"cannot write stem {path}: {exc}; check the output folder is writable and has space") from exc
    return path


def read_chunks(path: str | os.PathLike) -> dict[str, bytes]:
    """The top-level chunks of a RIFF/RF64 WAVE file by id (``data`` is not loaded: its value is
    its size, 8 bytes little-endian)."""
    out: dict[str, bytes] = {}
    with open(path, "rb") as fh:
        try:
            for tag, size, body in iter_chunks(fh):
                out[tag.decode("latin-1")] = struct.pack("<Q", size) if body is None else body
        except NotWave:
            raise MelfoleyError(f"{path} is not a WAVE file") from None
    return out
