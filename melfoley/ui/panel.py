"""``FoleyPanel``: the whole panel as one QWidget, to put in a QDockWidget or a main window.

The edit on a time-based timeline (a *List* tab holds the table), below it the viewer with
the transport, and the selected clip's controls, levels, energy curve and takes. Decoding,
prediction, frames and generation run in the engine process through pool threads
(:mod:`melfoley.ui.workers`); the UI thread only updates widgets. Every edit goes through
one undo stack (:mod:`melfoley.ui.undo`) and one function (``_apply_settings``), so the
session, the list, the timeline and the editor never disagree. Settings are autosaved beside
the output a moment after every change, and ``has_unsaved()`` tells a host to ask.
Transport keys (J K L, Shift+J / Shift+L at half speed, Left/Right, Home/End, I/O, B for
A/B, Space) and M (a ``foley:`` marker at the playhead) are the panel's, and
the layout reflows below ``NARROW`` pixels (docked at 480 px the viewer goes above the
controls and the button rows wrap).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QKeySequence, QShortcut, QUndoStack
from PySide6.QtWidgets import (QFileDialog, QGroupBox, QLabel, QLineEdit, QProgressBar, QPushButton, QScrollArea,
                               QSizePolicy, QSplitter, QTabWidget, QVBoxLayout, QWidget)

from melfoley.core.errors import MelfoleyError
from melfoley.core.engines import DEFAULT_ENGINE

from . import settings_io, theme
from .clip_editor import ClipEditor
from .clip_list import ClipListView, ClipRow
from .engine_host import shared_host
from .flow import FlowLayout, fixed_lines
from .messages import needs_weights, panel_words
from .panel_actions import PanelActions
from .panel_markers import PanelMarkers
from .panel_transport import PanelTransport
from .player import Player, Transport, frame_pixmap
from .render import ClipPreview
from .session import Session
from .takes import TakesList
from .timeline_view import TimelineData, TimelineView, playback_take
from .undo import SettingsEdit, ValueEdit
from .viewer import find_hits
from .workers import Job, JobRunner, host_job

AUTOSAVE_MS = 1500
NARROW = 900
#: what "Copy settings" carries from one clip to others (not its curve, takes or notes)
COPIED = ("prompt", "takes", "seed", "engine", "gain_db", "fade_in", "fade_out", "nudge")


def default_engine_names() -> tuple[list[str], str]:
    from melfoley.core.engine import available_engines

    names = available_engines()
    default = DEFAULT_ENGINE if DEFAULT_ENGINE in names else (names[0] if names else "debug")
    return names, default


class FoleyPanel(PanelTransport, PanelActions, PanelMarkers, QWidget):
    timeline_opened = Signal(str)
    generation_finished = Signal(dict)   # {"done": [...], "failed": [...]} or {"cancelled": True}
    exported = Signal(object)            # ExportSummary
    message = Signal(str)

    def __init__(self, parent=None, *, engine: str | None = None, max_threads: int = 4):
        super().__init__(parent)
        self.setObjectName("melfoleyPanel")
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        self.session: Session | None = None
        self.current: str | None = None
        self.selected: list[str] = []
        self.previews: dict[tuple[str, str], ClipPreview] = {}
        self.preview_errors: dict[tuple[str, str], str] = {}
        self.engine_options: dict[str, dict] = {}   # engine -> options the artist chose (weights folder)
        self.runner = JobRunner(self, max_threads=max_threads)  # threads only wait on pipes: 4, so a
        # frame or thumbnail request never holds a preview back
        self.player = Player(self)
        self.undo_stack = QUndoStack(self)
        self._clipboard: dict | None = None
        engines, default = default_engine_names()
        self.engines = engines
        self.default_engine = engine or default
        self._gen_job: Job | None = None   # the batch running (None once it reported, finished or not)
        self._closed = False
        self._build(engines)
        self._init_transport()
        self._init_markers()
        self.runner.busy_changed.connect(lambda _busy: self._sync_buttons())
        self._autosave = QTimer(self)
        self._autosave.setSingleShot(True)
        self._autosave.setInterval(AUTOSAVE_MS)
        self._autosave.timeout.connect(self.autosave)
        ctx = Qt.ShortcutContext.WidgetWithChildrenShortcut
        for key, slot in ((QKeySequence.StandardKey.Undo, self.undo_stack.undo),
                          (QKeySequence.StandardKey.Redo, self.undo_stack.redo),
                          ("Ctrl+Shift+Z", self.undo_stack.redo),
                          ("Ctrl+Shift+C", self.copy_settings), ("Ctrl+Shift+V", self.paste_settings)):
            QShortcut(QKeySequence(key), self, slot, context=ctx)
        # the engine processes start now and load the default engine, so the first clip is quick
        for role in ("generate", "preview"):
            self.runner.start(host_job(shared_host(role), "warm", {"engine": self.default_engine}, "warm-up"))

    # ------------------------------------------------------------------ layout
    def _build(self, engines: list[str]) -> None:
        self.open_button = QPushButton("Open edit\u2026")
        self.open_button.clicked.connect(self._ask_open)
        self.save_button = QPushButton("Save settings")
        self.save_button.setToolTip("Write the edit with every clip's settings beside the output")
        self.save_button.clicked.connect(self.save_settings)
        self.default_prompt = QLineEdit()
        self.default_prompt.setPlaceholderText("default sound event of the edit")
        self.default_prompt.setToolTip("Clips without a sound event of their own use this one")
        self.default_prompt.setMinimumWidth(240)  # a typical event ("footsteps on wooden floor") reads whole
        self.default_prompt.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.default_prompt.editingFinished.connect(lambda: self.set_default_prompt(self.default_prompt.text()))
        self.undo_button = QPushButton("Undo")
        self.undo_button.clicked.connect(self.undo_stack.undo)
        self.redo_button = QPushButton("Redo")
        self.redo_button.clicked.connect(self.undo_stack.redo)
        self.undo_stack.canUndoChanged.connect(self.undo_button.setEnabled)
        self.undo_stack.canRedoChanged.connect(self.redo_button.setEnabled)
        self.undo_stack.undoTextChanged.connect(lambda t: self.undo_button.setToolTip(f"Undo {t} (Ctrl+Z)"))
        self.undo_stack.redoTextChanged.connect(lambda t: self.redo_button.setToolTip(f"Redo {t} (Ctrl+Shift+Z)"))
        self.undo_button.setEnabled(False)
        self.redo_button.setEnabled(False)
        self.generate_button = QPushButton("Generate selected")
        self.generate_button.setObjectName("primary")
        self.generate_button.clicked.connect(lambda: self.generate(self.selected_ids()))
        self.generate_all_button = QPushButton("Generate all")
        self.generate_all_button.setToolTip("Every clip whose takes are not current (done clips are left alone)")
        self.generate_all_button.clicked.connect(lambda: self.generate(None))
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel)
        self.export_button = QPushButton("Export stems + timeline\u2026")
        self.export_button.clicked.connect(self._ask_export)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setFormat("idle")
        self.progress.setFixedWidth(260)  # its text changes while generating: its size must not
        bar = FlowLayout(spacing=4)
        for w in (self.open_button, self.save_button, self.default_prompt, self.undo_button, self.redo_button,
                  self.generate_button, self.generate_all_button, self.cancel_button, self.export_button,
                  self.progress):
            bar.addWidget(w)

        self.timeline = TimelineView()
        self.timeline.selection_changed.connect(self._timeline_selected)
        self.timeline.seek_requested.connect(lambda t: self.seek_edit(t, scrub=True))
        self.clips = ClipListView()
        self.clips.selection_changed.connect(self._on_selection)
        self.tabs = QTabWidget()
        self.tabs.addTab(self.timeline, "Timeline")
        self.tabs.addTab(self.clips, "List")
        self.timeline_info = QLabel("Open an edit (OTIO, FCP7 XML, EDL, AAF, FCPXML) to start")
        self.timeline_info.setObjectName("hint")
        fixed_lines(self.timeline_info)
        top = QWidget()
        tl = QVBoxLayout(top)
        tl.setContentsMargins(0, 0, 0, 0)
        tl.addWidget(self.tabs, 1)
        tl.addWidget(self.timeline_info)

        self.editor = ClipEditor(engines, self.default_engine)
        self.editor.settings_changed.connect(self._on_settings)
        self.editor.weights_requested.connect(lambda: self.choose_weights())
        clip_box = QGroupBox("Clip")
        QVBoxLayout(clip_box).addWidget(self.editor)
        self.takes = TakesList()
        self.takes.current_changed.connect(self._on_take)
        self.takes.kept_changed.connect(self._on_keep)
        self.takes.note_changed.connect(self._on_note)
        self.takes.ab_requested.connect(self._on_ab)
        self.takes.regenerate_requested.connect(lambda: self.current and self.generate([self.current]))
        takes_box = QGroupBox("Takes")
        QVBoxLayout(takes_box).addWidget(self.takes)
        self.transport = Transport(self.player)
        self.transport.follow = False  # the panel drives the viewer (clip or edit playback)
        self.viewer = self.transport.viewer
        picture_box = self.picture_box = QGroupBox("Picture (space, J K L, \u2190 \u2192, Home End, I O)")
        QVBoxLayout(picture_box).addWidget(self.transport)
        right = QSplitter(Qt.Orientation.Vertical)
        right.addWidget(clip_box)
        right.addWidget(takes_box)
        right.setStretchFactor(0, 3)
        right.setStretchFactor(1, 1)
        self.controls = QScrollArea()  # small windows and narrow docks scroll instead of clipping
        self.controls.setWidgetResizable(True)
        self.controls.setFrameShape(QScrollArea.Shape.NoFrame)
        self.controls.setWidget(right)
        self.controls.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        # always there: a scroll bar that came and went would re-wrap the rows (a layout jump)
        self.controls.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOn)
        right.setMinimumHeight(560)
        self.bottom = QSplitter(Qt.Orientation.Horizontal)
        self.bottom.addWidget(picture_box)
        self.bottom.addWidget(self.controls)
        self.bottom.setStretchFactor(0, 2)
        self.bottom.setStretchFactor(1, 3)
        self.main = QSplitter(Qt.Orientation.Vertical)
        self.main.addWidget(top)
        self.main.addWidget(self.bottom)
        self.main.setStretchFactor(0, 1)
        self.main.setStretchFactor(1, 3)
        self.status = QLabel("")
        self.status.setObjectName("hint")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        fixed_lines(self.status)  # no jumps as messages change
        lay = QVBoxLayout(self)
        lay.addLayout(bar)
        lay.addWidget(self.main, 1)
        lay.addWidget(self.status)
        self.setStyleSheet(theme.style_sheet()) if self.parent() is None else None
        self._sync_buttons()

    def resizeEvent(self, ev):  # noqa: N802 - Qt API
        super().resizeEvent(ev)
        self.reflow(self.width())

    def reflow(self, width: int) -> None:
        """Side by side when wide; the viewer above the clip's controls when narrow (docked)."""
        want = Qt.Orientation.Vertical if width < NARROW else Qt.Orientation.Horizontal
        if self.bottom.orientation() != want:
            self.bottom.setOrientation(want)
        # the clip's rows wrap when narrow: leave them the room (the controls scroll)
        rows = 560 if width >= 1300 else 660  # the clip's rows wrap below ~1300 px: two more lines
        rows = rows if width >= NARROW else rows + (NARROW - width) // 2
        right = self.controls.widget()
        # never below what the clip's controls and the takes need: the curve keeps its full height
        right.setMinimumHeight(max(rows, sum(right.widget(i).minimumSizeHint().height() for i in range(2))
                                   + right.handleWidth()))
        self.picture_box.setMinimumHeight(0 if width >= NARROW else 360)  # picture and wrapped transport rows

    # ------------------------------------------------------------------ opening
    def _ask_open(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open an edit", "",
                                              "Edits (*.otio *.otioz *.otiod *.xml *.edl *.aaf *.fcpxml);;All (*)")
        if path:
            self.open_timeline(path)

    def open_timeline(self, path, *, media_root=None, output_dir=None) -> Session | None:
        """Open an edit; clips whose media cannot be found are listed with the reason; an edit
        melfoley already foleyed opens with its Foley tracks as the clips' takes."""
        self.cancel()
        self.player.stop()
        try:
            session = Session.open(path, media_root=media_root, output_dir=output_dir)
        except MelfoleyError as exc:
            self.say(panel_words(str(exc)), error=True)
            return None
        self.session, self.current, self.selected = session, None, []
        self.previews.clear()
        self.preview_errors.clear()
        self.undo_stack.clear()
        self.player.load([], 22050)
        self.transport.set_frames(None, None)
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setFormat("idle")
        self.default_prompt.setText(session.default_prompt)
        rows = []
        for cid, st in session.states.items():
            c = st.clip
            rows.append(ClipRow(cid, c.number, c.name, c.track, c.timecode(), float(c.duration), st.status,
                                detail="; ".join(c.flags), problem=panel_words(c.media_problem)
                                if c.media_problem else None))
        self.clips.set_rows(rows)
        self.timeline.set_data(TimelineData.from_session(session))
        missing = sum(1 for r in rows if r.problem)
        parts = [f"{Path(path).name}: {len(rows)} picture clips"]
        if missing:
            parts.append(f"{missing} cannot be done (hover for why)")
        if session.scan.skipped:
            parts.append(f"{len(session.scan.skipped)} skipped: " + "; ".join(
                f"{s.clip_id} {s.reason}" for s in session.scan.skipped[:3]))
        tracks = session.foley_tracks()
        parts.append("Foley tracks already in the edit: " + (", ".join(tracks) if tracks else "none"))
        if session.reopened:
            parts.append(f"{session.reopened} clips have their takes from those tracks")
        self.timeline_info.setText(" \u2014 ".join(parts))
        self.editor.setEnabled(False)
        self.editor.clear("Select a clip to see its energy curve")
        self.takes.set_takes([])
        note = f"; restored unsaved settings from {session.restored_from}" if session.restored_from else ""
        self.say(f"Opened {path}; output goes to {session.output_dir}{note}")
        self._start_thumbnails()
        self._sync_buttons()
        self.timeline_opened.emit(str(path))
        if rows:
            first = next((r.clip_id for r in rows if not r.problem), rows[0].clip_id)
            self.clips.select_ids([first])
        QTimer.singleShot(0, lambda: self._closed or self.reflow(self.width()))  # the clip's rows are laid out now
        return session

    def _start_thumbnails(self) -> None:
        job = host_job(shared_host("preview"), "thumbnails",
                       {"doc": self._doc(), "clip_ids": self.session.doable()}, "thumbnails")
        job.signals.item_done.connect(self._thumbnail)
        job.signals.item_failed.connect(self._mark_unusable)
        self.runner.start(job)

    def _thumbnail(self, cid: str, frame) -> None:
        pm = frame_pixmap(frame, self.clips.iconSize() * 2)
        self.clips.clip_model.set_thumbnail(cid, pm)
        self.timeline.set_thumbnail(cid, pm)

    def _mark_unusable(self, clip_id: str, why: str) -> None:
        """The media itself cannot be read (not an engine's failure: those can be retried)."""
        row = self.clips.clip_model.get(clip_id)
        why = panel_words(why)
        if row is not None:
            row.problem = why
            self.clips.clip_model.set_status(clip_id, "missing media", why)
            self.timeline.set_status(clip_id, "missing media")

    # ------------------------------------------------------------------ selection and preview
    def selected_ids(self) -> list[str]:
        return list(self.selected) or self.clips.selected_ids()

    def _timeline_selected(self, ids: list[str]) -> None:
        self.clips.select_ids(ids)  # the list emits, which lands in _on_selection
        if not ids:
            self._on_selection([])

    def _on_selection(self, ids: list[str]) -> None:
        if not self.session:
            return
        self.selected = list(ids)
        self.timeline.set_selected(ids)
        if not ids:
            return
        cid = ids[0]
        if cid == self.current:
            self._load_editor(cid)  # the selection count changed
            return
        self.current = cid
        self.player.stop()
        self.player.load([], 22050)
        st = self.session.state(cid)
        self._load_editor(cid)
        self.takes.set_takes(st.takes, st.settings.kept, dict(st.settings.notes))
        self.editor.curve.set_waveform(None)
        self.transport.set_frames(None, None)
        c = st.clip
        self.viewer.set_clip(float(c.record_in), float(c.duration), c.rate)
        if st.problem or self.clips.clip_model.get(cid).problem:
            why = st.problem or self.clips.clip_model.get(cid).problem
            self.editor.clear(f"This clip cannot be done: {panel_words(why)}")
            self.editor.setEnabled(False)
            self._sync_buttons()
            return
        self._sync_buttons()
        self._show_preview(cid)
        self._on_take(self.takes.current())

    def _load_editor(self, cid: str) -> None:
        st = self.session.state(cid)
        c = st.clip
        sub = f"{c.track}  {cid}  record in {c.timecode()}  {float(c.duration):.2f} s"
        if c.flags:
            sub += "  \u2014  " + "; ".join(c.flags)
        if st.status == "failed" and st.detail:
            sub += f"\nlast run failed: {panel_words(st.detail)}"
        self.editor.load(f"{c.number}. {c.name or '(unnamed)'}", sub, st.settings,
                         default_prompt=self.session.default_prompt, rate=float(c.rate),
                         selected=len([i for i in self.selected if i in self.session.states]))

    def _doc(self) -> dict:
        """What the engine process needs to open the same edit."""
        return {"path": str(self.session.path),
                "media_root": str(self.session.media_root) if self.session.media_root else None,
                "markers": [list(m) for m in self.session.markers]}

    def _settings(self, clip_ids) -> dict:
        return {cid: settings_io.to_metadata(self.session.state(cid).settings) for cid in clip_ids}

    def _engine_of(self, cid: str) -> str:
        return self.session.state(cid).settings.engine or self.default_engine

    def _options(self, engine: str) -> dict:
        return {k: str(v) for k, v in self.engine_options.get(engine, {}).items()}

    def _show_preview(self, cid: str) -> None:
        key = (cid, self._engine_of(cid))
        if key in self.previews:
            self._apply_preview(cid, self.previews[key])
            return
        self.preview_errors.pop(key, None)  # a retry: after a new engine, settings or weights folder
        self.editor.curve.clear("Reading picture and predicting the energy curve\u2026")
        job = host_job(shared_host("preview"), "preview",
                       {"doc": self._doc(), "clip_id": cid, "engine": key[1], "settings": self._settings([cid]),
                        "default_prompt": self.session.default_prompt, "options": self._options(key[1])},
                       "preview")
        job.signals.result.connect(lambda pv, k=key: self._preview_ready(k, pv))
        job.signals.failed.connect(lambda msg, k=key: self._preview_failed(k, msg))
        self.runner.start(job)

    def _preview_failed(self, key, msg: str) -> None:
        """The engine could not preview the clip: said in the panel's words; changing the engine,
        the settings or the weights folder tries again (the clip is not marked undoable)."""
        if self._closed:
            return
        text = panel_words(msg)
        self.preview_errors[key] = text
        if self.current == key[0] and self._engine_of(key[0]) == key[1]:
            hint = "\n\nChoose the weights folder (Weights folder\u2026 next to Engine), or switch the engine." \
                if needs_weights(msg) else "\n\nChange the engine or the settings to try again."
            self.editor.clear(text + hint)
            self.say(text, error=True)

    def _preview_ready(self, key, pv: ClipPreview) -> None:
        if self._closed:
            return
        self.previews[key] = pv
        if self.current == key[0] and self._engine_of(key[0]) == key[1]:
            self._apply_preview(key[0], pv)

    def _apply_preview(self, cid: str, pv: ClipPreview) -> None:
        st = self.session.state(cid)
        self.editor.show_curve(pv.predicted, st.settings.energy, pv.duration, pv.motion)
        self.transport.set_frames(pv.frames, pv.times)
        self.viewer.set_hits(find_hits(self.editor.curve.energy(), pv.duration))
        take = self.takes.current_take()
        self.editor.curve.set_waveform(None if take is None else take.audio)
        self.show_clip_position(self.player.position() if self.player.duration() else 0.0)

    def preview(self, cid: str) -> ClipPreview | None:
        return self.previews.get((cid, self._engine_of(cid))) if self.session else None

    def choose_weights(self, folder=None, engine: str | None = None) -> None:
        """The engine's weights folder (a chooser when ``folder`` is None); the preview is retried."""
        engine = engine or (self._engine_of(self.current) if self.session and self.current else self.default_engine)
        if folder is None:
            folder = QFileDialog.getExistingDirectory(self, f"Weights folder of the {engine} engine", "")
            if not folder:
                return
        self.engine_options[engine] = {"weights": str(folder)}
        for key in [k for k in self.previews if k[1] == engine]:
            del self.previews[key]
        self.say(f"{engine} engine: weights from {folder}")
        if self.session and self.current and self._engine_of(self.current) == engine:
            self._show_preview(self.current)

    # ------------------------------------------------------------------ settings (one way in, undoable)
    def _on_settings(self, changes: dict) -> None:
        if not self.session or not self.current:
            return
        ids = [self.current] if "energy" in changes else (
            [c for c in self.selected if c in self.session.states] or [self.current])
        after = {cid: replace(self.session.state(cid).settings, **changes) for cid in ids}
        self.push_settings(after, ", ".join(sorted(changes)) + (f" of {len(ids)} clips" if len(ids) > 1 else ""))

    def push_settings(self, after: dict, text: str) -> None:
        before = {cid: self.session.state(cid).settings for cid in after}
        after = {cid: s for cid, s in after.items() if s != before[cid]}
        if after:
            self.undo_stack.push(SettingsEdit(self._apply_settings, {c: before[c] for c in after}, after, text))

    def _apply_settings(self, mapping: dict) -> None:
        """Put settings on clips, and make every view follow (the undo stack's one entry point)."""
        retry = False
        for cid, s in mapping.items():
            old = self.session.state(cid).settings
            self.session.set_settings(cid, s)
            st = self.session.state(cid)
            self.clips.clip_model.set_status(cid, st.status, st.detail)
            self.timeline.set_status(cid, st.status)
            self.timeline.set_take(cid, playback_take(self.session, cid), s)
            if cid == self.current:
                retry = s.engine != old.engine or (self.current, self._engine_of(cid)) in self.preview_errors
        if self.current in mapping:
            st = self.session.state(self.current)
            self._load_editor(self.current)
            self.takes.show_kept(st.settings.kept)
            self.takes.show_notes(dict(st.settings.notes))
            pv = self.preview(self.current)
            if pv is not None and not retry:
                self.editor.show_curve(pv.predicted, st.settings.energy, pv.duration, pv.motion)
                self.editor.curve.set_waveform(None if self.takes.current_take() is None
                                               else self.takes.current_take().audio)
                self.viewer.set_hits(find_hits(self.editor.curve.energy(), pv.duration))
            self.editor.levels.show_take(self.takes.current_take(), st.settings)
            if retry:
                self._show_preview(self.current)
        self._autosave.start()
        self._sync_buttons()

    def set_default_prompt(self, text: str) -> None:
        if self.session and text.strip() != self.session.default_prompt:
            self.undo_stack.push(ValueEdit(self._put_default_prompt, self.session.default_prompt, text.strip(),
                                           "default sound event"))

    def _put_default_prompt(self, text: str) -> None:
        self.session.set_default_prompt(text)
        self.default_prompt.setText(text)
        if self.current:
            self._load_editor(self.current)
        self._autosave.start()

    def copy_settings(self) -> dict | None:
        if not self.session or not self.current:
            return None
        s = self.session.state(self.current).settings
        self._clipboard = {k: getattr(s, k) for k in COPIED}
        self.say(f"Copied the settings of {self.current} (event, takes, seed, engine, gain, fades, nudge)")
        return self._clipboard

    def paste_settings(self) -> None:
        if not self.session or not self._clipboard:
            return
        ids = [c for c in self.selected if c in self.session.states]
        self.push_settings({cid: replace(self.session.state(cid).settings, **self._clipboard) for cid in ids},
                           f"paste settings on {len(ids)} clips")

    # ------------------------------------------------------------------ takes
    def _on_take(self, index: int) -> None:
        take = self.takes.current_take()
        st = self.session.state(self.current) if self.session and self.current else None
        self.editor.levels.show_take(take, st.settings if st else None) if st else None
        if take is None:
            return
        if not self.edit_mode():
            self.player.load(take.audio, take.sample_rate, keep_position=getattr(self, "_ab_switch", False))
        self.editor.curve.set_waveform(take.audio)

    def _on_ab(self, index: int) -> None:
        self._ab_switch = True  # the next take load keeps the playhead and keeps playing
        QTimer.singleShot(0, lambda: setattr(self, "_ab_switch", False))

    def _on_keep(self, index: int) -> None:
        if self.session and self.current:
            st = self.session.state(self.current)
            if 0 <= index < len(st.takes):
                self.push_settings({self.current: replace(st.settings, kept=index,
                                                          kept_seed=int(st.takes[index].seed))}, "keep take")

    def _on_note(self, index: int, text: str) -> None:
        if self.session and self.current:
            st = self.session.state(self.current)
            self.push_settings({self.current: st.settings.with_note(int(st.takes[index].seed), text)}, "take note")

    # ------------------------------------------------------------------ misc
    def say(self, text: str, *, error: bool = False) -> None:
        colour = theme.STATUS_COLOURS["failed"] if error else ""
        self.status.setStyleSheet(f"color: {colour};" if colour else "")
        self.status.setText(text)
        self.status.setToolTip(text)
        self.message.emit(text)

    def _sync_buttons(self) -> None:
        has = self.session is not None
        gen = self._gen_job is not None
        self.generate_button.setEnabled(has and not gen)
        self.generate_all_button.setEnabled(has and not gen)
        self.cancel_button.setEnabled(gen)
        self.export_button.setEnabled(has and not self.runner.is_busy("export"))
        self.save_button.setEnabled(has)
        self.default_prompt.setEnabled(has)
        self.takes.set_busy(gen and self.current is not None
                            and self.session.state(self.current).status == "generating")
        row = self.clips.clip_model.get(self.current) if self.current else None
        self.takes.regen_button.setEnabled(bool(row and not row.problem and not gen))

    def shutdown(self, msecs: int = 10000) -> None:
        """Cancel work, stop audio and wait for the pool (call before the widget goes away)."""
        self._closed = True  # no new requests; reports still queued for this panel are dropped
        self.cancel()
        self._autosave.stop()
        self.autosave()
        self.player.close()
        self.runner.wait(msecs)
