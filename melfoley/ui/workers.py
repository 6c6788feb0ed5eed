"""Work off the UI thread: cancellable QThreadPool jobs that report through queued signals.

A ``Job`` runs ``fn(ctx)`` on a pool thread; ``ctx.progress(done, total, text)`` reports
and raises ``Cancelled`` once ``cancel()`` was called, so long loops stop at the next
step. Results come back to the UI thread through queued signals: nothing in here touches
a widget. :func:`host_job` hands the heavy work (decode, predict, generate) to the engine
process (:mod:`melfoley.ui.engine_host`) and only relays its reports, so a batch never
holds the UI's interpreter lock; per-clip reports let a failed clip leave the batch going
and a cancel keep the clips already done.
"""

from __future__ import annotations

import threading
import traceback
from typing import Callable

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

from melfoley.core.errors import MelfoleyError

from .render import Cancelled


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


def host_job(host, kind: str, payload: dict, name: str) -> Job:
    """A job that runs one request in the engine process and relays its messages as signals.

    The pool thread only waits on the pipe (the interpreter lock is free meanwhile) and
    forwards ``progress`` / ``item_*`` messages; cancelling the job cancels the request.
    """
    def work(ctx: JobContext):
        relay = {"progress": ctx.signals.progress, "item_started": ctx.signals.item_started,
                 "item_done": ctx.signals.item_done, "item_failed": ctx.signals.item_failed}

        def on_message(tag, *args):
            if tag in relay:
                relay[tag].emit(*args)

        return host.call(kind, payload, on_message, lambda: ctx.cancelled)

    return Job(work, name=name)


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
            try:
                self.busy_changed.emit(False)
            except RuntimeError:  # the panel went away before this job's report arrived
                pass

    def cancel_all(self, name: str | None = None) -> None:
        for job in list(self.jobs):
            if name is None or job.name == name:
                job.cancel()

    def is_busy(self, name: str | None = None) -> bool:
        return any(name is None or j.name == name for j in self.jobs)

    def wait(self, msecs: int = 30000) -> bool:
        return self.pool.waitForDone(msecs)
