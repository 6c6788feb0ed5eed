"""Benchmark: what ``melfoley batch --ray`` costs over a local run, and what a second worker buys.

    python bench/farm_overhead.py                     # debug engine, this machine's CPUs
    python bench/farm_overhead.py --size 640x360      # lighter media
    python bench/farm_overhead.py --engine embedded   # the product engine (minutes)

Everything runs on a private Ray cluster on this machine (``ray.init``, 127.0.0.1 only, no
dashboard), with the take cache off so that every clip is rendered. Printed:

- farm overhead per clip (ms): 200 tiny clips (5 frames at 160x120, debug engine) through one
  worker, minus the same clips run locally, minus the farm's start-up (connect, start the
  worker, pre-flight), divided by the clip count: what shipping a clip to a worker and its
  result back costs;
- start-up (s) of one and of two workers;
- wall time of the 60-clip, 10-minute edit of bench/batch_timeline.py (1280x720 H.264 by
  default) locally, with 1 worker and with 2 workers, and the speed-up of 2 over 1.

On two cores shared with other work the two workers compete with the driver and everything
else; the load average is printed. Nothing is asserted: this prints figures.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import batch_timeline as bt  # noqa: E402


def run(edit: Path, out: Path, engine: str, executor=None) -> tuple[float, float, object]:
    from melfoley.plugin.batch import BatchConfig, BatchRunner
    from melfoley.plugin.jobs import BatchDefaults

    shutil.rmtree(out, ignore_errors=True)
    cfg = BatchConfig(timeline=edit, out_dir=out, defaults=BatchDefaults(engine=engine), use_cache=False)
    runner = BatchRunner(cfg, executor=executor)
    t = time.perf_counter()
    report = runner.run()
    wall = time.perf_counter() - t
    startup = getattr(runner.executor, "startup_s", 0.0)
    bad = report.count("failed")
    if bad:
        print(f"  {bad} clips failed, e.g. {report.failed[0].reason}", file=sys.stderr)
    return wall, startup, report


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--engine", default="debug")
    ap.add_argument("--clips", type=int, default=60)
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--size", default="1280x720", help="media size WxH of the 60-clip edit (default 1280x720)")
    ap.add_argument("--tiny", type=int, default=200, help="clips of the overhead measure (default 200)")
    ap.add_argument("--work", default=str(Path(tempfile.gettempdir()) / "melfoley-bench-farm_overhead"))
    args = ap.parse_args(argv)
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    import torch

    torch.set_num_threads(1)
    work = Path(args.work).resolve()
    work.mkdir(parents=True, exist_ok=True)
    size = tuple(int(v) for v in args.size.lower().split("x"))

    from melfoley.plugin.farm import RayExecutor, connect

    ray, _ = connect("local", 2)  # one private cluster for every run below; 2 CPUs
    try:
        tiny_media = bt.make_media(work, (160, 120), seconds=30.0)
        tiny = bt.make_edit(work, tiny_media, args.tiny, args.tiny * 5 / float(bt.RATE) / 60, media_seconds=30.0)
        local_t, _, _ = run(tiny, work / "tiny_local", "debug")
        farm_t, farm_start, rep = run(tiny, work / "tiny_farm", "debug", RayExecutor.factory("local", 1))
        per_clip = (farm_t - farm_start - local_t) / args.tiny * 1000

        media = bt.make_media(work, size)
        edit = bt.make_edit(work, media, args.clips, args.minutes)
        wall_local, _, _ = run(edit, work / "local", args.engine)
        wall_1, start_1, _ = run(edit, work / "w1", args.engine, RayExecutor.factory("local", 1))
        wall_2, start_2, r2 = run(edit, work / "w2", args.engine, RayExecutor.factory("local", 2))
    finally:
        ray.shutdown()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"\nfarm_overhead: private Ray cluster on 127.0.0.1, {os.cpu_count()} CPUs, engine {args.engine}, "
          "take cache off")
    print(f"  overhead per clip         {per_clip:8.1f} ms   ({args.tiny} clips of 5 frames: local {local_t:.2f} s, "
          f"1 worker {farm_t:.2f} s of which start-up {farm_start:.2f} s; done {rep.count('done')})")
    print(f"  {args.clips}-clip edit, {args.minutes:g} min of {size[0]}x{size[1]} H.264:")
    print(f"    local (in-process)      {wall_local:8.2f} s")
    print(f"    1 worker                {wall_1:8.2f} s   (start-up {start_1:.2f} s)")
    print(f"    2 workers               {wall_2:8.2f} s   (start-up {start_2:.2f} s; done {r2.count('done')})")
    print(f"    2 workers / 1 worker    {wall_1 / wall_2:8.2f} x faster")
    print(f"  machine load average at the end: {load:.1f} (other work on the same cores inflates wall times)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
