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
takes any edit melfoley wrote.

When melfoley's environment fits the host's Python (:func:`full_panel_fit`: the same
major.minor, the host has a PySide6 of its own, and melfoley's packages import in the host
with it), :func:`entry` docks melfoley's real panel instead (:class:`DockedFoleyPanel`):
``melfoley.ui.panel.FoleyPanel`` in the host's process and Qt, fed the active sequence through
the same OTIO export, each Export written back into the sequence (replacing the previous
one's tracks); its engine runs in melfoley's own Python (``engine_host.use_interpreter``), so
no torch enters the host. Otherwise the bridge panel above is docked. Which one, and why, is
said in the panel and in the job log (docs/hosts.md).
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import threading
from pathlib import Path

from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtWidgets import (QComboBox, QFileDialog, QFormLayout, QHBoxLayout, QLabel, QLineEdit, QListWidget,
                               QProgressBar, QPushButton, QSpinBox, QVBoxLayout, QWidget)

from . import hiero as bridge_hiero
from .bridge import BridgeError, ChildBatch, Settings, batch_command, child_env, describe_failures, env_python
from .bridge import load_env
from .bridge import log_line, output_root, read_foley_edit, safe_name

PANEL_ID = "org.melfoley.FoleyPanel"
TITLE = "melfoley Foley"
ENGINES = ("library", "embedded", "debug", "paper")  # the first is melfoley's default engine
RECORD: str | None = None  # the install record, set by entry()
_KEEP: list = []  # panels handed to Hiero's window manager stay referenced from Python
BRIDGE, FULL = "melfoley's bridge panel", "melfoley's own Foley panel"
DOCKED: tuple[str, str] | None = None  # which panel entry() docked, and why


def active_sequence():
    import hiero.ui

    return hiero.ui.activeSequence()


def _inside(path, roots) -> bool:
    """``path`` under one of ``roots`` (as imported: a host's folder linking elsewhere is still the host's)."""
    path = os.path.abspath(path)
    return any(os.path.commonpath([path, r]) == r for r in roots)


def full_panel_fit(record: str) -> tuple[bool, str]:
    """Whether melfoley's own panel can live in this (the host's) Python, and why or why not.

    It can when melfoley's recorded Python has this one's major.minor, this Python has a
    PySide6 of its own (outside melfoley's environment: the host's Qt is the one its widgets
    must use), and ``melfoley.ui.panel`` then imports, melfoley's folders put *after* the
    host's on ``sys.path`` (so the host's PySide6 and shiboken6 stay the ones loaded). A failed
    import takes its folders and half-loaded modules back out."""
    try:
        info = env_python(load_env(record))
    except BridgeError as exc:
        return False, str(exc)
    want, have = tuple(info["version"]), tuple(sys.version_info[:2])
    if want != have:
        return False, (f"melfoley's Python is {want[0]}.{want[1]} and the host's {have[0]}.{have[1]}: its "
                       "packages cannot load here")
    folders = [d for d in (*info["site"], info["root"]) if os.path.isdir(d)]
    roots = [os.path.abspath(d) for d in info["site"] if os.path.isdir(d)]
    qt = [sys.modules[m].__file__ for m in ("PySide6", "shiboken6") if getattr(sys.modules.get(m), "__file__", None)]
    if len(qt) < 2 or any(_inside(f, roots) for f in qt):
        return False, ("this Python's PySide6 is melfoley's environment's own, not the host's"
                       if qt else "this Python has no PySide6 of its own")
    added = [d for d in folders if d not in sys.path]
    before = set(sys.modules)
    sys.path.extend(added)
    try:
        importlib.import_module("melfoley.ui.panel")
        leaked = sorted(m for m, mod in sys.modules.items() if m.split(".")[0] in ("PySide6", "shiboken6")
                        and getattr(mod, "__file__", None) and _inside(mod.__file__, roots))
        if leaked:
            raise ImportError(f"{leaked[0]} would load from melfoley's environment, not the host's PySide6")
    except Exception as exc:  # noqa: BLE001 - any failure to load means the bridge panel, with the reason
        for d in added:
            sys.path.remove(d)
        for m in set(sys.modules) - before:
            del sys.modules[m]
        return False, f"melfoley's packages do not import in the host's Python ({type(exc).__name__}: {exc})"
    return True, (f"melfoley's Python {want[0]}.{want[1]} is the host's, and its packages load with the host's "
                  f"PySide6 ({os.path.dirname(qt[0])})")


class _Relay(QObject):
    event = Signal(dict)
    finished = Signal(object)  # the result dict, or a BridgeError


class _SequenceJob:
    """What both docked panels share: the active sequence, its job folder, its OTIO export."""

    _seq = None
    exported_by: str | None = None

    def _setup(self, name: str, record: str | None) -> None:
        self.setObjectName(name)
        self.setWindowTitle(TITLE)
        self.record = record or RECORD
        # which panel entry() docked, and why (said in the panel and the job log)
        self.docked = DOCKED or (self.KIND, "built directly, not by the startup script")
        self.placed: list = []
        self.placed_tracks: list = []

    def _sequence_row(self, lay, button) -> None:
        """The active sequence's name with ``button`` beside it, and under them which panel is docked and why."""
        top = QHBoxLayout()
        self.sequence_label = QLabel()
        self.sequence_label.setWordWrap(True)
        top.addWidget(self.sequence_label, 1)
        top.addWidget(button)
        lay.addLayout(top)
        self.docked_label = QLabel(f"{self.docked[0]} is docked: {self.docked[1]}")
        self.docked_label.setWordWrap(True)
        self.docked_label.setEnabled(False)  # a quiet line
        lay.addWidget(self.docked_label)

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

    def say(self, text: str) -> None:
        self.status.setText(text)

    def _export_active(self) -> tuple[dict, Path, Path]:
        """(env, job folder, exported edit) of the active sequence, or BridgeError / OSError."""
        self.refresh()
        if self._seq is None:
            raise BridgeError("no sequence is active; open one in the timeline and try again")
        env, job = self._job()
        return env, job, self._export(job)

    def _export(self, job: Path) -> Path:
        """The active sequence as OTIO in ``job``; which exporter wrote it, and which panel is
        docked, go into the job log."""
        edit, self.exported_by = bridge_hiero.export_sequence(self._seq, job / f"{safe_name(self._seq.name())}.otio")
        log_line(job / "melfoley.log", f"sequence '{self._seq.name()}' exported to {edit} by {self.exported_by}; "
                 f"docked: {self.docked[0]} ({self.docked[1]})")
        return edit


class HieroFoleyPanel(_SequenceJob, QWidget):
    KIND = BRIDGE

    def __init__(self, parent=None, *, record: str | None = None):
        super().__init__(parent)
        self._setup("melfoley_hiero_panel", record)
        self.child: ChildBatch | None = None
        self.last_result: dict | None = None
        self.exported_by: str | None = None  # which OTIO exporter wrote the last export (hiero.BY_*)
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
        refresh = QPushButton("Refresh")
        refresh.clicked.connect(self.refresh)
        self._sequence_row(lay, refresh)
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
    def settings(self) -> Settings:
        return Settings(prompt=self.prompt.text().strip() or "footsteps", takes=self.takes.value(),
                        seed=self.seed.value(), engine=self.engine.currentText().strip() or ENGINES[0])

    def start(self) -> bool:
        self.failures.clear()
        try:
            env, job, edit = self._export_active()
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
        try:
            env, job, edit = self._export_active()
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


class DockedFoleyPanel(_SequenceJob, QWidget):
    """melfoley's own panel (``FoleyPanel``) docked in the host, on the active sequence.

    **Load sequence** exports the active sequence (Hiero's OTIO exporter, or the fallback) into
    its job folder and opens it in the panel (output into the job's ``panel`` folder); each
    Export from the panel is written back into that sequence, replacing the previous export's
    tracks. The panel's engine runs in melfoley's own Python (``engine_host.use_interpreter``),
    so torch and the models never load in the host. Built only after :func:`full_panel_fit`
    said yes (melfoley importable here, with the host's PySide6)."""

    KIND = FULL

    def __init__(self, parent=None, *, record: str | None = None, engine: str | None = None):
        super().__init__(parent)
        from melfoley.ui import theme
        from melfoley.ui.engine_host import use_interpreter
        from melfoley.ui.panel import FoleyPanel

        self._setup("melfoley_hiero_full_panel", record)
        use_interpreter(load_env(self.record)["python"])  # before the panel starts its engine processes
        self.loaded_seq = None  # the sequence the panel's edit came from (its exports go back there)
        self.edit_path: Path | None = None
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        self.load_button = QPushButton("Load sequence")
        self.load_button.setToolTip("Export the active sequence and open it here (prompts, energy curves, takes)")
        self.load_button.clicked.connect(self.load_sequence)
        self._sequence_row(lay, self.load_button)
        self.status = QLabel("Load sequence: the active sequence opens here; each Export goes back into it.")
        self.status.setWordWrap(True)
        lay.addWidget(self.status)
        self.panel = FoleyPanel(self, engine=engine)  # a child: no sheet of its own, the one below follows the host
        self.panel.setStyleSheet(theme.style_sheet(theme.scheme_for(self.palette())))
        self.panel.exported.connect(self._exported)
        lay.addWidget(self.panel, 1)
        self.refresh()

    def load_sequence(self) -> bool:
        try:
            _env, job, edit = self._export_active()
        except (BridgeError, OSError) as exc:
            self.say(f"error: {exc}")
            return False
        if self.panel.open_timeline(edit, output_dir=job / "panel") is None:
            self.say(f"error: melfoley could not open the export of {self._seq.name()} ({edit})")
            return False
        self.loaded_seq, self.edit_path, self.placed_tracks = self._seq, edit, []
        self.say(f"{self._seq.name()} loaded (exported by {self.exported_by}); each Export is written back into it")
        return True

    def _exported(self, summary) -> None:
        """The panel's Export: its Foley tracks into the sequence it was loaded from, replacing the last ones."""
        if summary.timeline is None or self.loaded_seq is None:
            return
        try:
            edit = read_foley_edit(summary.timeline)
            self.placed, self.placed_tracks = bridge_hiero.write_back(self.loaded_seq, edit,
                                                                      replace=self.placed_tracks)
        except BridgeError as exc:
            self.say(f"error: {exc}")
            return
        self.say(f"{len(self.placed)} stems placed on new FOLEY tracks in {self.loaded_seq.name()}, from "
                 f"{Path(summary.timeline).name}")

    def shutdown(self) -> None:
        if self.panel.session is not None:
            self.panel.session.dirty = False
        self.panel.shutdown()


def entry(host_globals: dict, record: str):
    """What the startup script calls: register the dockable panel with the host, melfoley's own
    when :func:`full_panel_fit` says it can live in the host's Python, else the bridge panel.
    Which one, and why, goes into ``<jobs>/hiero/melfoley.log`` and the panel."""
    global RECORD, DOCKED
    RECORD = record
    fits, why = full_panel_fit(record)
    DOCKED = (FULL if fits else BRIDGE, why)
    try:
        log_line(output_root(load_env(record), "hiero") / "melfoley.log", f"docked: {DOCKED[0]} ({why})")
    except (BridgeError, OSError):
        pass  # the panel says it too; a missing record is reported when it is used
    cls = "DockedFoleyPanel" if fits else "HieroFoleyPanel"
    try:
        from nukescripts import panels
    except ImportError:  # Hiero without Nuke: its own window manager
        import hiero.ui

        widget = globals()[cls]()
        _KEEP.append(widget)
        hiero.ui.windowManager().addWindow(widget)
        return widget
    factory = f"__import__('melfoley_hosts.hiero_panel', fromlist=['{cls}']).{cls}"
    return panels.registerWidgetAsPanel(factory, TITLE, PANEL_ID)
