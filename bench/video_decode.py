"""Picture decoding speed (melfoley.core.video.read_frames) on the corpus videos.

    python bench/video_decode.py [--repeat N]

For each corpus video and each output size (224 px short side, 96 px for the motion
analysis, native pixels) prints decoded frames/s and seconds per 10 s of source scaled to
1080p-equivalent pixels (time x 1920*1080 / (w*h) x 10 / duration), plus the motion
analysis time per 10 s (melfoley.core.motion.predict_timing at 96 px). Best of N runs.
"""

from __future__ import annotations

import argparse
import time


def main() -> int:
    import numpy as np

    from melfoley.core.corpus import corpus_root
    from melfoley.core.mel import get_mel_config
    from melfoley.core.motion import predict_timing
    from melfoley.core.video import probe, read_frames

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    videos = sorted((corpus_root() / "video").glob("*.m[op][4v]"))
    if not videos:
        print(f"no corpus videos under {corpus_root() / 'video'}")
        return 1
    rate = get_mel_config("hifigan22k").frame_rate
    print(f"{'video':<34} {'codec size':>16} {'size':>6} {'frames/s':>9} {'s/10s@1080p':>12}")
    for path in videos:
        info = probe(path)
        scale_1080 = 1920 * 1080 / (info.width * info.height)
        for size in (224, 96, None):
            best = float("inf")
            for _ in range(args.repeat):
                t0 = time.perf_counter()
                got = read_frames(path, 0.0, info.duration, size=size)
                best = min(best, time.perf_counter() - t0)
            n = len(got.times)
            per10 = best * scale_1080 * 10.0 / info.duration
            label = "native" if size is None else str(size)
            print(f"{path.name:<34} {info.width:>7}x{info.height:<8} {label:>6} {n / best:>9.1f} {per10:>12.2f}")
        got = read_frames(path, 0.0, info.duration, size=96)
        best = float("inf")
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            predict_timing(got.frames, got.fps, int(round(info.duration * rate)))
            best = min(best, time.perf_counter() - t0)
        print(f"{'':<34} {'motion analysis':>16} {'96':>6} {len(got.times) / best:>9.1f} "
              f"{best * 10.0 / info.duration:>12.2f}  (s per 10 s of picture, any resolution)")
    print(f"load average: {' '.join(f'{x:.1f}' for x in __import__('os').getloadavg())} "
          f"(2 shared cores: timings are noisy under load)")
    del np
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
