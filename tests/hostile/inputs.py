"""Hostile and unlucky inputs, as generators: each writes one bad edit, bundle or file and returns its path.

Kept in one place so the next regression is caught by the same inputs (issue 15). They are
small (a 1 s, 160x120 picture) so the whole hostile suite stays fast.
"""

from __future__ import annotations

import json
import os
import zipfile
from fractions import Fraction
from pathlib import Path

import opentimelineio as otio

from test_timeline_media import clip, edit, gap, render_media, rt, trange  # noqa: F401 - re-exported

RATE = Fraction(25)


def media(folder: Path, name: str = "m.mp4", seconds: float = 2.0) -> Path:
    """A real short H.264 picture (counter frames)."""
    return render_media(folder, name, RATE, seconds, kind="counter")


def one_clip_edit(path: Path, url, *, frames: int = 10, name: str = "A", meta=None, tl_name="Cut") -> Path:
    return edit(path, [[clip(name, url, 0, frames, RATE, media_frames=50, meta=meta, url=str(url))]], RATE,
                name=tl_name)


def secret_file(folder: Path) -> Path:
    """A stand-in for /etc/shadow: a private file an edit names as a clip's media."""
    p = folder / "shadow"
    p.write_bytes(b"root:$6$SECRETHASH$abcdef:19000:0:99999:7:::\n" * 20)
    return p


def rate_edit(path: Path, rate, *, where: str = "timeline", good_media: Path | None = None) -> Path:
    """An edit whose timeline start (``where='timeline'``) or one clip's source range has ``rate``
    (0, -1, NaN, inf, 1e9), written as raw JSON the way a broken exporter would."""
    media_path = good_media or path.with_suffix(".mp4")
    tl = otio.schema.Timeline(name="Rates", global_start_time=rt(0, RATE))
    tr = otio.schema.Track(kind=otio.schema.TrackKind.Video)
    tr.append(clip("good", media_path, 10, 10, RATE, media_frames=50))
    tr.append(clip("bad", media_path, 0, 10, RATE, media_frames=50))
    tl.tracks.append(tr)
    doc = json.loads(otio.adapters.write_to_string(tl))
    value = {"nan": "NaN", "inf": "Infinity"}.get(str(rate), rate)
    if where == "timeline":
        doc["global_start_time"]["rate"] = "@RATE@"
    else:
        sr = doc["tracks"]["children"][0]["children"][1]["source_range"]
        sr["start_time"]["rate"] = sr["duration"]["rate"] = "@RATE@"
    path.write_text(json.dumps(doc).replace('"@RATE@"', str(value)))
    return path


def marker_meta_edit(path: Path, media_path: Path, meta) -> Path:
    """A clip whose marker carries ``metadata["melfoley"]`` that is not a mapping."""
    c = clip("marked", media_path, 0, 20, RATE, media_frames=50)
    c.markers.append(otio.schema.Marker(name="foley: door", marked_range=trange(0, 5, RATE),
                                        metadata={"melfoley": meta}))
    return edit(path, [[c]], RATE)


def deep_edit(path: Path, media_path: Path, depth: int = 1500) -> Path:
    """A clip under ``depth`` nested stacks and tracks (plus a shallow clip beside them)."""
    tl = otio.schema.Timeline(name="Deep")
    top = otio.schema.Track(kind=otio.schema.TrackKind.Video)
    tl.tracks.append(top)
    top.append(clip("shallow", media_path, 0, 10, RATE, media_frames=50))
    cur = top
    for i in range(depth):
        nxt = otio.schema.Stack() if i % 2 == 0 else otio.schema.Track(kind=otio.schema.TrackKind.Video)
        cur.append(nxt)
        cur = nxt
    cur.append(clip("deep", media_path, 0, 10, RATE, media_frames=50))
    otio.adapters.write_to_file(tl, str(path), indent=-1)
    return path


def bad_utf8_edit(path: Path, media_path: Path) -> Path:
    """A clip and a marker whose names are not valid UTF-8 (raw bytes in the JSON)."""
    c = clip("NAMEA", media_path, 0, 10, RATE, media_frames=50)
    c.markers.append(otio.schema.Marker(name="NAMEM", marked_range=trange(0, 5, RATE)))
    edit(path, [[c]], RATE)
    path.write_bytes(path.read_bytes().replace(b"NAMEA", b"A\xff\xfeB").replace(b"NAMEM", b"M\xc3"))
    return path


def zero_length_edit(path: Path, media_path: Path) -> Path:
    """A good clip, a zero-length clip and a negative-length clip."""
    return edit(path, [[clip("good", media_path, 0, 10, RATE, media_frames=50),
                        clip("zero", media_path, 0, 0, RATE, media_frames=50),
                        clip("negative", media_path, 10, -5, RATE, media_frames=50)]], RATE)


def audio_only_edit(path: Path) -> Path:
    tl = otio.schema.Timeline(name="Sound only")
    tl.tracks.append(otio.schema.Track(kind=otio.schema.TrackKind.Audio))
    otio.adapters.write_to_file(tl, str(path))
    return path


def bomb_otioz(path: Path, unpacked_bytes: int = 64 << 20) -> Path:
    """A small ``.otioz`` whose one media entry unpacks to ``unpacked_bytes`` of zeros."""
    tl = otio.schema.Timeline(name="Bomb")
    tr = otio.schema.Track(kind=otio.schema.TrackKind.Video)
    tr.append(clip("z", "media/zeros.mp4", 0, 10, RATE, media_frames=50, url="media/zeros.mp4"))
    tl.tracks.append(tr)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        zf.writestr("version.txt", "1.0.0")
        zf.writestr("content.otio", otio.adapters.write_to_string(tl))
        with zf.open("media/zeros.mp4", "w", force_zip64=True) as fh:
            block = bytes(1 << 20)
            for _ in range(unpacked_bytes >> 20):
                fh.write(block)
    return path


def small_otioz(path: Path, media_path: Path, tag: str) -> Path:
    """A well-formed bundle (its picture inside), distinct per ``tag``."""
    tl = otio.schema.Timeline(name=f"Bundle {tag}")
    tr = otio.schema.Track(kind=otio.schema.TrackKind.Video)
    tr.append(clip("b", media_path, 0, 10, RATE, media_frames=50, url=str(media_path)))
    tl.tracks.append(tr)
    otio.adapters.write_to_file(tl, str(path), adapter_name="otioz")
    return path


def fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path


def device_link(path: Path, device: str = "/dev/urandom") -> Path:
    path.symlink_to(device)
    return path
