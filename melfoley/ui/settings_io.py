"""Per-clip settings in ``clip.metadata["melfoley"]``: read them, and write an edit that holds them.

``ClipSettings`` is what the panel edits for one clip: prompt, takes, seed, engine, the
artist's energy curve (``None`` = use the predicted one) and the kept take. They are
stored with the keys :mod:`melfoley.plugin.jobs` documents (``prompt``, ``takes``, ``seed``,
``engine``, ``energy`` as values uniform over the clip, and the placement of the take:
``gain_db``, ``fade_in`` / ``fade_out`` and ``nudge`` in seconds, applied by
:func:`melfoley.plugin.stems.write_stem` for the batch and the panel alike), so ``melfoley
batch`` renders what the panel shows; ``kept`` / ``kept_seed`` / ``take_notes`` are the
panel's own. Other keys are kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from melfoley.core.errors import MelfoleyError

DEFAULT_TAKES = 3
PLACEMENT_KEYS = ("gain_db", "fade_in", "fade_out", "nudge")  # ranges: melfoley.plugin.jobs.PLACEMENT


@dataclass(frozen=True, eq=False)
class ClipSettings:
    prompt: str = ""
    takes: int = DEFAULT_TAKES
    seed: int = 0
    engine: str = ""                  # "" = the panel's default engine
    energy: np.ndarray | None = None  # the artist's curve on the engine's control grid
    kept: int | None = None
    kept_seed: int | None = None
    gain_db: float = 0.0
    fade_in: float = 0.0              # seconds
    fade_out: float = 0.0
    nudge: float = 0.0                # seconds, + = later
    notes: tuple = ()                 # ((seed, text), ...): the artist's note per take
    prompts: tuple = ()               # ((start s, end s, prompt), ...) per-range prompts (a marker's, edited)

    def note(self, seed: int) -> str:
        return dict(self.notes).get(int(seed), "")

    def with_note(self, seed: int, text: str) -> "ClipSettings":
        from dataclasses import replace

        d = dict(self.notes)
        d.pop(int(seed), None)
        if text.strip():
            d[int(seed)] = text.strip()
        return replace(self, notes=tuple(sorted(d.items())))

    def __eq__(self, other) -> bool:
        if not isinstance(other, ClipSettings):
            return NotImplemented
        plain = ("prompt", "takes", "seed", "engine", "kept", "kept_seed", "gain_db", "fade_in", "fade_out",
                 "nudge", "notes", "prompts")
        if any(getattr(self, k) != getattr(other, k) for k in plain):
            return False
        if (self.energy is None) != (other.energy is None):
            return False
        return self.energy is None or (self.energy.shape == other.energy.shape
                                       and np.allclose(self.energy, other.energy, atol=2e-5))

    __hash__ = None


def encode_curve(curve) -> list[float]:
    """The curve as :mod:`melfoley.plugin.jobs` reads it: values in [0, 1], uniform over the clip."""
    e = np.clip(np.asarray(curve, dtype=np.float64).reshape(-1), 0.0, 1.0)
    return [round(float(v), 4) for v in e]


def read(meta: dict | None, clip=None) -> ClipSettings:
    """Settings from a clip's ``metadata["melfoley"]`` (plain dict); missing keys take defaults.

    The energy edit is read by the plugin layer's :func:`melfoley.plugin.jobs.energy_curve` (plain
    list or breakpoints), so the panel and ``melfoley batch`` agree on what a clip asks for; an
    unreadable curve is dropped (the clip falls back to the predicted curve) rather than
    blocking the edit from opening.
    """
    from melfoley.plugin.jobs import PLACEMENT, energy_curve

    meta = dict(meta or {})
    curve = None
    if meta.get("energy") is not None and clip is not None:
        try:
            curve = energy_curve(meta["energy"], clip)
        except MelfoleyError:
            curve = None
    elif meta.get("energy") is not None and isinstance(meta["energy"], (list, tuple)):
        curve = np.clip(np.asarray(meta["energy"], dtype=np.float32), 0.0, 1.0)

    def _int(key, default):
        try:
            return int(meta.get(key, default))
        except (TypeError, ValueError):
            return default

    def _float(key):
        lo, hi = PLACEMENT[key]
        try:
            v = float(meta.get(key, 0.0) or 0.0)
        except (TypeError, ValueError):
            return 0.0
        return float(min(hi, max(lo, v))) if np.isfinite(v) else 0.0

    notes = meta.get("take_notes") or {}
    try:
        notes = tuple(sorted((int(k), str(v)) for k, v in dict(notes).items() if str(v).strip()))
    except (TypeError, ValueError):
        notes = ()
    ranges = []
    for r in meta.get("prompts") if isinstance(meta.get("prompts"), list) else []:  # `prompts: 5` opens too
        try:
            ranges.append((round(float(r["start"]), 6), round(float(r["end"]), 6), str(r["prompt"])))
        except (KeyError, TypeError, ValueError):
            continue
    kept = meta.get("kept")
    return ClipSettings(prompt=str(meta.get("prompt", "") or ""), takes=max(1, _int("takes", DEFAULT_TAKES)),
                        seed=max(0, _int("seed", 0)), engine=str(meta.get("engine", "") or ""),
                        energy=curve, kept=None if kept is None else _int("kept", 0),
                        kept_seed=None if meta.get("kept_seed") is None else _int("kept_seed", 0),
                        gain_db=_float("gain_db"), fade_in=_float("fade_in"), fade_out=_float("fade_out"),
                        nudge=_float("nudge"), notes=notes, prompts=tuple(ranges))


def to_metadata(s: ClipSettings) -> dict:
    """The ``metadata["melfoley"]`` keys of :mod:`melfoley.plugin.jobs`, plus the kept take."""
    out = {"takes": int(s.takes), "seed": int(s.seed)}
    if s.prompt.strip():
        out["prompt"] = s.prompt.strip()
    if s.engine:
        out["engine"] = s.engine
    if s.energy is not None:
        out["energy"] = encode_curve(s.energy)
    if s.kept is not None:
        out["kept"] = int(s.kept)
    if s.kept_seed is not None:
        out["kept_seed"] = int(s.kept_seed)
    for key in PLACEMENT_KEYS:
        v = float(getattr(s, key))
        if v:
            out[key] = round(v, 6)
    if s.notes:
        out["take_notes"] = {str(k): v for k, v in s.notes}
    if s.prompts:
        out["prompts"] = [{"start": a, "end": b, "prompt": t} for a, b, t in s.prompts]
    return out


def otio_clip(timeline, clip_id: str):
    """The OTIO item of a scan clip id ("V1/3", "V2/1/0": video track, then child indices)."""
    parts = clip_id.split("/")
    try:
        item = timeline.video_tracks()[int(parts[0].lstrip("V")) - 1]
        for p in parts[1:]:
            item = item[int(p)]
    except (IndexError, ValueError) as exc:
        raise MelfoleyError(f"clip {clip_id!r} is not in timeline {timeline.name!r}; the edit changed, reopen it") \
            from exc
    return item


def timeline_with_settings(source, settings: dict[str, ClipSettings], *, media_root: Path | None = None,
                           default_prompt: str = ""):
    """A copy of ``source``'s edit whose clips hold ``settings`` (the input object is untouched).

    Relative media paths are made absolute (the copy is written elsewhere) and the media
    root is recorded, so the copy reopens with its media found.
    """
    import opentimelineio as otio
    from opentimelineio.url_utils import url_from_filepath

    from melfoley.plugin.timeline import resolve_media

    tl = source.timeline.deepcopy()
    for clip_id, s in settings.items():
        clip = otio_clip(tl, clip_id)
        meta = dict(clip.metadata.get("melfoley", {}) or {})
        for key in ("prompt", "engine", "energy", "kept", "kept_seed", "take_notes", "prompts", *PLACEMENT_KEYS):
            meta.pop(key, None)  # cleared settings must not survive from the input
        meta.update(to_metadata(s))
        clip.metadata["melfoley"] = meta
        ref = clip.media_reference
        if isinstance(ref, otio.schema.ExternalReference) and ref.target_url:
            found, _ = resolve_media(ref.target_url, timeline_dir=source.media_dir, media_root=media_root)
            if found is not None:
                ref.target_url = url_from_filepath(str(found.resolve()))
    top = dict(tl.metadata.get("melfoley", {}) or {})
    top.setdefault("source_timeline", str(Path(source.path).resolve()))  # a reopened output names the edit
    if default_prompt.strip():
        top["default_prompt"] = default_prompt.strip()
    else:
        top.pop("default_prompt", None)
    if media_root:
        top["media_root"] = str(Path(media_root).resolve())
    tl.metadata["melfoley"] = top
    tl.metadata.pop("melfoley_bundle_dir", None)
    return tl


def write_timeline(source, settings: dict[str, ClipSettings], path: Path, *, media_root: Path | None = None,
                   default_prompt: str = "") -> Path:
    """:func:`timeline_with_settings` written atomically as ``.otio`` to ``path`` (never over the input)."""
    from melfoley.plugin.otio_out import write_timeline as write_otio

    tl = timeline_with_settings(source, settings, media_root=media_root, default_prompt=default_prompt)
    return write_otio(tl, path, "otio", input_path=source.path)
