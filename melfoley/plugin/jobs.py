"""Per-clip job settings: command-line defaults (the edit's default prompt in place of ``--prompt``,
:func:`edit_defaults`), overridden by the clip's ``metadata["melfoley"]`` and by prompt markers.

Clip metadata (all optional), under ``clip.metadata["melfoley"]``::

    {"prompt": "footsteps on gravel", "takes": 3, "seed": 7, "engine": "embedded",
     "energy": [0.1, 0.8, 0.2, ...]                       # uniform over the clip, or
     "energy": {"times": [0, 1.5, 3], "values": [0, 1, 0]},  # breakpoints, s from the clip's start
     "prompts": [{"start": 1.0, "end": 2.5, "prompt": "door closing"}],  # s from the clip's start
     "event": "footsteps_gravel", "skip": false,
     "gain_db": -3.0, "fade_in": 0.05, "fade_out": 0.2, "nudge": -0.04}  # placement of the take, s

Markers (on the clip, its track or the timeline) give per-range prompts when their
``metadata["melfoley"]["prompt"]`` is set or their name or comment reads ``foley: <prompt>``
(``melfoley:`` also works). Other markers are ignored: editors use markers for many things.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from fractions import Fraction
from functools import lru_cache

import numpy as np

from ..core.engines import DEFAULT_ENGINE
from ..core.errors import MelfoleyError
from .timeline import PictureClip

ENERGY_RATE = 100.0  # samples per second of energy curves built from breakpoints
MIN_SEGMENT = 0.25  # seconds: shorter prompt ranges merge into their neighbour
FALLBACK_CATID = "FOLYMisc"
MAX_SEED = 2**31 - 1  # seeds of take 1; take k uses seed + k - 1
#: per-take placement in metadata["melfoley"]: key -> (lowest, highest); applied at stem write
PLACEMENT = {"gain_db": (-60.0, 24.0), "fade_in": (0.0, 10.0), "fade_out": (0.0, 10.0), "nudge": (-2.0, 2.0)}
_MARKER = re.compile(r"^\s*(?:mel)?foley\s*:\s*(.+)$", re.IGNORECASE | re.DOTALL)


@dataclass(frozen=True)
class BatchDefaults:
    prompt: str = "footsteps"
    takes: int = 1
    seed: int = 0
    engine: str = DEFAULT_ENGINE
    loudness: float | None = None  # LUFS target of every stem (None: no normalisation; the ceiling holds)
    handles: float = 0.0  # seconds of extra audio before and after each cut
    prompt_from: str = "command line"  # where ``prompt`` came from (the sidecar's sources say it)


@dataclass(frozen=True)
class Segment:
    """A stretch of the clip with one prompt; seconds from the clip's record-in."""

    start: Fraction
    end: Fraction
    prompt: str


@dataclass(frozen=True)
class EventInfo:
    label: str  # vocabulary label, or a cleaned prompt
    title: str  # for track names: "Footsteps On Gravel"
    catid: str  # UCS CatID
    matched: bool


@dataclass(frozen=True, eq=False)
class ClipJob:
    clip: PictureClip
    prompt: str
    takes: int
    seed: int
    engine: str
    event: EventInfo
    energy: np.ndarray | None = None  # uniform over the clip, [0, 1]
    segments: tuple[Segment, ...] = ()
    sources: dict = field(default_factory=dict)  # where each setting came from
    loudness: float | None = None
    handles: float = 0.0
    placement: dict = field(default_factory=dict)  # gain_db, fade_in, fade_out, nudge (see PLACEMENT)

    def settings(self) -> dict:
        """Every setting that changes the rendered audio (cache key and sidecar). ``levels`` names the
        stem level stage (core/levels.py), so stems written before it existed are redone."""
        return {"levels": "ceiling -1 dBTP, 5 ms fades", "loudness": self.loudness, "handles": self.handles,
            "prompt": self.prompt, "takes": self.takes, "seed": self.seed, "engine": self.engine,
            "energy": None if self.energy is None else [round(float(v), 5) for v in self.energy],
            "segments": [{"start": str(s.start), "end": str(s.end), "prompt": s.prompt} for s in self.segments],
            **({"placement": dict(self.placement)} if self.placement else {}),
        }

    def segment_energy(self, seg: Segment) -> np.ndarray | None:
        if self.energy is None:
            return None
        n = self.energy.shape[0]
        dur = self.clip.duration
        a = int(np.floor(float(seg.start / dur) * n))
        b = max(a + 2, int(np.ceil(float(seg.end / dur) * n)))
        return self.energy[a:min(b, n)] if min(b, n) - a >= 2 else None


def _bad(clip: PictureClip, key: str, why: str) -> MelfoleyError:
    return MelfoleyError(f"clip {clip.clip_id} '{clip.name}': metadata[\"melfoley\"][\"{key}\"] {why}; "
                         "fix it in the edit (clip metadata) or remove it")


def energy_curve(value, clip: PictureClip) -> np.ndarray | None:
    """A clip's energy edit as a uniform curve in [0, 1] over its duration."""
    if value is None:
        return None
    dur = float(clip.duration)
    if isinstance(value, dict):
        try:
            t = np.asarray(value["times"], dtype=np.float64)
            v = np.asarray(value["values"], dtype=np.float64)
        except (KeyError, TypeError, ValueError) as exc:
            raise _bad(clip, "energy", f"needs 'times' and 'values' lists of numbers ({exc})") from exc
        if t.ndim != 1 or t.shape != v.shape or t.size < 1 or np.any(np.diff(t) < 0):
            raise _bad(clip, "energy", "needs equally long 'times' (ascending) and 'values'")
        grid = np.arange(max(2, int(round(dur * ENERGY_RATE)))) / ENERGY_RATE
        curve = np.interp(grid, t, v)
    else:
        try:
            curve = np.asarray(value, dtype=np.float64).reshape(-1)
        except (TypeError, ValueError) as exc:
            raise _bad(clip, "energy", f"is not a list of numbers ({exc})") from exc
        if curve.size < 2:
            raise _bad(clip, "energy", "needs at least 2 values")
    if not np.all(np.isfinite(curve)) or curve.min() < 0 or curve.max() > 1:
        raise _bad(clip, "energy", "values must lie in [0, 1]")
    return curve.astype(np.float32)


def _int(clip, meta, key, default, lo, hi):
    if key not in meta:
        return default
    v = meta[key]
    if isinstance(v, bool) or not isinstance(v, (int, float)) or int(v) != v or not lo <= int(v) <= hi:
        raise _bad(clip, key, f"is {v!r}; it must be a whole number from {lo} to {hi}")
    return int(v)


def _placement(clip, meta) -> dict:
    """The non-zero placement settings (gain dB, fades and nudge in seconds) of a clip, checked."""
    out = {}
    for key, (lo, hi) in PLACEMENT.items():
        v = meta.get(key)
        if v is None:
            continue
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not np.isfinite(v) or not lo <= v <= hi:
            raise _bad(clip, key, f"is {v!r}; it must be a number from {lo:g} to {hi:g}")
        if v:
            out[key] = float(v)
    return out


def marker_prompt(marker) -> str | None:
    """The prompt a marker gives, or None; a marker whose ``metadata["melfoley"]`` is not a mapping
    raises a :class:`MelfoleyError` naming it."""
    meta = marker.metadata if marker.metadata is not None else {}
    if not isinstance(meta, dict):
        raise MelfoleyError(f"marker {marker.name!r}: metadata[\"melfoley\"] is {type(meta).__name__} "
                            f"{str(meta)[:40]!r}, not a mapping; write it as {{\"prompt\": \"...\"}} or remove it")
    p = meta.get("prompt")
    if isinstance(p, str) and p.strip():
        return p.strip()
    for text in (marker.name, marker.comment):
        m = _MARKER.match(text or "")
        if m:
            return m.group(1).strip()
    return None


def build_segments(clip: PictureClip, prompt: str, ranges: list[tuple[Fraction, Fraction, str]]) -> tuple[Segment, ...]:
    """Cover [0, duration) with the prompt ranges (later ranges win) and the clip prompt elsewhere."""
    dur = clip.duration
    if not ranges:
        return (Segment(Fraction(0), dur, prompt),)
    cuts = sorted({Fraction(0), dur, *(min(max(a, Fraction(0)), dur) for a, b, _ in ranges),
                   *(min(max(b, Fraction(0)), dur) for a, b, _ in ranges)})
    segs: list[Segment] = []
    for a, b in zip(cuts, cuts[1:]):
        if b <= a:
            continue
        p = prompt
        for ra, rb, rp in ranges:
            if ra <= a and rb >= b:
                p = rp
        if segs and segs[-1].prompt == p:
            segs[-1] = Segment(segs[-1].start, b, p)
        else:
            segs.append(Segment(a, b, p))
    merged: list[Segment] = []
    for s in segs:  # a too-short stretch joins the previous one (or the next, at the start)
        if merged and (s.end - s.start < MIN_SEGMENT or merged[-1].end - merged[-1].start < MIN_SEGMENT):
            keep = merged[-1].prompt if merged[-1].end - merged[-1].start >= s.end - s.start else s.prompt
            merged[-1] = Segment(merged[-1].start, s.end, keep)
        else:
            merged.append(s)
    return tuple(merged)


def edit_defaults(timeline, defaults: BatchDefaults, *, where: str) -> BatchDefaults:
    """The defaults for the clips of ``timeline`` (read from ``where``): the command line's, with the
    edit's own default prompt in place of ``--prompt`` when it has one.

    The edit's default prompt is the panel's "default sound event of the edit", stored in the
    timeline's ``metadata["melfoley"]["default_prompt"]``. The edit is the artist's record of what
    they want, so it wins over the command line's fallback; a clip's own ``prompt`` wins over both,
    and per-range prompts (``prompts``, ``foley:`` markers) over all of them in their ranges."""
    top = timeline.metadata.get("melfoley") if timeline is not None else None
    if not isinstance(top, Mapping) or top.get("default_prompt") in (None, ""):
        return defaults
    value = top["default_prompt"]
    if not isinstance(value, str):
        raise MelfoleyError(f"timeline {where}: metadata[\"melfoley\"][\"default_prompt\"] is {value!r}; it must be "
                            "text (the edit's default prompt, e.g. \"footsteps on gravel\"): fix it in the edit or "
                            "remove it")
    if not value.strip():
        return defaults
    return replace(defaults, prompt=value.strip(), prompt_from="edit default")


def build_job(clip: PictureClip, defaults: BatchDefaults) -> ClipJob:
    """The job for one clip, or a :class:`MelfoleyError` naming the clip and the bad setting."""
    meta = clip.metadata or {}
    if not isinstance(meta, dict):
        raise _bad(clip, "", "must be a dictionary")
    sources = {}
    prompt = meta.get("prompt", defaults.prompt)
    if not isinstance(prompt, str) or not prompt.strip():
        raise _bad(clip, "prompt", f"is {prompt!r}; it must be non-empty text")
    sources["prompt"] = "clip metadata" if "prompt" in meta else defaults.prompt_from
    takes = _int(clip, meta, "takes", defaults.takes, 1, 64)
    seed = _int(clip, meta, "seed", defaults.seed, 0, MAX_SEED)
    if not 0 <= seed <= MAX_SEED or not 1 <= takes <= 64:  # the defaults (command line, panel)
        raise MelfoleyError(f"seed {seed} / takes {takes}: the seed must be a whole number from 0 to {MAX_SEED} "
                            "and takes from 1 to 64; fix --seed / --takes")
    engine = meta.get("engine", defaults.engine)
    if not isinstance(engine, str) or not engine:
        raise _bad(clip, "engine", f"is {engine!r}; name an engine such as 'library' or 'embedded'")
    energy = energy_curve(meta.get("energy"), clip)
    ranges: list[tuple[Fraction, Fraction, str]] = []
    for m in clip.markers:
        try:
            p = marker_prompt(m)
        except MelfoleyError as exc:
            raise MelfoleyError(f"clip {clip.clip_id} '{clip.name}': {exc}") from None
        if p:
            ranges.append((m.record_start - clip.record_offset, m.record_end - clip.record_offset, p))
            sources.setdefault("segments", "markers")
    if not isinstance(meta.get("prompts", []) or [], list):
        raise _bad(clip, "prompts", f"is {meta['prompts']!r}; it must be a list of "
                   "{\"start\": s, \"end\": s, \"prompt\": text} entries")
    for i, r in enumerate(meta.get("prompts", []) or []):
        try:
            ranges.append((Fraction(str(r["start"])), Fraction(str(r["end"])), str(r["prompt"]).strip()))
        except (KeyError, TypeError, ValueError, ZeroDivisionError) as exc:
            raise _bad(clip, "prompts", f"entry {i} needs numeric 'start', 'end' and a 'prompt' ({exc})") from exc
        sources["segments"] = "clip metadata"
    ranges = [(a, b, p) for a, b, p in ranges if b > a and p]
    label = meta.get("event")
    if label is not None and (not isinstance(label, str) or not label.strip()):
        raise _bad(clip, "event", f"is {label!r}; it must be an event label such as 'footsteps_gravel'")
    event = event_for(prompt.strip(), label)
    return ClipJob(clip, prompt.strip(), takes, seed, engine, event, energy,
                   build_segments(clip, prompt.strip(), ranges), sources, defaults.loudness, defaults.handles,
                   placement=_placement(clip, meta))


@lru_cache(maxsize=256)
def event_for(prompt: str, label: str | None = None) -> EventInfo:
    """The vocabulary event (UCS CatID, title) a prompt names; FOLYMisc and the prompt itself otherwise."""
    try:
        from ..core.text import event, match_prompt

        if label:
            ev, ok = event(label), True
        else:
            m = match_prompt(prompt)
            ev, ok = event(m.best), bool(m.confident)
    except Exception:  # noqa: BLE001 - vocabulary or text model missing: naming still works
        ev, ok = None, False
    if ev is not None and ok:
        return EventInfo(ev.label, _title(ev.phrase), ev.catid, True)
    return EventInfo(re.sub(r"\W+", "_", prompt.lower()).strip("_")[:40] or "foley", _title(prompt), FALLBACK_CATID, False)


def _title(text: str) -> str:
    words = re.sub(r"[_\-]+", " ", text).split()
    return " ".join(w[:1].upper() + w[1:] for w in words)[:48] or "Foley"
