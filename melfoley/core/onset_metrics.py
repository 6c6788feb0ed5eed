"""Onset accuracy and AP as MMAudio's ``eval_onsets`` (from CondFoleyGen) defines them, and energy correlation.

Definition (reimplemented, not copied): both waveforms at 22.05 kHz; onsets by librosa's
``onset_detect(delta=0.3)``; each generated onset gets a confidence, the peak of the
min-max-normalised |generated waveform| within +-50 ms; generated onsets closer than 50 ms
are thinned by non-maximum suppression on that confidence. Every ground-truth onset, in
order, takes the most confident unused generated onset within ``delta`` (0.1 s): a hit
(label 1, score = its confidence) or a miss (label 1, score 0); unused generated onsets
are false alarms (label 0, their confidence). Accuracy = hits / ground-truth onsets; AP =
average precision of those labels and scores. A clip where either side has no onset
scores 0 for both (as the reference does).
"""

from __future__ import annotations

import numpy as np

SR = 22050
CONF_WINDOW = 0.05  # s, half-width of the confidence window and the NMS window


def detect_onsets(wave: np.ndarray, sr: int) -> np.ndarray:
    """Onset sample indices at 22.05 kHz (librosa, delta 0.3)."""
    import librosa

    from .audio import resample

    y = resample(np.asarray(wave, np.float32), sr, SR) if sr != SR else np.asarray(wave, np.float32)
    return librosa.onset.onset_detect(y=y, sr=SR, units="samples", delta=0.3)


def _confidence(env: np.ndarray, onsets: np.ndarray) -> np.ndarray:
    w = int(CONF_WINDOW * SR)
    return np.array([env[max(0, o - w):o + w].max() if o + w > 0 else 0.0 for o in onsets])


def _nms(onsets: np.ndarray, conf: np.ndarray) -> np.ndarray:
    keep: list[int] = []
    for i in np.argsort(-conf, kind="stable"):
        if all(abs(int(onsets[i]) - int(onsets[j])) >= CONF_WINDOW * SR for j in keep):
            keep.append(int(i))
    return np.array(sorted(keep), dtype=int)


def eval_onsets(true_wave: np.ndarray, gen_wave: np.ndarray, sr_true: int, sr_gen: int,
                delta: float = 0.1) -> tuple[float, float]:
    """(onset accuracy, onset AP) of a generated clip against its ground truth."""
    from sklearn.metrics import average_precision_score

    from .audio import resample

    true_on = detect_onsets(true_wave, sr_true)
    gen = resample(np.asarray(gen_wave, np.float32), sr_gen, SR) if sr_gen != SR else np.asarray(gen_wave, np.float32)
    gen_on = detect_onsets(gen, SR)
    if len(true_on) == 0 or len(gen_on) == 0:
        return 0.0, 0.0
    env = np.abs(gen)
    span = float(env.max() - env.min())
    env = (env - env.min()) / span if span > 0 else np.zeros_like(env)
    conf = _confidence(env, gen_on)
    keep = _nms(gen_on, conf)
    gen_on, conf = gen_on[keep], conf[keep]
    unused = list(range(len(gen_on)))
    labels, scores, hits = [], [], 0
    for t in true_on:
        near = [i for i in unused if abs(int(gen_on[i]) - int(t)) < delta * SR]
        labels.append(1)
        if near:
            best = max(near, key=lambda i: conf[i])
            scores.append(float(conf[best]))
            unused.remove(best)
            hits += 1
        else:
            scores.append(0.0)
    labels += [0] * len(unused)
    scores += [float(conf[i]) for i in unused]
    ap = float(average_precision_score(labels, scores)) if any(labels) else 0.0
    return hits / len(true_on), ap


def energy_correlation(true_wave: np.ndarray, gen_wave: np.ndarray, sr_true: int, sr_gen: int) -> float:
    """Pearson correlation of the two clips' QCD energy curves (E_t on the auffusion16k grid)."""
    from .control import QCDControl

    a = QCDControl.from_waveform(true_wave, sr_true, "auffusion16k").energy
    b = QCDControl.from_waveform(gen_wave, sr_gen, "auffusion16k").energy
    n = min(len(a), len(b))
    a, b = a[:n].astype(np.float64), b[:n].astype(np.float64)
    if n < 2 or a.std() == 0 or b.std() == 0:
        return 0.0
    return float(np.corrcoef(a, b)[0, 1])
