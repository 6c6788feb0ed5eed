"""Seconds of audio decomposed per second of wall time (STFT + mel + QCD), on this machine.

    python bench/qcd_throughput.py [--mel auffusion16k] [--seconds 10] [--batch 8] [--threads N]

Input is real corpus audio (tiled to the clip length) already at the front-end's rate; a
second line includes soxr resampling from the corpus's 22.05 kHz. Prints the real-time factor
(higher is better) for one clip and for a batch. Goal (issue 2): >= 500x for auffusion16k.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from melfoley.core import qcd
from melfoley.core.audio import read_audio, resample, to_mono
from melfoley.core.corpus import load_manifest
from melfoley.core.mel import LogMel, get_mel_config


def best_of(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mel", default="auffusion16k")
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: leave the default)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = get_mel_config(args.mel)
    items = load_manifest()
    raw, sr = read_audio(max(items, key=lambda it: it.duration).path)
    raw = to_mono(raw)
    n_src = int(args.seconds * sr)
    src = np.resize(raw, n_src).astype(np.float32)
    wave = resample(src, sr, cfg.sample_rate)
    logmel = LogMel(cfg)

    def one(x):
        with torch.inference_mode():
            e, d, s = qcd.decompose(logmel(x), cfg)
            return qcd.encode(s)

    single = torch.from_numpy(wave)
    batch = single.expand(args.batch, -1).contiguous()
    t1 = best_of(lambda: one(single), args.repeats)
    tb = best_of(lambda: one(batch), max(3, args.repeats // 4))
    tr = best_of(lambda: one(torch.from_numpy(resample(src, sr, cfg.sample_rate))), max(3, args.repeats // 4))
    print(f"front-end {cfg.name}, {args.seconds:g} s clips, torch threads {torch.get_num_threads()}")
    print(f"  one clip            {t1 * 1000:8.2f} ms  -> {args.seconds / t1:8.0f}x real time")
    print(f"  batch of {args.batch:<3d}        {tb * 1000:8.2f} ms  -> {args.batch * args.seconds / tb:8.0f}x real time")
    print(f"  one clip + resample {tr * 1000:8.2f} ms  -> {args.seconds / tr:8.0f}x real time (from {sr} Hz, soxr VHQ)")


if __name__ == "__main__":
    main()
