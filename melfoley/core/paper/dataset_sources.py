"""Where a paper-tier dataset's clips come from: a folder of videos or a list file.

``list_sources(src)`` reads any of these layouts into :class:`Source` rows:
- a folder of videos (searched recursively). Nested as ``<class>/<video>`` (AVSync15's
  ``videos/<class>/*.mp4``, UCF-style folders) the class folder is the label; flat, no label;
- a CSV with a header: ``video`` (required), ``audio`` (a separate sound file for the
  picture), ``label`` or ``caption``, ``start`` (seconds), ``split`` (train / val / test);
- VGGSound's ``vggsound.csv`` (no header: ``youtube_id, start_seconds, label, split``); the
  video is ``<id>_<start:06d>.mp4`` (or ``<id>_<start>.mp4`` / ``<id>.mp4``) beside the CSV,
  or in its ``video/`` or ``videos/`` folder;
- AVSync15's ``train.txt`` / ``test.txt`` (one ``<class>/<video>`` per line, relative to
  ``videos/`` beside the list); the file name gives the split.
Paths in list files are relative to the list's folder. Splits: a ``split`` column is kept
(``test`` counts as ``val``); without one, a hash of the video's path sends about
``val_fraction`` of the *videos* to ``val``, so all clips of a video stay on one side.
"""

from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass
from pathlib import Path

from ..errors import MelfoleyError

VIDEO_EXTS = (".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v", ".mxf")


@dataclass(frozen=True)
class Source:
    video: Path  # the picture (and the sound unless ``audio`` is given)
    audio: Path | None  # a separate sound file, or None: the video's own audio
    label: str  # event label or caption ("" when unknown)
    start: float = 0.0  # where the usable range starts in the media (VGGSound rows: 0)
    split: str = ""  # train / val, or "" until :func:`assign_splits`
    missing: str = ""  # why the row cannot be used before decoding (e.g. video not found)

    @property
    def key(self) -> str:
        """A stable name for the row (video, separate audio and start)."""
        audio = f"|{self.audio}" if self.audio else ""
        return f"{self.video}{audio}@{self.start:g}"


def list_sources(src: str | Path) -> list[Source]:
    src = Path(src).expanduser()
    if src.is_dir():
        return _folder(src)
    if not src.exists():
        raise MelfoleyError(f"dataset source {src} does not exist; give a folder of videos or a CSV/TXT list")
    if src.suffix.lower() == ".csv":
        return _csv(src)
    if src.suffix.lower() == ".txt":
        return _avsync_list(src)
    raise MelfoleyError(f"dataset source {src}: expected a folder of videos, a .csv (video,audio,label) or an "
                        "AVSync15-style .txt list")


def _label_text(name: str) -> str:
    return name.replace("_", " ").strip()


def _folder(root: Path) -> list[Source]:
    out = []
    for p in sorted(root.rglob("*")):
        if p.is_file() and p.suffix.lower() in VIDEO_EXTS:
            rel = p.relative_to(root)
            label = _label_text(rel.parts[-2]) if len(rel.parts) > 1 else ""
            out.append(Source(p, None, label))
    if not out:
        raise MelfoleyError(f"no videos ({', '.join(VIDEO_EXTS)}) found in {root}")
    return out


def _csv(path: Path) -> list[Source]:
    with path.open(newline="") as fh:
        rows = [r for r in csv.reader(fh) if r and any(c.strip() for c in r)]
    if not rows:
        raise MelfoleyError(f"{path} is empty; it needs a header row (video,audio,label) and one row per clip")
    head = [c.strip().lower() for c in rows[0]]
    if "video" in head:
        return [_header_row(path, dict(zip(head, r)), i + 2) for i, r in enumerate(rows[1:])]
    if len(rows[0]) >= 3 and _is_number(rows[0][1]):
        return [_vggsound_row(path, r) for r in rows]
    raise MelfoleyError(f"{path}: the first row must be a header with a 'video' column, or a VGGSound row "
                        "(youtube_id,start_seconds,label,split)")


def _is_number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def _split_name(text: str) -> str:
    t = (text or "").strip().lower()
    if not t:
        return ""
    if t in ("train", "training"):
        return "train"
    if t in ("val", "valid", "validation", "test", "testing"):
        return "val"
    raise MelfoleyError(f"unknown split {text!r}; use train, val or test")


def _header_row(path: Path, row: dict, line: int) -> Source:
    base = path.parent
    video = (row.get("video") or "").strip()
    if not video:
        raise MelfoleyError(f"{path} line {line}: the video column is empty")
    audio = (row.get("audio") or "").strip()
    label = (row.get("label") or row.get("caption") or "").strip()
    start = float(row.get("start") or 0.0)
    v = base / video
    a = base / audio if audio else None
    missing = "" if v.exists() else f"video file {v} not found"
    if a is not None and not a.exists() and not missing:
        missing = f"audio file {a} not found"
    return Source(v, a, label, start, _split_name(row.get("split", "")), missing)


def _vggsound_row(path: Path, row: list[str]) -> Source:
    ytid, start, label = row[0].strip(), float(row[1]), row[2].strip()
    split = _split_name(row[3]) if len(row) > 3 else ""
    names = [f"{ytid}_{int(start):06d}", f"{ytid}_{int(start)}", ytid]
    for folder in (path.parent, path.parent / "video", path.parent / "videos"):
        for name in names:
            for ext in VIDEO_EXTS:
                if (folder / (name + ext)).exists():
                    return Source(folder / (name + ext), None, label, 0.0, split)
    return Source(path.parent / f"{names[0]}.mp4", None, label, 0.0, split,
                  f"no video for VGGSound row {ytid},{row[1]} beside {path} (tried {names[0]}.mp4 and others)")


def _avsync_list(path: Path) -> list[Source]:
    split = "val" if "test" in path.stem.lower() or "val" in path.stem.lower() else "train"
    base = path.parent / "videos" if (path.parent / "videos").is_dir() else path.parent
    out = []
    for line in path.read_text().splitlines():
        rel = line.strip()
        if not rel:
            continue
        v = base / rel
        label = _label_text(Path(rel).parts[0]) if len(Path(rel).parts) > 1 else ""
        out.append(Source(v, None, label, 0.0, split, "" if v.exists() else f"video file {v} not found"))
    if not out:
        raise MelfoleyError(f"{path} lists no videos")
    return out


def assign_splits(sources: list[Source], val_fraction: float, seed: int = 0) -> list[Source]:
    """Give every row a split, by source video: rows of one video always share a split."""
    from dataclasses import replace

    given: dict[Path, str] = {}
    for s in sources:
        if s.split:
            given.setdefault(s.video, s.split)  # a video listed twice keeps its first split

    def by_hash(video: Path) -> str:
        h = int(hashlib.sha1(f"{seed}:{video.name}".encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
        return "val" if h < val_fraction else "train"

    return [replace(s, split=given.get(s.video) or by_hash(s.video)) for s in sources]
