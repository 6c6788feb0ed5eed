"""The Mel-QCD pipeline: QCD controls + prompts -> 16 kHz audio (MELQCD_SPEC.md sections 1, 4, 5).

Stages of one call, as numbered below: 1 check inputs; 2 plan windows (clips longer than
one model window, 10.24 s, are cut into overlapping windows); 3 encode the prompts (with
the textual-inversion adapter when image embeddings are given); 4 encode the controls
(control image -> frozen VAE encoder moments); 5 prepare latents (per-clip generators, so a
clip's audio does not depend on what it is batched with); 6 denoise (classifier-free
guidance on text only: both branches get the same control; per-step callback; interrupt);
7 decode (VAE -> mel image -> log-mel -> HiFi-GAN) and crossfade the windows of each clip.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import torch

from ..control import QCDControl
from ..errors import MelfoleyError
from ..mel import from_unit, get_mel_config
from ..windows import Window, crossfade_join, plan_windows
from .adapter import inversion_prompt, placeholder_token_id, replaced_token_embeddings
from .controlnet import vae_moments

#: scheduler name -> default number of steps (PNDM 100: the paper; DPM-Solver++ 25: the fast default)
SCHEDULERS = {"dpm++": 25, "pndm": 100}

#: the SD-1.5 / Auffusion noise schedule (spec section 4)
SD_SCHEDULER_CONFIG = dict(
    num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
    set_alpha_to_one=False, steps_offset=1, prediction_type="epsilon", skip_prk_steps=True,
)

StepCallback = Callable[[int, int, int], None]  # (step done, total steps, timestep)


@dataclass(frozen=True)
class PipelineConfig:
    mel: str = "auffusion16k"
    window_frames: int = 1024  # 10.24 s at 100 frames/s (the model's training length)
    overlap_frames: int = 128  # [ours] crossfade between windows of a long clip
    released_compat: bool = False  # control images as the authors' released inference made them
    clone_residuals: bool = False  # copy ControlNet outputs (needed between CUDA-graph replays)

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


@dataclass
class MelQCDOutput:
    audio: list[np.ndarray]  # per clip, float32 mono, exactly frames * hop samples
    sample_rate: int
    log_mels: list[np.ndarray] = field(default_factory=list)  # per clip [n_mels, frames]
    steps: int = 0  # denoising steps actually run
    interrupted: bool = False


@dataclass(frozen=True)
class WindowJob:
    clip: int  # index of the clip in the call
    start: int  # first control frame
    frames: int  # valid frames (<= window length; the tail is padded with silence)


#: diffusers class name -> our scheduler name (for a saved scheduler_config.json)
SCHEDULER_CLASSES = {"DPMSolverMultistepScheduler": "dpm++", "PNDMScheduler": "pndm"}


def make_scheduler(name: str, config: dict | None = None):
    from diffusers import DPMSolverMultistepScheduler, PNDMScheduler

    cfg = {**SD_SCHEDULER_CONFIG, **(config or {})}
    if name == "pndm":
        return PNDMScheduler.from_config(cfg)
    if name == "dpm++":
        return DPMSolverMultistepScheduler.from_config(cfg, algorithm_type="dpmsolver++", solver_order=2)
    raise MelfoleyError(f"unknown scheduler {name!r}; choose one of {', '.join(SCHEDULERS)}")


class MelQCDPipeline:
    """VAE + CLIP text encoder + UNet + Mel-QCD ControlNet (+ inversion adapter) + HiFi-GAN."""

    def __init__(self, *, vae, text_encoder, tokenizer, unet, controlnet, vocoder, adapter=None,
                 scheduler_config: dict | None = None, config: PipelineConfig = PipelineConfig()):
        self.vae, self.text_encoder, self.tokenizer = vae, text_encoder, tokenizer
        self.unet, self.controlnet, self.vocoder, self.adapter = unet, controlnet, vocoder, adapter
        self.scheduler_config = dict(scheduler_config or {})
        #: the scheduler a saved scheduler_config.json names (DPM-Solver++ when none does)
        self.default_scheduler = SCHEDULER_CLASSES.get(self.scheduler_config.get("_class_name", ""), "dpm++")
        self.config = config
        self._interrupt = False
        hop = vocoder.config.hop
        mel = get_mel_config(config.mel)
        if hop != mel.hop_length or vocoder.config.num_mels != mel.n_mels:
            raise MelfoleyError(f"vocoder ({vocoder.config.num_mels} mels, hop {hop}) does not match the "
                                f"{mel.name} front-end ({mel.n_mels} mels, hop {mel.hop_length}); check vocoder/config.json")
        for m in self.modules().values():
            m.eval().requires_grad_(False)

    # ------------------------------------------------------------------ plumbing
    def modules(self) -> dict[str, torch.nn.Module]:
        mods = dict(vae=self.vae, text_encoder=self.text_encoder, unet=self.unet,
                    controlnet=self.controlnet, vocoder=self.vocoder)
        if self.adapter is not None:
            mods["adapter"] = self.adapter
        return mods

    def to(self, device=None, dtype=None) -> "MelQCDPipeline":
        for m in self.modules().values():
            if device is not None:
                m.to(device)
            if dtype is not None and next(m.parameters()).dtype != dtype:
                m.to(dtype)
        return self

    @property
    def device(self) -> torch.device:
        return next(self.unet.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.unet.parameters()).dtype

    @property
    def sample_rate(self) -> int:
        return get_mel_config(self.config.mel).sample_rate

    def interrupt(self) -> None:
        """Stop the running call after its current step (safe to call from another thread)."""
        self._interrupt = True

    @staticmethod
    def clip_generators(generator, n: int) -> list:
        """One generator per clip. A single generator seeded s stands for seeds s, s + 1, ... (clip k gets
        s + k), so a clip's noise never depends on what else is in the call; None draws fresh seeds."""
        if isinstance(generator, (list, tuple)):
            return list(generator)
        if generator is None:
            return [torch.Generator().manual_seed(int(torch.randint(0, 2**62, ()))) for _ in range(n)]
        if n == 1:
            return [generator]
        seed = generator.initial_seed()
        return [torch.Generator().manual_seed(seed + k) for k in range(n)]

    # ------------------------------------------------------------------ stages
    def check_inputs(self, controls, prompts, image_embeds, guidance_scale, steps):
        if isinstance(controls, QCDControl):
            controls = [controls]
        controls = list(controls)
        if not controls:
            raise MelfoleyError("no controls given: nothing to render")
        prompts = [prompts] * len(controls) if isinstance(prompts, str) else list(prompts)
        if len(prompts) != len(controls):
            raise MelfoleyError(f"{len(prompts)} prompts for {len(controls)} controls; give one prompt per clip")
        for i, c in enumerate(controls):
            if c.mel != self.config.mel:
                raise MelfoleyError(f"clip {i}: control is on the {c.mel} front-end; the paper tier needs "
                                    f"{self.config.mel} (re-predict it with the paper engine)")
            if c.frames == 0:
                raise MelfoleyError(f"clip {i}: control has no frames")
        if image_embeds is not None:
            if self.adapter is None:
                raise MelfoleyError("image embeddings were given but these weights have no inversion adapter")
            if image_embeds.shape[0] != len(controls):
                raise MelfoleyError(f"{image_embeds.shape[0]} image embeddings for {len(controls)} clips")
        if not (guidance_scale >= 1.0 and steps >= 1):
            raise MelfoleyError(f"guidance scale {guidance_scale} must be >= 1 and steps {steps} >= 1")
        return controls, prompts

    def encode_prompt(self, prompts: list[str], image_embeds: torch.Tensor | None = None) -> torch.Tensor:
        """CLIP text states [B, L, D]; with ``image_embeds`` the adapter's pseudo-tokens replace the '$'s."""
        if image_embeds is not None:
            prompts = [inversion_prompt(p, self.adapter.config.num_tokens) for p in prompts]
        ids = self.tokenizer(prompts, padding="max_length", max_length=self.tokenizer.model_max_length,
                             truncation=True, return_tensors="pt").input_ids.to(self.device)
        if image_embeds is None:
            return self.text_encoder(ids)[0]
        tokens = self.adapter(image_embeds.to(self.device, self.dtype))
        with replaced_token_embeddings(self.text_encoder, ids, placeholder_token_id(self.tokenizer), tokens):
            return self.text_encoder(ids)[0]

    def encode_control(self, controls: list[QCDControl], windows: list[WindowJob]) -> torch.Tensor:
        """VAE-encoder moments [W, 8, n_mels/8, window/8] of each window's control image."""
        wf = self.config.window_frames
        imgs = [controls[w.clip].slice(w.start, w.start + w.frames)
                .control_image(wf, released_compat=self.config.released_compat) for w in windows]
        image = torch.from_numpy(np.stack(imgs)).to(self.device, self.dtype)
        return vae_moments(self.vae, image)

    def prepare_latents(self, windows: list[WindowJob], generators: list[torch.Generator | None],
                        init_sigma: float) -> torch.Tensor:
        """Noise drawn on the CPU in fp32 from each clip's own generator, in window order."""
        f = 2 ** (len(self.vae.config.block_out_channels) - 1)
        shape = (self.unet.config.in_channels, get_mel_config(self.config.mel).n_mels // f,
                 self.config.window_frames // f)
        noise = [torch.randn(shape, generator=generators[w.clip], dtype=torch.float32, device="cpu") for w in windows]
        return (torch.stack(noise) * init_sigma).to(self.device, self.dtype)

    def denoise(self, latents, cond, uncond, moments, scheduler, guidance_scale, controlnet_scale,
                callback: StepCallback | None, total: int) -> tuple[torch.Tensor, int]:
        cfg = uncond is not None
        text = torch.cat([uncond, cond]) if cfg else cond
        hint = torch.cat([moments, moments]) if cfg else moments  # the control goes to both branches
        done = 0
        for i, t in enumerate(scheduler.timesteps):
            if self._interrupt:
                break
            if self.config.clone_residuals:  # compiled with CUDA graphs: a new step begins
                torch.compiler.cudagraph_mark_step_begin()
            x = torch.cat([latents, latents]) if cfg else latents
            x = scheduler.scale_model_input(x, t)
            down, mid = self.controlnet(x, t, encoder_hidden_states=text, controlnet_cond=hint,
                                        conditioning_scale=controlnet_scale, return_dict=False)
            if self.config.clone_residuals:
                down, mid = [d.clone() for d in down], mid.clone()
            eps = self.unet(x, t, encoder_hidden_states=text, down_block_additional_residuals=down,
                            mid_block_additional_residual=mid, return_dict=False)[0]
            if cfg:
                e_u, e_c = eps.chunk(2)
                eps = e_u + guidance_scale * (e_c - e_u)
            latents = scheduler.step(eps, t, latents, return_dict=False)[0]
            done = i + 1
            if callback is not None:
                callback(done, total, int(t))
        return latents, done

    def decode(self, latents: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Latents -> (log-mel [B, n_mels, T], audio [B, T * hop]); the inverse of the spec's image affine."""
        image = self.vae.decode(latents / self.vae.config.scaling_factor, return_dict=False)[0]
        unit = ((image.float() + 1.0) / 2.0).clamp(0.0, 1.0).mean(dim=1).flip(1)  # low frequencies -> row 0
        logmel = from_unit(unit, self.config.mel)
        audio = self.vocoder(logmel.to(self.dtype)).float()
        return logmel, audio

    # ------------------------------------------------------------------ call
    @torch.no_grad()
    def __call__(
        self,
        controls: QCDControl | Sequence[QCDControl],
        prompts: str | Sequence[str],
        *,
        image_embeds: torch.Tensor | None = None,
        negative_prompt: str = "",
        scheduler: str | None = None,
        num_inference_steps: int | None = None,
        guidance_scale: float = 7.5,
        controlnet_scale: float = 1.0,
        generator: torch.Generator | Sequence[torch.Generator] | None = None,
        callback: StepCallback | None = None,
        batch_size: int = 8,
    ) -> MelQCDOutput:
        scheduler = scheduler or self.default_scheduler
        steps = num_inference_steps or SCHEDULERS.get(scheduler, 25)
        # 1. check inputs
        controls, prompts = self.check_inputs(controls, prompts, image_embeds, guidance_scale, steps)
        self._interrupt = False
        gens = self.clip_generators(generator, len(controls))
        if len(gens) != len(controls):
            raise MelfoleyError(f"{len(gens)} generators for {len(controls)} clips")
        # 2. plan windows
        cfg = self.config
        windows = [WindowJob(k, w.start, w.stop - w.start) for k, c in enumerate(controls)
                   for w in plan_windows(c.frames, cfg.window_frames, cfg.overlap_frames)]
        # 3. encode prompts (once per clip), unconditional branch only when guidance is on
        cond_clip = self.encode_prompt(prompts, image_embeds)
        do_cfg = guidance_scale > 1.0
        uncond_one = self.encode_prompt([negative_prompt]) if do_cfg else None
        chunks = [windows[i:i + batch_size] for i in range(0, len(windows), batch_size)]
        probe = make_scheduler(scheduler, self.scheduler_config)
        probe.set_timesteps(steps)
        per_chunk = len(probe.timesteps)  # PNDM (PLMS) runs one warm-up step more than asked
        total = per_chunk * len(chunks)
        pieces: list[tuple[WindowJob, np.ndarray, np.ndarray]] = []
        ran, interrupted = 0, False
        for chunk in chunks:
            if self._interrupt:
                interrupted = True
                break
            idx = torch.tensor([w.clip for w in chunk], device=self.device)
            cond = cond_clip[idx]
            uncond = uncond_one.expand(len(chunk), -1, -1) if do_cfg else None
            # 4. encode control
            moments = self.encode_control(controls, chunk)
            # 5. prepare latents
            sched = make_scheduler(scheduler, self.scheduler_config)
            sched.set_timesteps(steps, device=self.device)
            latents = self.prepare_latents(chunk, gens, float(sched.init_noise_sigma))
            # 6. denoise
            progress = None if callback is None else (lambda d, n, t, base=ran: callback(base + d, total, t))
            latents, done = self.denoise(latents, cond, uncond, moments, sched, guidance_scale,
                                         controlnet_scale, progress, total)
            ran += done
            interrupted = interrupted or done < per_chunk
            # 7. decode
            logmel, audio = self.decode(latents)
            for k, w in enumerate(chunk):
                pieces.append((w, logmel[k].cpu().numpy(), audio[k].cpu().numpy()))
        return self._assemble(controls, pieces, ran, interrupted)

    def _assemble(self, controls, pieces, ran, interrupted) -> MelQCDOutput:
        """Each clip's windows joined with the project's equal-power crossfades (audio and log-mel)."""
        hop = get_mel_config(self.config.mel).hop_length
        audio, mels = [], []
        for k, c in enumerate(controls):
            mine = [(w, m, a) for w, m, a in pieces if w.clip == k]
            if not mine:
                break  # interrupted before this clip was rendered
            plan = [Window(w.start, w.start + w.frames) for w, _, _ in mine]
            audio.append(crossfade_join([a for _, _, a in mine], plan, hop, c.frames * hop))
            rows = mine[0][1].shape[0]
            mels.append(np.stack([crossfade_join([m[r] for _, m, _ in mine], plan, 1, c.frames) for r in range(rows)]))
        return MelQCDOutput(audio, self.sample_rate, mels, ran, interrupted)
