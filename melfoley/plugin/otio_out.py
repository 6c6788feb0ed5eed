"""Writing the edit back: the original tracks plus ``FOLEY <event>`` audio tracks.

Each stem becomes one Clip on an audio track, at exactly the record position of its picture
clip (Gaps fill the space between), with an ExternalReference whose ``available_range``
starts at the stem's own timecode (the instant of its BWF TimeReference: Resolve relinks
by it). Take 1 of each event goes on ``FOLEY <event>``; alternate takes go on disabled
``FOLEY <event> v002`` ... tracks (audio tracks sum, so alternates must not play). Stems
that overlap in time (picture clips stacked on several video tracks) get further lanes
(``FOLEY <event> 2``). Our metadata lives only under ``metadata["melfoley"]``; rates are
the timeline's exact rate (24000/1001, never 23.976).

The input file is never written: :func:`write_timeline` refuses a destination that is the
input, and writes through a temporary file and ``os.replace``. The one exception is
melfoley's own output (``x.foley.otio`` naming ``x.otio`` as its source): run again, on its
own, it is replaced, never the user's edit it came from (:func:`source_edit`).

Round trip (one code path for ``melfoley batch`` and the panel's export): the Foley tracks
melfoley wrote earlier, known by their ``metadata["melfoley"]`` (not by their name: a track
an editor named ``FOLEY steps`` is theirs), are replaced, every other track is kept, and
the output is named after the source edit, never ``x.foley.foley.otio`` (:func:`output_path`).
Two source edits with the same name foleyed into one folder get different output names,
each stable over reruns (``OUTPUTS_INDEX`` records which edit owns which name).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import opentimelineio as otio
from opentimelineio.url_utils import url_from_filepath

from .. import __version__
from ..core.errors import MelfoleyError
from ..core.atomic import atomic_path, atomic_text
from .formats import OWN_SUFFIXES, _resolved, _top, edit_name, own_suffix, source_edit  # noqa: F401
from .stems import StemFile
from .timeline import PictureClip, TimelineSource, iter_clip_ids, resolve_media, url_to_path

FORMATS = {"otio": (".otio", "otio_json"), "otioz": (".otioz", "otioz"), "xml": (".xml", "fcp_xml"),
           "edl": (".edl", "cmx_3600")}
TRACK_PREFIX = "FOLEY"
#: in OUT: which source edit owns each output name (``{"outputs": {"reel": "/abs/a/reel.otio"}}``)
OUTPUTS_INDEX = "melfoley_outputs.json"
#: top-level ``metadata["melfoley"]`` keys that belong to the edit and are carried into its output
EDIT_KEYS = ("default_prompt", "media_root")


@dataclass(frozen=True)
class Placement:
    stem: StemFile
    clip: PictureClip
    meta: dict  # prompt, seed, engine, model, weights hash, licence ... (goes under metadata["melfoley"])


def _track_name(title: str, take: int, lane: int) -> str:
    name = f"{TRACK_PREFIX} {title}"
    if take > 1:
        name += f" v{take:03d}"
    if lane > 1:
        name += f" {lane}"
    return name


def _lanes(items: list[Placement]) -> list[list[Placement]]:
    """Greedy interval packing by record start: no two stems of a lane overlap."""
    lanes: list[list[Placement]] = []
    for p in sorted(items, key=lambda p: (p.clip.record.start_time.to_seconds(), p.clip.clip_id)):
        for lane in lanes:
            if lane[-1].clip.record.end_time_exclusive() <= p.clip.record.start_time:
                lane.append(p)
                break
        else:
            lanes.append([p])
    return lanes


class _Urls:
    """``file://`` URLs of resolved paths, for one build: the stems of a long edit share one folder
    (resolved once; a stem is resolved on its own only when it is a link) and its pictures a few files."""

    def __init__(self):
        self._dirs: dict[str, tuple[str, str]] = {}
        self._files: dict[str, tuple[str, str]] = {}

    def resolved(self, path) -> tuple[str, str]:
        """(``str(Path(path).resolve())``, its URL as :func:`url_from_filepath` writes it)."""
        path = os.fspath(path)
        head, name = os.path.split(path)
        if not head or not name or not name.isascii() or name in (".", "..") or os.path.islink(path):
            return self._file(path)
        if head not in self._dirs:
            self._dirs[head] = self._file(head)
        real, url = self._dirs[head]
        sep = "" if real.endswith("/") else "/"
        return real + sep + name, url + sep + name  # an ASCII name quotes and unquotes to itself

    def _file(self, path: str) -> tuple[str, str]:
        if path not in self._files:
            real = str(Path(path).resolve())
            self._files[path] = (real, url_from_filepath(real))
        return self._files[path]


def stem_clip(p: Placement, rate: float, global_start: otio.opentime.RationalTime,
              urls: _Urls | None = None) -> otio.schema.Clip:
    urls = urls or _Urls()
    rec = p.clip.record
    start = (global_start + rec.start_time).rescaled_to(rate)
    dur = rec.duration.rescaled_to(rate)
    cut = otio.opentime.TimeRange(start, dur)
    # handles: the file holds extra audio on each side; its available range says so and the
    # clip's source range is trimmed back to the cut, so the record position does not move
    handle = otio.opentime.RationalTime(p.stem.handle_samples, 48000).rescaled_to(rate)
    available = otio.opentime.TimeRange(start - handle, dur + handle + handle)
    ref = otio.schema.ExternalReference(target_url=urls.resolved(p.stem.path)[1], available_range=available)
    ref.metadata["melfoley"] = {"sample_rate": 48000, "samples": p.stem.samples,
                                "time_reference": p.stem.time_reference, "handle_samples": p.stem.handle_samples}
    clip = otio.schema.Clip(name=Path(p.stem.path).stem, media_reference=ref, source_range=cut)
    clip.metadata["melfoley"] = {
        **p.meta, "picture_clip": p.clip.clip_id, "picture_name": p.clip.name, "take": p.stem.take,
        "seed": p.stem.seed, "event": p.stem.event_label, "sidecar": urls.resolved(p.stem.sidecar)[0],
        "record_in": p.clip.timecode(),
    }
    return clip


def build_output_timeline(src: TimelineSource, placements: list[Placement], *, complete: bool,
                          report: dict | None = None) -> otio.schema.Timeline:
    """A copy of the input timeline with the Foley tracks appended (the input object is untouched).

    Foley tracks melfoley wrote earlier (an edit foleyed again) are replaced, not stacked; the
    edit's other tracks are kept as they are. ``metadata["melfoley"]`` names the source edit
    (:func:`source_edit`) and keeps the edit's own settings (``EDIT_KEYS``: the panel's default
    prompt, the media root)."""
    return OutputTimeline(src).build(placements, complete=complete, report=report)


class OutputTimeline:
    """:func:`build_output_timeline`, built again as a run goes on (the partial timeline): the input
    is copied once, and each :meth:`build` replaces the Foley tracks and the picture URLs of that
    one copy, so a build gives what :func:`build_output_timeline` gives at that moment. The
    timeline a build returns is the same object each time: use it before the next build."""

    def __init__(self, src: TimelineSource):
        self.src = src
        self.tl = src.timeline.deepcopy()
        drop_own_tracks(self.tl)
        self._tracks = len(self.tl.tracks)  # the edit's own; the Foley tracks follow
        self._pictures = _picture_refs(self.tl)

    def build(self, placements: list[Placement], *, complete: bool,
              report: dict | None = None) -> otio.schema.Timeline:
        src, tl = self.src, self.tl
        del tl.tracks[self._tracks:]  # the previous build's Foley tracks
        urls = _Urls()
        _absolute_pictures(self._pictures, src, {p.clip.clip_id: p.clip.media_path for p in placements
                                                 if p.clip.media_path}, urls)
        rate = float(src.rate)
        gs = src.global_start.rescaled_to(rate)
        tl.global_start_time = gs
        groups: dict[tuple[str, int], list[Placement]] = {}
        for p in placements:
            groups.setdefault((p.stem.event_title, p.stem.take), []).append(p)
        for (title, take), items in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][1])):
            for li, lane in enumerate(_lanes(items), start=1):
                track = otio.schema.Track(name=_track_name(title, take, li), kind=otio.schema.TrackKind.Audio)
                track.enabled = take == 1
                track.metadata["melfoley"] = {"event": lane[0].stem.event_label, "take": take, "lane": li,
                                              "alternate": take > 1}
                cursor = otio.opentime.RationalTime(0, rate)
                for p in lane:
                    start = p.clip.record.start_time.rescaled_to(rate)
                    if start > cursor:
                        track.append(otio.schema.Gap(source_range=otio.opentime.TimeRange(
                            otio.opentime.RationalTime(0, rate), start - cursor)))
                    track.append(stem_clip(p, rate, gs, urls))
                    cursor = start + p.clip.record.duration.rescaled_to(rate)
                tl.tracks.append(track)
        top = _top(src.timeline)
        tl.metadata["melfoley"] = {**{k: top[k] for k in EDIT_KEYS if top.get(k)}, "version": __version__,
                                   "source_timeline": _text(str(source_edit(src.path, src.timeline))),
                                   "complete": complete, "stems": len(placements),
                                   **({"report": report} if report else {})}
        return tl


def is_own_track(track) -> bool:
    """A Foley track melfoley wrote: an audio track whose ``metadata["melfoley"]`` has its event and take.

    Known by its metadata, not its name: a track an editor named ``FOLEY steps`` is theirs."""
    if track.kind != otio.schema.TrackKind.Audio:
        return False
    meta = track.metadata.get("melfoley")
    return isinstance(meta, Mapping) and "event" in meta and "take" in meta


def drop_own_tracks(tl: otio.schema.Timeline) -> int:
    """Remove the Foley tracks melfoley wrote earlier from ``tl`` (in place); how many went."""
    ours = [t for t in tl.tracks if is_own_track(t)]
    for t in ours:
        tl.tracks.remove(t)
    return len(ours)


def _text(s: str) -> str:
    """Text OTIO can store: a file name that is not valid UTF-8 keeps its odd bytes as escapes."""
    return s.encode("utf-8", "backslashreplace").decode("utf-8")


def _picture_refs(tl: otio.schema.Timeline) -> list[tuple[str, otio.schema.ExternalReference, str]]:
    """(clip id, external reference, its URL as the edit wrote it) of every picture clip of ``tl``."""
    return [(cid, clip.media_reference, clip.media_reference.target_url) for cid, clip in iter_clip_ids(tl)
            if isinstance(clip.media_reference, otio.schema.ExternalReference)]


def _absolute_pictures(pictures: list, src: TimelineSource, used: dict, urls: _Urls | None = None) -> None:
    """Point picture references (:func:`_picture_refs`) at absolute file URLs, so the output plays
    from any folder: the media a clip was foleyed from (relinks included) for clips in ``used``,
    and relative URLs that resolve against the input's folder for the others (a relative URL would
    be read against the output's folder, where the media is not); every other reference keeps
    the URL the edit wrote. A long edit cuts many clips from a few files: each URL and file is
    looked at once."""
    urls = urls or _Urls()
    kinds: dict[str, tuple[str, str]] = {}
    relative: dict[str, Path | None] = {}
    same: dict[tuple[str, str], bool] = {}
    for cid, ref, written in pictures:
        url = written or ""
        if url not in kinds:
            kinds[url] = url_to_path(url)
        kind, as_written = kinds[url]
        path = used.get(cid)
        if path is None and kind == "relative":
            if url not in relative:
                relative[url] = resolve_media(url, timeline_dir=src.media_dir)[0]
            path = relative[url]
        elif path is not None and kind != "relative":
            pair = (as_written, os.fspath(path))
            if pair not in same:
                same[pair] = _same_file(as_written, path)
            if same[pair]:
                path = None  # already names the file it plays: left exactly as the editor wrote it
        target = written if path is None else urls.resolved(path)[1]
        if ref.target_url != target:  # (an earlier build of the same copy may have set it)
            ref.target_url = target


def _same_file(a, b) -> bool:
    try:
        return os.path.samefile(a, b)
    except (OSError, ValueError):
        return False


def bundle_copy(tl: otio.schema.Timeline) -> otio.schema.Timeline:
    """A copy of an output timeline for an ``.otioz`` bundle: only the Foley stems and the picture
    of the clips that were foleyed keep their media; every other reference (media the run did not
    use as picture, failed clips, the edit's own sound, anything not a regular file) becomes a
    ``MissingReference`` that keeps the original URL in ``metadata["melfoley"]["not_bundled"]``,
    so a bundle never carries a file the edit named but melfoley did not use."""
    tl = tl.deepcopy()
    foley = [c for t in tl.tracks if is_own_track(t) for c in t.find_clips()
             if "sidecar" in (c.metadata.get("melfoley") or {})]
    pictures = {str(c.metadata["melfoley"].get("picture_clip")) for c in foley}
    allowed = {c.media_reference.target_url for c in foley
               if isinstance(c.media_reference, otio.schema.ExternalReference)}
    allowed |= {c.media_reference.target_url for cid, c in iter_clip_ids(tl)
                if cid in pictures and isinstance(c.media_reference, otio.schema.ExternalReference)}
    for clip in tl.find_clips():
        ref = clip.media_reference
        if not isinstance(ref, otio.schema.ExternalReference):
            continue
        url = ref.target_url or ""
        kind, as_path = url_to_path(url)
        path = Path(as_path) if kind == "posix" else None  # relative URLs would be read against the cwd
        if url in allowed and path is not None and path.is_file():
            continue
        missing = otio.schema.MissingReference(name=ref.name, available_range=ref.available_range)
        missing.metadata["melfoley"] = {"not_bundled": url}
        clip.media_reference = missing
    return tl


def output_path(out_dir: str | os.PathLike, timeline_path: str | os.PathLike, fmt: str,
                timeline: otio.schema.Timeline | None = None) -> Path:
    """Where the edit at ``timeline_path`` (read as ``timeline``) is written in ``out_dir`` as ``fmt``.

    ``OUT/<name>.foley.<ext>``, ``<name>`` being the source edit's name (:func:`source_edit`,
    :func:`edit_name`: foleying ``x.foley.otio`` again writes ``x.foley.otio``, never
    ``x.foley.foley.otio``). When another source edit of the same name already owns that name in
    ``out_dir`` (a/reel.otio and b/reel.otio), the second is ``<name>.<8 hex digits>.foley.<ext>``,
    the digits a hash of its absolute path: unique per edit and the same on every rerun. Owners
    are recorded in ``OUT/melfoley_outputs.json`` (claimed here), so a rerun keeps its name
    whichever outputs are on disk."""
    if fmt not in FORMATS:
        raise MelfoleyError(f"unknown output format {fmt!r}; choose one of {', '.join(FORMATS)}")
    source = source_edit(timeline_path, timeline)
    return Path(out_dir) / f"{_claim(Path(out_dir), source)}.foley{FORMATS[fmt][0]}"


def _claim(out_dir: Path, source: Path) -> str:
    """The output name of ``source`` in ``out_dir``: its edit name, or that name plus a hash of its
    path when another source owns the name; the claim is recorded in ``OUTPUTS_INDEX`` under a lock."""
    name = edit_name(source)
    me = _text(str(source))
    hashed = f"{name}.{hashlib.sha256(me.encode('utf-8', 'surrogateescape')).hexdigest()[:8]}"
    index_path = out_dir / OUTPUTS_INDEX
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise MelfoleyError(f"cannot make the output folder {out_dir} ({exc.strerror or exc}); choose a folder "
                            "you can write to") from None
    with _locked(out_dir):
        try:
            doc = json.loads(index_path.read_text(encoding="utf-8"))
            owners = doc["outputs"] if isinstance(doc, dict) and isinstance(doc.get("outputs"), dict) else {}
        except (OSError, ValueError):
            owners = {}
        owner = owners.get(name)
        if not isinstance(owner, str):
            owner = _legacy_owner(out_dir, name) or me  # an output written before the index, or free
            atomic_text(index_path, json.dumps({"about": "which source edit owns each output name in this "
                                                "folder (melfoley)", "outputs": {**owners, name: owner}}, indent=1))
    return name if owner == me else hashed


def _legacy_owner(out_dir: Path, name: str) -> str | None:
    """The source edit an existing ``<name>.foley.otio`` names; ``"?"`` when it names none (not ours,
    or unreadable: it is left alone), None when there is no such file."""
    path = out_dir / f"{name}.foley.otio"
    if not path.exists():
        return None
    try:
        named = json.loads(path.read_text(encoding="utf-8"))["metadata"]["melfoley"]["source_timeline"]
    except (OSError, ValueError, KeyError, TypeError):
        return "?"
    return _text(str(_resolved(named))) if isinstance(named, str) and named else "?"


class _locked:
    """An exclusive lock on the folder itself (POSIX ``flock`` on its descriptor; elsewhere none), so
    two runs starting at once into one folder cannot both claim a name."""

    def __init__(self, out_dir: Path):
        self.path = out_dir
        self.fd = None

    def __enter__(self):
        try:
            import fcntl
        except ImportError:
            return self
        try:
            self.fd = os.open(self.path, os.O_RDONLY)
            fcntl.flock(self.fd, fcntl.LOCK_EX)
        except OSError:
            if self.fd is not None:
                os.close(self.fd)
            self.fd = None  # a filesystem without locks: claim without one
        return self

    def __exit__(self, *exc):
        if self.fd is not None:
            os.close(self.fd)  # releases the lock
        return False


def _for_xml(tl: otio.schema.Timeline) -> otio.schema.Timeline:
    """A copy the FCP7 XML writer accepts: every ExternalReference gets an available range."""
    tl = tl.deepcopy()
    for clip in tl.find_clips():
        ref = clip.media_reference
        if isinstance(ref, otio.schema.ExternalReference) and ref.available_range is None:
            ref.available_range = clip.source_range or clip.trimmed_range()
    return tl


def edl_timelines(tl: otio.schema.Timeline) -> list[otio.schema.Timeline]:
    """One single-track timeline per Foley track, as the CMX 3600 writer needs (one event list per
    track, channel A, record timecodes from the timeline's global start)."""
    out = []
    gs = tl.global_start_time
    for track in tl.audio_tracks():
        if not is_own_track(track):
            continue
        sub = otio.schema.Timeline(name=track.name)
        a = track.deepcopy()
        a.enabled = True
        if gs is not None and gs.value > 0:
            a.insert(0, otio.schema.Gap(source_range=otio.opentime.TimeRange(duration=gs)))
        sub.tracks.append(a)
        sub.tracks.append(otio.schema.Track(kind=otio.schema.TrackKind.Video))  # the writer wants one
        out.append(sub)
    return out


def write_timeline(tl: otio.schema.Timeline, path: str | os.PathLike, fmt: str, *,
                   input_path: str | os.PathLike | None = None) -> Path:
    """Write ``tl`` as ``fmt`` (otio, otioz, xml, edl) to ``path`` atomically; never over the input.

    ``edl``: EDLs hold one track, so each Foley track is written to ``<path stem>.A<k>.edl``
    (``path`` itself is not written); the first is returned.
    """
    path = Path(path)
    if fmt not in FORMATS:
        raise MelfoleyError(f"unknown output format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if input_path is not None and path.resolve() == Path(input_path).resolve():
        raise MelfoleyError(f"refusing to overwrite the input timeline {input_path}; choose another output folder")
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "edl":
        subs = edl_timelines(tl)
        if not subs:
            raise MelfoleyError(f"no Foley tracks to write as EDL to {path}; nothing was foleyed")
        paths = [path.with_name(f"{path.stem}.A{k}.edl") for k in range(1, len(subs) + 1)]
        for sub, p in zip(subs, paths):
            _write_one(sub, p, "edl", input_path)
        return paths[0]
    if fmt == "xml":
        tl = _for_xml(tl)
    return _write_one(tl, path, fmt, input_path)


def _mark_disabled_audio(xml_path: str, tl: otio.schema.Timeline) -> None:
    """The FCP7 writer drops track ``enabled``: mark alternate-take tracks ``<enabled>FALSE</enabled>``."""
    import xml.etree.ElementTree as ET

    tree = ET.parse(xml_path)
    seq = tree.getroot().find(".//sequence")
    xml_tracks = seq.findall("./media/audio/track") if seq is not None else []
    ours = list(tl.audio_tracks())
    if len(xml_tracks) != len(ours):
        return  # unexpected layout: leave the adapter's output as it is
    changed = False
    for el, track in zip(xml_tracks, ours):
        if not track.enabled and el.find("enabled") is None:
            flag = ET.SubElement(el, "enabled")
            flag.text = "FALSE"
            changed = True
    if changed:
        tree.write(xml_path, encoding="UTF-8", xml_declaration=True)


def _write_one(tl, path: Path, fmt: str, input_path) -> Path:
    if input_path is not None and path.resolve() == Path(input_path).resolve():
        raise MelfoleyError(f"refusing to overwrite the input timeline {input_path}; choose another output folder")
    suffix, adapter = FORMATS[fmt]
    kwargs = {}
    if fmt == "otioz":
        from opentimelineio.adapters.file_bundle_utils import MediaReferencePolicy

        kwargs["media_policy"] = MediaReferencePolicy.MissingIfNotFile
        tl = bundle_copy(tl)
    try:
        if fmt == "otio":  # serialised here, so the write is ours to verify (size, fsync) before the rename
            atomic_text(path, otio.adapters.write_to_string(tl, adapter_name=adapter))
            return path
        with atomic_path(path, suffix, check=lambda p: _check_written(p, fmt)) as tmp:
            otio.adapters.write_to_file(tl, tmp, adapter_name=adapter, **kwargs)  # bundles refuse an existing file
            if fmt == "xml":
                _mark_disabled_audio(tmp, tl)
    except Exception as exc:
        if isinstance(exc, MelfoleyError):
            raise
        hint = "try --format otio, which holds everything" if fmt != "otio" else "check the output folder"
        raise MelfoleyError(f"cannot write the {fmt} timeline {path}: {type(exc).__name__}: {str(exc)[:300]}; "
                            f"{hint}") from exc
    return path


def _check_written(path: str, fmt: str) -> None:
    """Read a timeline an adapter wrote back, as far as that is cheap: a failed write raises."""
    import zipfile

    try:
        if fmt == "otioz":
            with zipfile.ZipFile(path) as zf:
                otio.adapters.read_from_string(zf.read("content.otio").decode("utf-8"), "otio_json")
                for info in zf.infolist():  # media is stored: its size is its size on disk
                    if info.compress_type == zipfile.ZIP_STORED and info.header_offset + info.file_size > \
                            Path(path).stat().st_size:
                        raise ValueError(f"{info.filename} is truncated")
        elif fmt == "xml":
            import xml.etree.ElementTree as ET

            ET.parse(path)
        elif not Path(path).read_text(encoding="utf-8").strip():
            raise ValueError("empty")
    except Exception as exc:  # noqa: BLE001 - whatever is wrong with it, the file is not valid
        raise MelfoleyError(f"the {fmt} timeline written to {path} does not read back ({type(exc).__name__}: "
                            f"{str(exc)[:200]}); the disk may be full: free space and rerun "
                            "(the previous file is unchanged)") from exc
