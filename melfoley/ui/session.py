"""The panel's document: one opened edit, its picture clips, per-clip settings and takes.

No widgets in here. Reading the edit and finding its clips is the plugin layer's
(:mod:`melfoley.plugin.timeline`); per-clip settings live in each clip's
``metadata["melfoley"]`` through :mod:`melfoley.ui.settings_io`, so they travel with the
timeline: ``save()`` writes a copy of the edit holding them (never the input file) and
``Session.open`` on that copy brings every edit back. The panel autosaves the same copy to
``autosave_path()`` beside the output, and ``Session.open`` restores a newer autosave, so
closing without saving never loses a curve.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from melfoley.core.errors import MelfoleyError
from melfoley.core.engine import FoleyRequest

from . import settings_io
from .settings_io import ClipSettings


@dataclass
class ClipState:
    clip: object                      # melfoley.plugin.timeline.PictureClip
    settings: ClipSettings
    takes: list = field(default_factory=list)
    status: str = "not generated"
    detail: str = ""
    generated_with: ClipSettings | None = None  # settings of the current takes (for "stale")

    @property
    def problem(self) -> str | None:
        return self.clip.media_problem


class Session:
    def __init__(self, source, scan, *, media_root: Path | None = None, output_dir: Path | None = None):
        self.source = source
        self.scan = scan
        self.media_root = media_root
        self.path = Path(source.path)
        self.output_dir = Path(output_dir) if output_dir else default_output_dir(self.path)
        self.states: dict[str, ClipState] = {}
        for clip in scan.clips:
            self.states[clip.clip_id] = ClipState(clip, settings_io.read(clip.metadata, clip))
            if clip.media_problem:
                self.states[clip.clip_id].status = "missing media"
        self.dirty = False
        self._lock = threading.Lock()
        self._probes: dict[str, object] = {}
        self.last_saved: Path | None = None
        self.restored_from: Path | None = None

    # ------------------------------------------------------------------ opening
    @classmethod
    def open(cls, path, *, media_root=None, output_dir=None, restore_autosave: bool = True) -> "Session":
        """Read the edit; when a newer autosave of it exists beside the output, its settings are restored."""
        from melfoley.plugin.timeline import find_picture_clips, read_timeline

        path = Path(path)
        src = read_timeline(path)
        root = Path(media_root) if media_root else None
        if root is None and src.timeline.metadata.get("melfoley", {}).get("media_root"):
            root = Path(str(src.timeline.metadata["melfoley"]["media_root"]))
        session = cls(src, find_picture_clips(src, media_root=root), media_root=root, output_dir=output_dir)
        auto = session.autosave_path()
        if restore_autosave and auto.exists() and auto.stat().st_mtime >= path.stat().st_mtime and auto != path:
            session._restore(auto)
        return session

    def _restore(self, auto: Path) -> None:
        from melfoley.plugin.timeline import find_picture_clips, read_timeline

        try:
            scan = find_picture_clips(read_timeline(auto), media_root=self.media_root)
        except MelfoleyError:
            return
        restored = 0
        for clip in scan.clips:
            st = self.states.get(clip.clip_id)
            if st is not None and clip.metadata:
                st.settings = settings_io.read(clip.metadata, clip)
                restored += 1
        if restored:
            self.restored_from = auto
            self.dirty = True

    # ------------------------------------------------------------------ clips
    @property
    def clip_ids(self) -> list[str]:
        return list(self.states)

    def state(self, clip_id: str) -> ClipState:
        try:
            return self.states[clip_id]
        except KeyError:
            raise MelfoleyError(f"no picture clip {clip_id!r} in {self.path}") from None

    def doable(self, clip_ids=None) -> list[str]:
        ids = self.clip_ids if clip_ids is None else clip_ids
        return [c for c in ids if self.states[c].problem is None]

    def media_window(self, clip_id: str) -> tuple[Path, float, float, object]:
        """(media file, start, media seconds the clip consumes, VideoInfo); probes the file (not on the UI thread)."""
        clip = self.state(clip_id).clip
        if clip.media_problem:
            raise MelfoleyError(f"clip {clip_id} '{clip.name}': {clip.media_problem}")
        from melfoley.core.video import probe

        with self._lock:
            info = self._probes.get(str(clip.media_path))
        if info is None:
            info = probe(clip.media_path, clip_id=clip_id)
            with self._lock:
                self._probes[str(clip.media_path)] = info
        if not info.has_video:
            raise MelfoleyError(f"clip {clip_id} '{clip.name}': {clip.media_path} has no video stream; relink it")
        start, dur = clip.media_window(info.duration)
        return Path(clip.media_path), start, dur, info

    def picture(self, clip_id: str, *, size: int = 224, fps: float | None = None) -> tuple[np.ndarray, float]:
        """(frames, frames per record second) of the clip as it plays in the edit: speed changes,
        reverse and freeze frames applied, VFR conformed, a short media end held. This follows
        ``melfoley batch`` so the panel renders what the batch renders. Decodes: call it off the UI thread."""
        from melfoley.plugin.picture import clip_picture

        _, start, media_dur, info = self.media_window(clip_id)
        return clip_picture(self.state(clip_id).clip, info, start, media_dur, size=size, fps=fps)

    def job(self, clip_id: str, default_engine: str = "embedded"):
        """The plugin layer's job for the clip with the panel's settings (event name, segments, energy)."""
        from melfoley.plugin.jobs import BatchDefaults, build_job

        st = self.state(clip_id)
        if not st.settings.prompt.strip():
            raise MelfoleyError(f"clip {clip_id} '{st.clip.name}': no sound event; type a prompt for it")
        clip = replace(st.clip, metadata={**(st.clip.metadata or {}), **settings_io.to_metadata(st.settings)})
        return build_job(clip, BatchDefaults(prompt=st.settings.prompt, takes=st.settings.takes,
                                             seed=st.settings.seed, engine=default_engine))

    def requests(self, clip_id: str, engine, default_engine: str = "embedded") -> list[FoleyRequest]:
        """One request per prompt segment of the clip (markers), over decoded picture. Off the UI thread."""
        from melfoley.plugin.picture import clip_requests

        job = self.job(clip_id, default_engine)
        _, start, _, _ = self.media_window(clip_id)
        frames, rate = self.picture(clip_id, size=engine.picture_size,
                                    fps=engine.picture_fps)
        return clip_requests(job, self.state(clip_id).clip, start, frames, rate, label=clip_id)

    # ------------------------------------------------------------------ edits
    def update(self, clip_id: str, **changes) -> ClipSettings:
        """Change settings of one clip; marks the session unsaved and its takes stale."""
        st = self.state(clip_id)
        new = replace(st.settings, **changes)
        if new == st.settings:
            return new
        st.settings = new
        self.dirty = True
        if st.takes and st.generated_with is not None and not _same_render(new, st.generated_with):
            st.status = "stale"
        return new

    def set_takes(self, clip_id: str, takes: list, settings: ClipSettings | None = None) -> None:
        st = self.state(clip_id)
        st.takes = list(takes)
        st.generated_with = settings or st.settings
        st.status, st.detail = "done", ""
        if st.settings.kept is None or st.settings.kept >= len(takes):
            self.update(clip_id, kept=0 if takes else None)
        self.dirty = True

    def set_failed(self, clip_id: str, message: str) -> None:
        st = self.state(clip_id)
        st.status, st.detail = ("not generated" if message == "cancelled" else "failed"), message

    def keep(self, clip_id: str, index: int) -> None:
        st = self.state(clip_id)
        if not 0 <= index < len(st.takes):
            raise MelfoleyError(f"clip {clip_id}: no take {index + 1}; it has {len(st.takes)}")
        self.update(clip_id, kept=index, kept_seed=int(st.takes[index].seed))

    # ------------------------------------------------------------------ files
    def autosave_path(self) -> Path:
        return self.output_dir / f"{_stem(self.path)}.melfoley-autosave.otio"

    def session_path(self) -> Path:
        return self.output_dir / f"{_stem(self.path)}.melfoley.otio"

    def save(self, path: Path | None = None) -> Path:
        """Write the edit with every clip's settings to ``path`` (default: beside the output)."""
        path = Path(path) if path else self.session_path()
        if path.resolve() == self.path.resolve():
            raise MelfoleyError(f"refusing to overwrite the input timeline {path}; save the settings elsewhere")
        settings_io.write_timeline(self.source, {cid: st.settings for cid, st in self.states.items()},
                                   path, media_root=self.media_root)
        self.dirty = False
        self.last_saved = path
        return path

    def discard_autosave(self) -> None:
        try:
            self.autosave_path().unlink()
        except FileNotFoundError:
            pass

    def foley_tracks(self) -> list[str]:
        """Names of the audio tracks already in the edit that melfoley wrote (or that are named Foley)."""
        out = []
        for t in self.source.timeline.audio_tracks():
            if "melfoley" in t.metadata or "foley" in (t.name or "").lower():
                n = len(list(t.find_clips()))
                out.append(f"{t.name or 'audio'} ({n} clip{'s' if n != 1 else ''})")
        return out


def _same_render(a: ClipSettings, b: ClipSettings) -> bool:
    """Settings that change the audio (not which take is kept)."""
    keys = ("prompt", "takes", "seed", "engine")
    if any(getattr(a, k) != getattr(b, k) for k in keys):
        return False
    if (a.energy is None) != (b.energy is None):
        return False
    return a.energy is None or np.allclose(np.asarray(a.energy), np.asarray(b.energy), atol=1e-4)


def _stem(path: Path) -> str:
    name = path.name
    for suffix in (".melfoley-autosave.otio", ".melfoley.otio"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return path.stem


def default_output_dir(timeline: Path) -> Path:
    """``<timeline folder>/<name>_foley`` when that folder is writable, else under the user cache."""
    timeline = Path(timeline)
    if timeline.name.endswith((".melfoley.otio", ".melfoley-autosave.otio")):
        return timeline.parent
    if os.access(timeline.parent, os.W_OK):
        return timeline.parent / f"{_stem(timeline)}_foley"
    from melfoley.core.userdirs import cache_dir

    return cache_dir() / "panel" / f"{_stem(timeline)}_foley"


def now() -> str:
    return time.strftime("%H:%M:%S")
