"""The dockable melfoley panel in Nuke Studio / Hiero (the host's PySide6; nothing of melfoley's imported).

Registered with ``nukescripts.panels.registerWidgetAsPanel`` in Nuke Studio (Window >
Custom > melfoley Foley) or ``hiero.ui.windowManager().addWindow`` in Hiero. It uses no
style sheet of its own, so it takes the host's palette, and it lays out in one column that
works docked 480 px wide. "Foley sequence" exports the active sequence (:mod:`.hiero`), runs
melfoley's batch in a child process (:mod:`.bridge`) with progress and Cancel, lists the
failed clips and writes the Foley tracks back into the sequence. "Edit in the Foley panel"
opens melfoley's full panel (its own process and window) on the exported sequence, for
per-clip prompts and energy curves, and writes back each Export the artist makes from it
(to its default folder), replacing the tracks of the previous one; "Write back an edit"
takes any edit melfoley wrote. (Why melfoley's panel itself is not docked here: docs/hosts.md.)
"""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtWidgets import (QComboBox, QFileDialog, QFormLayout, QHBoxLayout, QLabel, QLineEdit, QListWidget,
                               QProgressBar, QPushButton, QSpinBox, QVBoxLayout, QWidget)

from . import hiero as bridge_hiero
from .bridge import BridgeError, ChildBatch, Settings, batch_command, child_env, describe_failures, load_env
from .bridge import log_line, output_root, read_foley_edit, safe_name

PANEL_ID = "org.melfoley.FoleyPanel"
TITLE = "melfoley Foley"
ENGINES = ("library", "embedded", "debug", "paper")  # the first is melfoley's default engine
RECORD: str | None = None  # the install record, set by entry()
_KEEP: list = []  # panels handed to Hiero's window manager stay referenced from Python


def active_sequence():
    import hiero.ui

    return hiero.ui.activeSequence()


class _Relay(QObject):
    event = Signal(dict)
    finished = Signal(object)  # the result dict, or a BridgeError


class HieroFoleyPanel(QWidget):
    def __init__(self, parent=None, *, record: str | None = None):
        super().__init__(parent)
        self.setObjectName("melfoley_hiero_panel")
        self.setWindowTitle(TITLE)
        self.record = record or RECORD
        self.child: ChildBatch | None = None
        self.last_result: dict | None = None
        self.placed: list = []
        self.exported_by: str | None = None  # which OTIO exporter wrote the last export (hiero.BY_*)
        self.placed_tracks: list = []
        self.panel_proc: subprocess.Popen | None = None  # melfoley's full panel, when opened from here
        self.watched: Path | None = None  # the Foley edit its Export writes
        self._watched_seen = self._watched_seq = None
        self._watched_tracks: list = []  # the tracks its last export put in (the next one replaces them)
        self.watch_timer = QTimer(self)
        self.watch_timer.setInterval(1000)
        self.watch_timer.timeout.connect(self._poll_panel_export)
        self._seq = None
        self._build()
        self.relay = _Relay()
        self.relay.event.connect(self._on_event, Qt.ConnectionType.QueuedConnection)
        self.relay.finished.connect(self._on_finished, Qt.ConnectionType.QueuedConnection)
        self.refresh()

    # ------------------------------------------------------------------ layout
    def _build(self) -> None:
        lay = QVBoxLayout(self)
        top = QHBoxLayout()
        self.sequence_label = QLabel()
        self.sequence_label.setWordWrap(True)
        refresh = QPushButton("Refresh")
        refresh.clicked.connect(self.refresh)
        top.addWidget(self.sequence_label, 1)
        top.addWidget(refresh)
        lay.addLayout(top)
        form = QFormLayout()
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)
        self.prompt = QLineEdit("footsteps")
        self.prompt.setToolTip("What clips get when their metadata or 'foley:' tags say nothing")
        self.takes = QSpinBox()
        self.takes.setRange(1, 64)
        self.seed = QSpinBox()
        self.seed.setRange(0, 2**31 - 1)
        self.engine = QComboBox()
        self.engine.setEditable(True)
        self.engine.addItems(ENGINES)
        for label, w in (("Prompt", self.prompt), ("Takes", self.takes), ("Seed", self.seed),
                         ("Engine", self.engine)):
            form.addRow(label, w)
        lay.addLayout(form)
        row = QHBoxLayout()
        self.run_button = QPushButton("Foley sequence")
        self.run_button.setDefault(True)
        self.run_button.clicked.connect(self.start)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)
        row.addWidget(self.run_button, 1)
        row.addWidget(self.cancel_button)
        lay.addLayout(row)
        self.bar = QProgressBar()
        self.bar.setRange(0, 1)
        self.bar.setValue(0)
        self.status = QLabel("Foley the active sequence: stems and new FOLEY audio tracks.")
        self.status.setWordWrap(True)
        self.failures = QListWidget()
        self.failures.setWordWrap(True)  # long reasons wrap inside a 480 px dock instead of scrolling sideways
        self.failures.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.failures.setResizeMode(QListWidget.ResizeMode.Adjust)
        self.failures.setToolTip("Clips that failed, with the reason and the fix")
        lay.addWidget(self.bar)
        lay.addWidget(self.status)
        lay.addWidget(self.failures, 1)
        row2 = QHBoxLayout()
        self.edit_button = QPushButton("Edit in the Foley panel\u2026")
        self.edit_button.setToolTip("melfoley's full panel (prompts, energy curves, takes) on this sequence")
        self.edit_button.clicked.connect(self.open_full_panel)
        self.back_button = QPushButton("Write back an edit\u2026")
        self.back_button.setToolTip("Put the FOLEY tracks of an edit melfoley wrote (.foley.otio) into the sequence")
        self.back_button.clicked.connect(self._ask_write_back)
        row2.addWidget(self.edit_button)
        row2.addWidget(self.back_button)
        lay.addLayout(row2)

    # ------------------------------------------------------------------ actions
    def refresh(self) -> None:
        try:
            self._seq = active_sequence()
        except ImportError:
            self._seq = None
        name = self._seq.name() if self._seq is not None else "none (open a sequence)"
        self.sequence_label.setText(f"Sequence: <b>{name}</b>")

    def _job(self) -> tuple[dict, Path]:
        env = load_env(self.record)
        seq = self._seq
        return env, output_root(env, "hiero") / safe_name(seq.project().name()) / safe_name(seq.name())

    def _export(self, job: Path) -> Path:
        """The active sequence as OTIO in ``job``; which exporter wrote it goes into the job log."""
        edit, self.exported_by = bridge_hiero.export_sequence(self._seq, job / f"{safe_name(self._seq.name())}.otio")
        log_line(job / "melfoley.log", f"sequence '{self._seq.name()}' exported to {edit} by {self.exported_by}")
        return edit

    def settings(self) -> Settings:
        return Settings(prompt=self.prompt.text().strip() or "footsteps", takes=self.takes.value(),
                        seed=self.seed.value(), engine=self.engine.currentText().strip() or ENGINES[0])

    def say(self, text: str) -> None:
        self.status.setText(text)

    def start(self) -> bool:
        self.refresh()
        self.failures.clear()
        try:
            if self._seq is None:
                raise BridgeError("no sequence is active; open one in the timeline and try again")
            env, job = self._job()
            edit = self._export(job)
            self.child = ChildBatch(batch_command(env, edit, job / "out", self.settings()), job / "melfoley.log")
            self.child.start()
        except (BridgeError, OSError) as exc:
            self.say(f"error: {exc}")
            return False
        self.run_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.bar.setRange(0, 0)
        self.say(f"foleying {self._seq.name()} (exported by {self.exported_by})\u2026")
        threading.Thread(target=self._wait, args=(self.child,), daemon=True, name="melfoley-hiero").start()
        return True

    def _wait(self, child: ChildBatch) -> None:
        try:
            out = child.run(on_event=self.relay.event.emit)
        except BridgeError as exc:
            out = exc
        self.relay.finished.emit(out)

    def cancel(self) -> None:
        if self.child is not None:
            self.child.cancel()
            self.cancel_button.setEnabled(False)
            self.say("stopping after the current clip\u2026")

    def _on_event(self, ev: dict) -> None:
        if ev.get("event") != "progress":
            return
        self.bar.setRange(0, max(1, ev["total"]))
        self.bar.setValue(ev["done"])
        eta = "" if ev["eta"] is None else f", {int(ev['eta'])} s left"
        self.say(f"{ev['done']} of {ev['total']} clips (cached {ev['cached']}, failed {ev['failed']}{eta})"
                 f"\n{ev['current']}")

    def _on_finished(self, out) -> None:
        self.run_button.setEnabled(True)
        self.cancel_button.setEnabled(False)
        self.bar.setRange(0, 1)
        if isinstance(out, BridgeError):
            self.bar.setValue(0)
            self.say(f"error: {out}")
            return
        self.last_result = out
        self.bar.setValue(1)
        for line in describe_failures(out):
            self.failures.addItem(f"FAILED {line}")
        t = out["totals"]
        if out["interrupted"]:
            self.say(f"stopped: nothing written back (done {t['done']}, cached {t['cached']}); "
                     "run again to finish, finished clips are kept")
            return
        self.write_back(out["output_timeline"])

    def write_back(self, foley_edit_path: str, *, replace=(), seq=None) -> bool:
        try:
            edit = read_foley_edit(foley_edit_path)
            self.placed, self.placed_tracks = bridge_hiero.write_back(seq or self._seq, edit, replace=replace)
        except BridgeError as exc:
            self.say(f"error: {exc}")
            return False
        failed = self.failures.count()
        by = f" (sequence exported by {self.exported_by})" if self.exported_by else ""
        self.say(f"{len(self.placed)} stems placed on new FOLEY tracks"
                 f"{f'; {failed} clip(s) failed, listed below' if failed else ''}{by}")
        return True

    def _ask_write_back(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Foley edit written by melfoley", "", "OTIO (*.otio)")
        if path:
            self.refresh()
            self.write_back(path)

    def open_full_panel(self) -> None:
        self.refresh()
        try:
            if self._seq is None:
                raise BridgeError("no sequence is active; open one in the timeline and try again")
            env, job = self._job()
            edit = self._export(job)
            out = job / "panel"
            argv = [env["python"], "-m", "melfoley.plugin.cli", "panel", str(edit), "-o", str(out),
                    "--engine", self.settings().engine]
            # its own session: it and its engine process stay one group, apart from the host's
            self.panel_proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, env=child_env(),
                                               start_new_session=sys.platform != "win32")
        except (BridgeError, OSError) as exc:
            self.say(f"error: {exc}")
            return
        # what the panel's Export writes by default; each new export replaces the last one's tracks
        self.watched = out / f"{safe_name(self._seq.name())}.foley.otio"
        self._watched_seen = _stamp(self.watched)  # an export from an earlier session is not this one's
        self._watched_seq = self._seq  # written back there even if another sequence is active by then
        self._watched_tracks = []
        self.watch_timer.start()
        self.say(f"the Foley panel opens on {edit.name}; each Export from it (to {out}) is written back "
                 "into the sequence")

    def _poll_panel_export(self) -> None:
        """Write back each new export of the Foley panel (replacing the previous one's tracks)."""
        stamp = _stamp(self.watched)
        if stamp is not None and stamp != self._watched_seen:
            self._watched_seen = stamp
            if self.write_back(str(self.watched), replace=self._watched_tracks, seq=self._watched_seq):
                self._watched_tracks = list(self.placed_tracks)
                self.say(f"{self.status.text()}, from the Foley panel's export {self.watched.name}")
        if self.panel_proc is not None and self.panel_proc.poll() is not None:
            self.watch_timer.stop()
            self.panel_proc = None


def _stamp(path: Path):
    try:
        st = path.stat()
    except (OSError, AttributeError):
        return None
    return st.st_mtime_ns, st.st_size


def dock_into(main_window, panel: QWidget, *, width: int = 480):
    """Dock ``panel`` on the right of any QMainWindow (a host's, or a stand-in), ``width`` px wide."""
    from PySide6.QtWidgets import QApplication, QDockWidget

    dock = QDockWidget(TITLE, main_window)
    dock.setObjectName("melfoley_foley_dock")
    dock.setWidget(panel)
    main_window.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)
    if not main_window.isVisible():
        main_window.show()
    QApplication.processEvents()
    main_window.resizeDocks([dock], [width], Qt.Orientation.Horizontal)
    QApplication.processEvents()
    return dock


def entry(host_globals: dict, record: str):
    """What the startup script calls: register the dockable panel with the host."""
    global RECORD
    RECORD = record
    try:
        from nukescripts import panels
    except ImportError:  # Hiero without Nuke: its own window manager
        import hiero.ui

        widget = HieroFoleyPanel()
        _KEEP.append(widget)
        hiero.ui.windowManager().addWindow(widget)
        return widget
    factory = "__import__('melfoley_hosts.hiero_panel', fromlist=['HieroFoleyPanel']).HieroFoleyPanel"
    return panels.registerWidgetAsPanel(factory, TITLE, PANEL_ID)
