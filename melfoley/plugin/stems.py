"""Stems: a take, resampled to 48 kHz, written as a Broadcast WAV with a UCS-style name and a
JSON sidecar that holds every parameter (and the QCD control) needed to reproduce it.

Names follow the Universal Category System: ``CatID_FXName_CreatorID_SourceID.wav``, e.g.
``FOLYFeet_Footsteps On Gravel C3F9A1C20 v001_MELFOLEY_MYSHOW.wav`` (underscore is the field
delimiter and hyphen the sub-field delimiter, so neither appears inside a field). ``C3F9A1C20``
is the picture clip's stem id (``PictureClip.stem_tag``: a hash of the source edit and the
clip's own content, so two edits named alike never share a stem and inserting a clip renames
nothing) and ``v001`` the take; together they keep names unique, which ``.otioz`` bundles require.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from .. import __version__
from ..core.errors import MelfoleyError
from ..core.atomic import atomic_text
from .bwf import SAMPLE_RATE, Bext, IXml, time_reference, write_bwf
from .jobs import ClipJob
from .timeline import is_drop_frame

CREATOR = "MELFOLEY"
RESAMPLER = "soxr VHQ"
SIDECAR_FORMAT = "melfoley.stem/1"


@dataclass(frozen=True)
class StemFile:
    path: Path
    sidecar: Path
    clip_id: str
    take: int  # 1-based
    seed: int
    samples: int
    time_reference: int
    event_label: str
    event_title: str
    handle_samples: int = 0  # extra 48 kHz samples before and after the cut (``samples`` includes them)


@lru_cache(maxsize=4096)  # a long edit names its stems from a few event titles and one show
def ucs_field(text: str, limit: int = 40) -> str:
    """One UCS field: no delimiters (``_``, ``-``), no characters file systems refuse."""
    t = re.sub(r"[_\-]+", " ", text)
    t = re.sub(r'[\\/:*?"<>|\x00-\x1f.]+', " ", t)
    return re.sub(r"\s+", " ", t).strip()[:limit].strip() or "Untitled"


@lru_cache(maxsize=64)
def source_id(show: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "", show.upper())[:24] or "MELFOLEY"


def ucs_name(catid: str, title: str, clip_tag: str, take: int, show: str) -> str:
    """``CatID_FXName_CreatorID_SourceID.wav``; ``clip_tag`` is the clip's ``PictureClip.stem_tag``."""
    fx = f"{ucs_field(title, 40)} {ucs_field(clip_tag, 12)} v{take:03d}"
    cat = re.sub(r"[^A-Za-z]", "", catid) or "FOLYMisc"
    return f"{cat}_{fx}_{CREATOR}_{source_id(show)}.wav"


def to_48k(audio: np.ndarray, sample_rate: int, samples: int) -> np.ndarray:
    """Resample mono float audio to 48 kHz (soxr, very high quality) and fit exactly ``samples``."""
    import soxr

    x = np.asarray(audio, dtype=np.float32).reshape(-1)
    if sample_rate != SAMPLE_RATE and x.size:
        x = soxr.resample(x, sample_rate, SAMPLE_RATE, quality="VHQ").astype(np.float32)
    if x.shape[0] >= samples:
        return x[:samples]
    return np.pad(x, (0, samples - x.shape[0]))


def take_sources(parts, sample_rate: int, lead: int = 0) -> list[dict]:
    """The library sources of a take's segments (``Take.metadata["sources"]``) on the joined take's time line."""
    out, t = [], -lead / sample_rate
    for p in parts:
        out.extend({**s, "at_s": round(float(s.get("at_s", 0.0)) + t, 6)} for s in p.metadata.get("sources") or ())
        t += p.audio.shape[0] / sample_rate
    return out


def sources_note(sources) -> str:
    """' | sources: FILE @OFFSET s GAIN dB (LICENCE); ...' for the iXML NOTE (the sidecar has the full paths)."""
    if not sources:
        return ""
    return " | sources: " + "; ".join(f"{Path(s['file']).name} @{s['offset_s']:.3f} s {s['gain_db']:+.1f} dB "
                                      f"({s.get('licence', '')})" for s in sources)


def write_stem(out_dir: str | os.PathLike, job: ClipJob, *, take: int, audio: np.ndarray, sample_rate: int,
               seed: int, control_dict: dict | None, engine_info: dict, show: str, project: str,
               timeline_path: str = "", cache_key: str = "", extra: dict | None = None) -> StemFile:
    """Write one take of one clip: ``<out_dir>/<UCS name>.wav`` and its ``.json`` sidecar."""
    clip = job.clip
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    from fractions import Fraction

    from ..core.levels import apply_levels, place_take

    hs = handle_samples(job.handles)
    n = clip.samples(SAMPLE_RATE) + 2 * hs  # the audio covers the cut plus a handle on each side
    # the one level stage of every stem (batch and panel): edge fades, loudness, true-peak ceiling
    # the artist's gain / fades / nudge (clip metadata) first, then the level stage holds the ceiling
    pcm = place_take(to_48k(audio, sample_rate, n), SAMPLE_RATE, **job.placement)
    pcm, levels = apply_levels(pcm, SAMPLE_RATE, loudness=job.loudness)
    tref = time_reference(clip.record_in - Fraction(hs, SAMPLE_RATE), SAMPLE_RATE)
    name = ucs_name(job.event.catid, job.event.title, clip.stem_tag, take, show)
    path = out_dir / name
    now = _dt.datetime.now()
    model = engine_info.get("model") or engine_info.get("engine", job.engine)
    weights = engine_info.get("weights_sha256") or "none"
    content_bw = engine_info.get("content_bandwidth_hz") or engine_info.get("bandwidth_hz") or sample_rate / 2
    history = (
        f"A=PCM,F={sample_rate},W=32,M=mono,T=melfoley {__version__} engine {job.engine} model {model} "
        f"weights {str(weights)[:16]} (true bandwidth {float(content_bw):g} Hz)\n"
        f"A=PCM,F={SAMPLE_RATE},W=24,M=mono,T={RESAMPLER} resample {sample_rate}->{SAMPLE_RATE} Hz"
    )
    prompts = "; ".join(dict.fromkeys(s.prompt for s in job.segments)) or job.prompt
    description = f"{prompts[:48]} seed {seed} | take {take}/{job.takes} | clip {clip.name} {clip.timecode()} | {model}"
    bext = Bext(description=description[:256], originator=f"melfoley {__version__}"[:32],
                originator_reference=(cache_key[:24] + f"T{take:03d}") if cache_key else f"{clip.number:04d}T{take:03d}",
                origination_date=now.strftime("%Y-%m-%d"), origination_time=now.strftime("%H:%M:%S"),
                time_reference=tref, coding_history=history)
    ixml = IXml(project=project, scene=clip.name or clip.clip_id, take=str(take), tape=source_id(show),
                note=f"{prompts} | seed {seed} | engine {job.engine}" + sources_note((extra or {}).get("library_sources")),
                file_uid=f"{cache_key[:32]}{take:03d}",
                timecode_rate=clip.rate, drop_frame=is_drop_frame(clip.rate), track_names=(job.event.title,))
    write_bwf(path, pcm, bext=bext, ixml=ixml)
    sidecar = path.with_suffix(".json")
    doc = {
        "format": SIDECAR_FORMAT, "melfoley_version": __version__, "file": name,
        "created": now.isoformat(timespec="seconds"), "cache_key": cache_key,
        "timeline": str(timeline_path), "project": project, "show": show,
        "clip": {"id": clip.clip_id, "number": clip.number, "name": clip.name, "track": clip.track,
                 "media": str(clip.media_path) if clip.media_path else clip.media_url,
                 "rate": f"{clip.rate.numerator}/{clip.rate.denominator}",
                 "record_in_timecode": clip.timecode(), "record_in_seconds": str(clip.record_in),
                 "duration_seconds": str(clip.duration),
                 "record_range": {"start": clip.record.start_time.value, "duration": clip.record.duration.value,
                                  "rate": clip.record.duration.rate},
                 "source_range": {"start": clip.source.start_time.value, "duration": clip.source.duration.value,
                                  "rate": clip.source.duration.rate},
                 "time_scalar": clip.time_scalar, "flags": list(clip.flags)},
        "settings": {**job.settings(), "take": take, "take_seed": seed, "sources": job.sources},
        "event": {"label": job.event.label, "title": job.event.title, "catid": job.event.catid,
                  "matched": job.event.matched},
        "engine": engine_info,
        "audio": {"sample_rate": SAMPLE_RATE, "bits": 24, "channels": 1, "samples": n,
                  "time_reference": tref, "model_sample_rate": sample_rate,
                  "true_bandwidth_hz": float(content_bw), "resampler": RESAMPLER,
                  "handle_samples": hs, "cut_samples": n - 2 * hs, "levels": levels},
        "control": control_dict,
        **(extra or {}),
    }
    try:
        atomic_text(sidecar, json.dumps(doc, indent=1, default=str))
    except OSError as exc:
        raise MelfoleyError(f"cannot write sidecar {sidecar}: {exc}; check the output folder") from exc
    return StemFile(path, sidecar, clip.clip_id, take, seed, n, tref, job.event.label, job.event.title, hs)


def handle_samples(seconds: float) -> int:
    """48 kHz samples of a handle of ``seconds`` (0 to 10 s)."""
    if not (0.0 <= float(seconds) <= 10.0):
        raise MelfoleyError(f"handles {seconds} s: choose 0 to 10 seconds (e.g. --handles 1)")
    return int(round(float(seconds) * SAMPLE_RATE))
