"""Quality and speed of the embedded engine on the corpus validation split (issue 3, point 6).

Prints every figure:
- semantic: class accuracy (nearest real-class centroid in the aisfx embedding, centroids
  from the real *train* recordings) of audio generated from the real val recordings'
  controls (the paper's "GT control" setting, prompt = the class phrase), next to the
  same accuracy of the real val recordings (the ceiling); Frechet distance generated vs
  real next to real half vs real half;
- energy: Pearson correlation of the generated audio's E_t with the requested E_t;
- sync: procedural impact videos (synthvideo: drop, bounce, collide) through the whole
  engine; onsets detected in the generated audio vs the true contact times: median
  |error| and F1 at +-50 ms;
- speed: real-time factor of a 10 s clip on the available cores (torch threads = 2),
  vocoder included, video decoding timed separately.

Usage: python bench/eval_lite.py [--vocoder hifigan|griffinlim|both] [--weights DIR] [--only semantic,energy,sync,speed]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from melfoley.core import qcd
from melfoley.core.control import QCDControl
from melfoley.core.engine import FoleyRequest
from melfoley.core.mel import get_mel_config, log_mel
from melfoley.core.metrics import AisfxEmbedder, accuracy, frechet, nearest_centroid, split_embeddings
from melfoley.core.onsets import f1_score, match_onsets
from melfoley.core.train import corpus_mels

MEL = "hifigan22k"
SR = 22050


def centroid_accuracy(emb: np.ndarray, labels: list[str], centroids: dict[str, np.ndarray]) -> float:
    return accuracy(nearest_centroid(emb, centroids), labels)


# ---------------------------------------------------------------------------- helpers
def measured_energy(y: np.ndarray) -> np.ndarray:
    return qcd.decompose(log_mel(np.asarray(y, np.float32), MEL), MEL)[0].numpy()


def _onset_frames(e: np.ndarray, threshold: float, min_gap: int, lag: int = 4) -> list[float]:
    """Fractional frames where E_t crosses halfway from its recent minimum to the local peak of a rise."""
    base = np.array([e[max(0, t - lag):t].min() if t else e[0] for t in range(e.shape[0])])
    rise = np.clip(e - base, 0, None)
    out, last = [], -min_gap
    for t in range(1, e.shape[0] - 1):
        if rise[t] >= threshold and rise[t] >= rise[t - 1] and rise[t] >= rise[t + 1] and t - last >= min_gap:
            lo, hi = base[t], e[t:min(e.shape[0], t + 3)].max()
            half = 0.5 * (lo + hi)
            s = max(1, t - lag)
            while s < t and e[s] < half:
                s += 1
            frac = (half - e[s - 1]) / max(e[s] - e[s - 1], 1e-6) if e[s - 1] < half else 0.0
            out.append(s - 1 + float(np.clip(frac, 0, 1)))
            last = t
    return out


_BIAS: list[float] = []


def _detector_bias() -> float:
    """Seconds the detector reports early/late on ideal clicks (decaying noise bursts) at known times."""
    if not _BIAS:
        rng = np.random.default_rng(0)
        y = np.zeros(SR * 4, np.float32)
        times = np.arange(0.3, 3.7, 0.37)
        for t in times:
            i = int(round(t * SR))
            n = int(0.1 * SR)
            y[i:i + n] += rng.standard_normal(n).astype(np.float32) * np.exp(-np.arange(n) / (0.02 * SR)) * 0.5
        y += rng.standard_normal(y.shape[0]).astype(np.float32) * 1e-3
        got = _raw_onsets(y)
        errs, *_ = match_onsets(got, times, tol=0.05)
        _BIAS.append(float(np.median(errs)) if errs else 0.0)
    return _BIAS[0]


def _raw_onsets(y: np.ndarray, threshold: float = 0.08, min_gap_s: float = 0.08) -> np.ndarray:
    cfg = get_mel_config(MEL)
    frames = _onset_frames(measured_energy(y), threshold, max(1, int(round(min_gap_s * cfg.frame_rate))))
    return np.asarray([(f * cfg.hop_length + cfg.hop_length / 2) / SR for f in frames])


def detect_onsets(y: np.ndarray, threshold: float = 0.08, min_gap_s: float = 0.08) -> np.ndarray:
    """Onset times (s) of audio: half-rise crossings of E_t, minus the detector's bias on ideal clicks."""
    return _raw_onsets(y, threshold, min_gap_s) - _detector_bias()


# ---------------------------------------------------------------------------- sections
def real_embeddings(ae, ms) -> np.ndarray:
    """aisfx embeddings of the real recordings of a split, cached in the user cache dir."""
    return split_embeddings(ae, [it.path for it in ms.items])


def semantic_and_energy(engine, ms, ae, log):
    from melfoley.core.text import event

    tr, va = ms.of_split("train"), ms.of_split("val")
    t0 = time.time()
    emb_tr, emb_va = real_embeddings(ae, tr), real_embeddings(ae, va)
    real_tr = {}
    for it, v in zip(tr.items, emb_tr):
        real_tr.setdefault(it.label, []).append(v)
    centroids = {k: np.mean(v, axis=0) for k, v in real_tr.items()}
    real_va, gen_va, labels, corr_req, corr_gen, per_clip = list(emb_va), [], [], [], [], []
    for i, it in enumerate(va.items):
        control = QCDControl.from_logmel(va.mels[i], MEL)  # the GT control of the real recording
        prompt = event(it.label).phrase
        audio = engine.render(control, prompt, seed=i)
        gen_va.append(ae.embed(audio, SR))
        labels.append(it.label)
        e_gen = measured_energy(audio)[: control.frames]
        n = min(e_gen.shape[0], control.frames)
        corr_req.append(control.energy[:n])
        corr_gen.append(e_gen[:n])
        if n > 3:
            per_clip.append(np.corrcoef(control.energy[:n], e_gen[:n])[0, 1])
    real_va, gen_va = np.stack(real_va), np.stack(gen_va)
    acc_real = centroid_accuracy(real_va, labels, centroids)
    acc_gen = centroid_accuracy(gen_va, labels, centroids)
    rng = np.random.default_rng(0)
    perm = rng.permutation(len(labels))
    h1, h2 = perm[: len(perm) // 2], perm[len(perm) // 2:]
    fd_gen = frechet(gen_va, real_va)
    fd_gen_half = frechet(gen_va[h1], real_va[h2])
    fd_real_half = frechet(real_va[h1], real_va[h2])
    r = np.corrcoef(np.concatenate(corr_req), np.concatenate(corr_gen))[0, 1]
    log(f"semantic ({len(labels)} val clips, {len(set(labels))} classes, centroids from {len(tr.items)} real train "
        f"clips, aisfx embedding; {time.time() - t0:.0f} s)")
    log(f"  class accuracy, generated from GT control: {acc_gen:.3f}")
    log(f"  class accuracy, real val recordings (ceiling): {acc_real:.3f}")
    log(f"  ratio generated / ceiling: {acc_gen / max(acc_real, 1e-9):.3f}  (goal >= 0.80)")
    log(f"  Frechet distance generated vs real (all {len(labels)} vs all): {fd_gen:.2f}")
    log(f"  Frechet distance generated half vs real other half: {fd_gen_half:.2f}")
    log(f"  Frechet distance real half vs real other half: {fd_real_half:.2f}")
    log(f"energy: Pearson r of generated E_t vs requested E_t, pooled over {sum(len(c) for c in corr_req)} frames: "
        f"{r:.3f} (goal >= 0.9); median per clip {np.median(per_clip):.3f}")
    return {"acc_gen": acc_gen, "acc_real": acc_real, "fd_gen": fd_gen, "fd_gen_half": fd_gen_half,
            "fd_real_half": fd_real_half, "energy_r": r}


def sync(engine, log, seeds=(0, 1, 2, 3)):
    from melfoley.core.synthvideo import render_impact_video

    errs, tp, fp, fn = [], 0, 0, 0
    pic_errs, pic_tp, pic_fp, pic_fn = [], 0, 0, 0
    prompts = {"drop": "tool impact", "bounce": "body impact", "collide": "metal impact"}
    with tempfile.TemporaryDirectory() as tmp:
        for kind in ("drop", "bounce", "collide"):
            for s in seeds:
                path = Path(tmp) / f"{kind}{s}.mp4"
                true = np.asarray(render_impact_video(path, kind=kind, duration=4.0, seed=s))
                (take,) = engine.generate([FoleyRequest(path, 0.0, 4.0, prompts[kind], seed=s)])[0]
                pred = detect_onsets(take.audio)
                e, a, b, c = match_onsets(pred, true)
                errs += e
                tp, fp, fn = tp + a, fp + b, fn + c
                from melfoley.core.engines.debug import picture_timing

                info = picture_timing(FoleyRequest(path, 0.0, 4.0, "x"), take.control.frames)[2]
                e, a, b, c = match_onsets(np.asarray(info.get("onsets", [])), true)
                pic_errs += e
                pic_tp, pic_fp, pic_fn = pic_tp + a, pic_fp + b, pic_fn + c
    f1 = f1_score(tp, fp, fn)
    pf1 = f1_score(pic_tp, pic_fp, pic_fn)
    med = float(np.median(np.abs(errs))) if errs else float("nan")
    log(f"sync ({3 * len(seeds)} procedural videos, {tp + fn} true contacts): onsets in the generated audio: "
        f"median |error| {med * 1000:.1f} ms (goal <= 40), F1(+-50 ms) {f1:.3f} (goal >= 0.8; tp {tp}, fp {fp}, fn {fn})")
    log(f"  picture-side onsets alone (motion.predict_timing): median |error| "
        f"{np.median(np.abs(pic_errs)) * 1000 if pic_errs else float('nan'):.1f} ms, F1 {pf1:.3f}")
    return {"sync_median_ms": med * 1000, "sync_f1": f1}


def speed(engine, log, reps: int = 3):
    from melfoley.core.synthvideo import render_impact_video
    from melfoley.core.video import read_frames

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "clip.mp4"
        render_impact_video(path, kind="bounce", duration=10.0, seed=0)
        t = time.perf_counter()
        fr = read_frames(path, 0.0, 10.0)
        t_dec = time.perf_counter() - t
    req = FoleyRequest(None, 0.0, 10.0, "footsteps on gravel", frames=fr.frames, frame_rate=fr.fps)
    engine.generate([req])  # warm-up (loads the vocoder)
    times, t_pred, t_mel, t_voc = [], [], [], []
    for _ in range(reps):
        t = time.perf_counter()
        control = engine.predict(req)
        t1 = time.perf_counter()
        logmel = engine.render_mels([control], [req.prompt], [0])
        t2 = time.perf_counter()
        engine.vocode(logmel, [0])
        t3 = time.perf_counter()
        t_pred.append(t1 - t), t_mel.append(t2 - t1), t_voc.append(t3 - t2), times.append(t3 - t)
    t = time.perf_counter()
    engine.generate([req])
    t_gen = time.perf_counter() - t
    log(f"speed (10 s clip, torch threads {torch.get_num_threads()}, best of {reps}): RTF {min(times) / 10:.3f} "
        f"(goal <= 0.35) = predict {min(t_pred) / 10:.3f} + renderer {min(t_mel) / 10:.3f} + vocoder "
        f"{min(t_voc) / 10:.3f}; full generate() {t_gen / 10:.3f}; video decode (224 px, separate) {t_dec / 10:.3f}")
    return {"rtf": min(times) / 10}


class _Resynth:
    """The real recording's own mel through the engine's vocoder (and high band): the ceiling of any renderer."""

    def __init__(self, eng, mels):
        self.eng, self.mels = eng, mels

    def render(self, control, prompt, seed):
        import torch

        m = self.mels[seed]  # semantic_and_energy seeds clip i with i
        y = self.eng.vocode(torch.from_numpy(m).unsqueeze(0), [seed])[0, : control.frames * 256]
        if self.eng.highband is not None:
            w = self.eng._event_weights(prompt, self.eng.highband.labels)
            y = self.eng.highband.apply(y, m, w, seed)
        return y


class _Bypass:
    """The engine with its renderer replaced by the control's recomposed map (ablation)."""

    def __init__(self, eng):
        self.eng = eng

    def render(self, control, prompt, seed):
        import torch

        from melfoley.core.mel import from_unit

        unit = torch.from_numpy(control.recomposed_mel()).unsqueeze(0) * (torch.from_numpy(control.energy) > 1e-4)
        return self.eng.vocode(from_unit(unit.float(), MEL), [seed])[0, : control.frames * 256]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--vocoder", default="both", choices=["hifigan", "griffinlim", "both"])
    ap.add_argument("--weights", default=None)
    ap.add_argument("--only", default="semantic,sync,speed")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--temperature", type=float, default=None, help="renderer sampling temperature (default: the weights')")
    ap.add_argument("--no-highband", action="store_true", help="leave 8-11 kHz to the vocoder (no band replication)")
    ap.add_argument("--ablation", default="",
                    help="comma list of extra semantic runs: bypass (vocoder on the recomposed control), "
                         "resynth (the real mel through the vocoder), mean (renderer at temperature 0)")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    from melfoley.core.engines.embedded import EmbeddedEngine

    only = set(args.only.split(","))
    vocs = ["hifigan", "griffinlim"] if args.vocoder == "both" else [args.vocoder]
    need = "semantic" in only or bool(args.ablation)
    ms = corpus_mels() if need else None
    ae = AisfxEmbedder() if need else None
    for v in vocs:
        eng = EmbeddedEngine(args.weights, vocoder=v, temperature=args.temperature, highband=not args.no_highband)
        print(f"== embedded engine, vocoder {v}, weights {eng.folder} (sha256 {eng.weights_sha256[:12]}), "
              f"temperature {eng.renderer.config.temperature if args.temperature is None else args.temperature}, "
              f"high band {'on' if eng.highband else 'off'}", flush=True)
        log = lambda s: print(s, flush=True)
        if "semantic" in only:
            semantic_and_energy(eng, ms, ae, log)
        if args.ablation:
            abl = set(filter(None, args.ablation.split(",")))
            if "bypass" in abl:
                log("-- ablation: renderer bypassed (vocoder on the recomposed 8-band control itself)")
                semantic_and_energy(_Bypass(eng), ms, ae, log)
            if "resynth" in abl:
                log("-- ablation: the real mel resynthesised by the vocoder (ceiling of any mel renderer)")
                semantic_and_energy(_Resynth(eng, ms.of_split("val").mels), ms, ae, log)
            if "mean" in abl:
                log("-- ablation: renderer mean only (temperature 0)")
                semantic_and_energy(EmbeddedEngine(args.weights, vocoder=v, temperature=0.0,
                                                   highband=not args.no_highband), ms, ae, log)
        if "sync" in only:
            sync(eng, log)
        if "speed" in only:
            speed(eng, log)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
