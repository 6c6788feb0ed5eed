"""melfoley's side of a host job: one batch with machine-readable progress and a clean stop.

``melfoley host run EDIT -o OUT`` (what the host bridges start in a child process) prints one
JSON object per line: ``{"event": "progress", ...}`` per clip and a final
``{"event": "result", ...}`` (the output edit, the report, every failed clip with its
reason). SIGINT, SIGTERM (and SIGBREAK on Windows) stop the batch the way Ctrl-C does: the
stems finished so far and a valid partial timeline stay. The watch folder builds its batches
with the same :func:`batch_config` and runs them with :func:`run_batch`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Callable

from ...core.engines import DEFAULT_ENGINE
from ...core.errors import MelfoleyError


def batch_config(timeline: Path, out: Path, *, prompt: str = "footsteps", takes: int = 1, seed: int = 0,
                 engine: str = DEFAULT_ENGINE, fmt: str = "otio", media_root: Path | None = None):
    """The host job's (and the watch folder's) settings, checked by the one builder ``melfoley batch`` uses."""
    from ..batch import batch_config as build

    return build(timeline, out, prompt=prompt, takes=takes, seed=seed, engine=engine, fmt=fmt, media_root=media_root)


def run_batch(cfg, *, on_progress: Callable[[dict], None] | None = None,
              should_stop: Callable[[], bool] = lambda: False):
    """BatchRunner(cfg).run(), relaying progress as dicts; ``should_stop()`` stops it at the next clip."""
    from ..batch import BatchRunner

    def progress(p) -> None:
        if on_progress is not None:
            on_progress({"event": "progress", "done": p.done, "total": p.total, "cached": p.cached,
                         "failed": p.failed, "elapsed": round(p.elapsed, 2),
                         "eta": None if p.eta is None else round(p.eta, 1), "current": p.current})
        if 0 < p.done < p.total and should_stop():  # between clips: the runner writes its partial edit
            raise KeyboardInterrupt

    return BatchRunner(cfg, progress=progress).run()


def result_event(report) -> dict:
    from ..batch import report_path

    t = report.totals()
    return {"event": "result", "ok": report.ok, "interrupted": report.interrupted,
            "output_timeline": report.output_timeline, "exported": report.exported, "stems_dir": report.stems_dir,
            "report": str(report_path(report.output_timeline)), "totals": t,
            "notes": list(report.notes),
            "failed": [{"clip_id": c.clip_id, "name": c.name, "timecode": c.timecode, "reason": c.reason}
                       for c in report.failed]}


def _emit(ev: dict, stream=None) -> None:
    stream = stream or sys.stdout
    stream.write(json.dumps(ev, default=str) + "\n")
    stream.flush()


def run_child(args) -> int:
    """``melfoley host run``: exit 0 all done, 1 some clip failed, 2 the edit is unusable, 130 stopped."""
    try:
        cfg = batch_config(Path(args.timeline), Path(args.out), prompt=args.prompt, takes=args.takes,
                           seed=args.seed, engine=args.engine, fmt=args.format, media_root=args.media_root)
        if not Path(args.timeline).exists():
            raise MelfoleyError(f"timeline {args.timeline} not found; check the path")
        if args.window:
            from .progress_window import run_with_window

            report = run_with_window(cfg, title=args.title or Path(args.timeline).stem)
        else:
            from ..cli import stop_on_signals

            with stop_on_signals():
                report = run_batch(cfg, on_progress=_emit)
    except MelfoleyError as exc:
        _emit({"event": "result", "ok": False, "error": str(exc)})
        return 2
    except KeyboardInterrupt:  # stopped before the runner had started its clips: nothing was written
        _emit({"event": "result", "ok": False, "interrupted": True, "failed": [], "notes": ["stopped before"
               " the first clip"], "totals": {k: 0 for k in ("done", "cached", "failed", "skipped")}})
        return 130
    ev = result_event(report)
    _emit(ev)
    if report.interrupted:
        return 130
    return 1 if ev["failed"] else 0
