"""The batch driver's parts around the clips: executors, the partial timeline, the progress meter.

An *executor* runs clips and yields ``(index, ClipResult, placements)`` as each finishes, in
any order. :class:`LocalExecutor` runs them one after another in this process (the default);
:class:`melfoley.plugin.farm.RayExecutor` runs them on Ray workers. Either way the driver
(:meth:`melfoley.plugin.batch.BatchRunner.run`) alone writes the output timeline and the
report, so a local run and a farm run give the same files.

The partial timeline is rewritten at a bounded rate (:class:`PartialTimeline`), not after every
clip: rebuilding a 10,000-clip timeline after each clip made a run's time grow with the square
of its clip count. Each write is atomic, so the file on disk is always a valid timeline; it
may lag the stems on disk by the write interval, and a rerun picks those stems up.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator, Protocol

from .otio_out import OutputTimeline, _same_file, write_timeline

if TYPE_CHECKING:
    from .batch import BatchRunner, ClipResult, Progress
    from .otio_out import Placement
    from .timeline import PictureClip, TimelineSource


@dataclass(frozen=True)
class ClipContext:
    """What one clip's execution needs from the run (small and picklable: it travels to farm workers)."""

    stems_dir: Path
    show: str  # UCS SourceID and iXML tape
    project: str  # the source timeline's name
    timeline_path: str  # the source edit, recorded in each sidecar


ClipOutcome = tuple[int, "ClipResult", list["Placement"]]


class Executor(Protocol):
    parallelism: int  # clips in flight at once (for the time-left estimate)
    notes: list[str]  # for the report (where the clips ran, retries)

    def prepare(self, ctx: ClipContext, clips: list[PictureClip]) -> None:
        """Get ready before anything is written (connect, start workers); raise MelfoleyError if it cannot."""

    def run(self, ctx: ClipContext, clips: list[PictureClip]) -> Iterator[ClipOutcome]: ...

    def close(self) -> None: ...


class LocalExecutor:
    """Clips one after another, in this process, with the runner's resident engines."""

    parallelism = 1
    notes: list[str] = []

    def __init__(self, runner: BatchRunner):
        self.runner = runner

    def prepare(self, ctx: ClipContext, clips: list[PictureClip]) -> None:
        pass

    def run(self, ctx: ClipContext, clips: list[PictureClip]) -> Iterator[ClipOutcome]:
        for i, clip in enumerate(clips):
            result, placements = self.runner.run_clip(ctx, clip)
            yield i, result, placements

    def close(self) -> None:
        pass


class PartialTimeline:
    """The output timeline, rewritten atomically at a bounded rate while a run goes on.

    A write is due when ``min_interval`` seconds have passed since the last one and the last
    write's own time is at most ``max_share`` of the time since: partial writes never take more
    than about a tenth of a run however long the timeline grows. The input is copied once per run
    (:class:`.otio_out.OutputTimeline`), not once per write.

    A re-run in place (the edit read is this output, melfoley's own ``x.foley.otio``) writes only
    the complete timeline: until the run ends the previous complete one stays, so an interrupted
    re-run never leaves the artist a timeline with fewer Foley clips than they had.
    """

    def __init__(self, src: TimelineSource, path: Path, input_path: Path, *, read: Path | None = None,
                 min_interval: float = 2.0, max_share: float = 0.1):
        self.src, self.path, self.input_path = src, Path(path), input_path
        self.output: OutputTimeline | None = None  # made by the first write (an interrupt there is one)
        self.min_interval, self.max_share = min_interval, max_share
        self.last_end = time.perf_counter()
        self.last_cost = 0.0
        self.writes = 0
        self.in_place = read is not None and _same_file(self.path, read)  # ``read``: the file the edit came from

    def due(self) -> bool:
        if self.in_place:
            return False
        since = time.perf_counter() - self.last_end
        return since >= self.min_interval and self.last_cost <= self.max_share * since

    def write(self, placements: list[Placement], totals: dict, *, complete: bool):
        if self.in_place and not complete:
            return None  # the previous complete timeline stays (see the class)
        t = time.perf_counter()
        if self.output is None:
            self.output = OutputTimeline(self.src)
        tl = self.output.build(placements, complete=complete, report=totals)
        write_timeline(tl, self.path, "otio", input_path=self.input_path)
        self.last_end = time.perf_counter()
        self.last_cost = self.last_end - t
        self.writes += 1
        return tl


class Meter:
    """Counts finished clips and reports progress (clips done, cached, failed, time left)."""

    def __init__(self, clips: list[PictureClip], t0: float, progress: Callable[[Progress], None] | None, *,
                 parallel: int = 1):
        self.clips, self.t0, self.progress, self.parallel = clips, t0, progress, max(1, parallel)
        self.total = len(clips)
        self.done = self.cached = self.failed = 0
        self.rendered_time = self.rendered_picture = 0.0
        self.remaining = sum(float(c.duration) for c in clips)
        self._finished: set[int] = set()
        self._next = 0  # the first clip not finished yet: "the clip being worked on"

    @property
    def current(self) -> str:
        if self._next >= self.total:
            return ""
        c = self.clips[self._next]
        return f"{c.clip_id} {c.name}"

    def finished(self, index: int, result: ClipResult) -> None:
        self._finished.add(index)
        while self._next in self._finished:
            self._next += 1
        self.done += 1
        self.remaining -= float(self.clips[index].duration)
        if result.status == "failed":
            self.failed += 1
        elif result.status == "cached":
            self.cached += 1
        else:
            self.rendered_time += result.decode_s + result.render_s + result.write_s
            self.rendered_picture += result.duration
        self.tick(self.current)

    def tick(self, current: str | None = None) -> None:
        if self.progress is None:
            return
        from .batch import Progress

        rpic = self.rendered_picture
        eta = (self.rendered_time / rpic) * max(0.0, self.remaining) / self.parallel if rpic > 0 else None
        if self.done == self.total:
            eta = 0.0
        self.progress(Progress(self.done, self.total, self.cached, self.failed, time.perf_counter() - self.t0, eta,
                               self.current if current is None else current))
