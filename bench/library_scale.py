"""Scale of the sound-library index (issue 9, point 6): indexing speed and query + placement time.

1. Generates N five-second files (default 10,000) in a scratch folder: UCS names over many
   categories, 44.1/48/96 kHz, mono and stereo, 16/24-bit WAV and FLAC, each with 12-15 hits
   (decaying noise bursts on a 0.33 s grid) or a steady texture; then indexes them with
   ``melfoley.core.library.scan`` as ``melfoley library add`` does and prints files/s (goal:
   >= 50 five-second files per second on 2 cores).
2. With the index holding them (about 100,000 events), times query + placement for a 10 s
   clip with 10 contacts through the engine's own path (pool from text + FTS5, choice per
   contact, sources read and resampled to 48 kHz): first call (caches cold) and the median of
   warm calls with other prompts (goal < 100 ms).

3. ``--rtf``: the engine's real-time factor on a 10 s procedural bounce clip (starter
   library), wall and CPU time, split into predict (timing from picture), render and the rest
   of ``generate`` (goal: RTF <= 0.05 on 2 cores).

    python bench/library_scale.py [--files 10000] [--work DIR] [--keep]
    python bench/library_scale.py --rtf
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

CATS = ["GLASBrk", "FOLYFeet", "DOORWood", "IMPCMetl", "WOODBrk", "FGHTImpt", "TOOLHand", "METLImpt", "ROCKImpt",
        "PLSTImpt", "WEAPSwrd", "CERMBrk", "FOLYProp", "FOLYClth", "DSTRCrsh", "ICEBrk", "PAPRHndl", "MECHClik",
        "RAINGen", "FIREBurn", "WINDGust", "WATRFlow", "AMBRoom", "MACHHvac"]
TEXTURES = {"RAINGen", "WINDGust"}
WORDS = ["heavy", "light", "close", "distant", "sharp", "dull", "short", "long", "single", "bright", "dark", "wet",
         "dry", "small", "large", "fast", "slow", "soft", "hard", "metallic"]
FORMS = [(48000, 1, "WAV", "PCM_24"), (48000, 2, "WAV", "PCM_24"), (96000, 1, "WAV", "PCM_24"),
         (44100, 2, "FLAC", "PCM_16"), (48000, 1, "FLAC", "PCM_24")]


def generate(folder: Path, n: int, seed: int = 0) -> float:
    import soundfile as sf

    rng = np.random.default_rng(seed)
    total = 0
    t = time.perf_counter()
    for i in range(n):
        cat = CATS[i % len(CATS)]
        sr, ch, fmt, sub = FORMS[i % len(FORMS)]
        m = int(5.0 * sr)
        if cat in TEXTURES:
            x = rng.standard_normal(m).astype(np.float32) * 0.1
            x *= (1 + 0.2 * np.sin(np.arange(m) / sr * rng.uniform(0.2, 2)))
        else:
            x = np.zeros(m, np.float32)
            k = rng.integers(12, 16)  # hits on a 0.33 s grid, each dying away before the next (one event each)
            grid = np.arange(int(0.05 * sr), m - int(0.3 * sr), int(0.33 * sr))
            starts = np.sort(rng.choice(grid, min(k, grid.size), replace=False))
            tau = rng.uniform(0.01, 0.04)
            for s in starts:
                L = int(0.25 * sr)
                burst = rng.standard_normal(L).astype(np.float32) * np.exp(-np.arange(L) / (tau * sr))
                x[s:s + L] += burst * rng.uniform(0.2, 0.8)
        x = np.clip(x, -1, 1)
        data = np.stack([x, 0.9 * x], axis=1) if ch == 2 else x
        words = " ".join(rng.choice(WORDS, 2, replace=False))
        sub_dir = folder / cat[:4] / cat
        sub_dir.mkdir(parents=True, exist_ok=True)
        p = sub_dir / f"{cat}_{words.title()} {i:05d}_GEN_BENCHLIB.{'flac' if fmt == 'FLAC' else 'wav'}"
        sf.write(str(p), data, sr, subtype=sub, format=fmt)
        total += p.stat().st_size
    print(f"generated {n} files ({total / 2**30:.2f} GiB) in {time.perf_counter() - t:.0f} s")
    return total


def rtf(work: Path) -> None:
    import os

    from melfoley.core.engine import FoleyRequest, get_engine
    from melfoley.core.synthvideo import render_scene_video

    work.mkdir(parents=True, exist_ok=True)
    video = work / "bounce10.mp4"
    render_scene_video(video, "bounce", fps=25, duration=10.0, seed=7)
    from melfoley.core.video import read_frames

    eng = get_engine("library")
    c = time.process_time()
    pic = read_frames(video, 0.0, 10.0, size=eng.picture_size, fps=eng.picture_fps)  # as the batch decodes
    decode = time.process_time() - c

    def request(seed):
        return FoleyRequest(None, 0.0, 10.0, "footsteps on gravel", seed=seed, frames=pic.frames, frame_rate=pic.fps)

    eng.generate([request(0)])  # warm: index open, prompt embedded
    rows = []
    for k in range(5):
        req = request(k)
        w, c = time.perf_counter(), time.process_time()
        ctl = eng.predict(req)
        w1, c1 = time.perf_counter(), time.process_time()
        eng.render(ctl, req.prompt, k)
        w2, c2 = time.perf_counter(), time.process_time()
        eng.generate([req])
        w3, c3 = time.perf_counter(), time.process_time()
        rows.append((w3 - w2, c3 - c2, w1 - w, c1 - c, w2 - w1, c2 - c1))
    med = [statistics.median(r[i] for r in rows) for i in range(6)]
    print(f"library engine, 10 s clip ({eng.source} library): RTF wall {med[0] / 10:.3f}, CPU {med[1] / 10:.3f} "
          f"(predict from picture {med[3]:.3f} s CPU, render {med[5] * 1000:.0f} ms CPU, generate {med[1]:.3f} s CPU; "
          f"decoding the picture before it, as the batch does: {decode:.3f} s CPU); "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=10000)
    ap.add_argument("--work", default=str(Path(tempfile.gettempdir()) / "melfoley-bench-library_scale"))
    ap.add_argument("--keep", action="store_true", help="keep (and reuse) the generated files and index")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--workers", type=int, default=0, help="analysis processes (0: one per core, at most 2)")
    ap.add_argument("--rtf", action="store_true", help="only the engine's real-time factor on a 10 s clip")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    if args.rtf:
        rtf(Path(args.work) / "rtf")
        return 0
    from melfoley.core.library.index import LibraryIndex
    from melfoley.core.library.scan import scan

    work = Path(args.work)
    lib, db = work / f"lib{args.files}", work / f"index{args.files}.sqlite"
    if not args.keep and work.exists():
        shutil.rmtree(work)
    if not lib.exists():
        generate(lib, args.files)
    fresh = not db.exists()
    index = LibraryIndex(db)
    last = [0.0]

    def progress(p):
        if time.perf_counter() - last[0] > 10:
            last[0] = time.perf_counter()
            print(f"  {p.done}/{p.total} files, {p.rate:.1f} files/s", flush=True)

    import os
    import resource

    def cpu() -> float:
        a, b = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        return a.ru_utime + a.ru_stime + b.ru_utime + b.ru_stime

    c0, load0 = cpu(), os.getloadavg()[0]
    rep = scan(index, [lib], progress=progress, workers=args.workers)
    cpu_s, load1 = cpu() - c0, os.getloadavg()[0]
    st = index.stats()
    n_events = sum(st["events"].values())
    if fresh:
        print(f"indexed {rep.indexed} files ({len(rep.problems)} problems) in {rep.seconds:.1f} s: "
              f"{rep.indexed / rep.seconds:.1f} files/s on {args.threads} torch thread(s); "
              f"{n_events} events in the index")
        print(f"  CPU: {cpu_s:.1f} s for {rep.indexed} files = {rep.indexed / max(cpu_s, 1e-9):.1f} files per CPU-second "
              f"(two idle cores: ~{2 * rep.indexed / max(cpu_s, 1e-9):.0f} files/s); machine load average "
              f"{load0:.1f} -> {load1:.1f} on {os.cpu_count()} cores while it ran")
    else:
        print(f"index reused: {st['status']['ok']['files']} files, {n_events} events")
    rescan = scan(index)
    print(f"rescan with nothing changed: {rescan.unchanged} files in {rescan.seconds:.2f} s")

    from melfoley.core.engine import get_engine
    from melfoley.core.engines.debug import clip_frames
    from melfoley.core.mel import get_mel_config
    from melfoley.core.motion import CALIBRATION as cal
    from melfoley.core.motion import _envelope
    from melfoley.core.control import QCDControl

    eng = get_engine("library", library_db=db)
    rate = get_mel_config("hifigan22k").frame_rate
    nf = clip_frames(10.0)
    onsets = np.floor(np.linspace(0.5, 9.3, 10) * rate) / rate
    e = cal.floor_e + _envelope(nf, rate, onsets, np.full(10, cal.peak_e - cal.floor_e), cal)
    ctl = QCDControl(np.clip(e, 0, 1), np.full(nf, 0.05), np.full((2, nf), 40), "hifigan22k")
    prompts = ["glass breaking", "footsteps on gravel", "wooden door", "metal impact", "sword hit", "ceramic break",
               "paper handling", "mechanical click", "ice breaking", "plastic impact", "rock impact", "crash debris"]
    times, cpu_times = [], []
    for k, p in enumerate(prompts):
        t, c = time.perf_counter(), time.process_time()
        y = eng.render(ctl, p, k)
        times.append(time.perf_counter() - t)
        cpu_times.append(time.process_time() - c)
        assert y.shape[0] >= 480000 and len(eng._renders[-1]["sources"]) == 10
    print(f"query + placement, 10 s clip, 10 contacts, {n_events} events indexed: first {times[0] * 1000:.0f} ms "
          f"(vectors loaded), median of the next {len(times) - 1} prompts {statistics.median(times[1:]) * 1000:.0f} ms, "
          f"max {max(times[1:]) * 1000:.0f} ms; CPU time median {statistics.median(cpu_times[1:]) * 1000:.0f} ms "
          f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")
    if not args.keep:
        index.close()
        shutil.rmtree(work)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
