"""``FoleyPanel``: the whole panel as one QWidget, to put in a QDockWidget or a main window.

Timeline view (left), the selected clip's controls and energy curve (right), its takes and
the transport (bottom). Decoding, prediction, generation and export run in pool threads
(:mod:`melfoley.ui.workers`); the UI thread only updates widgets. Settings are autosaved
beside the output a moment after every change, and ``has_unsaved()`` tells a host to ask.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (QFileDialog, QGroupBox, QHBoxLayout, QLabel, QProgressBar, QPushButton, QSplitter,
                               QVBoxLayout, QWidget)

from melfoley.core.errors import MelfoleyError

from . import settings_io, theme
from .clip_editor import ClipEditor
from .clip_list import ClipListView, ClipRow
from .engine_host import shared_host
from .panel_actions import PanelActions
from .player import Player, Transport, frame_pixmap
from .render import ClipPreview
from .session import Session
from .takes import TakesList
from .workers import Job, JobRunner, host_job

AUTOSAVE_MS = 1500


def default_engine_names() -> tuple[list[str], str]:
    from melfoley.core.engine import available_engines

    names = available_engines()
    default = "embedded" if "embedded" in names else (names[0] if names else "debug")
    return names, default


class FoleyPanel(PanelActions, QWidget):
    timeline_opened = Signal(str)
    generation_finished = Signal(dict)   # {"done": [...], "failed": [...]} or {"cancelled": True}
    exported = Signal(object)            # ExportSummary
    message = Signal(str)

    def __init__(self, parent=None, *, engine: str | None = None, max_threads: int = 2):
        super().__init__(parent)
        self.session: Session | None = None
        self.current: str | None = None
        self.previews: dict[tuple[str, str], ClipPreview] = {}
        self.runner = JobRunner(self, max_threads=max_threads)
        self.player = Player(self)
        engines, default = default_engine_names()
        self.default_engine = engine or default
        self._gen_job: Job | None = None
        self._build(engines)
        self.runner.busy_changed.connect(lambda _busy: self._sync_buttons())
        self._autosave = QTimer(self)
        self._autosave.setSingleShot(True)
        self._autosave.setInterval(AUTOSAVE_MS)
        self._autosave.timeout.connect(self.autosave)
        QShortcut(QKeySequence(Qt.Key.Key_Space), self, self.player.toggle,
                  context=Qt.ShortcutContext.WidgetWithChildrenShortcut)
        self.player.position_changed.connect(self.editor.curve.set_playhead)
        self.editor.curve.seek_requested.connect(self.player.seek)
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
        self.generate_button = QPushButton("Generate selected")
        self.generate_button.setObjectName("primary")
        self.generate_button.clicked.connect(lambda: self.generate(self.clips.selected_ids()))
        self.generate_all_button = QPushButton("Generate all")
        self.generate_all_button.clicked.connect(lambda: self.generate(None))
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel)
        self.export_button = QPushButton("Export stems + timeline\u2026")
        self.export_button.clicked.connect(self._ask_export)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setFormat("idle")
        self.progress.setMinimumWidth(220)
        bar = QHBoxLayout()
        for w in (self.open_button, self.save_button, self.generate_button, self.generate_all_button,
                  self.cancel_button, self.export_button):
            bar.addWidget(w)
        bar.addWidget(self.progress, 1)

        self.clips = ClipListView()
        self.clips.selection_changed.connect(self._on_selection)
        self.timeline_info = QLabel("Open an edit (OTIO, FCP7 XML, EDL, AAF, FCPXML) to start")
        self.timeline_info.setObjectName("hint")
        self.timeline_info.setWordWrap(True)
        left = QGroupBox("Timeline")
        ll = QVBoxLayout(left)
        ll.addWidget(self.clips, 1)
        ll.addWidget(self.timeline_info)

        self.editor = ClipEditor(engines, self.default_engine)
        self.editor.settings_changed.connect(self._on_settings)
        clip_box = QGroupBox("Clip")
        QVBoxLayout(clip_box).addWidget(self.editor)
        self.takes = TakesList()
        self.takes.current_changed.connect(self._on_take)
        self.takes.kept_changed.connect(self._on_keep)
        self.takes.regenerate_requested.connect(lambda: self.current and self.generate([self.current]))
        takes_box = QGroupBox("Takes")
        QVBoxLayout(takes_box).addWidget(self.takes)
        self.transport = Transport(self.player)
        transport_box = QGroupBox("Audition (space)")
        QVBoxLayout(transport_box).addWidget(self.transport)
        bottom = QHBoxLayout()
        bottom.addWidget(takes_box, 3)
        bottom.addWidget(transport_box, 2)
        right = QWidget()
        rl = QVBoxLayout(right)
        rl.setContentsMargins(0, 0, 0, 0)
        rl.addWidget(clip_box, 1)
        rl.addLayout(bottom)

        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(left)
        split.addWidget(right)
        split.setStretchFactor(0, 2)
        split.setStretchFactor(1, 3)
        split.setSizes([640, 760])
        self.status = QLabel("")
        self.status.setObjectName("hint")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        lay = QVBoxLayout(self)
        lay.addLayout(bar)
        lay.addWidget(split, 1)
        lay.addWidget(self.status)
        self.setStyleSheet(theme.style_sheet()) if self.parent() is None else None
        self._sync_buttons()

    # ------------------------------------------------------------------ opening
    def _ask_open(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open an edit", "",
                                              "Edits (*.otio *.otioz *.otiod *.xml *.edl *.aaf *.fcpxml);;All (*)")
        if path:
            self.open_timeline(path)

    def open_timeline(self, path, *, media_root=None, output_dir=None) -> Session | None:
        """Open an edit; clips whose media cannot be found are listed with the reason."""
        self.cancel()
        self.player.stop()
        try:
            session = Session.open(path, media_root=media_root, output_dir=output_dir)
        except MelfoleyError as exc:
            self.say(str(exc), error=True)
            return None
        self.session, self.current = session, None
        self.previews.clear()
        self.player.load([], 22050)
        self.transport.set_frames(None, None)
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setFormat("idle")
        rows = []
        for cid, st in session.states.items():
            c = st.clip
            rows.append(ClipRow(cid, c.number, c.name, c.track, c.timecode(), float(c.duration), st.status,
                                detail="; ".join(c.flags), problem=c.media_problem))
        self.clips.set_rows(rows)
        missing = sum(1 for r in rows if r.problem)
        parts = [f"{Path(path).name}: {len(rows)} picture clips"]
        if missing:
            parts.append(f"{missing} cannot be done (hover for why)")
        if session.scan.skipped:
            parts.append(f"{len(session.scan.skipped)} skipped: " + "; ".join(
                f"{s.clip_id} {s.reason}" for s in session.scan.skipped[:3]))
        tracks = session.foley_tracks()
        parts.append("Foley tracks already in the edit: " + (", ".join(tracks) if tracks else "none"))
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
        return session

    def _start_thumbnails(self) -> None:
        job = host_job(shared_host("preview"), "thumbnails",
                       {"doc": self._doc(), "clip_ids": self.session.doable()}, "thumbnails")
        job.signals.item_done.connect(lambda cid, frame: self.clips.clip_model.set_thumbnail(
            cid, frame_pixmap(frame, self.clips.iconSize() * 2)))
        job.signals.item_failed.connect(self._mark_unusable)
        self.runner.start(job)

    def _mark_unusable(self, clip_id: str, why: str) -> None:
        row = self.clips.clip_model.get(clip_id)
        if row is not None:
            row.problem = why
            self.clips.clip_model.set_status(clip_id, "missing media", why)

    # ------------------------------------------------------------------ selection and preview
    def _on_selection(self, ids: list[str]) -> None:
        if not self.session or not ids:
            return
        cid = ids[0]
        if cid == self.current:
            return
        self.current = cid
        self.player.stop()
        st = self.session.state(cid)
        c = st.clip
        sub = f"{c.track}  {cid}  record in {c.timecode()}  {float(c.duration):.2f} s"
        if c.flags:
            sub += "  \u2014  " + "; ".join(c.flags)
        if st.status == "failed" and st.detail:
            sub += f"\nlast run failed: {st.detail}"
        self.editor.load(f"{c.number}. {c.name or '(unnamed)'}", sub, st.settings)
        self.takes.set_takes(st.takes, st.settings.kept)
        self.editor.curve.set_waveform(None)
        self.transport.set_frames(None, None)
        if st.problem or self.clips.clip_model.get(cid).problem:
            why = st.problem or self.clips.clip_model.get(cid).problem
            self.editor.clear(f"This clip cannot be done: {why}")
            self.editor.setEnabled(False)
            self._sync_buttons()
            return
        self._sync_buttons()
        self._show_preview(cid)

    def _doc(self) -> dict:
        """What the engine process needs to open the same edit."""
        return {"path": str(self.session.path),
                "media_root": str(self.session.media_root) if self.session.media_root else None}

    def _settings(self, clip_ids) -> dict:
        return {cid: settings_io.to_metadata(self.session.state(cid).settings) for cid in clip_ids}

    def _engine_of(self, cid: str) -> str:
        return self.session.state(cid).settings.engine or self.default_engine

    def _show_preview(self, cid: str) -> None:
        key = (cid, self._engine_of(cid))
        if key in self.previews:
            self._apply_preview(cid, self.previews[key])
            return
        self.editor.curve.clear("Reading picture and predicting the energy curve\u2026")
        job = host_job(shared_host("preview"), "preview",
                       {"doc": self._doc(), "clip_id": cid, "engine": key[1], "settings": self._settings([cid])},
                       "preview")
        job.signals.result.connect(lambda pv, k=key: self._preview_ready(k, pv))
        job.signals.failed.connect(lambda msg, c=cid: self._mark_unusable(c, msg) or (
            self.current == c and self.editor.clear(msg)))
        self.runner.start(job)

    def _preview_ready(self, key, pv: ClipPreview) -> None:
        self.previews[key] = pv
        if self.current == key[0] and self._engine_of(key[0]) == key[1]:
            self._apply_preview(key[0], pv)

    def _apply_preview(self, cid: str, pv: ClipPreview) -> None:
        st = self.session.state(cid)
        self.editor.show_curve(pv.predicted, st.settings.energy, pv.duration, pv.motion)
        self.transport.set_frames(pv.frames, pv.times)
        take = self.takes.current_take()
        self.editor.curve.set_waveform(None if take is None else take.audio)

    def preview(self, cid: str) -> ClipPreview | None:
        return self.previews.get((cid, self._engine_of(cid))) if self.session else None

    # ------------------------------------------------------------------ settings
    def _on_settings(self, changes: dict) -> None:
        if not self.session or not self.current:
            return
        cid = self.current
        self.session.update(cid, **changes)
        st = self.session.state(cid)
        self.clips.clip_model.set_status(cid, st.status, st.detail)
        if "engine" in changes:
            self._show_preview(cid)
        self._autosave.start()
        self._sync_buttons()

    def _on_take(self, index: int) -> None:
        take = self.takes.current_take()
        if take is None:
            return
        self.player.load(take.audio, take.sample_rate)
        self.editor.curve.set_waveform(take.audio)

    def _on_keep(self, index: int) -> None:
        if self.session and self.current:
            self.session.keep(self.current, index)
            self._autosave.start()
            self._sync_buttons()

    # ------------------------------------------------------------------ misc
    def say(self, text: str, *, error: bool = False) -> None:
        colour = theme.STATUS_COLOURS["failed"] if error else theme.TEXT_DIM
        self.status.setStyleSheet(f"color: {colour};")
        self.status.setText(text)
        self.message.emit(text)

    def _sync_buttons(self) -> None:
        has = self.session is not None
        gen = self.runner.is_busy("generation")
        self.generate_button.setEnabled(has and not gen)
        self.generate_all_button.setEnabled(has and not gen)
        self.cancel_button.setEnabled(gen)
        self.export_button.setEnabled(has and not self.runner.is_busy("export"))
        self.save_button.setEnabled(has)
        self.takes.set_busy(gen and self.current is not None
                            and self.session.state(self.current).status == "generating")
        row = self.clips.clip_model.get(self.current) if self.current else None
        self.takes.regen_button.setEnabled(bool(row and not row.problem and not gen))

    def shutdown(self, msecs: int = 10000) -> None:
        """Cancel work, stop audio and wait for the pool (call before the widget goes away)."""
        self.cancel()
        self._autosave.stop()
        self.autosave()
        self.player.close()
        self.runner.wait(msecs)

