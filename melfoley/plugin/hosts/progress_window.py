"""The progress window a host job shows from melfoley's own Qt (for hosts whose Python has none: Resolve).

The batch runs in a worker thread; the window shows clips done of total, cached, failed,
the time left and the clip being rendered, with Cancel: the batch stops after the clip it is
on (at the earliest after the first), keeping finished stems and a valid partial timeline.
At the end it lists every failed clip with its reason and waits for Close; a run with no
failure closes by itself."""

from __future__ import annotations

import sys
import threading

from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtWidgets import (QApplication, QDialog, QDialogButtonBox, QLabel, QPlainTextEdit, QProgressBar,
                               QPushButton, QVBoxLayout)

from .bridge import describe_failures
from .run import _emit, result_event, run_batch

AUTO_CLOSE_MS = 1200


def _clock(s) -> str:
    if s is None:
        return "--:--"
    s = int(round(s))
    return f"{s // 60:02d}:{s % 60:02d}"


class _Relay(QObject):
    progress = Signal(dict)
    finished = Signal(object)  # BatchReport or an exception


class ProgressWindow(QDialog):
    def __init__(self, cfg, *, title: str, parent=None):
        super().__init__(parent)
        self.cfg, self.report, self.error = cfg, None, None
        self._stop = threading.Event()
        self.setWindowTitle(f"melfoley \u2014 {title}")
        self.setMinimumWidth(460)
        lay = QVBoxLayout(self)
        self.heading = QLabel(f"Foleying <b>{title}</b>")
        self.bar = QProgressBar()
        self.bar.setRange(0, 0)
        self.status = QLabel("reading the edit\u2026")
        self.status.setWordWrap(True)
        self.failures = QPlainTextEdit()
        self.failures.setReadOnly(True)
        self.failures.setVisible(False)
        self.buttons = QDialogButtonBox()
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel)
        self.buttons.addButton(self.cancel_button, QDialogButtonBox.ButtonRole.RejectRole)
        for w in (self.heading, self.bar, self.status, self.failures, self.buttons):
            lay.addWidget(w)
        self.relay = _Relay()
        self.relay.progress.connect(self._on_progress, Qt.ConnectionType.QueuedConnection)
        self.relay.finished.connect(self._on_finished, Qt.ConnectionType.QueuedConnection)
        self.worker = threading.Thread(target=self._work, name="melfoley-host-batch", daemon=True)

    def start(self) -> None:
        self.worker.start()

    def _work(self) -> None:
        def relay(ev):
            _emit(ev)  # the parent (the host's script) reads these too
            self.relay.progress.emit(ev)

        try:
            out = run_batch(self.cfg, on_progress=relay, should_stop=self._stop.is_set)
        except BaseException as exc:  # noqa: BLE001 - shown in the window and returned to the caller
            out = exc
        self.relay.finished.emit(out)

    def cancel(self) -> None:
        if self.report is not None or self.error is not None:
            self.accept()
            return
        self._stop.set()
        self.cancel_button.setEnabled(False)
        self.status.setText(self.status.text() + "\nstopping after the current clip\u2026")

    def _on_progress(self, ev: dict) -> None:
        total = max(1, ev["total"])
        self.bar.setRange(0, total)
        self.bar.setValue(ev["done"])
        self.status.setText(f"{ev['done']} of {ev['total']} clips \u2014 cached {ev['cached']}, failed {ev['failed']}"
                            f" \u2014 left {_clock(ev['eta'])}\n{ev['current'] or 'finishing'}")

    def _on_finished(self, out) -> None:
        self.cancel_button.setEnabled(True)
        self.cancel_button.setText("Close")
        if isinstance(out, BaseException):
            self.error = out
            self.status.setText(f"error: {out}")
            return
        self.report = out
        t = out.totals()
        self.bar.setRange(0, 1)
        self.bar.setValue(1)
        head = "stopped" if out.interrupted else "finished"
        self.status.setText(f"{head}: done {t['done']}, cached {t['cached']}, failed {t['failed']}, "
                            f"skipped {t['skipped']} in {t['elapsed_s']:.0f} s")
        if out.failed:
            self.failures.setVisible(True)
            self.failures.setPlainText("\n".join(f"FAILED {line}" for line in describe_failures(result_event(out))))
        elif not out.interrupted:
            QTimer.singleShot(AUTO_CLOSE_MS, self.accept)


def run_with_window(cfg, *, title: str):
    """Run the batch under a progress window; without a display, run it plainly (progress on stdout)."""
    from ...core.errors import MelfoleyError

    app = QApplication.instance()
    if app is None:
        try:
            app = QApplication(sys.argv[:1] or ["melfoley"])
        except Exception:  # noqa: BLE001 - no display: the batch still runs
            return run_batch(cfg, on_progress=_emit)
    win = ProgressWindow(cfg, title=title)
    win.show()
    win.start()
    win.exec()
    if win.report is None and win.error is None:  # closed from the title bar while running
        win._stop.set()
        win.worker.join()
        app.processEvents()
    if win.error is not None:
        if isinstance(win.error, MelfoleyError):
            raise win.error
        raise MelfoleyError(f"the batch stopped: {type(win.error).__name__}: {win.error}")
    return win.report
