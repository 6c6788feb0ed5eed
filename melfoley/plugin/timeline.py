"""Reading an edit and finding its picture clips.

:func:`read_timeline` opens any edit OTIO can read (``.otio``, ``.otioz``, ``.otiod``
natively; FCP7 XML, CMX 3600 EDL, AAF, FCPXML through the installed adapter plugins) or
refuses it with a :class:`TimelineError` that says why and what to do.

:func:`find_picture_clips` walks the video tracks (nested stacks and tracks included) and
returns every picture clip with its record range (timeline time), its source range (media
time, clipped to what is visible through nested trims), its resolved media file and any
flags (transitions, time warps). Disabled clips and tracks, generators and gaps are listed
as skipped with the reason; a clip whose media cannot be found keeps a ``media_problem``
so the batch reports it per clip and does the rest. Media paths: file URLs (percent
-encoded, ``localhost``, Windows drives, UNC hosts), plain POSIX or Windows paths, paths
relative to the timeline, and ``media_root`` relinking by the path's trailing components.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path, PurePosixPath, PureWindowsPath
from urllib.parse import unquote, urlsplit

import opentimelineio as otio

from ..core.errors import MediaError, MelfoleyError

NATIVE = {".otio": "otio_json", ".otioz": "otioz", ".otiod": "otiod"}
#: the adapter plugin package (install extra ``melfoley[adapters]``) for each suffix
PLUGINS = {".xml": "otio-fcp-adapter", ".edl": "otio-cmx3600-adapter", ".aaf": "otio-aaf-adapter",
           ".fcpxml": "otio-fcpx-xml-adapter", ".xges": "otio-xges-adapter"}
#: exact SMPTE and common rates; floats within 0.002 of one of these snap to it
EXACT_RATES = [Fraction(24000, 1001), Fraction(24), Fraction(25), Fraction(30000, 1001), Fraction(30),
               Fraction(48000, 1001), Fraction(48), Fraction(50), Fraction(60000, 1001), Fraction(60),
               Fraction(12), Fraction(15), Fraction(120000, 1001), Fraction(120)]
EDL_RATES = [Fraction(24), Fraction(25), Fraction(30), Fraction(50), Fraction(60)]


class TimelineError(MelfoleyError):
    """An edit that cannot be read (unknown format, missing adapter, malformed file)."""


def exact_rate(rate: float | Fraction) -> Fraction:
    """The exact rate a float stands for: 23.976 and 23.97602... -> 24000/1001."""
    r = float(rate)
    if not r > 0:
        raise ValueError(f"frame rate {rate} is not positive")
    for c in EXACT_RATES:
        if abs(r - float(c)) < 0.002:
            return c
    return Fraction(r).limit_denominator(1001)


def seconds(t: otio.opentime.RationalTime) -> Fraction:
    """Exact seconds of a RationalTime (its rate read as an exact rate)."""
    return Fraction(t.value).limit_denominator(1 << 20) / exact_rate(t.rate)


def is_drop_frame(rate: Fraction) -> bool:
    """Drop-frame timecode applies to 29.97 and 59.94 (OTIO infers it the same way)."""
    return rate in (Fraction(30000, 1001), Fraction(60000, 1001))


# ---------------------------------------------------------------------------- reading
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
    notes: list[str] = []
    kwargs: dict = {}
    if adapter == "otioz":
        dest = Path(extract_dir) if extract_dir else _bundle_dir(path)
        dest.mkdir(parents=True, exist_ok=True)
        kwargs["extract_to_directory"] = str(dest)
    elif adapter == "otiod":
        kwargs["absolute_media_reference_paths"] = True
    result = None
    if adapter == "cmx_3600":
        result = _read_edl(path, edl_rate, notes)
    else:
        try:
            result = otio.adapters.read_from_file(str(path), adapter_name=adapter, **kwargs)
        except Exception as exc:  # adapters raise anything: name it
            raise TimelineError(f"timeline {path} could not be read by the {adapter} adapter: "
                                f"{type(exc).__name__}: {str(exc)[:300]}; re-export it from the editor") from exc
    timeline = _pick_timeline(result, path, timeline_name, notes)
    bundle = Path(kwargs["extract_to_directory"]) if adapter == "otioz" else None
    return TimelineSource(timeline, path, adapter, _timeline_rate(timeline), tuple(notes), bundle)


def _bundle_dir(path: Path) -> Path:
    """Where an .otioz is unpacked: the user cache, one folder per bundle content (reused)."""
    import hashlib

    from ..core.userdirs import cache_dir

    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return cache_dir() / "otioz" / h.hexdigest()[:20]


def _read_edl(path: Path, edl_rate, notes) -> otio.core.SerializableObject:
    """EDLs carry no rate: use ``edl_rate``, else try 24, 25, 30, 50, 60 until the timecodes fit."""
    rates = [Fraction(edl_rate) if not isinstance(edl_rate, float) else exact_rate(edl_rate)] if edl_rate else EDL_RATES
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
    raise TimelineError(f"timeline {path} could not be read as a CMX 3600 EDL: {type(last).__name__}: "
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


# ---------------------------------------------------------------------------- media paths
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


def resolve_media(url: str, *, timeline_dir: Path | None = None, media_root: Path | None = None) -> tuple[Path | None, list[Path]]:
    """(the first existing file among :func:`media_candidates`, all candidates tried)."""
    cands = media_candidates(url, timeline_dir=timeline_dir, media_root=media_root)
    for c in cands:
        if c.is_file():
            return c.absolute(), cands
    return None, cands


def media_timecode(path: str | os.PathLike, rate: Fraction) -> Fraction | None:
    """The start timecode a movie file carries (QuickTime ``tmcd`` / ``timecode`` tag), in seconds."""
    import av

    try:
        with av.open(str(path)) as c:
            tags = [dict(c.metadata)] + [dict(st.metadata) for st in c.streams]
    except Exception:  # noqa: BLE001 - unreadable files are reported by the decoder
        return None
    for tag in tags:
        tc = tag.get("timecode")
        if tc:
            try:
                t = otio.opentime.from_timecode(tc.replace(";", ":"), float(rate))
            except Exception:  # noqa: BLE001 - a malformed tag is ignored
                continue
            return Fraction(int(round(t.value))) / exact_rate(rate)
    return None


# ---------------------------------------------------------------------------- clips
@dataclass(frozen=True)
class ClipMarker:
    name: str
    comment: str
    record_start: Fraction  # seconds on the timeline (from its start, global start excluded)
    record_end: Fraction
    metadata: dict = field(default_factory=dict)


@dataclass(frozen=True, eq=False)
class PictureClip:
    """One picture clip to foley."""

    number: int  # 1-based order of the scan (track, then time)
    clip_id: str  # stable path: "V1/3" or "V2/1/0" inside nested compositions
    name: str
    track: str
    rate: Fraction  # exact record rate of the timeline
    record: otio.opentime.TimeRange  # on the timeline (global start excluded), at ``rate``
    source: otio.opentime.TimeRange  # in media time (the visible part of the clip's trim)
    global_start: otio.opentime.RationalTime
    media_url: str = ""
    media_path: Path | None = None
    media_available: otio.opentime.TimeRange | None = None
    media_problem: str | None = None
    time_scalar: float = 1.0
    flags: tuple[str, ...] = ()
    metadata: dict = field(default_factory=dict)  # the clip's metadata["melfoley"] (a copy)
    markers: tuple[ClipMarker, ...] = ()

    @property
    def record_in(self) -> Fraction:
        """Record-in, exact seconds since 00:00:00:00 (global start included)."""
        return seconds(self.global_start) + seconds(self.record.start_time)

    @property
    def record_offset(self) -> Fraction:
        return seconds(self.record.start_time)

    @property
    def duration(self) -> Fraction:
        """Trimmed duration on the timeline, exact seconds (the stem is exactly this long)."""
        return seconds(self.record.duration)

    def samples(self, sample_rate: int = 48000) -> int:
        return int(round(self.duration * sample_rate))

    def timecode(self) -> str:
        t = self.global_start + self.record.start_time
        return otio.opentime.to_timecode(t.rescaled_to(float(self.rate)), float(self.rate),
                                         is_drop_frame(self.rate))

    def media_window(self, media_duration: float | None = None,
                     media_timecode: Fraction | None = None) -> tuple[float, float]:
        """(start, duration) in media seconds for the decoder: the source range relative to the
        media's first frame, and the picture the record duration consumes at the time warp's speed.

        The first frame's source time is the reference's ``available_range`` start; without one
        (EDL, relinked by name), the file's own start timecode (``media_timecode``, seconds) when
        the source range lies past it."""
        start = self.source.start_time
        if self.media_available is not None:
            start = start - self.media_available.start_time
        s = float(seconds(start))
        if self.media_available is None and media_timecode is not None and s >= float(media_timecode) - 1e-6:
            s -= float(media_timecode)
        d = float(self.duration) * abs(self.time_scalar)
        if s < -1e-6 or (media_duration is not None and s >= media_duration):
            raise MediaError(
                f"clip {self.clip_id} '{self.name}': source range starts at {s:.3f} s in {self.media_path} "
                f"({media_duration if media_duration is not None else '?'} s long); the media does not match "
                "the edit (wrong file or an unknown start timecode): relink it with --media-root")
        return max(0.0, s), d


@dataclass(frozen=True)
class Skipped:
    clip_id: str
    name: str
    reason: str


@dataclass(frozen=True)
class ClipScan:
    clips: tuple[PictureClip, ...]
    skipped: tuple[Skipped, ...]


def find_picture_clips(src: TimelineSource, *, media_root: str | os.PathLike | None = None,
                       include_disabled: bool = False) -> ClipScan:
    """Every picture clip of the video tracks, in track order then record order."""
    tl = src.timeline
    rate = float(src.rate)
    ctx = _Scan(src, Path(media_root) if media_root else None, include_disabled, rate)
    ctx.stack_markers = _markers_in(tl.tracks, lambda t: t, rate)
    for ti, track in enumerate(tl.video_tracks()):
        label = f"V{ti + 1}"
        if not track.enabled and not include_disabled:
            n = len(list(track.find_clips()))
            ctx.skipped.append(Skipped(label, track.name or label, f"track disabled ({n} clips)"))
            continue
        window = track.trimmed_range()
        offset = window.start_time - track.range_in_parent().start_time if track.parent() else window.start_time
        ctx.walk(track, lambda t, o=offset: t - o, window, label, track.name or label, ())
    return ClipScan(tuple(ctx.clips), tuple(ctx.skipped))


def _markers_in(item, to_record, rate) -> list[ClipMarker]:
    out = []
    for m in getattr(item, "markers", []):
        a = to_record(m.marked_range.start_time).rescaled_to(rate)
        b = to_record(m.marked_range.end_time_exclusive()).rescaled_to(rate)
        out.append(ClipMarker(m.name or "", getattr(m, "comment", "") or "", seconds(a), seconds(b),
                              dict(m.metadata.get("melfoley", {}) or {})))
    return out


def _intersect(a: otio.opentime.TimeRange, b: otio.opentime.TimeRange) -> otio.opentime.TimeRange | None:
    start = max(a.start_time, b.start_time)
    end = min(a.end_time_exclusive(), b.end_time_exclusive())
    if end <= start:
        return None
    return otio.opentime.range_from_start_end_time(start, end)


class _Scan:
    def __init__(self, src, media_root, include_disabled, rate):
        self.src, self.media_root, self.include_disabled, self.rate = src, media_root, include_disabled, rate
        self.clips: list[PictureClip] = []
        self.skipped: list[Skipped] = []
        self.stack_markers: list[ClipMarker] = []

    def walk(self, comp, to_record, window, cid, track_name, flags):
        ranges = comp.range_of_all_children()
        children = list(comp)
        extra_markers = _markers_in(comp, to_record, self.rate) if isinstance(comp, otio.schema.Track) else []
        for i, child in enumerate(children):
            if isinstance(child, (otio.schema.Transition, otio.schema.Gap)):
                continue
            child_id = f"{cid}/{i}"
            rip = ranges[child]
            vis = _intersect(rip, window)
            if vis is None:
                continue
            trim = child.trimmed_range()
            offset = trim.start_time - rip.start_time  # child time = parent time + offset
            child_window = otio.opentime.TimeRange(vis.start_time + offset, vis.duration)
            child_to_record = (lambda t, o=offset, up=to_record: up(t - o))
            cflags = list(flags)
            if isinstance(comp, otio.schema.Track):
                for j, where in ((i - 1, "in"), (i + 1, "out")):
                    if 0 <= j < len(children) and isinstance(children[j], otio.schema.Transition):
                        tr = children[j]
                        cflags.append(f"transition {where} ({tr.transition_type}, "
                                      f"{float(seconds(tr.duration())):.3f} s): foleyed to the cut")
            if not child.enabled and not self.include_disabled:
                self.skipped.append(Skipped(child_id, child.name or "", "disabled in the edit"))
                continue
            if isinstance(child, otio.schema.Clip):
                self._clip(child, child_id, track_name, child_window, to_record(vis.start_time), tuple(cflags),
                           extra_markers)
            elif isinstance(child, otio.core.Composition):
                note = f"nested {type(child).__name__.lower()} '{child.name}'"
                self.walk(child, child_to_record, child_window, child_id, track_name, tuple(cflags) + (note,))
            else:
                self.skipped.append(Skipped(child_id, getattr(child, "name", ""),
                                            f"unsupported item {type(child).__name__}"))

    def _clip(self, clip, cid, track_name, source, record_start, flags, track_markers):
        name = clip.name or ""
        rate = self.rate
        record = otio.opentime.TimeRange(record_start.rescaled_to(rate), source.duration.rescaled_to(rate))
        ref = clip.media_reference
        if isinstance(ref, otio.schema.GeneratorReference):
            self.skipped.append(Skipped(cid, name, f"generator ({ref.generator_kind or 'unknown'}): no picture media"))
            return
        flags = list(flags)
        scalar, problem = 1.0, None
        for eff in clip.effects:
            if isinstance(eff, otio.schema.LinearTimeWarp):  # FreezeFrame is one with scalar 0
                scalar *= float(eff.time_scalar)
                flags.append(f"speed {float(eff.time_scalar):g}x honoured")
            elif isinstance(eff, otio.schema.TimeEffect):
                flags.append(f"time effect '{eff.effect_name or type(eff).__name__}' is not linear: "
                             "foleyed at normal speed")
        url, path, available = "", None, None
        if isinstance(ref, otio.schema.ExternalReference):
            url = ref.target_url or ""
            available = ref.available_range
            path, tried = resolve_media(url, timeline_dir=self.src.media_dir, media_root=self.media_root)
            if path is None:
                problem = (f"media not found: {url!r} (tried {', '.join(str(t) for t in tried[:4])}"
                           f"{' ...' if len(tried) > 4 else ''}); relink with --media-root FOLDER")
        elif isinstance(ref, otio.schema.ImageSequenceReference):
            url = ref.target_url_base or ""
            problem = "image-sequence media is not supported yet; render the shot to a movie file"
        else:  # MissingReference (EDL, AAF with embedded media, ...)
            if self.media_root is not None and name:
                for cand in (name, *(name + ext for ext in (".mov", ".mp4", ".mxf", ".mkv"))):
                    path, _ = resolve_media(cand, timeline_dir=None, media_root=self.media_root)
                    if path is not None:
                        break
            if path is None:
                problem = (f"the edit names no media file for this clip"
                           f"{' (looked for ' + repr(name) + ' under --media-root)' if self.media_root else ''}; "
                           "export the edit with media paths or relink with --media-root FOLDER")
        markers = []
        to_rec = (lambda t, s=source.start_time, r=record.start_time: t - s + r)
        markers += _markers_in(clip, to_rec, rate)
        a, b = seconds(record.start_time), seconds(record.end_time_exclusive())
        markers += [m for m in list(track_markers) + self.stack_markers if m.record_end > a and m.record_start < b]
        self.clips.append(PictureClip(
            number=len(self.clips) + 1, clip_id=cid, name=name, track=track_name, rate=self.src.rate,
            record=record, source=source, global_start=self.src.global_start, media_url=url,
            media_path=path, media_available=available, media_problem=problem, time_scalar=scalar,
            flags=tuple(flags), metadata=_plain(clip.metadata.get("melfoley", {})), markers=tuple(markers)))


def _plain(obj):
    """OTIO AnyDictionary / AnyVector -> plain dict / list (copies)."""
    if hasattr(obj, "items"):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)) or type(obj).__name__ == "AnyVector":
        return [_plain(v) for v in obj]
    return obj
