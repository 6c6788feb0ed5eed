"""Scoring onsets against known event times (sync evaluation and tests)."""

from __future__ import annotations

import numpy as np


def match_onsets(pred, true, tol: float = 0.05) -> tuple[list[float], int, int, int]:
    """Greedy one-to-one matching within ``tol`` seconds.

    Each true onset, in order, takes the nearest unused prediction within ``tol``. Returns
    (signed errors ``pred - true`` of the matched true onsets, tp, fp, fn).
    """
    pred = np.asarray(pred, dtype=np.float64).reshape(-1)
    used: set[int] = set()
    errs: list[float] = []
    for t in np.asarray(true, dtype=np.float64).reshape(-1):
        if pred.size == 0:
            break
        d = np.abs(pred - t)
        for i in np.argsort(d, kind="stable"):
            if d[i] > tol:
                break
            if int(i) not in used:
                used.add(int(i))
                errs.append(float(pred[i] - t))
                break
    tp = len(errs)
    return errs, tp, int(pred.size) - tp, int(np.asarray(true).size) - tp


def f1_score(tp: int, fp: int, fn: int) -> float:
    return 2 * tp / max(2 * tp + fp + fn, 1)
