"""The batch runner: a whole edit foleyed in one call, resumable and failure-isolated.

``BatchRunner(config).run()`` reads the edit, finds its picture clips and, clip by clip:
checks the media, builds the job (defaults + clip metadata + prompt markers), looks the
takes up in the content-hash cache (:mod:`.cache`), otherwise decodes exactly the clip's
source range and renders the takes, then writes the stems (:mod:`.stems`). Clips run through
an executor (:mod:`.driver`): in this process by default, or on a Ray cluster
(:mod:`.farm`); the driver alone writes the output timeline and the report. While the run
goes on, the output timeline is rewritten (atomically, as ``.otio``) at a bounded rate
holding the stems done so far, so an interrupted run leaves finished stems and a valid
partial timeline; a rerun redoes only what is missing (stems already on disk with the same
key are kept as they are).

One clip failing (missing media, a bad setting, a decoder error) is recorded with its
reason and the run goes on; Ctrl-C (``KeyboardInterrupt``) stops after writing the partial
timeline and the report. A progress callback gets clips done, cached, failed and the time
left.
"""

from __future__ import annotations

import dataclasses
import json
import os
from fractions import Fraction
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from ..core.errors import MediaError, MelfoleyError
from .cache import CachedTakes, TakeCache, cache_key, media_identity
from .jobs import BatchDefaults, ClipJob, build_job, edit_defaults
from .picture import clip_picture, clip_requests, handle_lead, handle_picture, join_audio
from .driver import ClipContext, Executor, LocalExecutor, Meter, PartialTimeline
from .otio_out import Placement, output_path, source_edit, write_timeline
from .stems import StemFile, take_sources, ucs_name, write_stem
from .timeline import PictureClip, find_picture_clips, media_timecode, read_timeline

STEMS_DIR = "stems"
#: the batch report sits beside its output timeline: OUT/<name>.foley.otio -> OUT/<name>.foley.report.json
REPORT_SUFFIX = ".report.json"


def report_path(output_timeline: str | os.PathLike) -> Path:
    """The report of the edit whose output timeline is ``output_timeline`` (one per edit, so two
    edits foleyed into one folder keep both reports; named after the output's unique name)."""
    return Path(output_timeline).with_suffix(REPORT_SUFFIX)


@dataclass(frozen=True)
class BatchConfig:
    timeline: Path
    out_dir: Path
    defaults: BatchDefaults = BatchDefaults()
    fmt: str = "otio"
    media_root: Path | None = None
    show: str = ""  # UCS SourceID and iXML tape; default: the timeline's name
    edl_rate: float | None = None
    timeline_name: str | None = None
    include_disabled: bool = False
    use_cache: bool = True
    cache_root: Path | None = None
    engine_options: tuple[tuple[str, str], ...] = ()  # passed to get_engine, e.g. (("vocoder", "griffinlim"),)


def batch_config(timeline, out_dir, *, prompt: str = "footsteps", takes: int = 1, seed: int = 0,
                 engine: str | None = None, fmt: str = "otio", media_root=None, loudness: float | None = None,
                 handles: float = 0.0, show: str = "", edl_rate: float | None = None, timeline_name: str | None = None,
                 include_disabled: bool = False, use_cache: bool = True,
                 engine_options: tuple[tuple[str, str], ...] = ()) -> BatchConfig:
    """The one builder of a :class:`BatchConfig` from what a person asked for (``melfoley batch``,
    ``melfoley host run``, the watch folder): every setting is checked here, before any clip runs
    or anything is written, and a bad one raises a :class:`MelfoleyError` naming its flag."""
    from ..core.engine import engine_options as typed_engine_options
    from ..core.engines import DEFAULT_ENGINE
    from ..core.levels import CEILING_DBTP, check_target
    from .jobs import MAX_SEED
    from .otio_out import FORMATS
    from .stems import handle_samples

    engine = engine or DEFAULT_ENGINE
    if isinstance(takes, bool) or not isinstance(takes, int) or not 1 <= takes <= 64:
        raise MelfoleyError(f"--takes {takes}: choose 1 to 64")
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        raise MelfoleyError(f"--seed {seed}: choose a whole number from 0 to {MAX_SEED}")
    if fmt not in FORMATS:
        raise MelfoleyError(f"--format {fmt}: choose one of {', '.join(FORMATS)}")
    typed_engine_options(engine, dict(engine_options))  # unknown engines, unknown or mistyped keys
    check_target(loudness, CEILING_DBTP)
    handle_samples(handles)
    return BatchConfig(
        timeline=Path(timeline), out_dir=Path(out_dir),
        defaults=BatchDefaults(prompt=prompt, takes=takes, seed=seed, engine=engine, loudness=loudness,
                               handles=float(handles)),
        fmt=fmt, media_root=Path(media_root) if media_root else None, show=show, edl_rate=edl_rate,
        timeline_name=timeline_name, include_disabled=include_disabled, use_cache=use_cache,
        engine_options=tuple(engine_options))


@dataclass
class ClipResult:
    clip_id: str
    name: str
    timecode: str
    duration: float
    status: str  # done | cached | failed | skipped
    reason: str = ""
    stems: list[str] = field(default_factory=list)
    decode_s: float = 0.0
    render_s: float = 0.0
    write_s: float = 0.0
    decode_cpu_s: float = 0.0  # process CPU time (all threads): meaningful on a busy machine
    render_cpu_s: float = 0.0
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Progress:
    done: int  # clips finished (done, cached or failed)
    total: int
    cached: int
    failed: int
    elapsed: float
    eta: float | None  # seconds left (None until something has been rendered)
    current: str  # the clip being worked on


@dataclass
class BatchReport:
    timeline: str
    output_timeline: str
    exported: str
    stems_dir: str
    clips: list[ClipResult]
    interrupted: bool = False
    elapsed: float = 0.0
    notes: list[str] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(1 for c in self.clips if c.status == status)

    @property
    def failed(self) -> list[ClipResult]:
        return [c for c in self.clips if c.status == "failed"]

    @property
    def ok(self) -> bool:
        return not self.failed and not self.interrupted

    def totals(self) -> dict:
        return {"done": self.count("done"), "cached": self.count("cached"), "failed": self.count("failed"),
                "skipped": self.count("skipped"), "decode_s": round(sum(c.decode_s for c in self.clips), 3),
                "render_s": round(sum(c.render_s for c in self.clips), 3),
                "write_s": round(sum(c.write_s for c in self.clips), 3), "elapsed_s": round(self.elapsed, 3),
                "decode_cpu_s": round(sum(c.decode_cpu_s for c in self.clips), 3),
                "render_cpu_s": round(sum(c.render_cpu_s for c in self.clips), 3),
                "picture_s": round(sum(c.duration for c in self.clips if c.status in ("done", "cached")), 3)}

    def to_dict(self) -> dict:
        return {"timeline": self.timeline, "output_timeline": self.output_timeline, "exported": self.exported,
                "stems_dir": self.stems_dir, "interrupted": self.interrupted, "totals": self.totals(),
                "notes": self.notes, "clips": [_clip_dict(c) for c in self.clips]}


def _clip_dict(c: ClipResult) -> dict:
    """``dataclasses.asdict(c)`` without its generic deep copy (a report may hold 10,000 clips):
    the fields in order, the lists copied."""
    return {f: (list(v) if isinstance(v, list) else v) for f in _CLIP_FIELDS for v in (getattr(c, f),)}


_CLIP_FIELDS = tuple(f.name for f in dataclasses.fields(ClipResult))


ProgressFn = Callable[[Progress], None]


class BatchRunner:
    """Runs one batch; ``engine_factory(name)`` defaults to :func:`melfoley.core.engine.get_engine`;
    ``executor`` (built from this runner) defaults to :class:`.driver.LocalExecutor`."""

    def __init__(self, config: BatchConfig, *, progress: ProgressFn | None = None,
                 engine_factory: Callable | None = None,
                 executor: Callable[[BatchRunner], Executor] | None = None):
        self.config = config
        self.progress = progress
        self.executor = (executor or LocalExecutor)(self)
        self.timeline_writes = 0
        self._engine_factory = engine_factory
        self.cache = TakeCache(config.cache_root) if config.use_cache else None
        from ..core.atomic import sweep_stale_temps

        sweep_stale_temps(config.out_dir, Path(config.out_dir) / STEMS_DIR)  # what killed runs left
        self._probes: dict[str, object] = {}
        self._engine_errors: dict[str, str] = {}

    # ------------------------------------------------------------------ helpers
    def engine(self, name: str):
        """The resident engine ``name``; a failure to build it is remembered (and re-raised per clip)."""
        if name in self._engine_errors:
            raise MelfoleyError(self._engine_errors[name])
        try:
            if self._engine_factory is not None:
                return self._engine_factory(name)
            from ..core.engine import get_engine

            return get_engine(name, **self.options_for(name))
        except MelfoleyError as exc:
            self._engine_errors[name] = str(exc)
            raise

    def options_for(self, name: str) -> dict:
        """The --engine-opt options, for the engine the command line names only (a clip's metadata
        may name another engine, which has other options)."""
        return dict(self.config.engine_options) if name == self.config.defaults.engine else {}

    def _probe(self, clip: PictureClip):
        from ..core.video import probe

        key = str(clip.media_path)
        if key not in self._probes:
            self._probes[key] = probe(clip.media_path, clip_id=clip.clip_id)
        return self._probes[key]

    # ------------------------------------------------------------------ run
    def run(self) -> BatchReport:
        """Read and scan the edit, run its clips through the executor, write the timeline and the report.

        The driver (this method) alone writes the output timeline and the report, whichever
        executor renders the clips; results may arrive in any order and are reported in scan order.
        """
        cfg = self.config
        t0 = time.perf_counter()
        src = read_timeline(cfg.timeline, edl_rate=cfg.edl_rate, timeline_name=cfg.timeline_name)
        defaults = edit_defaults(src.timeline, cfg.defaults, where=str(cfg.timeline))
        if defaults != cfg.defaults:  # before the executor starts: farm workers get the config
            self.config = cfg = dataclasses.replace(cfg, defaults=defaults)
        scan = find_picture_clips(src, media_root=cfg.media_root, include_disabled=cfg.include_disabled)
        out_dir = Path(cfg.out_dir)
        show = cfg.show or src.timeline.name or Path(cfg.timeline).stem
        ctx = ClipContext(out_dir / STEMS_DIR, show, src.timeline.name or show, str(src.path))
        source = source_edit(cfg.timeline, src.timeline)  # never written (a re-run may replace our own output)
        skipped = [ClipResult(s.clip_id, s.name, "", 0.0, "failed" if s.failed else "skipped", s.reason)
                   for s in scan.skipped]
        clips = scan.clips
        try:
            self.executor.prepare(ctx, clips)
            otio_path = output_path(out_dir, cfg.timeline, "otio", src.timeline)  # claims its name: nothing before
        except BaseException:
            self.executor.close()
            raise
        report = BatchReport(str(cfg.timeline), str(otio_path), "", str(ctx.stems_dir), list(skipped),
                             notes=list(src.notes))
        if defaults.prompt_from == "edit default":
            report.notes.append(f"clips without a prompt of their own use the edit's default prompt "
                                f"{defaults.prompt!r} (its metadata[\"melfoley\"][\"default_prompt\"]), not --prompt")
        results: dict[int, ClipResult] = {}
        placements: list[Placement] = []
        partial = PartialTimeline(src, otio_path, source, read=cfg.timeline)
        meter = Meter(clips, t0, self.progress, parallel=self.executor.parallelism)
        try:  # the first write and tick too: a Ctrl-C (or a stop from the progress callback) there is an interrupt
            partial.write(placements, report.totals(), complete=False)
            meter.tick()
            for i, result, new in self.executor.run(ctx, clips):
                results[i] = result
                placements += new
                meter.finished(i, result)
                if partial.due():
                    report.clips = skipped + [results[k] for k in sorted(results)]
                    partial.write(placements, report.totals(), complete=False)
        except KeyboardInterrupt:
            report.interrupted = True
            left = len(clips) - len(results)
            at = f" at clip {meter.current}" if meter.current else ""
            report.notes.append(f"interrupted{at} ({left} of {len(clips)} clips left); "
                                "rerun the same command to finish")
        except MelfoleyError as exc:  # the executor cannot go on (every farm worker gone): keep what is done
            report.interrupted = True
            report.notes.append(f"stopped with {len(clips) - len(results)} of {len(clips)} clips left: {exc}; "
                                "rerun the same command to finish")
        finally:
            self.executor.close()
        if report.interrupted and partial.in_place:
            report.notes.append(f"{otio_path.name} is the previous complete timeline, unchanged until a re-run finishes")
        report.notes += self.executor.notes
        report.clips = skipped + [results[k] for k in sorted(results)]
        report.elapsed = time.perf_counter() - t0
        complete = not report.interrupted
        tl = partial.write(placements, report.totals(), complete=complete)
        report.exported = str(otio_path)
        if complete and cfg.fmt != "otio":
            if cfg.fmt == "edl" and not placements:
                report.notes.append("nothing was foleyed: no EDL written")
            else:
                report.exported = str(write_timeline(tl, output_path(out_dir, cfg.timeline, cfg.fmt, src.timeline),
                                                     cfg.fmt, input_path=source))
        report.elapsed = time.perf_counter() - t0
        _write_json(report_path(otio_path), report.to_dict())
        self.timeline_writes = partial.writes  # how often the output timeline was written (bench, tests)
        return report

    def run_clip(self, ctx: ClipContext, clip: PictureClip) -> tuple[ClipResult, list[Placement]]:
        """One clip, start to finish, failure-isolated (what every executor calls)."""
        return self._do_clip(ctx, clip)

    # ------------------------------------------------------------------ one clip
    def _do_clip(self, ctx: ClipContext, clip: PictureClip):
        res = ClipResult(clip.clip_id, clip.name, clip.timecode(), float(clip.duration), "done",
                         notes=list(clip.flags))
        try:
            return self._clip_body(ctx, clip, res)
        except MelfoleyError as exc:
            res.status, res.reason = "failed", str(exc)
        except Exception as exc:  # noqa: BLE001 - isolate the clip, report, go on
            res.status, res.reason = "failed", f"internal error {type(exc).__name__}: {exc} (please report it)"
        return res, []

    def _clip_body(self, ctx: ClipContext, clip: PictureClip, res: ClipResult):
        stems_dir, show = ctx.stems_dir, ctx.show
        if clip.media_problem:
            raise MediaError(f"clip {clip.clip_id} '{clip.name}': {clip.media_problem}")
        job = build_job(clip, self.config.defaults)
        engine = self.engine(job.engine)
        info_engine = dict(engine.describe())
        if self.options_for(job.engine):  # in the cache key and the sidecar, whether describe() shows them or not
            info_engine["options"] = self.options_for(job.engine)
        info = self._probe(clip)
        if not info.has_video:
            raise MediaError(f"clip {clip.clip_id} '{clip.name}': {clip.media_path} has no video stream; relink it")
        tc = None
        if clip.media_available is None:  # no reference range: the file's own timecode places the source
            tc = media_timecode(clip.media_path, info.fps)
            if tc:
                res.notes.append(f"source timecodes read against the file's start timecode ({float(tc):.3f} s)")
        start, media_dur = clip.media_window(info.duration, tc)
        key = cache_key(media=media_identity(clip.media_path),
                        source={"start": round(start, 6), "media_duration": round(media_dur, 6),
                                "scalar": clip.time_scalar, "duration": str(clip.duration)},
                        settings=job.settings(), engine=info_engine)
        extra_meta = {"prompt": job.prompt, "engine": job.engine, "model": info_engine.get("model", job.engine),
                      "weights_sha256": info_engine.get("weights_sha256"),
                      "licence": info_engine.get("licence") or info_engine.get("license")}
        existing = self._existing_stems(job, clip, stems_dir, show, key)
        if existing is not None:
            res.status = "cached"
            res.stems = [str(s.path) for s in existing]
            return res, [Placement(s, clip, extra_meta) for s in existing]
        takes = self.cache.get(key) if self.cache is not None else None
        if takes is not None:
            res.status = "cached"
        else:
            takes = self._render(job, engine, clip, info, start, media_dur, info_engine, res)
            if self.cache is not None:
                self.cache.put(key, takes)
        t = time.perf_counter()
        stems = []
        for k, (audio, seed, ctl) in enumerate(zip(takes.audio, takes.seeds, takes.controls), start=1):
            stems.append(write_stem(stems_dir, job, take=k, audio=audio, sample_rate=takes.sample_rate, seed=seed,
                                    control_dict=ctl, engine_info=info_engine, show=show,
                                    project=ctx.project, timeline_path=ctx.timeline_path,
                                    cache_key=key, extra={"notes": res.notes, "library_sources": (
                                        takes.meta.get("take_sources") or [None] * len(takes.audio))[k - 1]}))
        res.write_s = time.perf_counter() - t
        res.stems = [str(s.path) for s in stems]
        return res, [Placement(s, clip, extra_meta) for s in stems]

    def _existing_stems(self, job: ClipJob, clip: PictureClip, stems_dir: Path, show: str, key: str):
        """The clip's stems when all are on disk with this key and this record position, else None.

        One ``stat`` of the stem and one read of its sidecar per take (a missing file of either
        is an ``OSError``: not on disk), since a fully cached rerun of a long edit does this for
        every clip."""
        out = []
        for k in range(1, job.takes + 1):
            name = ucs_name(job.event.catid, job.event.title, clip.stem_tag, k, show)
            path = stems_dir / name
            side = stems_dir / (name[:-len(".wav")] + ".json")  # path.with_suffix(".json"): a UCS name ends in .wav
            try:
                size = path.stat().st_size
                with open(side) as f:  # as Path.read_text reads it
                    doc = json.loads(f.read())
                a = doc["audio"]
                hs = int(a.get("handle_samples", 0))
                ok = (doc.get("cache_key") == key and a["samples"] - 2 * hs == clip.samples()
                      and doc["clip"]["record_in_seconds"] == str(clip.record_in)
                      and size >= 3 * a["samples"])
            except (OSError, KeyError, ValueError, TypeError):
                return None
            if not ok:
                return None
            out.append(StemFile(path, side, clip.clip_id, k, int(doc["settings"]["take_seed"]), a["samples"],
                                int(a["time_reference"]), job.event.label, job.event.title, hs))
        return out

    def _render(self, job: ClipJob, engine, clip: PictureClip, info, start: float, media_dur: float,
                info_engine: dict, res: ClipResult) -> CachedTakes:
        from ..core.control import QCDControl

        t, c = time.perf_counter(), time.process_time()
        frames, rate = clip_picture(clip, info, start, media_dur, size=engine.picture_size,
                                    fps=engine.picture_fps, notes=res.notes)
        res.decode_s, res.decode_cpu_s = time.perf_counter() - t, time.process_time() - c
        t, c = time.perf_counter(), time.process_time()
        dur = clip.duration
        handles = (handle_picture(clip, info, start, media_dur, frames, rate, job.handles, size=engine.picture_size,
                                  fps=engine.picture_fps) if job.handles > 0 else None)
        requests = clip_requests(job, clip, start, frames, rate, label=f"{clip.clip_id} '{clip.name}'",
                                 handles=handles)
        dur = dur + 2 * Fraction(job.handles) if handles is not None else dur
        lead = int(round(handle_lead(handles, rate, job.handles) * engine.sample_rate))
        per_segment = engine.generate(requests)
        audio, seeds, controls, sources = [], [], [], []
        sr = int(engine.sample_rate)
        for k in range(job.takes):
            parts = [seg_takes[k] for seg_takes in per_segment]
            sources.append(take_sources(parts, sr, lead))  # library engine: the recordings each take uses
            audio.append(join_audio([p.audio for p in parts])[lead:])  # the lead before a fractional-frame handle
            seeds.append(int(parts[0].seed))
            ctl = parts[0].control if len(parts) == 1 else QCDControl.concat([p.control for p in parts])
            controls.append(ctl.to_dict())
        res.render_s, res.render_cpu_s = time.perf_counter() - t, time.process_time() - c
        if abs(sum(a.shape[0] for a in audio[:1]) / sr - float(dur)) > 0.05:
            res.notes.append("rendered length differed from the clip; fitted")
        return CachedTakes(audio, seeds, sr, controls,
                           {**info_engine, "take_sources": sources} if any(sources) else info_engine)


def _write_json(path: Path, doc: dict) -> None:
    from ..core.atomic import atomic_text

    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_text(path, json.dumps(doc, indent=1, default=str))
