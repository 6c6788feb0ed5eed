"""Recompute the timing calibration (melfoley.core.motion.TimingCalibration) from the corpus.

    python bench/calibrate_timing.py [--limit N]   # all 526 files: about a minute

Decodes every corpus sound, takes its QCD control on the hifigan22k front-end (as the
embedded engine does) and prints the measured E/D statistics next to the constants in use.
"""

from __future__ import annotations

import argparse
import dataclasses
import time


def main() -> int:
    from melfoley.core.audio import read_audio
    from melfoley.core.control import QCDControl
    from melfoley.core.corpus import load_manifest
    from melfoley.core.mel import get_mel_config
    from melfoley.core.motion import CALIBRATION, measure_calibration

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit", type=int, default=0, help="use about N corpus files (every k-th)")
    args = ap.parse_args()
    items = load_manifest()
    if args.limit:
        items = items[:: max(1, len(items) // args.limit)]
    t0 = time.perf_counter()

    def controls():
        for it in items:
            wave, sr = read_audio(it.path)
            c = QCDControl.from_waveform(wave, sr, "hifigan22k", source=str(it.path))
            yield it.label, c.energy, c.spread

    stats = measure_calibration(controls(), get_mel_config("hifigan22k").frame_rate)
    print(f"measured on {stats['files']} files, {stats['onsets']} impact onsets "
          f"in {time.perf_counter() - t0:.1f} s")
    current = dataclasses.asdict(CALIBRATION)
    print(f"{'field':<12} {'measured':>9} {'in use':>9}")
    for key in ("floor_e", "min_peak_e", "peak_e", "decay_s", "floor_d", "peak_d"):
        print(f"{key:<12} {stats[key]:>9.3f} {current[key]:>9.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
