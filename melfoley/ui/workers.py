"""Work off the UI thread: picture decoding and generation as cancellable QThreadPool jobs.

A ``Job`` runs ``fn(ctx)`` on a pool thread; ``ctx.progress(done, total, text)`` reports
and raises ``Cancelled`` once ``cancel()`` was called, so long loops stop at the next
step. Results come back to the UI thread through queued signals: nothing in here touches
a widget. ``GenerationJob`` renders a list of clips one by one and reports per clip, so a
failed clip does not sink the batch and a cancel keeps the clips already done.
"""

from __future__ import annotations

import threading
import traceback
from dataclasses import dataclass
from typing import Callable

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

from melfoley.core.errors import MelfoleyError


class Cancelled(MelfoleyError):
    """The user cancelled the job."""


class JobSignals(QObject):
    progress = Signal(int, int, str)      # done, total, message
    item_started = Signal(str)            # clip id
    item_done = Signal(str, object)       # clip id, result
    item_failed = Signal(str, str)        # clip id, message
    result = Signal(object)
    failed = Signal(str)
    cancelled = Signal()
    finished = Signal()


class JobContext:
    def __init__(self, signals: JobSignals, stop: threading.Event):
        self.signals = signals
        self._stop = stop

    @property
    def cancelled(self) -> bool:
        return self._stop.is_set()

    def check(self) -> None:
        if self._stop.is_set():
            raise Cancelled("cancelled")

    def progress(self, done: int, total: int, text: str = "") -> None:
        self.signals.progress.emit(int(done), int(total), str(text))
        self.check()


class Job(QRunnable):
    """``fn(ctx) -> result`` on a pool thread; ``signals`` reports back on the UI thread."""

    def __init__(self, fn: Callable[[JobContext], object], name: str = "job"):
        super().__init__()
        self.setAutoDelete(False)  # the panel holds the job until ``finished``
        self.fn = fn
        self.name = name
        self.signals = JobSignals()
        self._stop = threading.Event()
        self.running = False
        self.done = threading.Event()

    def cancel(self) -> None:
        self._stop.set()

    def is_cancelled(self) -> bool:
        return self._stop.is_set()

    def run(self) -> None:  # pool thread
        self.running = True
        try:
            out = self.fn(JobContext(self.signals, self._stop))
        except Cancelled:
            self.signals.cancelled.emit()
        except MelfoleyError as exc:
            self.signals.failed.emit(str(exc))
        except Exception as exc:  # noqa: BLE001 - a worker must report, never die silently
            self.signals.failed.emit(f"{self.name} failed: {exc!r}\n{traceback.format_exc(limit=4)}")
        else:
            if self._stop.is_set():
                self.signals.cancelled.emit()
            else:
                self.signals.result.emit(out)
        finally:
            self.running = False
            self.done.set()
            self.signals.finished.emit()


@dataclass
class ClipTask:
    """One clip to render: its id (for reporting) and the engine request."""

    clip_id: str
    request: object  # melfoley.core.engine.FoleyRequest


def generation_job(engine_name: str, tasks: list[ClipTask], *, engine_options: dict | None = None) -> Job:
    """Render ``tasks`` in order with the named engine; per-clip signals, cancellable between takes."""

    def work(ctx: JobContext):
        from melfoley.core.engine import get_engine

        ctx.progress(0, 1, f"loading engine {engine_name}")
        engine = get_engine(engine_name, **(engine_options or {}))
        total = sum(max(1, t.request.takes) for t in tasks)
        done = 0
        summary = {"done": [], "failed": []}
        for task in tasks:
            ctx.check()
            ctx.signals.item_started.emit(task.clip_id)
            base = done

            def step(d, _t, _msg, base=base, clip=task.clip_id):
                ctx.progress(base + d, total, clip)

            try:
                takes = engine.generate([task.request], step)[0]
            except Cancelled:
                ctx.signals.item_failed.emit(task.clip_id, "cancelled")
                raise
            except MelfoleyError as exc:
                ctx.signals.item_failed.emit(task.clip_id, str(exc))
                summary["failed"].append(task.clip_id)
            except Exception as exc:  # noqa: BLE001 - one bad clip must not sink the batch
                ctx.signals.item_failed.emit(task.clip_id, f"{type(exc).__name__}: {exc}")
                summary["failed"].append(task.clip_id)
            else:
                ctx.signals.item_done.emit(task.clip_id, takes)
                summary["done"].append(task.clip_id)
            done = base + max(1, task.request.takes)
            ctx.progress(done, total, task.clip_id)
        return summary

    return Job(work, name="generation")


class JobRunner(QObject):
    """Starts jobs on a pool and keeps them alive until they finish; ``busy`` while any runs."""

    busy_changed = Signal(bool)

    def __init__(self, parent=None, *, max_threads: int = 2):
        super().__init__(parent)
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(max_threads)
        self.jobs: list[Job] = []

    def start(self, job: Job) -> Job:
        self.jobs.append(job)
        job.signals.finished.connect(lambda j=job: self._finished(j))
        if len(self.jobs) == 1:
            self.busy_changed.emit(True)
        self.pool.start(job)
        return job

    def _finished(self, job: Job) -> None:
        if job in self.jobs:
            self.jobs.remove(job)
        if not self.jobs:
            self.busy_changed.emit(False)

    def cancel_all(self, name: str | None = None) -> None:
        for job in list(self.jobs):
            if name is None or job.name == name:
                job.cancel()

    def is_busy(self, name: str | None = None) -> bool:
        return any(name is None or j.name == name for j in self.jobs)

    def wait(self, msecs: int = 30000) -> bool:
        return self.pool.waitForDone(msecs)
