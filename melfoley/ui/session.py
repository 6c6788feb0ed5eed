"""The panel's document: one opened edit, its picture clips, per-clip settings and takes.

No widgets in here. Reading the edit and finding its clips is the plugin layer's
(:mod:`melfoley.plugin.timeline`); per-clip settings live in each clip's
``metadata["melfoley"]`` through :mod:`melfoley.ui.settings_io`, so they travel with the
timeline: ``save()`` writes a copy of the edit holding them (never the input file) and
``Session.open`` on that copy brings every edit back. The panel autosaves the same copy to
``autosave_path()`` beside the output, and ``Session.open`` restores a newer autosave, so
closing without saving never loses a curve.

An edit that melfoley already foleyed (its ``.foley.otio``) opens with its Foley tracks as
the clips' takes: each stem is found through its track clip and its JSON sidecar
(:func:`stem_takes`), read back at its own level (the placement gain and nudge, and the
level stage's gain, undone from the sidecar), and plays without re-rendering; the clip is
*done* while its settings still match the sidecar's, *stale* otherwise.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from melfoley.core.errors import MelfoleyError
from melfoley.core.engines import DEFAULT_ENGINE
from melfoley.plugin.formats import OWN_SUFFIXES, edit_name, own_suffix  # noqa: F401 - the one definition (otio_out re-exports it)

from . import settings_io
from .settings_io import ClipSettings

if TYPE_CHECKING:  # torch stays out of the panel's import (a host may dock it): only the engine process loads it
    from melfoley.core.engine import FoleyRequest


@dataclass
class ClipState:
    clip: object                      # melfoley.plugin.timeline.PictureClip
    settings: ClipSettings
    takes: list = field(default_factory=list)
    status: str = "not generated"
    detail: str = ""
    generated_with: ClipSettings | None = None  # settings of the current takes (for "stale")
    made_markers: tuple | None = None  # the prompt markers over the clip when its takes were made

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
        self.restored_from: Path | None = None
        top = dict(source.timeline.metadata.get("melfoley", {}) or {})
        self.default_prompt = str(top.get("default_prompt", "") or "")
        self.reopened = 0  # clips whose takes came from stems already in the edit
        from .markers import from_scan

        #: the edit's ``foley:`` markers (melfoley.ui.markers.Marker), as the panel edits them
        self.markers = from_scan(scan.clips)

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
        session._load_stems()
        return session

    def _load_stems(self) -> None:
        found = stem_takes(self.source.timeline)
        for cid, takes in found.items():
            st = self.states.get(cid)
            if st is None or not takes:
                continue
            made = takes[0].metadata.get("stem_settings", {})
            st.takes = takes
            seeds = [int(t.seed) for t in takes]
            kept = seeds.index(st.settings.kept_seed) if st.settings.kept_seed in seeds else None
            st.settings = replace(st.settings, kept=kept)
            energy = made.get("energy")
            st.generated_with = replace(st.settings, prompt=str(made.get("prompt", st.settings.prompt)),
                                        seed=int(made.get("seed", st.settings.seed)),
                                        takes=int(made.get("takes", st.settings.takes)),
                                        energy=None if energy is None else np.asarray(energy, np.float32))
            fresh = _same_render(st.settings, st.generated_with) and not takes[0].metadata.get("stem_stale")
            st.status = "done" if fresh else "stale"
            self.reopened += 1

    def _restore(self, auto: Path) -> None:
        from melfoley.plugin.timeline import find_picture_clips, read_timeline

        try:
            scan = find_picture_clips(read_timeline(auto), media_root=self.media_root)
        except MelfoleyError:
            return
        from .markers import from_scan

        restored = 0
        if from_scan(scan.clips) != self.markers:
            self.set_markers(from_scan(scan.clips))
            restored += 1
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

    def job(self, clip_id: str, default_engine: str = DEFAULT_ENGINE):
        """The plugin layer's job for the clip with the panel's settings (event name, segments, energy)."""
        from melfoley.plugin.jobs import BatchDefaults, build_job

        st = self.state(clip_id)
        prompt = self.prompt_of(clip_id)
        if not prompt:
            raise MelfoleyError(f"clip {clip_id} '{st.clip.name}': no sound event; type one for it, "
                                "or set the edit's default sound event")
        clip = replace(st.clip, metadata={**(st.clip.metadata or {}), **settings_io.to_metadata(st.settings)})
        return build_job(clip, BatchDefaults(prompt=prompt, takes=st.settings.takes,
                                             seed=st.settings.seed, engine=default_engine))

    def requests(self, clip_id: str, engine, default_engine: str = DEFAULT_ENGINE) -> list[FoleyRequest]:
        """One request per prompt segment of the clip (markers), over decoded picture. Off the UI thread."""
        from melfoley.plugin.picture import clip_requests

        job = self.job(clip_id, default_engine)
        _, start, _, _ = self.media_window(clip_id)
        frames, rate = self.picture(clip_id, size=engine.picture_size,
                                    fps=engine.picture_fps)
        return clip_requests(job, self.state(clip_id).clip, start, frames, rate, label=clip_id)

    def prompt_of(self, clip_id: str) -> str:
        """The clip's own sound event, else the edit's default one ("" when neither is set)."""
        return self.state(clip_id).settings.prompt.strip() or self.default_prompt.strip()

    def is_current(self, clip_id: str) -> bool:
        """Its takes were made with its present settings (``Generate all`` leaves it alone)."""
        st = self.state(clip_id)
        return bool(st.takes) and st.status == "done"

    # ------------------------------------------------------------------ edits
    def set_default_prompt(self, text: str) -> None:
        text = text.strip()
        if text != self.default_prompt:
            self.default_prompt = text
            self.dirty = True

    def update(self, clip_id: str, **changes) -> ClipSettings:
        """Change settings of one clip; marks the session unsaved and its takes stale."""
        st = self.state(clip_id)
        new = replace(st.settings, **changes)
        if new == st.settings:
            return new
        st.settings = new
        self.dirty = True
        if st.takes and st.generated_with is not None and not self._fresh(clip_id):
            st.status = "stale"
        return new

    def set_settings(self, clip_id: str, settings: ClipSettings) -> None:
        """Put ``settings`` on the clip (undo and redo come through here): its takes are current
        again when the settings match those they were made with, stale otherwise."""
        st = self.state(clip_id)
        if settings == st.settings:
            return
        st.settings = settings
        self.dirty = True
        self._refresh(clip_id)

    def _refresh(self, clip_id: str) -> None:
        st = self.state(clip_id)
        if st.takes and st.generated_with is not None and st.status in ("done", "stale"):
            st.status = "done" if self._fresh(clip_id) else "stale"

    def _fresh(self, clip_id: str) -> bool:
        """The takes were made with the clip's present settings and prompt markers."""
        st = self.state(clip_id)
        return _same_render(st.settings, st.generated_with) and (
            st.made_markers is None or st.made_markers == self.clip_markers(clip_id))

    def clip_markers(self, clip_id: str) -> tuple:
        """The prompt markers over the clip: (start, end, text), seconds from the clip's start."""
        from .markers import text_of

        c = self.state(clip_id).clip
        out = []
        for m in c.markers:
            t = text_of(m)
            if t:
                out.append((round(float(m.record_start - c.record_offset), 6),
                            round(float(m.record_end - c.record_offset), 6), t))
        return tuple(sorted(out))

    def set_markers(self, markers) -> bool:
        """Put the edit's prompt markers (the undo stack comes through here): on the timeline
        (where ``melfoley batch`` reads them when it is saved) and on every clip; clips whose
        takes were made under other markers go stale. False when nothing changed."""
        from .markers import clip_markers, put_on_timeline

        markers = tuple(sorted(markers))
        if markers == self.markers:
            return False
        self.markers = markers
        put_on_timeline(self.source.timeline, markers, self.source.rate)
        for cid, st in self.states.items():
            st.clip = replace(st.clip, markers=clip_markers(st.clip, markers, self.source.rate))
            self._refresh(cid)
        self.dirty = True
        return True

    def set_takes(self, clip_id: str, takes: list, settings: ClipSettings | None = None,
                  markers: tuple | None = None) -> None:
        st = self.state(clip_id)
        st.takes = list(takes)
        st.generated_with = settings or st.settings
        st.made_markers = self.clip_markers(clip_id) if markers is None else tuple(markers)
        st.status, st.detail = "done", ""
        k = st.settings.kept
        if k is not None and not (k < len(takes) and int(takes[k].seed) == st.settings.kept_seed):
            self.update(clip_id, kept=None, kept_seed=None)  # keep is the artist's choice: never made for them
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
        return self.output_dir / f"{edit_name(self.path)}.melfoley-autosave.otio"

    def session_path(self) -> Path:
        return self.output_dir / f"{edit_name(self.path)}.melfoley.otio"

    def save(self, path: Path | None = None) -> Path:
        """Write the edit with every clip's settings to ``path`` (default: beside the output)."""
        path = Path(path) if path else self.session_path()
        if path.resolve() == self.path.resolve():
            raise MelfoleyError(f"refusing to overwrite the input timeline {path}; save the settings elsewhere")
        settings_io.write_timeline(self.source, {cid: st.settings for cid, st in self.states.items()},
                                   path, media_root=self.media_root, default_prompt=self.default_prompt)
        self.dirty = False
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
    keys = ("prompt", "takes", "seed", "engine", "prompts")
    if any(getattr(a, k) != getattr(b, k) for k in keys):
        return False
    if (a.energy is None) != (b.energy is None):
        return False
    return a.energy is None or np.allclose(np.asarray(a.energy), np.asarray(b.energy), atol=1e-4)


def stem_takes(timeline) -> dict[str, list]:
    """Takes per picture clip id from the Foley tracks melfoley wrote into ``timeline``: each track
    clip names its sidecar, which holds the seed, the control and the levels applied; the stem
    itself is the audio. Stems or sidecars that are gone are passed over (the clip is then not
    generated)."""
    import json

    import soundfile as sf
    from opentimelineio.url_utils import filepath_from_url

    from melfoley.core.control import QCDControl
    from melfoley.core.engine import Take
    from melfoley.core.levels import place_take

    out: dict[str, dict[int, object]] = {}
    for track in timeline.audio_tracks():
        if "melfoley" not in track.metadata:
            continue
        for clip in track.find_clips():
            meta = dict(clip.metadata.get("melfoley", {}) or {})
            cid, sidecar = meta.get("picture_clip"), meta.get("sidecar")
            if not cid or not sidecar:
                continue
            try:
                doc = json.loads(Path(sidecar).read_text())
                wav = Path(sidecar).with_name(doc["file"])
                if not wav.exists():
                    wav = Path(filepath_from_url(clip.media_reference.target_url))
                audio, sr = sf.read(str(wav), dtype="float32", always_2d=False)
            except (OSError, KeyError, ValueError, TypeError, RuntimeError, AttributeError):
                continue
            a, settings = doc.get("audio", {}), doc.get("settings", {})
            hs = int(a.get("handle_samples", 0) or 0)
            if hs and audio.shape[0] > 2 * hs:
                audio = audio[hs:-hs]
            lv = a.get("levels") or {}
            undo_db = -float(lv.get("ceiling_gain_db", 0) or 0) - float(lv.get("loudness_gain_db", 0) or 0)
            placed = dict(settings.get("placement") or {})
            undo_db -= float(placed.get("gain_db", 0.0))
            audio = place_take(audio, sr, gain_db=undo_db, nudge=-float(placed.get("nudge", 0.0)))
            try:
                control = QCDControl.from_dict(doc["control"]) if doc.get("control") else None
            except Exception:  # noqa: BLE001 - a damaged control only costs the curve overlay
                control = None
            if control is None:
                control = QCDControl.silent(max(2, int(round(audio.shape[0] / sr * 100))))
            info = dict(doc.get("engine") or {})
            if lv.get("true_peak_dbtp") is not None:  # the stem's level, with the gains undone
                info["levels"] = {"true_peak_dbtp": round(float(lv["true_peak_dbtp"]) + undo_db, 2),
                                  "loudness_lufs": None if lv.get("loudness_lufs") is None
                                  else round(float(lv["loudness_lufs"]) + undo_db, 2)}
            info.update(stem=str(wav), stem_settings=settings, placed=placed,
                        stem_stale=bool((doc.get("panel") or {}).get("stale")))
            take_no = int(settings.get("take", meta.get("take", 1)))
            out.setdefault(cid, {})[take_no] = Take(audio, int(sr), control, int(settings.get("take_seed", 0)),
                                                    info)
    return {cid: [takes[k] for k in sorted(takes)] for cid, takes in out.items()}


def default_output_dir(timeline: Path) -> Path:
    """``<timeline folder>/<name>_foley`` when that folder is writable, else under the user cache."""
    timeline = Path(timeline)
    if own_suffix(timeline.name):
        return timeline.parent
    if os.access(timeline.parent, os.W_OK):
        return timeline.parent / f"{edit_name(timeline)}_foley"
    from melfoley.core.userdirs import cache_dir

    return cache_dir() / "panel" / f"{edit_name(timeline)}_foley"


def now() -> str:
    return time.strftime("%H:%M:%S")
