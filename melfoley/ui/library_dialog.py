"""File > Add sound library...: pick a folder, index it off the UI thread with progress and cancel.

:func:`add_library_folder` asks for a folder (unless given one), then runs
``melfoley.core.library.scan`` on a pool thread (:class:`melfoley.ui.workers.Job`; big
folders analyse in worker processes) while a progress dialog shows files done, files/s and
time left. Cancel stops at the next file; what was indexed stays, and adding the folder
again resumes. The summary (indexed, unchanged, problems) opens without blocking the panel.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from PySide6.QtCore import QThreadPool, Qt
from PySide6.QtWidgets import QFileDialog, QMessageBox, QProgressDialog, QWidget

from .workers import Job

_RUNNING: list = []  # jobs and dialogs stay referenced until they finish


def _left(s: float | None) -> str:
    if s is None:
        return "--:--"
    s = int(round(s))
    return f"{s // 60:02d}:{s % 60:02d}"


def summary(rep) -> str:
    lines = [f"Indexed {rep.indexed} files, {rep.unchanged} unchanged, {rep.missing} missing, "
             f"{len(rep.problems)} problems, in {rep.seconds:.1f} s."]
    if rep.interrupted:
        lines.append("Cancelled: what was indexed is kept; add the folder again to resume.")
    for path, why in rep.problems[:8]:
        lines.append(f"skipped {Path(path).name}: {why}")
    if len(rep.problems) > 8:
        lines.append(f"... and {len(rep.problems) - 8} more (melfoley library stats lists them)")
    return "\n".join(lines)


def add_library_folder(parent: QWidget | None, *, folder: str | Path | None = None,
                       library_db: str | Path | None = None,
                       on_done: Callable[[object | None, str], None] | None = None) -> Job | None:
    """Index a sound-library folder (asked for when ``folder`` is None); returns the running job.

    ``on_done(report, message)`` is called on the UI thread when it ends (report None on
    failure); without it a non-blocking message box shows the summary.
    """
    if folder is None:
        folder = QFileDialog.getExistingDirectory(parent, "Add sound library", str(Path.home()))
        if not folder:
            return None
    folder = Path(folder)
    dlg = QProgressDialog(f"Indexing {folder} ...", "Cancel", 0, 0, parent)
    dlg.setWindowTitle("Add sound library")
    dlg.setWindowModality(Qt.WindowModal)
    dlg.setMinimumDuration(300)
    dlg.setAutoClose(False)
    dlg.setAutoReset(False)

    held: dict = {}

    def work(ctx):
        from melfoley.core.library.index import LibraryIndex
        from melfoley.core.library.scan import scan
        from melfoley.core.userdirs import library_db as default_db

        index = LibraryIndex(Path(library_db) if library_db else default_db())
        try:
            def progress(p):
                ctx.signals.progress.emit(p.done, p.total, f"{p.done}/{p.total} files  {p.rate:.1f} files/s  "
                                                           f"left {_left(p.eta)}  problems {p.failed}")

            held["report"] = scan(index, [folder], progress=progress, should_stop=lambda: ctx.cancelled, workers=0)
            return held["report"]
        finally:
            index.close()

    job = Job(work, name="library-index")

    def on_progress(done, total, text):
        dlg.setMaximum(max(total, 1))
        dlg.setValue(min(done, max(total, 1)))
        dlg.setLabelText(f"Indexing {folder.name}\n{text}")

    def finish(rep, message):
        dlg.close()
        if on_done is not None:
            on_done(rep, message)
        else:
            box = QMessageBox(QMessageBox.Warning if rep is None else QMessageBox.Information, "Add sound library",
                              message, QMessageBox.Ok, parent)
            box.setAttribute(Qt.WA_DeleteOnClose)
            box.open()
        for obj in (job, dlg):
            if obj in _RUNNING:
                _RUNNING.remove(obj)

    job.signals.progress.connect(on_progress)
    job.signals.result.connect(lambda rep: finish(rep, summary(rep)))
    job.signals.cancelled.connect(lambda: finish(held.get("report"), summary(held["report"]) if "report" in held
                                                 else "Cancelled before anything was indexed."))
    job.signals.failed.connect(lambda msg: finish(None, f"Could not index {folder}: {msg}"))
    dlg.canceled.connect(job.cancel)
    _RUNNING.extend([job, dlg])
    dlg.show()
    QThreadPool.globalInstance().start(job)
    return job
