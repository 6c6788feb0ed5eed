"""Event-loop latency of the panel while a generation batch runs (the issue's 100 ms budget).

    python bench/ui_latency.py [--engine debug|embedded] [--takes 8] [--seconds 8]

A 20 ms QTimer probe runs on the UI thread; its lateness (how long after its due time it
fired) is printed for an idle event loop (the machine's own noise) and during a batch
rendered by the panel (two clips of the sample edit over the corpus videos), with the
batch's wall time. Offscreen Qt, no sound card needed. Timings are printed, never asserted.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("JACK_NO_START_SERVER", "1")

INTERVAL_MS = 20


def stats(lat: list[int]) -> str:
    s = sorted(lat)
    if not s:
        return "no probes"
    return (f"{len(s)} probes, median {s[len(s) // 2]} ms, p99 {s[min(len(s) - 1, int(len(s) * 0.99))]} ms, "
            f"worst {s[-1]} ms")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--engine", default="debug")
    ap.add_argument("--takes", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=8.0, help="length of the idle measurement")
    args = ap.parse_args()

    from PySide6.QtWidgets import QApplication

    from melfoley.core.corpus import corpus_root
    from melfoley.ui.latency import LatencyProbe
    from melfoley.ui.panel import FoleyPanel
    from melfoley.ui.sample_edit import make_edit

    app = QApplication.instance() or QApplication(sys.argv[:1])
    probe = LatencyProbe(INTERVAL_MS)

    def run_until(cond, timeout: float) -> None:
        end = time.monotonic() + timeout
        while not cond() and time.monotonic() < end:
            app.processEvents()
            time.sleep(0.002)

    probe.start()
    run_until(lambda: False, args.seconds)
    probe.stop()
    print(f"idle event loop ({args.seconds:.0f} s): {stats(probe.lateness)}")

    work = Path(tempfile.mkdtemp(prefix="melfoley-bench-ui-"))
    edit = make_edit(work / "edit.otio", corpus_root() / "video", long=True)
    panel = FoleyPanel(engine=args.engine)
    panel.resize(1440, 860)
    panel.show()
    t = time.monotonic()
    session = panel.open_timeline(edit, output_dir=work / "out")
    for cid in ("V1/0", "V1/4"):
        session.update(cid, prompt="footsteps on gravel", takes=args.takes)
    run_until(lambda: not panel.runner.is_busy(), 300)
    print(f"open + engine warm-up + thumbnails + first preview: {time.monotonic() - t:.2f} s")

    done = []
    panel.generation_finished.connect(done.append)
    probe.start()
    t = time.monotonic()
    panel.generate(["V1/0", "V1/4"])
    run_until(lambda: bool(done), 900)
    wall = time.monotonic() - t
    probe.stop()
    picture = sum(float(session.state(c).clip.duration) for c in ("V1/0", "V1/4"))
    print(f"batch with {args.engine}: 2 clips ({picture:.1f} s of picture) x {args.takes} takes in {wall:.2f} s "
          f"({done[0] if done else 'unfinished'})")
    print(f"event loop during the batch: {stats(probe.lateness)}")
    panel.shutdown()
    try:
        load = os.getloadavg()
        print(f"load average at the end: {load[0]:.1f} ({os.cpu_count()} CPUs)")
    except OSError:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
