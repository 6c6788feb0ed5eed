"""``melfoley batch --ray``: clips rendered on a Ray cluster, the driver writing everything else.

:class:`RayExecutor` is an executor (:mod:`.driver`) for :class:`melfoley.plugin.batch.BatchRunner`.
It connects to a cluster (:mod:`.farm_cluster`: ``auto``, ``HOST:PORT`` or ``local``), starts
``workers`` actors (:class:`FarmWorker`), each holding its engine resident (built once per
worker process; one GPU each for the paper tier, one CPU otherwise), checks that every worker reads the media and writes OUT and the take cache exactly where the driver does, then
feeds them clips, two in flight per worker. A worker process that dies mid-clip is restarted by
Ray and its clip is given again (at most ``MAX_ATTEMPTS`` times); the stems are written with the
atomic writer, so a killed attempt leaves no half-written stem, and the clip is reported once.
The driver alone writes the output timeline and the report.

Faults are refused up front, each within seconds and in one line: nothing listening at the
address, something that is not a Ray cluster there, a cluster without the CPUs or GPUs the run
asks for, a node that cannot see the files. Media, OUT and the take cache must live on a
filesystem every node mounts at the same path (docs/farm.md).
"""

from __future__ import annotations

import dataclasses
import os
import secrets
import socket
import tempfile
import time
from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

from ..core.errors import FarmError, MelfoleyError
from .driver import ClipContext, ClipOutcome
from .farm_cluster import ray_error_line, connect
from .otio_out import Placement

if TYPE_CHECKING:
    from .batch import BatchConfig, BatchRunner, ClipResult
    from .timeline import PictureClip

MAX_ATTEMPTS = 3  # tries of one clip when its worker dies under it
MAX_RESTARTS = 3  # restarts of one worker process (by Ray) before it leaves the pool
RETURN_S = 120.0  # how long a dead worker has to come back (restart, rebuild its engine)
IN_FLIGHT = 2  # clips queued per worker, so that no worker waits for the driver
START_TIMEOUT_S = 120.0  # workers start and build their engines (minutes for a large model on a cold node)
GPU_ENGINES = ("paper",)
PROBE_NAME = ".melfoley-farm-probe"


# ---------------------------------------------------------------------------------------- pickling
def _register_otio_pickling() -> None:
    """Picture clips carry OTIO times, which do not pickle: send them as (value, rate) pairs."""
    import copyreg

    import opentimelineio as otio

    rt, tr = otio.opentime.RationalTime, otio.opentime.TimeRange
    copyreg.pickle(rt, lambda t: (rt, (t.value, t.rate)))
    copyreg.pickle(tr, lambda r: (tr, (r.start_time, r.duration)))


_register_otio_pickling()


# ---------------------------------------------------------------------------------------- the worker
def check_access(media: dict[str, int], out_dir: str, token: str, writable: list[str]) -> list[str]:
    """What this process cannot see as the driver does: each media file (readable, same size), OUT
    (the driver's probe file there, with its token) and each folder in ``writable``."""
    problems = []
    for path, size in media.items():
        try:
            with open(path, "rb") as fh:
                fh.read(1)
            here = os.stat(path).st_size
        except OSError as exc:
            problems.append(f"cannot read the media {path} ({exc.strerror or exc})")
            continue
        if here != size:
            problems.append(f"the media {path} is {here} bytes here but {size} bytes on the driver (another file)")
    probe = Path(out_dir) / PROBE_NAME
    try:
        seen = probe.read_text()
    except OSError:
        seen = None
    if seen != token:
        problems.append(f"the output folder {out_dir} is not the driver's (its probe file is not there)")
    for folder in writable:
        try:
            Path(folder).mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".melfoley-farm-", dir=folder)
            os.close(fd)
            os.unlink(tmp)
        except OSError as exc:
            problems.append(f"cannot write in {folder} ({exc.strerror or exc})")
    return problems


class FarmWorker:
    """One worker process: a batch runner whose engine stays resident across the clips it is given."""

    def __init__(self, config: BatchConfig, engine: str):
        from .batch import BatchRunner

        self.runner = BatchRunner(config)
        try:
            self.runner.engine(engine)  # build it now, once; the runner remembers a failure and reports it per clip
        except MelfoleyError:
            pass

    def info(self) -> dict:
        import ray

        return {"node": ray.util.get_node_ip_address(), "node_id": ray.get_runtime_context().get_node_id(),
                "host": socket.gethostname(), "pid": os.getpid()}

    def check(self, media: dict[str, int], out_dir: str, token: str, writable: list[str]) -> tuple[dict, list[str]]:
        return self.info(), check_access(media, out_dir, token, writable)

    def clip(self, ctx: ClipContext, clip: PictureClip) -> tuple[ClipResult, list[tuple]]:
        result, placements = self.runner.run_clip(ctx, clip)
        return result, [(p.stem, p.meta) for p in placements]


# ---------------------------------------------------------------------------------------- the executor
class RayExecutor:
    """Clips on Ray workers; see the module docstring. ``RayExecutor.factory(address, workers)`` makes
    the ``executor=`` argument of :class:`~melfoley.plugin.batch.BatchRunner`."""

    def __init__(self, runner: BatchRunner, *, address: str = "auto", workers: int | None = None):
        if workers is not None and workers < 1:
            raise FarmError(f"--workers {workers}: give at least 1")
        self.runner, self.address, self.asked = runner, address, workers
        self.parallelism = workers or 1
        self.workers: list = []  # actor handles
        self.nodes: list[dict] = []  # per worker: node IP, host name, pid (filled by the pre-flight)
        self.notes: list[str] = []
        self._ray = None
        self._owned = False
        self.startup_s = 0.0

    @classmethod
    def factory(cls, address: str = "auto", workers: int | None = None):
        return lambda runner: cls(runner, address=address, workers=workers)

    # -------------------------------------------------------------- start
    def prepare(self, ctx: ClipContext, clips: list[PictureClip]) -> None:
        """Connect, check resources, start the workers, check what they see. Raises FarmError."""
        t0 = time.perf_counter()
        ray, self._owned = connect(self.address, self.asked)
        self._ray = ray
        engine = self.runner.config.defaults.engine
        res = ray.cluster_resources()
        gpu = engine in GPU_ENGINES
        if gpu and not res.get("GPU") and dict(self.runner.config.engine_options).get("fallback") in (True, "true"):
            gpu = False  # --fallback: the workers fall back to the embedded engine, on CPUs
            self.notes.append("the cluster has no GPUs: --fallback renders with the embedded engine on CPU workers")
        have = int(res.get("GPU" if gpu else "CPU", 0))
        kind = "GPU" if gpu else "CPU"
        n = self.asked or have
        if have < 1 or n > have:
            why = f"the {engine} engine needs one {kind} per worker" if gpu else f"each worker needs one {kind}"
            raise FarmError(f"the Ray cluster has {have} {kind}s for {n or 1} worker(s) ({why}): add {kind} nodes"
                            + (", or choose --engine embedded" if gpu else f", or pass --workers {max(1, have)}"))
        self.parallelism = n
        cfg = _shared_config(self.runner.config)
        actor = ray.remote(FarmWorker).options(num_cpus=1, num_gpus=1 if gpu else 0, max_restarts=MAX_RESTARTS,
                                               max_task_retries=0, max_concurrency=1)
        self.workers = [actor.remote(cfg, engine) for _ in range(n)]
        self._preflight(ctx, clips, cfg, time.perf_counter() - t0)
        self.startup_s = time.perf_counter() - t0  # connect, start the workers, pre-flight (bench)

    def _preflight(self, ctx: ClipContext, clips: list[PictureClip], cfg: BatchConfig, spent: float) -> None:
        from ..core.atomic import atomic_text

        ray = self._ray
        media = {}
        for c in clips:
            p = c.media_path
            if p is not None and not c.media_problem and str(p) not in media:
                try:
                    media[str(p)] = os.stat(p).st_size
                except OSError:
                    pass  # the clip fails alone, as locally
        stems = Path(ctx.stems_dir).resolve()  # a worker's working folder is not the driver's
        out = stems.parent
        out.mkdir(parents=True, exist_ok=True)
        token = secrets.token_hex(16)
        probe = out / PROBE_NAME
        atomic_text(probe, token)
        writable = [str(stems)] + ([str(cfg.cache_root)] if cfg.use_cache and cfg.cache_root else [])
        refs = [w.check.remote(media, str(out), token, writable) for w in self.workers]
        try:
            answers = ray.get(refs, timeout=max(5.0, START_TIMEOUT_S - spent))
        except ray.exceptions.GetTimeoutError:
            raise FarmError(f"the {len(self.workers)} farm workers did not start within {START_TIMEOUT_S:.0f} s "
                            "(the cluster is busy, or a node cannot start Python workers: see `ray status`)") from None
        except ray.exceptions.RayError as exc:
            raise FarmError(f"a farm worker failed to start: {ray_error_line(exc)}") from None
        finally:
            probe.unlink(missing_ok=True)
        self.nodes = [info for info, _ in answers]
        where = self.address if self.address != "local" else "a local Ray cluster"
        self.notes.append(f"rendered on {where}: {len(self.nodes)} workers on "
                          f"{len({i['node_id'] for i in self.nodes})} node(s)")
        bad = [f"node {info['node']} ({info['host']}): {p}" for info, problems in answers for p in problems]
        if bad:
            more = f" (and {len(bad) - 3} more)" if len(bad) > 3 else ""
            raise FarmError("farm workers cannot see the files as the driver does: " + "; ".join(bad[:3]) + more
                            + ". Media, OUT and the take cache must be on a filesystem every node mounts at the "
                            "same path (docs/farm.md)")

    # -------------------------------------------------------------- run
    def run(self, ctx: ClipContext, clips: list[PictureClip]) -> Iterator[ClipOutcome]:
        ray = self._ray
        ctx_ref = ray.put(dataclasses.replace(ctx, stems_dir=Path(ctx.stems_dir).resolve()))
        queue = deque((i, 1) for i in range(len(clips)))  # (clip index, attempt)
        pending: dict = {}  # ref -> (clip index, attempt, worker); clip index None: a ping of a restarting worker
        load = [0] * len(self.workers)
        down: dict[int, float] = {}  # worker -> when it was seen dead (Ray restarts it; a ping says when it is back)
        gone: set[int] = set()
        while queue or any(v[0] is not None for v in pending.values()):
            up = [w for w in range(len(self.workers)) if w not in down and w not in gone]
            if not up and not down:
                raise FarmError(f"every farm worker died and did not come back within {RETURN_S:.0f} s; see "
                                "`ray status` and the worker logs on the nodes")
            for w in sorted(up, key=lambda k: load[k]):
                while queue and load[w] < IN_FLIGHT:
                    i, attempt = queue.popleft()
                    pending[self.workers[w].clip.remote(ctx_ref, _shippable(clips[i]))] = (i, attempt, w)
                    load[w] += 1
            for w, since in list(down.items()):
                if w not in [v[2] for v in pending.values() if v[0] is None]:
                    if time.monotonic() - since > RETURN_S:
                        del down[w]
                        gone.add(w)
                        self.notes.append(f"farm worker {w} did not come back; the run went on without it")
                    else:
                        pending[self.workers[w].info.remote()] = (None, 0, w)
            ready, _ = ray.wait(list(pending), num_returns=1, timeout=0.25)  # short: Ctrl-C gets through
            for ref in ready:
                i, attempt, w = pending.pop(ref)
                try:
                    answer = ray.get(ref)
                except (ray.exceptions.RayActorError, ray.exceptions.WorkerCrashedError,
                        ray.exceptions.ObjectLostError) as exc:
                    if i is None:  # still restarting: ping again shortly
                        time.sleep(0.2)
                        continue
                    load[w] -= 1
                    if w not in down:
                        down[w] = time.monotonic()
                    node = self.nodes[w]["node"] if w < len(self.nodes) else "?"
                    self.notes.append(f"clip {clips[i].clip_id}: farm worker {w} on node {node} died (attempt "
                                      f"{attempt} of {MAX_ATTEMPTS})")
                    if attempt < MAX_ATTEMPTS:
                        queue.appendleft((i, attempt + 1))
                    else:
                        yield i, _failed(clips[i], f"clip {clips[i].clip_id} '{clips[i].name}': its farm worker died "
                                                   f"{attempt} times (last on node {node}: {type(exc).__name__}); "
                                                   "rerun to try again"), []
                    continue
                if i is None:  # a restarted worker is back, with a fresh engine
                    del down[w]
                    self.nodes[w] = answer
                    continue
                load[w] -= 1
                result, stems = answer
                if attempt > 1:
                    result.notes.append(f"rendered on attempt {attempt}: a farm worker died during an earlier one")
                yield i, result, [Placement(s, clips[i], meta) for s, meta in stems]

    def close(self) -> None:
        ray = self._ray
        if ray is None:
            return
        for w in self.workers:
            try:
                ray.kill(w, no_restart=True)
            except Exception:  # noqa: BLE001 - already gone
                pass
        self.workers = []
        if self._owned and ray.is_initialized():
            ray.shutdown()
        self._ray = None


def _failed(clip: PictureClip, reason: str) -> ClipResult:
    from .batch import ClipResult

    return ClipResult(clip.clip_id, clip.name, clip.timecode(), float(clip.duration), "failed", reason,
                      notes=list(clip.flags))


def _shippable(clip: PictureClip) -> PictureClip:
    """The clip with an absolute media path (a worker's working folder is not the driver's)."""
    p = clip.media_path
    if p is not None and not Path(p).is_absolute():
        return dataclasses.replace(clip, media_path=Path(p).resolve())
    return clip


def _shared_config(cfg: BatchConfig) -> BatchConfig:
    """The run's settings with absolute paths, and the driver's take cache named explicitly, so that
    every worker reads and writes the very cache a local run uses."""
    from .cache import TakeCache

    def absolute(p):
        return None if p is None else Path(p).resolve()

    cache_root = absolute(TakeCache(cfg.cache_root).root) if cfg.use_cache else cfg.cache_root
    return dataclasses.replace(cfg, timeline=absolute(cfg.timeline), out_dir=absolute(cfg.out_dir),
                               media_root=absolute(cfg.media_root), cache_root=cache_root)
