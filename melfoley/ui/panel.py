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

from . import theme
from .clip_editor import ClipEditor
from .clip_list import ClipListView, ClipRow
from .player import Player, Transport, frame_pixmap
from . import settings_io
from .engine_host import shared_host
from .render import ClipPreview
from .session import Session, now
from .takes import TakesList
from .workers import Job, JobRunner, host_job

AUTOSAVE_MS = 1500


def default_engine_names() -> tuple[list[str], str]:
    from melfoley.core.engine import available_engines

    names = available_engines()
    default = "embedded" if "embedded" in names else (names[0] if names else "debug")
    return names, default


class FoleyPanel(QWidget):
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

    # ------------------------------------------------------------------ generation
    def generate(self, clip_ids: list[str] | None) -> Job | None:
        """Render the given clips (``None`` = every clip that can be done) in a worker thread."""
        if not self.session:
            return None
        if self.runner.is_busy("generation"):
            self.say("A generation batch is running; cancel it or wait", error=True)
            return None
        ids = self.session.doable(clip_ids)
        ids = [c for c in ids if not self.clips.clip_model.get(c).problem]
        by_engine: dict[str, list[tuple[str, int]]] = {}
        session, default = self.session, self.default_engine
        for cid in ids:
            st = session.state(cid)
            if not st.settings.prompt.strip():  # the full check (jobs.build_job) runs on the worker
                msg = f"clip {cid} '{st.clip.name}': no sound event; type a prompt for it"
                session.set_failed(cid, msg)
                self.clips.clip_model.set_status(cid, "failed", msg)
                continue
            by_engine.setdefault(self._engine_of(cid), []).append((cid, st.settings.takes))
        if not by_engine:
            self.say("Nothing to generate: select clips that have media and a sound event", error=True)
            return None
        engine, tasks = next(iter(by_engine.items()))
        if len(by_engine) > 1:
            self.say(f"Clips use {len(by_engine)} engines; generating the {engine} ones now, the rest next")
        ids_now = [cid for cid, _ in tasks]
        job = host_job(shared_host("generate"), "generate",
                       {"doc": self._doc(), "engine": engine, "tasks": tasks, "settings": self._settings(ids_now),
                        "default_engine": default}, "generation")
        self._gen_job = job
        job.signals.item_started.connect(lambda cid: self._set_status(cid, "generating"))
        job.signals.item_done.connect(self._on_takes_ready)
        job.signals.item_failed.connect(self._on_clip_failed)
        job.signals.progress.connect(self._on_progress)
        job.signals.result.connect(lambda summary, rest=by_engine: self._batch_done(summary, rest, engine))
        job.signals.failed.connect(lambda msg: self._batch_done({"done": [], "failed": [], "error": msg}, {}, engine))
        job.signals.cancelled.connect(lambda: self._batch_done({"cancelled": True}, {}, engine))
        self._gen_settings = {cid: self.session.state(cid).settings for cid in ids_now}
        for cid in ids_now:
            self._set_status(cid, "generating")
        self.runner.start(job)
        self._sync_buttons()
        return job

    def _set_status(self, cid: str, status: str, detail: str | None = None) -> None:
        if self.session:
            st = self.session.state(cid)
            st.status = status
            self.clips.clip_model.set_status(cid, status, detail)

    def _on_takes_ready(self, cid: str, takes: list) -> None:
        self.session.set_takes(cid, takes, getattr(self, "_gen_settings", {}).get(cid))
        self.clips.clip_model.set_status(cid, "done", "")
        self._autosave.start()
        if cid == self.current:
            self.takes.set_takes(takes, self.session.state(cid).settings.kept)
            self._on_take(self.takes.current())

    def _on_clip_failed(self, cid: str, message: str) -> None:
        self.session.set_failed(cid, message)
        st = self.session.state(cid)
        self.clips.clip_model.set_status(cid, st.status, message)

    def _on_progress(self, done: int, total: int, text: str) -> None:
        self.progress.setRange(0, max(1, total))
        self.progress.setValue(done)
        self.progress.setFormat(f"{done}/{total} takes  {text}")

    def _batch_done(self, summary: dict, by_engine: dict, engine: str) -> None:
        self._gen_job = None
        if summary.get("cancelled"):
            for cid, st in self.session.states.items():
                if st.status == "generating":
                    self._set_status(cid, "stale" if st.takes else "not generated")
            self.say(f"{now()} generation cancelled; finished clips keep their takes")
        elif "error" in summary:
            self.say(summary["error"], error=True)
            for cid, st in self.session.states.items():
                if st.status == "generating":
                    self._set_status(cid, "failed", summary["error"])
        else:
            failed = summary.get("failed", [])
            self.say(f"{now()} generated {len(summary.get('done', []))} clips with {engine}"
                     + (f"; {len(failed)} failed: {', '.join(failed)}" if failed else ""), error=bool(failed))
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setFormat("idle" if not summary.get("cancelled") else "cancelled")
        self._sync_buttons()
        rest = [cid for e, ts in by_engine.items() if e != engine for cid, _ in ts]
        self.generation_finished.emit(summary)
        if rest and not summary.get("cancelled"):
            self.generate(rest)

    def cancel(self) -> None:
        self.runner.cancel_all("generation")
        self.runner.cancel_all("thumbnails")

    def is_busy(self) -> bool:
        return self.runner.is_busy("generation") or self.runner.is_busy("export")

    # ------------------------------------------------------------------ save, export
    def has_unsaved(self) -> bool:
        return bool(self.session and self.session.dirty)

    def autosave(self) -> Job | None:
        """Write the settings beside the output, on a pool thread (a snapshot is taken here)."""
        if not self.session or not self.session.dirty:
            return None
        session = self.session
        snapshot = {cid: st.settings for cid, st in session.states.items()}
        path = session.autosave_path()
        job = Job(lambda ctx: settings_io.write_timeline(session.source, snapshot, path, media_root=session.media_root),
                  name="autosave")
        job.signals.result.connect(lambda p: self.status.setText(f"{now()} settings autosaved to {p}"))
        job.signals.failed.connect(lambda msg: self.say(f"autosave failed: {msg}", error=True))
        return self.runner.start(job)

    def save_settings(self, path=None) -> Path | None:
        if not self.session:
            return None
        try:
            out = self.session.save(path)
        except (MelfoleyError, OSError) as exc:
            self.say(f"could not save settings: {exc}", error=True)
            return None
        self.session.discard_autosave()
        self.say(f"{now()} settings saved to {out} (reopen it to continue)")
        self._sync_buttons()
        return out

    def _ask_export(self) -> None:
        if not self.session:
            return
        out = QFileDialog.getExistingDirectory(self, "Export stems and timeline to", str(self.session.output_dir))
        if out:
            self.export(out)

    def export(self, out_dir=None) -> Job | None:
        """Write stems for the kept takes and the output timeline, in a worker thread."""
        if not self.session or self.runner.is_busy("export"):
            return None
        from .export import export_session

        session = self.session
        job = Job(lambda ctx: export_session(session, out_dir, progress=ctx.progress), name="export")
        job.signals.progress.connect(self._on_progress)
        job.signals.result.connect(self._exported)
        job.signals.failed.connect(lambda msg: self.say(f"export failed: {msg}", error=True))
        self.runner.start(job)
        self._sync_buttons()
        return job

    def _exported(self, summary) -> None:
        self.session.dirty = False
        self.session.last_saved = summary.timeline
        self.session.discard_autosave()
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setFormat("exported")
        self.say(summary.text())
        self._sync_buttons()
        self.exported.emit(summary)

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

