"""``melfoley eval DATASET_DIR --engine ANY [--weights DIR]``: an engine scored on a dataset's val clips.

Each val clip's picture (video, start, duration) and label go to the engine as a request
(prompt = the label, seed 0); its take is scored against the clip's own 16 kHz sound:
- onset accuracy and AP (MMAudio's ``eval_onsets`` definition, :mod:`melfoley.core.onset_metrics`);
- energy correlation (Pearson of the QCD energy curves);
- class accuracy in the aisfx space: nearest centroid, the centroids built from the
  *train* clips' real sound (never from what is scored); clips whose label has no train
  clip are left out of it;
- Frechet distance between the aisfx embeddings of the takes and of the real val sound;
- for an engine with a V2X predictor, on the clips' stored features: code accuracy per group
  and the mean absolute E / D error against the clips' QCD targets.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ..errors import MelfoleyError


def _mean(xs) -> float:
    xs = [x for x in xs if x is not None and not (isinstance(x, float) and math.isnan(x))]
    return float(np.mean(xs)) if xs else float("nan")


def v2x_scores(v2x, clips) -> dict:
    """Code accuracy per group and E / D mean absolute error of V2X on the clips' stored features."""
    import torch

    acc = [[], []]
    e_err, d_err = [], []
    p = next(v2x.parameters())
    with torch.no_grad():
        for c in clips:
            out = v2x(c["features"].unsqueeze(0).to(p.device, p.dtype))
            codes = out.code_logits.argmax(-1)[0].cpu()
            n = min(codes.shape[-1], c["codes"].shape[-1])
            for g in range(codes.shape[0]):
                acc[g].append(float((codes[g, :n] == c["codes"][g, :n]).float().mean()))
            e_err.append(float((out.energy[0, :n].float().cpu().clamp(0, 1) - c["energy"][:n]).abs().mean()))
            d_err.append(float((out.spread[0, :n].float().cpu().clamp(0, 1) - c["spread"][:n]).abs().mean()))
    return {"v2x_code_accuracy_group0": _mean(acc[0]), "v2x_code_accuracy_group1": _mean(acc[1]),
            "v2x_energy_mae": _mean(e_err), "v2x_spread_mae": _mean(d_err)}


def evaluate(root: str | Path, engine, *, max_clips: int | None = None, log=print) -> dict:
    """Figures of ``engine`` on the val split of the dataset in ``root``."""
    from ..engine import FoleyRequest
    from ..metrics import AisfxEmbedder, accuracy, centroids, frechet, nearest_centroid
    from ..onset_metrics import energy_correlation, eval_onsets
    from .dataset import ClipDataset

    val = ClipDataset(root, "val")
    clips = [val[i] for i in range(len(val) if max_clips is None else min(max_clips, len(val)))]
    recs = val.clips[:len(clips)]
    reqs = [FoleyRequest(Path(r["video"]), float(r["start"]), float(r["duration"]), r["label"] or "sound",
                         seed=0, clip_id=f"{Path(r['video']).name}@{r['start']:.2f}") for r in recs]
    log(f"rendering {len(reqs)} val clips with the {engine.name} engine")
    takes = [t[0] for t in engine.generate(reqs)]
    per_clip = []
    for c, r, t in zip(clips, recs, takes):
        truth = c["audio"].numpy()
        acc, ap = eval_onsets(truth, t.audio, 16000, t.sample_rate)
        per_clip.append({"video": r["video"], "start": r["start"], "label": r["label"], "onset_acc": acc,
                         "onset_ap": ap, "energy_corr": energy_correlation(truth, t.audio, 16000, t.sample_rate)})
    emb = AisfxEmbedder()
    gen_emb = np.stack([emb.embed(t.audio, t.sample_rate) for t in takes])
    real_emb = np.stack([emb.embed(c["audio"].numpy(), 16000) for c in clips])
    figures = {"clips": len(clips), "engine": engine.name,
               "onset_acc": _mean(p["onset_acc"] for p in per_clip),
               "onset_ap": _mean(p["onset_ap"] for p in per_clip),
               "energy_corr": _mean(p["energy_corr"] for p in per_clip),
               "frechet_aisfx": frechet(gen_emb, real_emb)}
    try:
        train = ClipDataset(root, "train")
    except MelfoleyError:
        train = None
    labels = [r["label"] for r in recs]
    if train is not None and any(labels):
        tr = [train[i] for i in range(len(train))]
        cents = centroids(np.stack([emb.embed(c["audio"].numpy(), 16000) for c in tr]), [c["label"] for c in tr])
        scored = [i for i, lab in enumerate(labels) if lab in cents]
        if scored:
            pred = nearest_centroid(gen_emb[scored], cents)
            figures["class_accuracy"] = accuracy(pred, [labels[i] for i in scored])
            figures["class_accuracy_clips"] = len(scored)
    v2x = getattr(engine, "v2x", None)
    if v2x is not None:
        figures.update(v2x_scores(v2x, clips))
    return {"figures": figures, "clips": per_clip, "dataset": str(root), "engine": engine.describe()}
