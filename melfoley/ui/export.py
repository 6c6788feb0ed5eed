"""Export from the panel: the kept take of every generated clip as a stem, and the edit back.

Everything is written by the plugin layer, exactly as ``melfoley batch`` writes it:
:func:`melfoley.plugin.jobs.build_job` turns the clip's settings into a job (event name,
UCS CatID), :func:`melfoley.plugin.stems.write_stem` writes the BWF stem and its sidecar,
and :mod:`melfoley.plugin.otio_out` builds and writes the output timeline. The output
timeline also carries every clip's panel settings (curve edits included), so reopening it
in the panel brings the work back. Re-exporting an edit melfoley already foleyed replaces
melfoley's own Foley tracks (it never stacks new ones over them) and keeps the edit's name
(``demo.foley.otio``, never ``demo.foley.foley.otio``). A clip whose takes nobody kept
exports its take 1, and the summary says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from melfoley.core.errors import MelfoleyError
from melfoley.core.engines import DEFAULT_ENGINE

from . import settings_io


def take_would_clip(take, settings) -> bool:
    """True when the take, with the clip's gain, fades and nudge, has a true peak over the stem ceiling."""
    from melfoley.core.levels import CEILING_DBTP, place_take, true_peak_db

    placed = place_take(take.audio, take.sample_rate, **placement_of(settings))
    return true_peak_db(placed) > CEILING_DBTP


def placement_of(settings) -> dict:
    return {k: float(getattr(settings, k)) for k in settings_io.PLACEMENT_KEYS}


@dataclass
class ExportSummary:
    out_dir: Path
    timeline: Path | None = None
    stems: list[Path] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (clip id, why)
    unkept: list[str] = field(default_factory=list)  # clips exported with take 1 because none was kept
    clipping: list[str] = field(default_factory=list)  # clips whose gain pushes them over the ceiling

    def text(self) -> str:
        where = self.stems[0].parent if self.stems else self.out_dir
        lines = [f"Wrote {len(self.stems)} stem{'s' if len(self.stems) != 1 else ''} to {where}"]
        if self.timeline:
            lines.append(f"Timeline with the Foley tracks and your settings: {self.timeline}")
        if self.unkept:
            lines.append(f"no take kept, take 1 written: {', '.join(self.unkept)}")
        if self.clipping:
            lines.append(f"gain pushed over the -1 dBTP ceiling (lowered at export): {', '.join(self.clipping)}")
        for cid, why in self.skipped:
            lines.append(f"not exported {cid}: {why}")
        return "\n".join(lines)


def export_session(session, out_dir: Path | None = None, *, fmt: str = "otio", show: str = "",
                   progress=None) -> ExportSummary:
    """Write stems for the kept takes and the output timeline; ``progress(done, total, text)``."""
    from melfoley.plugin.batch import STEMS_DIR
    from melfoley.plugin.jobs import BatchDefaults, build_job
    from melfoley.plugin.otio_out import Placement, build_output_timeline, output_path, source_edit, write_timeline
    from melfoley.plugin.stems import write_stem

    out_dir = Path(out_dir or session.output_dir)
    stems_dir = out_dir / STEMS_DIR  # the same layout as ``melfoley batch``
    summary = ExportSummary(out_dir)
    ids = session.clip_ids
    placements = []
    project = session.source.timeline.name or session.path.stem
    show = show or project
    for i, cid in enumerate(ids):
        st = session.state(cid)
        if progress:
            progress(i, len(ids), cid)
        if st.problem:
            summary.skipped.append((cid, st.problem))
            continue
        if not st.takes:
            summary.skipped.append((cid, "not generated"))
            continue
        if st.settings.kept is None:
            summary.unkept.append(cid)
        kept = st.settings.kept if st.settings.kept is not None else 0
        take = st.takes[min(kept, len(st.takes) - 1)]
        if take_would_clip(take, st.settings):
            summary.clipping.append(cid)
        clip = replace(st.clip, metadata={**(st.clip.metadata or {}), **settings_io.to_metadata(st.settings)})
        try:
            job = build_job(clip, BatchDefaults(prompt=session.prompt_of(cid) or "foley", takes=st.settings.takes,
                                                seed=st.settings.seed, engine=take.metadata.get("engine", "")
                                                or st.settings.engine or DEFAULT_ENGINE))
            stem = write_stem(stems_dir, job, take=kept + 1, audio=take.audio, sample_rate=take.sample_rate,
                              seed=int(take.seed), control_dict=take.control.to_dict(), engine_info=dict(take.metadata),
                              show=show, project=project, timeline_path=str(session.path),
                              extra={"panel": {"kept_take": kept + 1, "takes_generated": len(st.takes),
                                               "stale": st.status == "stale"}})
        except MelfoleyError as exc:
            summary.skipped.append((cid, str(exc)))
            continue
        summary.stems.append(stem.path)
        info = take.metadata
        meta = {"prompt": job.prompt, "engine": job.engine, "model": info.get("model", job.engine),
                "weights_sha256": info.get("weights_sha256"), "licence": info.get("licence") or info.get("license"),
                "kept_take": kept + 1}
        placements.append(Placement(stem, st.clip, meta))
    settings = {cid: st.settings for cid, st in session.states.items()}
    base = settings_io.timeline_with_settings(session.source, settings, media_root=session.media_root,
                                              default_prompt=session.default_prompt)
    src = replace(session.source, timeline=base)
    # the same path as ``melfoley batch``: our earlier Foley tracks replaced, the name never stacked,
    # melfoley's own output replaceable by its re-export, the user's edit never written
    tl = build_output_timeline(src, placements, complete=not any(w == "not generated" for _, w in summary.skipped))
    target = output_path(out_dir, session.path, fmt, base)
    summary.timeline = write_timeline(tl, target, fmt, input_path=source_edit(session.path, base))
    if progress:
        progress(len(ids), len(ids), "done")
    return summary
