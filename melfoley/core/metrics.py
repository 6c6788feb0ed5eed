"""Scorers shared by the benches and ``melfoley eval``: an independent sound-effect embedding
(aisfx), nearest-centroid classification in it, and the Frechet distance.

- :class:`AisfxEmbedder`: the aisfx X-Sequential-CE embedding net (CC BY 4.0), loaded
  offline from its installed package files, with its own librosa-style front end. It is
  not trained on this project's corpus, so it judges every engine from outside.
- :func:`centroids`, :func:`nearest_centroid`, :func:`loo_nearest_centroid`: cosine
  nearest class centroid; the leave-one-out form never scores a recording against a
  centroid that contains it (the real-recording ceiling).
- :func:`frechet`: Frechet distance between two sets of embeddings (FAD-style).
- :func:`split_embeddings`: embeddings of a corpus split, cached in the user cache dir.

Heavy imports (torch, aisfx, librosa, scipy) happen inside the functions that need them.
"""

from __future__ import annotations

import hashlib
import importlib.util
from pathlib import Path
from typing import Sequence

import numpy as np

from .errors import MelfoleyError

#: aisfx front end: 44.1 kHz, 2048-point frames, hop 1024, blocks of 100 frames, hop 50
AISFX_SR = 44100
_BLOCK, _BLOCK_HOP = 100, 50


class AisfxEmbedder:
    """The aisfx X-Sequential-CE embedding net (CC BY 4.0) loaded from its installed package files."""

    def __init__(self):
        import torch

        spec = importlib.util.find_spec("aisfx")
        if spec is None or not spec.submodule_search_locations:
            raise MelfoleyError("the aisfx package is not installed; run `pip install aisfx` in the venv")
        pkg = Path(list(spec.submodule_search_locations)[0])
        from aisfx.models.cnn2d import CrossNet, EmbeddingNet

        weights, ds = torch.load(pkg / "models" / "checkpoint.pth", map_location="cpu", weights_only=False)
        net = CrossNet(EmbeddingNet("max", 3, 1, 64), ds, "cpu")
        net.load_state_dict(weights)
        self.net = net.eval()
        import librosa

        self.fb = librosa.filters.mel(sr=AISFX_SR, n_fft=2048, n_mels=96, fmin=0.0, fmax=AISFX_SR / 2, htk=True,
                                      norm=1.0)
        self.window = torch.hann_window(2048)

    def spectrogram(self, y44: np.ndarray) -> np.ndarray:
        """aisfx's librosa front-end: power mel (96, htk, L1 filters), log10(10000 x + 1), / 9.4578."""
        import torch

        y = torch.from_numpy(y44.astype(np.float32))
        spec = torch.stft(y, 2048, 1024, 2048, self.window, center=True, pad_mode="constant",
                          return_complex=True).abs() ** 2
        mel = self.fb @ spec.numpy()
        return (np.log10(mel * 10000.0 + 1.0) / 9.457798957824707).T.astype(np.float32)  # [T, 96]

    def embed(self, y: np.ndarray, sr: int, *, active_only: bool = False) -> np.ndarray:
        """One embedding per recording: the mean over 100-frame blocks (peak-normalised input).

        ``active_only`` drops blocks that are digital silence (or nearly: every frame under
        -80 dB of the peak), so a stem's silent stretches do not pull it towards "nothing";
        if every block is silent the plain mean is used.
        """
        import torch

        from .audio import resample

        y = np.asarray(y, np.float32)
        if y.ndim > 1:
            y = y.mean(axis=1)
        m = float(np.max(np.abs(y))) if y.size else 0.0
        y44 = resample(y / (m or 1.0), sr, AISFX_SR)
        s = self.spectrogram(y44)
        if s.shape[0] < _BLOCK:
            s = np.pad(s, ((0, _BLOCK - s.shape[0]), (0, 0)))
        starts = list(range(0, s.shape[0] - _BLOCK + 1, _BLOCK_HOP))
        blocks = np.stack([s[a:a + _BLOCK] for a in starts])
        if active_only:
            # log10(1e4 x + 1) / 9.46 > 0.001 <=> mel power above ~2e-6 of a full-scale frame (-57 dB per band)
            keep = blocks.max(axis=(1, 2)) > 1e-3
            if keep.any():
                blocks = blocks[keep]
        with torch.inference_mode():
            return self.net.get_embedding(torch.from_numpy(blocks)).mean(0).numpy()


def _unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, np.float64)
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def centroids(emb: np.ndarray, labels: Sequence[str]) -> dict[str, np.ndarray]:
    """Mean embedding per label."""
    out: dict[str, list] = {}
    for v, lab in zip(np.asarray(emb), labels):
        out.setdefault(lab, []).append(v)
    return {k: np.mean(v, axis=0) for k, v in out.items()}


def nearest_centroid(emb: np.ndarray, cents: dict[str, np.ndarray]) -> list[str]:
    """The label of the nearest centroid (cosine) for every row of ``emb``."""
    names = sorted(cents)
    c = _unit(np.stack([cents[n] for n in names]))
    return [names[i] for i in np.argmax(_unit(np.atleast_2d(emb)) @ c.T, axis=1)]


def loo_nearest_centroid(emb: np.ndarray, labels: Sequence[str]) -> list[str]:
    """Nearest centroid (cosine) of every recording, its own class centroid recomputed without it.

    A class whose only recording is left out has no centroid for that recording.
    """
    emb = np.asarray(emb, np.float64)
    labels = list(labels)
    names = sorted(set(labels))
    sums = {n: emb[[i for i, l in enumerate(labels) if l == n]].sum(0) for n in names}
    counts = {n: labels.count(n) for n in names}
    out = []
    for v, lab in zip(emb, labels):
        cs, ns = [], []
        for n in names:
            s, k = sums[n], counts[n]
            if n == lab:
                s, k = s - v, k - 1
            if k > 0:
                cs.append(s / k)
                ns.append(n)
        out.append(ns[int(np.argmax(_unit(np.stack(cs)) @ _unit(v)))])
    return out


def accuracy(pred: Sequence[str], labels: Sequence[str]) -> float:
    return float(np.mean([p == l for p, l in zip(pred, labels)])) if len(labels) else float("nan")


def frechet(a: np.ndarray, b: np.ndarray) -> float:
    """Frechet distance between Gaussians fitted to two embedding sets (rows = items)."""
    from scipy import linalg

    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape[0] < 2 or b.shape[0] < 2:
        return float("nan")
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = linalg.sqrtm(s1 @ s2)
    covmean = covmean.real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * covmean))


def split_embeddings(embedder: AisfxEmbedder, paths: Sequence[Path]) -> np.ndarray:
    """aisfx embeddings of recordings (files), cached in the user cache dir by their paths."""
    import soundfile as sf

    from .userdirs import cache_dir

    key = hashlib.sha256("\n".join(str(p) for p in paths).encode()).hexdigest()[:16]
    path = cache_dir() / "eval" / f"aisfx_{key}.npy"
    if path.exists():
        got = np.load(path)
        if got.shape[0] == len(paths):
            return got
    out = []
    for p in paths:
        y, sr = sf.read(str(p), dtype="float32")
        out.append(embedder.embed(y, sr))
    out = np.stack(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.stem + ".part.npy")
    np.save(tmp, out)
    tmp.replace(path)
    return out
