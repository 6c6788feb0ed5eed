"""The panel's actions on the whole edit: generation batches, saving, autosave and export.

A mixin of :class:`melfoley.ui.panel.FoleyPanel` (it uses the panel's widgets, session and
job runner). Generation and decoding run in the engine process (:mod:`melfoley.ui.engine_host`)
through :func:`melfoley.ui.workers.host_job`; autosave and export run on pool threads.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QFileDialog

from melfoley.core.errors import MelfoleyError

from . import settings_io
from .engine_host import shared_host
from .messages import panel_words
from .session import now
from .timeline_view import playback_take
from .workers import Job, host_job


class PanelActions:
    # ------------------------------------------------------------------ generation
    def generate(self, clip_ids: list[str] | None) -> Job | None:
        """Render the given clips in a worker thread; ``None`` = every clip that can be done and
        whose takes are not current (``Generate all`` never re-renders a done clip). Clips
        without a sound event of their own use the edit's default; with neither they are left
        as they are and the status line says how many."""
        if not self.session:
            return None
        if self._gen_job is not None:
            self.say("A generation batch is running; cancel it or wait", error=True)
            return None
        ids = self.session.doable(clip_ids)
        ids = [c for c in ids if not self.clips.clip_model.get(c).problem]
        current = [c for c in ids if self.session.is_current(c)] if clip_ids is None else []
        ids = [c for c in ids if c not in current]
        by_engine: dict[str, list[tuple[str, int]]] = {}
        session, default = self.session, self.default_engine
        no_event = []
        for cid in ids:
            st = session.state(cid)
            if not session.prompt_of(cid):  # the full check (jobs.build_job) runs in the engine process
                no_event.append(cid)
                continue
            by_engine.setdefault(self._engine_of(cid), []).append((cid, st.settings.takes))
        skipped = (f"{len(current)} current clips left as they are" if current else "") + (
            ("; " if current else "") + f"{len(no_event)} without a sound event (type one, or set the edit's "
            "default sound event)" if no_event else "")
        if not by_engine:
            self.say("Nothing to generate: " + (skipped or "select clips that have media and a sound event"),
                     error=bool(no_event) or not current)
            return None
        engine, tasks = next(iter(by_engine.items()))
        if len(by_engine) > 1:
            self.say(f"Clips use {len(by_engine)} engines; generating the {engine} ones now, the rest next")
        elif skipped:
            self.say(f"Generating {len(tasks)} clips; {skipped}")
        ids_now = [cid for cid, _ in tasks]
        job = host_job(shared_host("generate"), "generate",
                       {"doc": self._doc(), "engine": engine, "tasks": tasks, "settings": self._settings(ids_now),
                        "default_engine": default, "default_prompt": session.default_prompt,
                        "options": self._options(engine)}, "generation")
        self._gen_job = job
        job.signals.item_started.connect(lambda cid: self._set_status(cid, "generating"))
        job.signals.item_done.connect(self._on_takes_ready)
        job.signals.item_failed.connect(self._on_clip_failed)
        job.signals.progress.connect(self._on_progress)
        job.signals.result.connect(lambda summary, rest=by_engine: self._batch_done(summary, rest, engine))
        job.signals.failed.connect(lambda msg: self._batch_done({"done": [], "failed": [], "error": msg}, {}, engine))
        job.signals.cancelled.connect(lambda: self._batch_done({"cancelled": True}, {}, engine))
        self._gen_settings = {cid: self.session.state(cid).settings for cid in ids_now}
        self._gen_markers = {cid: self.session.clip_markers(cid) for cid in ids_now}
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
            self.timeline.set_status(cid, status)

    def _on_takes_ready(self, cid: str, takes: list) -> None:
        self.session.set_takes(cid, takes, getattr(self, "_gen_settings", {}).get(cid),
                               getattr(self, "_gen_markers", {}).get(cid))
        st = self.session.state(cid)
        self.session._refresh(cid)  # settings or markers edited while it rendered: stale at once
        self._set_status(cid, st.status, "")
        self.timeline.set_take(cid, playback_take(self.session, cid), st.settings)
        self._autosave.start()
        if cid == self.current:
            self.takes.set_takes(takes, st.settings.kept, dict(st.settings.notes))
            self._on_take(self.takes.current())

    def _on_clip_failed(self, cid: str, message: str) -> None:
        message = panel_words(message)
        self.session.set_failed(cid, message)
        st = self.session.state(cid)
        self.clips.clip_model.set_status(cid, st.status, message)
        self.timeline.set_status(cid, st.status)

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
            self.say(panel_words(summary["error"]), error=True)
            for cid, st in self.session.states.items():
                if st.status == "generating":
                    self._set_status(cid, "failed", panel_words(summary["error"]))
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
        return self._gen_job is not None or self.runner.is_busy("export")

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
        default = session.default_prompt
        job = Job(lambda ctx: settings_io.write_timeline(session.source, snapshot, path, media_root=session.media_root,
                                                         default_prompt=default), name="autosave")
        job.signals.result.connect(lambda p: self._closed or self.status.setText(f"{now()} settings autosaved to {p}"))
        job.signals.failed.connect(lambda msg: self._closed or self.say(f"autosave failed: {msg}", error=True))
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
        if not self.session:
            return None
        if self.runner.is_busy("export"):
            self.say("An export is running; wait for it to finish", error=True)
            return None
        from .export import export_session

        session = self.session
        job = Job(lambda ctx: export_session(session, out_dir, progress=ctx.progress), name="export")
        job.signals.progress.connect(self._on_progress)
        job.signals.result.connect(self._exported)
        job.signals.failed.connect(lambda msg: self.say(f"export failed: {panel_words(msg)}", error=True))
        self.runner.start(job)
        self._sync_buttons()
        return job

    def _exported(self, summary) -> None:
        self.session.dirty = False
        self.session.discard_autosave()
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setFormat("exported")
        self.say(panel_words(summary.text()))
        self._sync_buttons()
        self.exported.emit(summary)
