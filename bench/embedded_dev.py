"""The embedded engine's dev set: where its settings are chosen, apart from the product bench.

The product bench (bench/eval_product.py) scores stems against val-recording centroids on its
own pictures; choosing a setting by that score would fit the engine to its own exam. This
bench uses other pictures (procedural seeds 21-23, which no other bench renders) and centroids
of the corpus TRAIN recordings of every class. Two sets:

- ``--set textures`` (default): every continuous event of the vocabulary
  (``prior.CONTINUOUS_EVENTS`` that have train recordings), one prompt each, rendered with each
  texture vocoder: ``hifigan`` (the universal HiFi-GAN, speech-trained, bfloat16 where native),
  ``griffinlim`` (32 iterations, momentum 0), ``fgla`` (fast Griffin-Lim, momentum 0.99, shipped);
- ``--set sync``: the product bench's three sync prompts on bounce scenes of other seeds (31-36,
  restitution 0.7, 5 s), scored with the product bench's onset detector (bench/scorers.py): recall
  within +-50 ms, recall of the 4th-6th bounce, median error (on the take resampled to 48 kHz as the
  stems are), and clicks at 22.05 kHz (and in the 48 kHz stem);
- ``--set product``: the product bench's 26 prompts (other pictures, train centroids), rendered
  with each ``--variants`` (``name:key=value,key=value``; the default compares renderer
  temperatures 0.3 / 0.5 (shipped) / 0.8; ``detail=renderer`` against ``detail=exemplar``, shipped, is
  the ablation of the exemplar detail).

Printed per variant: the share of takes whose aisfx nearest train centroid (cosine, among all
classes) is the prompted class; clicks (``core.clicks``) per minute at 22.05 kHz after the
stems' edge fades; the spectral convergence of the take against the magnitude the vocoder was
asked for (in the mel's band, level matched: lower is closer); jumps per minute: frames where the
take's log-mel changes from one frame to the next (mean |difference| over the bands) more than in
all but 0.1 % of the frames of the class's train recordings (a bed that changes its sound at a
join between stretches: real recordings have 0.1 % of their frames there, 5 a minute); wall time
per second of audio.

    python bench/embedded_dev.py [--set textures|product|sync] [--variants ...] [--seconds 4] [--threads 2]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

#: a prompt per continuous event (the matcher maps each to its label; checked below)
TEXTURES = {
    "rain": "rain falling", "fire": "fire crackling", "wind": "wind blowing", "water_flow": "water flowing",
    "water_waves": "ocean waves", "bubbling": "water bubbling", "machinery": "machinery humming",
    "vehicle": "a car engine running", "bird": "birds chirping", "animal_other": "crickets chirping at night",
    "sizzle": "food sizzling in a pan", "sawing": "sawing wood", "foliage_rustle": "leaves rustling",
    "thunder": "thunder rumbling",
}
PICTURES = (("bounce", 21), ("drop", 22), ("bounce", 23))
VOCODERS = (("hifigan", {"vocoder": "hifigan"}), ("griffinlim", {"vocoder": "griffinlim", "gl_momentum": 0.0}),
            ("fgla", {"vocoder": "griffinlim"}))
TEMPERATURES = "t0.3:temperature=0.3 t0.5:temperature=0.5 t0.8:temperature=0.8"


def parse_variants(text: str) -> list[tuple[str, dict]]:
    out = []
    for item in text.split():
        name, _, kv = item.partition(":")
        out.append((name, dict(pair.split("=", 1) for pair in kv.split(",") if pair)))
    return out


def spectral_convergence(y: np.ndarray, logmel: np.ndarray) -> float:
    """|| |STFT(y)| - M || / || M ||, M the linear magnitude the mel asks for (pseudo-inverse)."""
    import torch

    from melfoley.core.mel import get_mel_config, slaney_filterbank

    c = get_mel_config("hifigan22k")
    fb = np.asarray(slaney_filterbank(c.sample_rate, c.n_fft, c.n_mels, c.f_min, c.f_max))
    want = np.clip(np.linalg.pinv(fb) @ np.exp(logmel), 0, None)
    got = torch.stft(torch.from_numpy(np.ascontiguousarray(y, np.float32)), c.n_fft, c.hop_length, c.win_length,
                     torch.hann_window(c.win_length), center=True, return_complex=True).abs().numpy()
    T = min(got.shape[1], want.shape[1])
    keep = slice(0, int(np.ceil(c.f_max / (c.sample_rate / c.n_fft))))  # the mel's band: the high band is not asked for
    g, w = got[keep, :T], want[keep, :T]
    w = w * (np.sum(g * w) / max(np.sum(w * w), 1e-20))  # the level is the gate's and guard's, not the vocoder's
    return float(np.linalg.norm(g - w) / max(np.linalg.norm(w), 1e-20))


def flux(logmel: np.ndarray) -> np.ndarray:
    """Mean |log-mel difference| over the bands between consecutive frames ([80, T] -> [T - 1])."""
    lm = np.asarray(logmel)
    lm = lm[0] if lm.ndim == 3 else lm
    return np.abs(np.diff(lm, axis=1)).mean(0)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=4.0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--set", choices=("textures", "product", "sync"), default="textures")
    ap.add_argument("--variants", default=None, help="space-separated name:key=value,... (engine options); "
                    f"default: the texture vocoders, or for --set product {TEMPERATURES!r}")
    args = ap.parse_args(argv)
    import soundfile as sf
    import torch

    from melfoley.core.clicks import find_clicks
    from melfoley.core.corpus import load_manifest, split
    from melfoley.core.engine import FoleyRequest
    from melfoley.core.engines.embedded import EmbeddedEngine
    from melfoley.core.levels import edge_fades
    from melfoley.core.metrics import AisfxEmbedder, centroids, nearest_centroid
    from melfoley.core.motion import PICTURE_SIZE
    from melfoley.core.synthvideo import render_impact_video
    from melfoley.core.video import read_frames

    torch.set_num_threads(args.threads)
    if args.set == "sync":
        return sync_set(parse_variants(args.variants or "shipped:"))
    train = split(load_manifest(), "train")
    have = {it.label for it in train}
    kind_of = {}  # label -> the product bench's kind (impact, footsteps, texture, whoosh, animal)
    if args.set == "textures":
        textures = {lab: p for lab, p in TEXTURES.items() if lab in have}
        variants = parse_variants(args.variants) if args.variants else list(VOCODERS)
    else:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from eval_product import PROMPTS

        textures = {lab: p for p, lab, _ in PROMPTS if lab in have}
        kind_of.update({lab: k for _, lab, k in PROMPTS})
        variants = parse_variants(args.variants or TEMPERATURES)
    emb = AisfxEmbedder()
    vecs, labs = [], []
    for it in train:  # every class: a texture must not land on a footstep or an impact either
        y, sr = sf.read(str(it.path), dtype="float32", always_2d=True)
        vecs.append(emb.embed(y.mean(1)[: int(6 * sr)], sr))
        labs.append(it.label)
    cents = centroids(np.stack(vecs), labs)
    from melfoley.core.mel import log_mel

    steps = {}
    for it in train:
        if it.label in textures:
            y, sr = sf.read(str(it.path), dtype="float32", always_2d=True)
            steps.setdefault(it.label, []).append(flux(log_mel(y.mean(1), "hifigan22k")))
    jump = {lab: float(np.percentile(np.concatenate(v), 99.9)) for lab, v in steps.items()}
    d = args.seconds
    tmp = Path(tempfile.mkdtemp(prefix="melfoley-texvoc-"))
    pictures = []
    for kind, seed in PICTURES:
        p = tmp / f"{kind}{seed}.mp4"
        render_impact_video(p, kind=kind, fps=25.0, duration=d, seed=seed)
        pictures.append(read_frames(p, 0.0, d, size=PICTURE_SIZE))
    print(f"embedded_dev ({args.set}): {len(textures)} events x {len(pictures)} dev pictures of {d:.0f} s; "
          f"centroids of {len(labs)} train recordings in {len(cents)} classes; torch threads {args.threads}")
    for name, opts in variants:
        eng = EmbeddedEngine(**opts)
        first = eng.match(next(iter(textures.values())))
        hits, clicks, sc, seconds, t_spent, wrong, where, jumps = 0, 0, [], 0.0, 0.0, [], [], 0
        by_kind: dict[str, list[bool]] = {}
        for lab, prompt in textures.items():
            if eng.match(prompt).best != lab:
                print(f"  note: {prompt!r} matches {eng.match(prompt).best}, not {lab}")
            for k, fr in enumerate(pictures):
                req = FoleyRequest(None, 0.0, d, prompt, frames=fr.frames, frame_rate=fr.fps, seed=k)
                t = time.perf_counter()
                (take,) = eng.generate([req])[0]
                t_spent += time.perf_counter() - t
                y = take.audio
                got = nearest_centroid(emb.embed(y, eng.sample_rate, active_only=True)[None], cents)[0]
                hits += got == lab
                by_kind.setdefault(kind_of.get(lab, "texture"), []).append(got == lab)
                if got != lab:
                    wrong.append(f"{lab}->{got}")
                found = find_clicks(edge_fades(y, eng.sample_rate), eng.sample_rate)  # the stems' edges (write_stem)
                clicks += len(found)
                where += [f"{lab} picture {k} @{t:.3f} s" for t in found]
                detail = eng.predict_with_detail(req)[1]  # what the vocoder was asked for, detail included
                logmel = eng.render_mels([take.control], [prompt], [take.seed], [detail])[0].numpy()
                sc.append(spectral_convergence(y, logmel))
                jumps += int((flux(log_mel(y, "hifigan22k")) > jump[lab]).sum()) if lab in jump else 0
                seconds += d
        n = len(textures) * len(pictures)
        print(f"  {name:10s} prompt-following {hits / n:.3f} ({hits}/{n}); clicks/min {clicks / (seconds / 60):.2f} "
              f"({clicks}); spectral convergence median {np.median(sc):.3f}; jumps/min {jumps / (seconds / 60):.1f}; "
              f"RTF {t_spent / seconds:.3f}"
              f" [{', '.join(f'{k}={v}' for k, v in opts.items())}; first match {first.best}]")
        if len(by_kind) > 1:
            kinds = sorted(by_kind.items())
            print("    by kind: " + ", ".join(f"{k} {np.mean(v):.2f} ({sum(v)}/{len(v)})" for k, v in kinds))
        print(f"    missed: {', '.join(wrong)}")
        print(f"    clicks: {', '.join(where) or 'none'}")
    return 0


SYNC_SEEDS = (31, 32, 33, 34, 35, 36)


def sync_set(variants) -> int:
    """Sync and clicks of the three sync prompts on bounce scenes the product bench does not render."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import scorers
    import soxr
    from eval_product import SYNC_PROMPTS

    from melfoley.core.clicks import find_clicks
    from melfoley.core.engine import FoleyRequest
    from melfoley.core.engines.embedded import EmbeddedEngine
    from melfoley.core.levels import edge_fades
    from melfoley.core.motion import PICTURE_SIZE
    from melfoley.core.synthvideo import render_scene_video
    from melfoley.core.video import read_frames

    tmp = Path(tempfile.mkdtemp(prefix="melfoley-devsync-"))
    scenes = []
    for seed in SYNC_SEEDS:
        p = tmp / f"bounce{seed}.mp4"
        truth = render_scene_video(p, "bounce", fps=25.0, duration=5.0, seed=seed)
        scenes.append((read_frames(p, 0.0, truth.duration, size=PICTURE_SIZE), truth))
    print(f"embedded_dev (sync): {len(SYNC_PROMPTS)} prompts x {len(scenes)} bounce scenes (seeds "
          f"{SYNC_SEEDS[0]}-{SYNC_SEEDS[-1]}), {sum(len(t.contacts) for _, t in scenes)} contacts a prompt")
    for name, opts in variants:
        eng = EmbeddedEngine(**opts)
        tally, clicks, clicks48, where, seconds = scorers.SyncTally(), 0, 0, [], 0.0
        for prompt in SYNC_PROMPTS:
            for k, (fr, truth) in enumerate(scenes):
                req = FoleyRequest(None, 0.0, truth.duration, prompt, frames=fr.frames, frame_rate=fr.fps, seed=k)
                (take,) = eng.generate([req])[0]
                y = edge_fades(take.audio, eng.sample_rate)
                y48 = soxr.resample(y, eng.sample_rate, 48000, quality="VHQ")  # as the stems are written
                tally.add(y48, 48000, truth.contacts, truth.quiet, late_from=4)
                found = find_clicks(y, eng.sample_rate)
                clicks += len(found)
                clicks48 += len(find_clicks(y48, 48000))
                where += [f"{prompt} seed {SYNC_SEEDS[k]} @{t:.3f} s" for t in found]
                seconds += truth.duration
        print(f"  {name:10s} recall {tally.recall():.3f}; 4th-6th bounce {tally.late_recall():.3f} "
              f"({sum(tally.late)}/{len(tally.late)}); median {tally.median_ms():.1f} ms; false/min "
              f"{tally.false_per_min():.1f}; clicks/min {clicks / (seconds / 60):.2f} ({clicks}; in the 48 kHz "
              f"stems {clicks48})"
              f" [{', '.join(f'{k}={v}' for k, v in opts.items())}]")
        print(f"    clicks: {', '.join(where) or 'none'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
