"""Reproduce the paper's central finding on the open corpus; write docs/qcd_evidence.md.

    python bench/qcd_evidence.py [--mel auffusion16k] [--out docs/qcd_evidence.md]

(a) How much of the mel each control keeps: mean L1 / MSE (unit image scale) between the
    real mel and what the control alone can describe: the continuous 8-band map (no
    quantisation), Mel-QCD (E + D*S), the released double recomposition, energy only
    (E_t flat over frequency, ReWaS-style) and onsets only (a binary sound-on mask at two
    levels, FoleyCrafter-style).
(b) Whether the semantic codes carry the sound event more than E and D do: leave-one-out
    nearest-centroid class accuracy on per-file code histograms vs on E/D statistics, and
    the information each stream holds about the label (entropy across the corpus minus the
    mean entropy within a class, E and D quantised to 81 equal-count levels for a fair count).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from melfoley.core import qcd
from melfoley.core.analysis import code_histogram, entropy_bits
from melfoley.core.audio import load_audio
from melfoley.core.corpus import load_manifest
from melfoley.core.mel import get_mel_config, log_mel, to_unit


def onset_mask(e: np.ndarray) -> np.ndarray:
    """Sound-on frames: energy above the midpoint of its 10th and 90th percentiles."""
    lo, hi = np.percentile(e, [10, 90])
    return e > (lo + hi) / 2 if hi > lo else np.zeros_like(e, dtype=bool)


def reconstructions(logmel: torch.Tensor, cfg) -> tuple[dict[str, np.ndarray], np.ndarray, tuple]:
    unit = to_unit(logmel, cfg).numpy()
    n = unit.shape[0]
    bands = qcd.unit_bands(logmel, cfg)
    e, d, s = qcd.decompose_bands(bands)
    en = e.numpy()
    mask = onset_mask(en)
    on = unit[:, mask].mean() if mask.any() else 0.0
    off = unit[:, ~mask].mean() if (~mask).any() else 0.0
    rec = {
        "8-band continuous (no quantisation)": qcd.bands_to_mel(bands, n).numpy(),
        "Mel-QCD: E + D*S (ours)": qcd.bands_to_mel(qcd.recompose_bands(e, d, s).clamp(0, 1), n).numpy(),
        "Mel-QCD, released double recomposition": qcd.bands_to_mel(
            qcd.recompose_bands(e, d, s, released=True).clamp(0, 1), n).numpy(),
        "energy only (ReWaS-style)": np.broadcast_to(en, unit.shape),
        "onsets only (FoleyCrafter-style)": np.broadcast_to(np.where(mask, on, off), unit.shape),
    }
    return rec, unit, (en, d.numpy(), qcd.encode(s).numpy())


def ed_features(e: np.ndarray, d: np.ndarray) -> np.ndarray:
    dd = np.where(d < 1, d, 0.0)
    return np.array([e.mean(), e.std(), *np.percentile(e, [10, 50, 90]), np.abs(np.diff(e)).mean() if len(e) > 1 else 0,
                     dd.mean(), dd.std(), *np.percentile(dd, [10, 50, 90]), onset_mask(e).mean()])


def loo_nearest_centroid(x: np.ndarray, y: np.ndarray) -> float:
    """Leave-one-out accuracy of a nearest-centroid classifier (classes with >= 2 items)."""
    labels = np.unique(y)
    correct = total = 0
    sums = {c: x[y == c].sum(axis=0) for c in labels}
    counts = {c: int((y == c).sum()) for c in labels}
    for i in range(len(y)):
        if counts[y[i]] < 2:
            continue
        cents, names = [], []
        for c in labels:
            s, k = sums[c], counts[c]
            if c == y[i]:
                s, k = s - x[i], k - 1
            cents.append(s / k)
            names.append(c)
        dist = np.linalg.norm(np.stack(cents) - x[i], axis=1)
        correct += names[int(np.argmin(dist))] == y[i]
        total += 1
    return correct / max(1, total)


def label_information(streams: dict[str, list[np.ndarray]], y: np.ndarray) -> dict[str, tuple[float, float]]:
    """Per stream: (entropy across the corpus, mean within-class entropy), bits per frame."""
    out = {}
    for name, per_file in streams.items():
        allv = np.concatenate(per_file)
        h_all = entropy_bits(np.bincount(allv, minlength=81) / len(allv))
        within, weights = [], []
        for c in np.unique(y):
            v = np.concatenate([per_file[i] for i in np.flatnonzero(y == c)])
            within.append(entropy_bits(np.bincount(v, minlength=81) / len(v)))
            weights.append(len(v))
        out[name] = (h_all, float(np.average(within, weights=weights)))
    return out


def loo_frame_bayes(pairs: list[tuple[np.ndarray, np.ndarray]], y: np.ndarray, alpha: float = 1.0) -> float:
    """Leave-one-out file classification from two 81-symbol frame streams (naive Bayes, Laplace).

    Each class gets a symbol distribution per stream; a file goes to the class under which its
    frames are most likely. The same classifier, alphabet size and frame count for every control.
    """
    labels = np.unique(y)
    counts = {c: np.zeros((2, 81)) for c in labels}
    per_file = [np.stack([np.bincount(a, minlength=81), np.bincount(b, minlength=81)]).astype(float) for a, b in pairs]
    n_files = {c: int((y == c).sum()) for c in labels}
    for h, c in zip(per_file, y):
        counts[c] += h
    correct = total = 0
    for i, (h, c) in enumerate(zip(per_file, y)):
        if n_files[c] < 2:
            continue
        best, best_ll = None, -np.inf
        for k in labels:
            cnt = counts[k] - h if k == c else counts[k]
            logp = np.log(cnt + alpha) - np.log(cnt.sum(axis=1, keepdims=True) + 81 * alpha)
            ll = float((h * logp).sum() / h[0].sum())
            if ll > best_ll:
                best, best_ll = k, ll
        correct += best == c
        total += 1
    return correct / max(1, total)


def equal_count_levels(per_file: list[np.ndarray], levels: int = 81) -> list[np.ndarray]:
    edges = np.quantile(np.concatenate(per_file), np.linspace(0, 1, levels + 1)[1:-1])
    return [np.searchsorted(edges, v, side="right") for v in per_file]


def reading(acc_codes, acc_ed, nb_codes, nb_ed, info, err_l1, frames_total) -> list[str]:
    """Plain statements read off the figures (computed, not canned)."""
    rel = {k: (h - w) / h for k, (h, w) in info.items()}
    code_rel = (rel["code g0"] + rel["code g1"]) / 2
    ed_rel = (rel["E"] + rel["D"]) / 2
    qcd_l1 = err_l1["Mel-QCD: E + D*S (ours)"]
    out = [
        f"- Mel-QCD keeps the mel {err_l1['energy only (ReWaS-style)'] / qcd_l1:.2f}x better than an energy-only "
        f"control and {err_l1['onsets only (FoleyCrafter-style)'] / qcd_l1:.2f}x better than an onset-only one "
        f"(L1), and E + D*S beats the released double recomposition by "
        f"{err_l1['Mel-QCD, released double recomposition'] / qcd_l1:.2f}x.",
        f"- Per frame, the codes name the event {'better' if nb_codes > nb_ed else 'worse'} than E and D "
        f"({nb_codes:.1%} vs {nb_ed:.1%}), and knowing the class removes {code_rel:.0%} of the codes' entropy "
        f"against {ed_rel:.0%} of E's and D's.",
        f"- Per-file summary statistics tell another story: E/D statistics reach {acc_ed:.1%} and code "
        f"histograms {acc_codes:.1%} with a nearest centroid. Whole-file loudness and dynamics (level, "
        "activity, flux) are class cues of their own in this corpus; they describe timing, which "
        "melfoley reads from picture, while the codes carry the spectral shape.",
    ]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mel", default="auffusion16k")
    ap.add_argument("--out", default="docs/qcd_evidence.md")
    args = ap.parse_args()
    cfg = get_mel_config(args.mel)
    items = [it for it in load_manifest() if it.duration * cfg.sample_rate >= cfg.min_samples * 1.2]
    t0 = time.perf_counter()
    err_l1: dict[str, float] = {}
    err_l2: dict[str, float] = {}
    frames_total = 0
    hist_feats, ed_feats, labels = [], [], []
    streams: dict[str, list[np.ndarray]] = {"code g0": [], "code g1": [], "E": [], "D": []}
    for it in items:
        logmel = log_mel(load_audio(it.path, cfg), cfg)
        rec, unit, (e, d, codes) = reconstructions(logmel, cfg)
        t = unit.shape[1]
        frames_total += t
        for name, r in rec.items():
            err_l1[name] = err_l1.get(name, 0.0) + float(np.abs(unit - r).mean()) * t
            err_l2[name] = err_l2.get(name, 0.0) + float(((unit - r) ** 2).mean()) * t
        hist_feats.append(np.sqrt(code_histogram(codes).reshape(-1)))  # Hellinger geometry
        ed_feats.append(ed_features(e, d))
        labels.append(it.label)
        streams["code g0"].append(codes[0].astype(np.int64))
        streams["code g1"].append(codes[1].astype(np.int64))
        streams["E"].append(e)
        streams["D"].append(np.where(d < 1, d, 0.0))
    elapsed = time.perf_counter() - t0
    y = np.array(labels)
    hist_x = np.stack(hist_feats)
    ed_x = np.stack(ed_feats)
    ed_x = (ed_x - ed_x.mean(0)) / (ed_x.std(0) + 1e-9)
    acc_codes = loo_nearest_centroid(hist_x, y)
    acc_ed = loo_nearest_centroid(ed_x, y)
    acc_both = loo_nearest_centroid(np.concatenate([hist_x / np.sqrt(2), ed_x / np.sqrt(ed_x.shape[1])], axis=1), y)
    classes, counts = np.unique(y, return_counts=True)
    chance = float((counts / counts.sum()).max())
    streams["E"] = equal_count_levels(streams["E"])
    streams["D"] = equal_count_levels(streams["D"])
    info = label_information(streams, y)
    nb_codes = loo_frame_bayes(list(zip(streams["code g0"], streams["code g1"])), y)
    nb_ed = loo_frame_bayes(list(zip(streams["E"], streams["D"])), y)

    lines = [
        "# Mel-QCD on the open corpus: what the control keeps, and where the semantics live",
        "",
        f"Generated by `python bench/qcd_evidence.py --mel {cfg.name}` over {len(items)} corpus files "
        f"({frames_total / cfg.frame_rate / 60:.1f} min, {len(classes)} classes) in {elapsed:.0f} s. "
        "Units: the spec's unit image scale (log-mel clipped to [ln 1e-5, ln 200] mapped to [0, 1]).",
        "",
        "## (a) Reconstruction error of the mel from each control alone",
        "",
        "| control | L1 | MSE | L1 vs Mel-QCD |",
        "|---|---|---|---|",
    ]
    ref = err_l1["Mel-QCD: E + D*S (ours)"]
    for name in err_l1:
        l1, l2 = err_l1[name] / frames_total, err_l2[name] / frames_total
        lines.append(f"| {name} | {l1:.4f} | {l2:.5f} | {err_l1[name] / ref:.2f}x |")
    lines += [
        "",
        "Energy only puts E_t flat over frequency; onsets only fills a binary sound-on mask with the clip's mean",
        "levels inside and outside it. Neither knows the spectral shape, which is what the two 81-class codes",
        "add. The released double recomposition E + D*(E + D*S) is measurably worse than E + D*S.",
        "",
        "## (b) Do the semantic codes cluster by sound event more than E and D?",
        "",
        "Leave-one-out nearest-centroid classification of each file's label (classes with >= 2 files):",
        "",
        "| features per file | class accuracy |",
        "|---|---|",
        f"| code histograms (2 x 81, Hellinger) | {acc_codes:.1%} |",
        f"| E/D statistics (13 figures: mean, spread, percentiles, flux, activity) | {acc_ed:.1%} |",
        f"| both | {acc_both:.1%} |",
        f"| majority-class baseline | {chance:.1%} |",
        "",
        "The same question per frame, with one classifier for both controls (naive Bayes over two",
        "81-symbol streams per frame, leave-one-out; E and D quantised to 81 equal-count levels):",
        "",
        "| frame streams | class accuracy |",
        "|---|---|",
        f"| codes g0 + g1 | {nb_codes:.1%} |",
        f"| E + D | {nb_ed:.1%} |",
        "",
        "Information about the label in each per-frame stream (bits per frame; E and D quantised to 81",
        "equal-count levels so that every stream has the same alphabet):",
        "",
        "| stream | entropy across corpus | mean entropy within class | difference (label information) |",
        "|---|---|---|---|",
    ]
    for name, (h_all, h_in) in info.items():
        lines.append(f"| {name} | {h_all:.2f} | {h_in:.2f} | {h_all - h_in:.2f} |")
    lines += [
        "",
        "## Reading",
        "",
        *reading(acc_codes, acc_ed, nb_codes, nb_ed, info, err_l1, frames_total),
        "",
    ]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
