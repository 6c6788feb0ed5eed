"""The watch folder, for editors without scripting (Avid, Premiere, Final Cut): drop an edit, get Foley.

:class:`Watcher` polls one folder for edits dropped into it (AAF, FCP7 XML, FCPXML, EDL,
OTIO, OTIOZ; hidden and temporary names ignored). A file is taken once its size and
modification time have stayed the same for ``settle`` seconds (a file still being written
keeps changing). Each job writes into ``<folder>/<name>_<ext>_foley/``: the stems, the edit
in the same format family (OTIO -> OTIO, OTIOZ -> OTIOZ, FCP7 XML -> FCP7 XML, EDL -> one
EDL per Foley track; AAF and FCPXML, which melfoley cannot write, -> FCP7 XML), the
``.foley.otio`` that always comes too, the batch report, ``watch.log`` (the job's own log)
and ``job.json`` (what was done, for which content). The dropped file is only read.

Restarts: a job whose ``job.json`` says ``done`` or ``failed`` for the same content (size
and mtime, else SHA-256) is not redone; a job that was running when the watcher stopped is
redone (the batch resumes from finished stems); a file that changes is done again. A bad
file fails its job with the reason in its log; the watcher goes on with the others.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ...core.errors import MelfoleyError
from ...core.atomic import atomic_text
from .bridge import Settings, describe_failures
from .run import batch_config, result_event, run_batch

#: dropped suffix -> output format (melfoley's writers: otio, otioz, xml (FCP7), edl)
FORMATS = {".otio": "otio", ".otioz": "otioz", ".xml": "xml", ".edl": "edl", ".aaf": "xml", ".fcpxml": "xml"}
JOB_FILE = "job.json"
LOG_FILE = "watch.log"
IGNORED_SUFFIXES = (".part", ".tmp", ".crdownload", ".download", "~")


@dataclass
class JobOutcome:
    source: Path
    job_dir: Path
    status: str  # done | failed | interrupted
    reason: str = ""
    exported: str = ""
    failed_clips: int = 0  # a done job may still have clips that failed (listed in its log)


def job_dir(path: Path) -> Path:
    return path.with_name(f"{path.stem}_{path.suffix.lstrip('.').lower()}_foley")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@dataclass
class _Seen:
    signature: tuple[int, int]
    since: float | None  # None: finished (this session or before) until the file changes


@dataclass
class Watcher:
    folder: Path
    settings: Settings = field(default_factory=Settings)
    settle: float = 3.0
    clock: Callable[[], float] = time.monotonic
    say: Callable[[str], None] = print

    def __post_init__(self):
        self.folder = Path(self.folder)
        if not self.folder.is_dir():
            raise MelfoleyError(f"watch folder {self.folder} does not exist; create it or check the path")
        self._seen: dict[Path, _Seen] = {}

    # ------------------------------------------------------------------ scanning
    def candidates(self) -> list[Path]:
        out = []
        for p in sorted(self.folder.iterdir()):
            name = p.name
            if name.startswith((".", "~")) or name.endswith(IGNORED_SUFFIXES) or not p.is_file():
                continue
            if p.suffix.lower() in FORMATS:
                out.append(p)
        return out

    def _finished_before(self, path: Path, signature: tuple[int, int]) -> bool:
        """job.json says this content was done (or failed) already."""
        try:
            doc = json.loads((job_dir(path) / JOB_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return False
        if doc.get("status") not in ("done", "failed"):
            return False  # running when stopped, or interrupted: do it (the batch resumes)
        if [doc.get("size"), doc.get("mtime_ns")] == list(signature):
            return True
        return doc.get("sha256") == _sha256(path)  # copied again with a new mtime, same bytes

    def pending(self) -> tuple[list[Path], list[Path]]:
        """(ready, waiting): files stable for ``settle`` seconds and not done yet; files still changing."""
        now = self.clock()
        ready, waiting = [], []
        present = set()
        for p in self.candidates():
            try:
                st = p.stat()
            except OSError:
                continue
            present.add(p)
            sig = (st.st_size, st.st_mtime_ns)
            seen = self._seen.get(p)
            if seen is None or seen.signature != sig:
                finished = self._finished_before(p, sig)
                self._seen[p] = _Seen(sig, None if finished else now)
                if not finished:
                    waiting.append(p)
            elif seen.since is None:
                continue  # done in this session
            elif sig[0] > 0 and now - seen.since >= self.settle:
                ready.append(p)
            else:
                waiting.append(p)
        for gone in set(self._seen) - present:
            del self._seen[gone]
        return ready, waiting

    # ------------------------------------------------------------------ one job
    def run_job(self, path: Path) -> JobOutcome:
        out = job_dir(path)
        out.mkdir(exist_ok=True)
        st = path.stat()
        doc = {"source": path.name, "size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": _sha256(path),
               "status": "running", "started": time.strftime("%Y-%m-%dT%H:%M:%S")}
        atomic_text(out / JOB_FILE, json.dumps(doc, indent=1))
        log = open(out / LOG_FILE, "a", encoding="utf-8")

        def note(line: str) -> None:
            log.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')}  {line}\n")
            log.flush()

        s = self.settings
        note(f"job {path.name} (sha256 {doc['sha256'][:12]}): prompt {s.prompt!r}, takes {s.takes}, seed {s.seed}, "
             f"engine {s.engine}, output format {FORMATS[path.suffix.lower()]}")
        outcome = JobOutcome(path, out, "done")
        try:
            cfg = batch_config(path, out, prompt=s.prompt, takes=s.takes, seed=s.seed, engine=s.engine,
                               fmt=FORMATS[path.suffix.lower()], media_root=s.media_root)
            report = run_batch(cfg, on_progress=lambda ev: note(
                f"{ev['done']}/{ev['total']} clips, cached {ev['cached']}, failed {ev['failed']}"
                f"{'  ' + ev['current'] if ev['current'] else ''}"))
        except MelfoleyError as exc:
            outcome.status, outcome.reason = "failed", str(exc)
            note(f"FAILED: {exc}")
        except KeyboardInterrupt:
            outcome.status = "interrupted"
            note("interrupted: the job is redone (resumed) when the watcher starts again")
            raise
        else:
            for line in describe_failures(result_event(report)):
                note(f"FAILED clip {line}")
            outcome.failed_clips = len(report.failed)
            for n in report.notes:
                note(f"note: {n}")
            t = report.totals()
            note(f"done {t['done']}, cached {t['cached']}, failed {t['failed']}, skipped {t['skipped']} "
                 f"in {t['elapsed_s']:.1f} s; stems {report.stems_dir}; edit {report.exported}")
            outcome.exported = report.exported
            if report.interrupted:
                outcome.status = "interrupted"
        finally:
            if outcome.status != "interrupted":
                doc.update(status=outcome.status, reason=outcome.reason, exported=outcome.exported,
                           failed_clips=outcome.failed_clips, finished=time.strftime("%Y-%m-%dT%H:%M:%S"))
                atomic_text(out / JOB_FILE, json.dumps(doc, indent=1))
            log.close()
        return outcome

    # ------------------------------------------------------------------ loops
    def poll(self) -> list[JobOutcome]:
        """One pass: run every ready job; returns their outcomes."""
        ready, _ = self.pending()
        outcomes = []
        for p in ready:
            self.say(f"melfoley watch: {p.name}: foleying")
            o = self.run_job(p)
            self._seen[p].since = None  # done in this session, whatever the outcome, until the file changes
            msg = o.reason if o.status == "failed" else o.exported
            clips = f", {o.failed_clips} clip(s) failed" if o.failed_clips else ""
            self.say(f"melfoley watch: {p.name}: {o.status}{': ' + msg if msg else ''}{clips} "
                     f"(log {o.job_dir / LOG_FILE})")
            outcomes.append(o)
        return outcomes

    def run(self, *, once: bool = False, interval: float = 2.0, sleep=time.sleep) -> list[JobOutcome]:
        """Poll every ``interval`` seconds; ``once``: until nothing is ready or still changing."""
        done: list[JobOutcome] = []
        while True:
            done += self.poll()
            if once:
                ready, waiting = self.pending()
                if not ready and not waiting:
                    return done
            sleep(interval)
