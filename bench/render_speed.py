"""Render speed of the engines on this machine (timings are printed, never asserted).

For a 10 s clip (procedural bounce video, 25 fps): video decode (224 px) timed apart,
then predict (motion timing + prompt match + code prior), renderer, vocoder and the full
``generate()``, for each vocoder of the embedded engine and for the debug engine; then
the throughput of a batch of 4 clips (footsteps, a door and two textures). With the HiFi-GAN:
the share of frames the gates keep and the vocoder runs over, and a sparse clip (two drops). Real-time factor = seconds of compute per second of
audio; torch threads = 2 (this machine's cores).

Usage: python bench/render_speed.py [--seconds 10] [--reps 3] [--threads 2]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from melfoley.core.engine import FoleyRequest, get_engine


def best(fn, reps):
    out = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return min(out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    from melfoley.core.synthvideo import render_impact_video
    from melfoley.core.video import read_frames

    d = args.seconds
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "clip.mp4"
        render_impact_video(path, kind="bounce", duration=d, seed=0)
        t_dec = best(lambda: read_frames(path, 0.0, d), args.reps)
        fr = read_frames(path, 0.0, d)
    print(f"video decode ({fr.frames.shape[0]} frames at 224 px): {t_dec:.3f} s, RTF {t_dec / d:.3f} (separate)")
    req = FoleyRequest(None, 0.0, d, "footsteps on gravel", frames=fr.frames, frame_rate=fr.fps)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "sparse.mp4"
        render_impact_video(path, kind="drop", duration=d, impacts=[0.2 * d, 0.7 * d], seed=0)
        sp = read_frames(path, 0.0, d)
    sparse = FoleyRequest(None, 0.0, d, "door slams", frames=sp.frames, frame_rate=sp.fps)
    for vocoder in ("auto", "hifigan", "griffinlim"):
        eng = get_engine("embedded", vocoder=vocoder)
        eng.generate([req])  # warm-up: loads the vocoder
        control = eng.predict(req)
        logmel = eng.render_mels([control], [req.prompt], [0])
        tp = best(lambda: eng.predict(req), args.reps)
        tr = best(lambda: eng.render_mels([control], [req.prompt], [0]), args.reps)
        tv = best(lambda: eng.vocode(logmel, [0]), args.reps)
        tg = best(lambda: eng.generate([req]), args.reps)
        if eng.vocoder_for(req.prompt) == "hifigan":
            from melfoley.core.engines.embedded import VOCODER_MARGIN, audible_spans

            keep = eng._audible(control.energy, eng.contact_gated(req.prompt))
            run = sum(b - a for a, b in audible_spans(keep, VOCODER_MARGIN))
            tw = best(lambda: eng.vocode(logmel, [0], None, "hifigan"), args.reps)
            print(f"embedded/{vocoder}: the gates keep {keep.mean():.2f} of the frames; HiFi-GAN runs over "
                  f"{run / keep.shape[0]:.2f} of them (context included): vocoder {tw / d:.3f} over the whole take")
        print(f"embedded/{vocoder}: predict {tp / d:.3f} + renderer {tr / d:.3f} + vocoder {tv / d:.3f} "
              f"-> generate() RTF {tg / d:.3f} (incl. high band, windows, gate)")
        if vocoder == "auto":  # a sparse clip: two drops in 10 s, where the gates leave most of the take silent
            tg_s = best(lambda: eng.generate([sparse]), args.reps)
            keep = eng._audible(eng.predict(sparse).energy, True)
            print(f"embedded/{vocoder}: two drops in {d:.0f} s ('door slams'): the gates keep {keep.mean():.2f} of the "
                  f"frames; generate() RTF {tg_s / d:.3f}")
        reqs = [FoleyRequest(None, 0.0, d, p, frames=fr.frames, frame_rate=fr.fps, seed=i)
                for i, p in enumerate(["rain", "footsteps on wood", "door slams", "fire"])]
        tb = best(lambda: eng.generate(reqs), 1)
        print(f"embedded/{vocoder}: batch of 4 clips RTF {tb / (4 * d):.3f} per clip")
    dbg = get_engine("debug")
    tg = best(lambda: dbg.generate([req]), args.reps)
    print(f"debug: generate() RTF {tg / d:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
