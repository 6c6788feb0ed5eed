"""Reading an edit file: formats, adapters, frame rates.

:func:`read_timeline` opens any edit OTIO can read (``.otio``, ``.otioz``, ``.otiod``
natively; FCP7 XML, CMX 3600 EDL, AAF, FCPXML through the installed adapter plugins) or
refuses it with a :class:`TimelineError` that says why and what to do. Only regular files
are read (a FIFO would block forever, a device never ends), and at most
:data:`MAX_TIMELINE_BYTES`; ``.otioz`` bundles are unpacked under caps (:mod:`.bundle`).
Frame rates are read as exact fractions (:func:`exact_rate`); a rate that is not a usable
frame rate (0, negative, NaN, infinite, over :data:`MAX_RATE`) is refused with its value.
"""

from __future__ import annotations

import math
import os
import re
import stat
import tempfile
from collections.abc import Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from fractions import Fraction
from pathlib import Path
from typing import Iterator

import opentimelineio as otio

from ..core.errors import MelfoleyError

#: the adapter plugin package (install extra ``melfoley[adapters]``) for each suffix
PLUGINS = {".xml": "otio-fcp-adapter", ".edl": "otio-cmx3600-adapter", ".aaf": "otio-aaf-adapter",
           ".fcpxml": "otio-fcpx-xml-adapter", ".xges": "otio-xges-adapter"}
#: exact SMPTE and common rates; floats within 0.002 of one of these snap to it
EXACT_RATES = [Fraction(24000, 1001), Fraction(24), Fraction(25), Fraction(30000, 1001), Fraction(30),
               Fraction(48000, 1001), Fraction(48), Fraction(50), Fraction(60000, 1001), Fraction(60),
               Fraction(12), Fraction(15), Fraction(120000, 1001), Fraction(120)]
EDL_RATES = [Fraction(24), Fraction(25), Fraction(30), Fraction(50), Fraction(60)]
#: the highest frame rate accepted (high-speed capture is conformed long before an edit)
MAX_RATE = 1000
#: edit files larger than this are refused (the biggest real edits are a few tens of MB)
MAX_TIMELINE_BYTES = 512 << 20


class TimelineError(MelfoleyError):
    """An edit that cannot be read (unknown format, missing adapter, malformed file)."""


def exact_rate(rate: float | Fraction) -> Fraction:
    """The exact rate a float stands for: 23.976 and 23.97602... -> 24000/1001.

    Raises :class:`TimelineError` for a rate that is not a frame rate (0, negative, NaN, inf,
    above :data:`MAX_RATE`)."""
    try:
        r = float(rate)
    except (TypeError, ValueError, OverflowError):
        r = math.nan
    if not (math.isfinite(r) and 0 < r <= MAX_RATE):
        raise TimelineError(f"frame rate {rate!r} is not a usable frame rate (it must be above 0 and at most "
                            f"{MAX_RATE} fps); fix the rate in the editor and re-export the edit")
    return _snap_rate(r)


@lru_cache(maxsize=256)  # an edit has a handful of rates, which its 10,000 clips ask for again and again
def _snap_rate(r: float) -> Fraction:
    for c in EXACT_RATES:
        if abs(r - float(c)) < 0.002:
            return c
    return Fraction(r).limit_denominator(1001)


def check_time(t: otio.opentime.RationalTime) -> Fraction:
    """The exact rate of ``t``; :class:`TimelineError` unless :func:`seconds` can read it (a finite
    value, a usable rate)."""
    if not math.isfinite(t.value):
        raise TimelineError(f"time value {t.value!r} is not a number; fix the edit and re-export it")
    return exact_rate(t.rate)


def seconds(t: otio.opentime.RationalTime) -> Fraction:
    """Exact seconds of a RationalTime (its rate read as an exact rate)."""
    r = check_time(t)
    v = t.value
    if v == int(v):  # whole frames, nearly always: one normalisation instead of three
        return Fraction(int(v) * r.denominator, r.numerator)
    return Fraction(v).limit_denominator(1 << 20) / r


def is_drop_frame(rate: Fraction) -> bool:
    """Drop-frame timecode applies to 29.97 and 59.94 (OTIO infers it the same way)."""
    return rate in (Fraction(30000, 1001), Fraction(60000, 1001))


@dataclass(frozen=True, eq=False)
class TimelineSource:
    timeline: otio.schema.Timeline
    path: Path
    adapter: str
    rate: Fraction  # exact record rate
    notes: tuple[str, ...] = ()
    bundle_dir: Path | None = None  # where an .otioz was extracted

    @property
    def global_start(self) -> otio.opentime.RationalTime:
        g = self.timeline.global_start_time
        return g if g is not None else otio.opentime.RationalTime(0, float(self.rate))

    @property
    def media_dir(self) -> Path:
        """Folder that relative media paths resolve against (the extracted bundle for .otioz)."""
        return self.bundle_dir or self.path.parent


def _check_file(path: Path, adapter: str) -> None:
    """Refuse what is not a regular file of a sane size (FIFOs, devices, sockets, huge files)."""
    try:
        st = path.stat()
    except OSError as exc:
        raise TimelineError(f"timeline {path} cannot be opened ({exc.strerror}); check the path") from exc
    if adapter == "otiod":
        if not stat.S_ISDIR(st.st_mode):
            raise TimelineError(f"timeline {path} is not an .otiod folder; pass the bundle folder")
        return
    if not stat.S_ISREG(st.st_mode):
        kind = "a folder" if stat.S_ISDIR(st.st_mode) else "not a regular file (a pipe, device or socket)"
        raise TimelineError(f"timeline {path} is {kind}; pass the edit file itself")
    if adapter != "otioz" and st.st_size > MAX_TIMELINE_BYTES:
        raise TimelineError(f"timeline {path} is {st.st_size / 2**20:.0f} MiB, more than any edit "
                            f"({MAX_TIMELINE_BYTES >> 20} MiB); is it really an edit? Re-export it")


def read_timeline(path: str | os.PathLike, *, edl_rate: float | None = None,
                  timeline_name: str | None = None, extract_dir: str | os.PathLike | None = None) -> TimelineSource:
    """Read an edit, or raise :class:`TimelineError` with the reason and the fix."""
    path = Path(path)
    if not path.exists():
        raise TimelineError(f"timeline {path} not found; check the path")
    suffix = path.suffix.lower()
    manifest = otio.plugins.ActiveManifest()
    by_suffix = {s.lower(): a.name for a in manifest.adapters for s in a.suffixes}
    adapter = by_suffix.get(suffix.lstrip("."))
    if adapter is None:
        plugin = PLUGINS.get(suffix)
        hint = (f"install the {plugin} package (pip install {plugin})" if plugin
                else "export the edit as OTIO, FCP7 XML, EDL, AAF or FCPXML")
        raise TimelineError(f"timeline {path}: no OTIO adapter reads '{suffix or path.name}' files; {hint}")
    _check_file(path, adapter)
    notes: list[str] = []
    kwargs: dict = {}
    bundle = None
    if adapter == "otioz":
        from .bundle import extract_bundle

        bundle = extract_bundle(path, extract_dir)
    elif adapter == "otiod":
        kwargs["absolute_media_reference_paths"] = True
    with _utf8_path(path, adapter) as readable:
        if adapter == "cmx_3600":
            result = _read_edl(readable, edl_rate, notes, shown=path)
        else:
            try:
                result = otio.adapters.read_from_file(str(readable), adapter_name=adapter, **kwargs)
            except Exception as exc:  # adapters raise anything: name it
                raise TimelineError(f"timeline {path} could not be read by the {adapter} adapter: "
                                    f"{type(exc).__name__}: {str(exc)[:300]}; re-export it from the editor") from exc
    timeline = _pick_timeline(result, path, timeline_name, notes)
    _readable_names(timeline, notes)
    try:
        rate = _timeline_rate(timeline)
    except TimelineError as exc:
        raise TimelineError(f"timeline {path}: {exc}") from None
    return TimelineSource(timeline, path, adapter, rate, tuple(notes), bundle)


@contextmanager
def _utf8_path(path: Path, adapter: str) -> Iterator[Path]:
    """``path`` made absolute; a name that is not valid UTF-8 (which OTIO cannot take) is read
    through a symbolic link with a plain name in a temporary folder."""
    path = path.absolute()
    try:
        str(path).encode("utf-8")
    except UnicodeEncodeError:
        if adapter == "otiod":
            raise TimelineError(f"timeline {path}: the folder name is not valid UTF-8, which OTIO cannot read; "
                                "rename it") from None
        with tempfile.TemporaryDirectory(prefix="melfoley-") as d:
            link = Path(d) / f"edit{path.suffix.encode('ascii', 'replace').decode()}"
            link.symlink_to(path)
            yield link
        return
    yield path


def _readable_names(tl: otio.schema.Timeline, notes: list[str]) -> None:
    """Names and marker comments that are not valid UTF-8 (OTIO keeps the bytes, Python cannot read
    them) are replaced by ``?`` placeholders, with a note, so nothing downstream trips on them."""
    bad = 0
    items = [tl, tl.tracks, *tl.tracks.find_children()]
    for obj in items + [m for it in items for m in getattr(it, "markers", [])]:
        for attr in ("name", "comment"):
            if not hasattr(type(obj), attr):
                continue
            try:
                getattr(obj, attr)
            except (TypeError, UnicodeDecodeError):
                setattr(obj, attr, "?")
                bad += 1
    if bad:
        notes.append(f"{bad} name(s) in the edit are not valid UTF-8; shown as '?' (rename them in the editor)")


def _read_edl(path: Path, edl_rate, notes, shown: Path | None = None) -> otio.core.SerializableObject:
    """EDLs carry no rate: use ``edl_rate``, else try 24, 25, 30, 50, 60 until the timecodes fit."""
    if edl_rate:
        try:
            rates = [Fraction(edl_rate) if not isinstance(edl_rate, float) else exact_rate(edl_rate)]
        except TimelineError as exc:
            raise TimelineError(f"--edl-rate: {exc}") from None
    else:
        rates = EDL_RATES
    last = None
    for r in rates:
        try:
            tl = otio.adapters.read_from_file(str(path), adapter_name="cmx_3600", rate=float(r))
        except Exception as exc:
            last = exc
            if "rate" in str(exc).lower() and not edl_rate:
                continue
            break
        if not edl_rate and r != rates[0]:
            notes.append(f"EDL timecodes need {float(r):g} fps (frames past {int(rates[0]) - 1}); read at {r}")
        if isinstance(tl, otio.schema.Timeline):
            _normalise_edl(tl, r)
        return tl
    raise TimelineError(f"timeline {shown or path} could not be read as a CMX 3600 EDL: {type(last).__name__}: "
                        f"{str(last)[:300]}; pass the edit's frame rate (--edl-rate) or re-export it")


def _normalise_edl(tl: otio.schema.Timeline, rate: Fraction) -> None:
    """The EDL adapter stores the first record-in as a negative track ``source_range`` start whose
    window misses the clips; move it to ``global_start_time`` (gaps keep later tracks in place)."""
    offsets = {}
    for track in tl.tracks:
        sr = track.source_range
        offsets[id(track)] = -sr.start_time if sr is not None and sr.start_time.value < 0 else None
    known = [o for o in offsets.values() if o is not None]
    start = min(known) if known else otio.opentime.RationalTime(0, float(rate))
    for track in tl.tracks:
        off = offsets[id(track)]
        if off is None:
            continue
        track.source_range = None
        lead = off - start
        if lead.value > 0:
            track.insert(0, otio.schema.Gap(source_range=otio.opentime.TimeRange(
                otio.opentime.RationalTime(0, float(rate)), lead)))
    tl.global_start_time = start


def _pick_timeline(result, path: Path, name: str | None, notes: list[str]) -> otio.schema.Timeline:
    if isinstance(result, otio.schema.Timeline):
        timelines = [result]
    elif isinstance(result, otio.schema.SerializableCollection):
        timelines = list(result.find_children(descended_from_type=otio.schema.Timeline))
    else:
        raise TimelineError(f"timeline {path} holds a {type(result).__name__}, not a timeline; export a sequence")
    if not timelines:
        raise TimelineError(f"timeline {path} holds no timeline (an empty bin?); export a sequence")
    if name is not None:
        hits = [t for t in timelines if t.name == name]
        if not hits:
            raise TimelineError(f"timeline {path} has no timeline named {name!r}; it has: "
                                + ", ".join(repr(t.name) for t in timelines))
        return hits[0]
    if len(timelines) > 1:
        notes.append(f"{path.name} holds {len(timelines)} timelines ("
                     + ", ".join(repr(t.name) for t in timelines[:6])
                     + f"); using the first, {timelines[0].name!r} (choose with --timeline NAME)")
    return timelines[0]


def _timeline_rate(tl: otio.schema.Timeline) -> Fraction:
    if tl.global_start_time is not None:
        return exact_rate(tl.global_start_time.rate)
    for track in tl.video_tracks():
        for c in track.find_clips():
            return exact_rate(c.trimmed_range().duration.rate)
    return Fraction(24)


# ---------------------------------------------------------------------------- melfoley's own edits
#: name endings of the edits melfoley writes: the output (``.foley.*``), the panel's save and autosave
OWN_SUFFIXES = (".melfoley-autosave.otio", ".melfoley.otio", ".foley.otio", ".foley.otioz", ".foley.xml")
_OWN_EDL = re.compile(r"\.foley\.A\d+\.edl$")  # one EDL per Foley track: x.foley.A1.edl


def edit_name(path: str | os.PathLike) -> str:
    """The edit's own name: ``demo`` for demo.otio and for melfoley's demo.foley.otio, demo.melfoley.otio,
    demo.foley.A1.edl (so output names never stack)."""
    name = Path(path).name
    return (name[: -len(own_suffix(name))] if own_suffix(name) else Path(path).stem) or "edit"


def own_suffix(name: str) -> str:
    """The ending of ``name`` that marks an edit melfoley wrote ("" for any other name)."""
    m = _OWN_EDL.search(name)
    if m and m.start() > 0:
        return name[m.start():]
    return next((s for s in OWN_SUFFIXES if name.endswith(s) and len(name) > len(s)), "")


def _resolved(path) -> Path:
    try:
        return Path(path).resolve()
    except (OSError, RuntimeError, ValueError):
        return Path(os.path.abspath(path))


def _top(tl) -> dict:
    top = tl.metadata.get("melfoley") if tl is not None else None
    return dict(top) if isinstance(top, Mapping) else {}


def source_edit(path: str | os.PathLike, timeline: otio.schema.Timeline | None = None) -> Path:
    """The user's edit that the edit at ``path`` stands for (absolute).

    ``path`` itself, unless it is melfoley's own output or panel save (its name ends in one of
    ``OWN_SUFFIXES``) and its ``metadata["melfoley"]["source_timeline"]`` names another file: then
    that file. Outputs and stems are named after it and it is never written; melfoley's own output may be."""
    here = _resolved(path)
    if not own_suffix(here.name):
        return here  # the user's edit, whatever its metadata says (it may be a re-cut of an output)
    named = _top(timeline).get("source_timeline")
    if isinstance(named, str) and named.strip():
        origin = _resolved(named)
        if origin != here:
            return origin
    return here
