"""The three trainable parts of the paper tier: what is built, frozen, optimised, validated and saved.

- ``v2x``: :class:`V2XPredictor` on the dataset's frozen visual features; the spec's loss
  (focal per code head + MSE(E) + MSE(D)); validation reports the loss parts and code accuracy.
- ``controlnet``: the spec's ControlNet initialised from the base UNet
  (:meth:`MelQCDControlNetModel.from_unet_melqcd`: encoder + middle copied, zero convs, zero
  last hint conv); frozen VAE, text encoder and UNet; eps-MSE on the latents of the clip's
  mel image, the control entering through the VAE encoder's moments; optionally the
  inversion adapter jointly (``train_adapter``).
- ``adapter``: the inversion adapter alone, over a frozen trained ControlNet.
Noise, timesteps, latent samples and caption dropout are drawn per clip from a generator
seeded by (seed, micro-step, clip index), so a run's numbers depend on neither the number of
processes nor an interruption (``--resume``).
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
import torch.nn.functional as F

from ..errors import MelfoleyError, WeightsError


def clip_generator(seed: int, step: int, index: int) -> torch.Generator:
    return torch.Generator().manual_seed((seed * 1_000_003 + step * 10_007 + index) % (2**63))


def mel_image(mel: torch.Tensor) -> torch.Tensor:
    """Log-mels [B, mels, frames] -> the VAE's 3-channel image in [-1, 1], low frequencies at the bottom."""
    from ..mel import to_unit

    return (to_unit(mel).flip(-2) * 2 - 1).unsqueeze(1).expand(-1, 3, -1, -1)


class V2XPart:
    name = "v2x"
    trained = ("v2x",)

    def __init__(self, cfg, dataset, device):
        from .v2x import V2XPredictor

        feat_dim = int(dataset[0]["features"].shape[-1])
        self.cfg, self.device = cfg, device
        self.model = V2XPredictor(**{"feature_dim": feat_dim, **cfg.model})
        if self.model.config.feature_dim != feat_dim:
            raise MelfoleyError(f"the dataset's features are {feat_dim}-d but model.feature_dim is "
                                f"{self.model.config.feature_dim}; drop the override")
        self.model.train()

    def trainable(self):
        return self.model

    def loss(self, model, batch, step: int) -> dict:
        from .v2x import v2x_loss

        out = model(batch["features"].to(self.device))
        return v2x_loss(out, batch["codes"].to(self.device), batch["energy"].to(self.device),
                        batch["spread"].to(self.device))

    def save(self, model, out: Path, dataset_root: Path) -> None:
        from .weights import content_id

        model.save_pretrained(out / "v2x")
        manifest = json.loads((dataset_root / "manifest.json").read_text())
        enc = manifest["config"].get("visual_encoder") or ""
        ve = out / "visual_encoder"
        if enc:
            _link(Path(enc), ve)
        else:
            ve.mkdir(exist_ok=True)
            (ve / "encoder.json").write_text(json.dumps({"kind": "efficientnet-lite0", "out_dim": 1280}))
        (out / "v2x" / "features.json").write_text(json.dumps(
            {"visual_encoder": content_id(ve), **json.loads((ve / "encoder.json").read_text()),
             "fps": 25.0, "dataset": str(dataset_root)}, indent=1))


class ControlBranch(torch.nn.Module):
    """What DDP wraps for the ControlNet / adapter parts: (adapter ->) frozen text encoder -> ControlNet.

    Its forward is called through the accelerate-prepared (DDP) wrapper, so the gradients of
    whatever in it is trainable are synchronised across processes. The frozen text encoder is
    held outside the module's parameters."""

    def __init__(self, controlnet, adapter, text_encoder, placeholder_id: int | None):
        super().__init__()
        self.controlnet, self.adapter = controlnet, adapter
        self._frozen = (text_encoder, placeholder_id)

    def text(self, ids, tokens=None):
        """The frozen text encoder's states of ``ids``, the placeholders' embeddings replaced by ``tokens``."""
        from .adapter import replaced_token_embeddings

        text_encoder, pid = self._frozen
        if tokens is None:
            return text_encoder(ids)[0]
        with replaced_token_embeddings(text_encoder, ids, pid, tokens.to(text_encoder.dtype)):
            return text_encoder(ids)[0]

    def forward(self, noisy, t, ids, clip, moments, text_only: bool = False):
        text = self.text(ids, None if self.adapter is None else self.adapter(clip))
        if text_only:
            return text
        down, mid = self.controlnet(noisy, t, encoder_hidden_states=text, controlnet_cond=moments, return_dict=False)
        return text, down, mid


class _FreeText(torch.nn.Module):
    """A branch whose text condition is a free tensor: placeholder embeddings or the whole encoder output
    (:meth:`AdapterPart.text_bound`)."""

    def __init__(self, branch: ControlBranch, values: torch.nn.Parameter, free: str):
        super().__init__()
        self.branch, self.values, self.free = branch, values, free

    def forward(self, noisy, t, ids, clip, moments):
        text = self.values if self.free == "states" else self.branch.text(ids, self.values)
        down, mid = self.branch.controlnet(noisy, t, encoder_hidden_states=text, controlnet_cond=moments,
                                           return_dict=False)
        return text, down, mid


class DiffusionPart:
    """ControlNet (+ adapter) or adapter alone over the frozen base model."""

    def __init__(self, cfg, dataset, device, weight_dtype):
        from diffusers import AutoencoderKL, DDPMScheduler, UNet2DConditionModel
        from transformers import CLIPTextModel, CLIPTokenizer

        from .adapter import InversionAdapter
        from .controlnet import MelQCDControlNetModel
        from .pipeline import SD_SCHEDULER_CONFIG

        base = Path(cfg.base)
        self.cfg, self.device, self.wdtype = cfg, device, weight_dtype
        try:
            self.vae = AutoencoderKL.from_pretrained(base / "vae", local_files_only=True)
            self.unet = UNet2DConditionModel.from_pretrained(base / "unet", local_files_only=True)
            self.text_encoder = CLIPTextModel.from_pretrained(base / "text_encoder", local_files_only=True)
            self.tokenizer = CLIPTokenizer.from_pretrained(base / "tokenizer", local_files_only=True)
        except (OSError, ValueError) as exc:
            raise WeightsError(f"base model in {base} is incomplete ({str(exc)[:200]}); run `melfoley paper check "
                               f"{base}` to see what is missing") from exc
        self.noise = DDPMScheduler.from_config(SD_SCHEDULER_CONFIG)
        with_adapter = self.name == "adapter" or cfg.train_adapter
        if with_adapter and "clip" not in dataset[0]:
            raise MelfoleyError(f"{cfg.dataset} holds no CLIP image embeddings; rebuild it with --clip-encoder DIR "
                                "to train the inversion adapter")
        self.adapter = None
        if with_adapter:
            text_dim = self.text_encoder.config.hidden_size
            clip_dim = int(dataset[0]["clip"].shape[-1])
            adapter_dir = base / "adapter"
            if adapter_dir.is_dir():
                self.adapter = InversionAdapter.from_pretrained(adapter_dir, local_files_only=True)
                for m in self.adapter.modules():  # `model = {dropout = ...}` applies to a loaded adapter too
                    if isinstance(m, torch.nn.Dropout) and "dropout" in cfg.model:
                        m.p = float(cfg.model["dropout"])
            else:
                heads = max(1, clip_dim // 64)
                self.adapter = InversionAdapter(input_dim=clip_dim, num_heads=heads, mlp_dim=4 * clip_dim,
                                                hidden_dim=4 * clip_dim, text_dim=text_dim, **cfg.model)
        if self.name == "adapter":
            src = Path(cfg.init or cfg.base) / "controlnet"
            if not src.is_dir():
                raise WeightsError(f"training the adapter needs a trained ControlNet: {src} does not exist; set "
                                   "`init` to the output folder of `melfoley train controlnet`")
            self.controlnet = MelQCDControlNetModel.from_pretrained(src, local_files_only=True)
        else:
            self.controlnet = MelQCDControlNetModel.from_unet_melqcd(self.unet)
        frozen = [self.vae, self.text_encoder, self.unet] + ([self.controlnet] if self.name == "adapter" else [])
        for m in frozen:  # frozen parts in half precision on a GPU with mixed precision
            m.requires_grad_(False).eval().to(device)
            if weight_dtype != torch.float32:
                m.to(weight_dtype)
        if cfg.gradient_checkpointing:
            self.unet.enable_gradient_checkpointing()
            self.controlnet.enable_gradient_checkpointing()
        self.uncond = None

    # ------------------------------------------------------------------ pieces
    def prompt_ids(self, labels: list[str], gens) -> torch.Tensor:
        """Token ids of the labels, ~``caption_dropout`` of them dropped (per clip, seeded); with the
        adapter, the spec's ``"<event>, $ ... $"`` prompt."""
        from .adapter import inversion_prompt

        keep = [float(torch.rand((), generator=g)) >= self.cfg.caption_dropout for g in gens]
        prompts = [lab if k else "" for lab, k in zip(labels, keep)]
        if self.adapter is not None:
            prompts = [inversion_prompt(p, self.adapter.config.num_tokens) for p in prompts]
        return self.tokenizer(prompts, padding="max_length", max_length=self.tokenizer.model_max_length,
                              truncation=True, return_tensors="pt").input_ids.to(self.device)

    def branch(self) -> ControlBranch:
        from .adapter import placeholder_token_id

        pid = placeholder_token_id(self.tokenizer) if self.adapter is not None else None
        return ControlBranch(self.controlnet, self.adapter, self.text_encoder, pid)

    def modules_of(self, model):
        branch = getattr(model, "module", model)
        return branch.controlnet, branch.adapter

    def noised(self, batch, step: int) -> dict:
        """The diffusion inputs of ``batch`` at ``step``: the clips' latents, the drawn noise and timesteps,
        the noisy latents, the control's VAE-encoder moments and the per-clip generators (then at the caption
        dropout draw)."""
        from .. import qcd

        cfg = self.cfg
        gens = [clip_generator(cfg.seed, 0 if cfg.fixed_noise else step, int(i)) for i in batch["index"]]
        mel = batch["mel"].to(self.device)
        image = mel_image(mel).to(self.wdtype)
        control = qcd.control_image(batch["energy"], batch["spread"], batch["codes"], mel.shape[1])
        control = control.to(self.device, self.wdtype)
        with torch.no_grad():
            dist = self.vae.encode(image).latent_dist
            shape = dist.mean.shape[1:]
            eps_lat = torch.stack([torch.randn(shape, generator=g) for g in gens]).to(self.device, dist.mean.dtype)
            latents = (dist.mean + dist.std * eps_lat) * self.vae.config.scaling_factor
            moments = self.vae.encoder(control)
        noise = torch.stack([torch.randn(shape, generator=g) for g in gens]).to(self.device, latents.dtype)
        t = torch.stack([torch.randint(0, self.noise.config.num_train_timesteps, (), generator=g) for g in gens])
        t = t.to(self.device)
        return {"latents": latents, "noise": noise, "t": t, "noisy": self.noise.add_noise(latents, noise, t),
                "moments": moments, "gens": gens}

    def loss(self, model, batch, step: int) -> dict:
        x = self.noised(batch, step)
        noisy, t, noise = x["noisy"], x["t"], x["noise"]
        clip = batch["clip"].to(self.device) if self.adapter is not None else None
        text, down, mid = model(noisy, t, self.prompt_ids(batch["label"], x["gens"]), clip, x["moments"])
        eps = self.unet(noisy.to(self.wdtype), t, encoder_hidden_states=text.to(self.wdtype),
                        down_block_additional_residuals=[d.to(self.wdtype) for d in down],
                        mid_block_additional_residual=mid.to(self.wdtype), return_dict=False)[0]
        loss = F.mse_loss(eps.float(), noise.float())
        return {"loss": loss, "batch": torch.tensor(float(noisy.shape[0]))}

    def save_pipeline_parts(self, model, out: Path) -> None:
        controlnet, adapter = self.modules_of(model)
        if self.name != "adapter":
            controlnet.save_pretrained(out / "controlnet")
        if adapter is not None:
            adapter.save_pretrained(out / "adapter")

    def sample(self, model, batch, path: Path) -> Path:
        """Render the first clip of ``batch`` with its control and label (25 DPM-Solver++ steps): a WAV."""
        import soundfile as sf

        from ..control import QCDControl
        from .pipeline import MelQCDPipeline, PipelineConfig
        from .weights import load_vocoder

        controlnet, adapter = self.modules_of(model)
        trainable = [p for p in model.parameters() if p.requires_grad]  # the pipeline freezes what it gets
        frames = batch["mel"].shape[-1]
        pipe = MelQCDPipeline(vae=self.vae, text_encoder=self.text_encoder, tokenizer=self.tokenizer, unet=self.unet,
                              controlnet=controlnet, vocoder=load_vocoder(Path(self.cfg.base) / "vocoder"),
                              adapter=adapter, config=PipelineConfig(window_frames=frames, overlap_frames=0))
        pipe.vocoder.to(self.device, self.wdtype)
        ctrl = QCDControl(batch["energy"][0].clamp(0, 1).numpy(), batch["spread"][0].clamp(0, 1).numpy(),
                          batch["codes"][0].numpy())
        embeds = batch["clip"][:1] if adapter is not None else None
        out = pipe([ctrl], batch["label"][0] or "sound", image_embeds=embeds, num_inference_steps=self.cfg.sample_steps,
                   generator=[torch.Generator().manual_seed(self.cfg.seed)])
        model.train()
        for p in trainable:
            p.requires_grad_(True)
        for m in (self.unet, self.vae, self.text_encoder):
            m.eval()
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(str(path), out.audio[0], out.sample_rate, subtype="FLOAT")
        ctrl_path = path.with_suffix(".control.json")
        ctrl_path.write_text(ctrl.to_json())
        return path


class ControlNetPart(DiffusionPart):
    name = "controlnet"

    @property
    def trained(self):
        return ("controlnet", "adapter") if self.adapter is not None else ("controlnet",)

    def trainable(self):
        self.controlnet.train()
        if self.adapter is not None:
            self.adapter.train()
        return self.branch()

    def save(self, model, out: Path, dataset_root: Path) -> None:
        self.save_pipeline_parts(model, out)


class AdapterPart(DiffusionPart):
    name = "adapter"
    trained = ("adapter",)

    def trainable(self):
        self.adapter.train()
        return self.branch()  # the ControlNet in it stays frozen (and in eval mode)

    def text_bound(self, batch, steps: int, lr: float, free: str = "tokens") -> list[float]:
        """The loss curve on ``batch`` when the text condition itself is optimised over the frozen rest (AdamW,
        grad-norm clip 1, ``steps`` steps): how far the text path alone can lower this loss.

        ``free="tokens"``: one free set of placeholder embeddings per clip in place of the adapter's output,
        started from it (textual inversion's own set-up: every adapter's output is one of them, so their optimum
        bounds every adapter's on this batch; ``steps`` steps need not reach it);
        ``"states"``: the text encoder's whole output, unconstrained (a looser bound)."""
        if free not in ("tokens", "states"):
            raise ValueError(f"free must be 'tokens' or 'states', not {free!r}")
        branch = self.branch()
        clip = batch["clip"].to(self.device)
        was = self.adapter.training
        with torch.no_grad():  # started from the adapter's current output (dropout off)
            self.adapter.eval()
            ids = self.prompt_ids(batch["label"], [clip_generator(self.cfg.seed, 0, int(i)) for i in batch["index"]])
            start = self.adapter(clip) if free == "tokens" else branch(None, None, ids, clip, None, text_only=True)
        self.adapter.train(was)
        values = torch.nn.Parameter(start.detach().float().clone())
        model = _FreeText(branch, values, free)
        opt = torch.optim.AdamW([values], lr=lr, weight_decay=0.0)
        curve = []
        for i in range(steps):
            loss = self.loss(model, batch, i)["loss"]
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_([values], 1.0)
            opt.step()
            curve.append(float(loss.detach()))
        return curve

    def save(self, model, out: Path, dataset_root: Path) -> None:
        self.save_pipeline_parts(model, out)
        if not (out / "controlnet").exists():
            _link(Path(self.cfg.init or self.cfg.base) / "controlnet", out / "controlnet")
        manifest = json.loads((dataset_root / "manifest.json").read_text())
        clip = manifest["config"].get("clip_encoder") or ""
        if clip and not (out / "image_encoder").exists():
            _link(Path(clip), out / "image_encoder")


def build_part(cfg, dataset, device, weight_dtype):
    if cfg.part == "v2x":
        return V2XPart(cfg, dataset, device)
    return (ControlNetPart if cfg.part == "controlnet" else AdapterPart)(cfg, dataset, device, weight_dtype)


def _link(src: Path, dest: Path) -> None:
    """``dest`` -> ``src`` as a symlink (the base model's GBs are not copied)."""
    if dest.is_symlink() or dest.exists():
        return
    dest.symlink_to(src.resolve(), target_is_directory=src.is_dir())


def link_base(base: Path, out: Path, trained: tuple[str, ...]) -> None:
    """Make ``out`` a complete weights folder: every base part not trained here is linked in."""
    if not base or not Path(base).is_dir():
        return
    for p in sorted(Path(base).iterdir()):
        if p.name in trained or p.name in ("checkpoints", "samples", "logs") or p.suffix in (".csv",):
            continue
        if p.name == "model_index.json" and not (out / p.name).exists():
            (out / p.name).write_text(p.read_text())
        elif p.is_dir():
            _link(p, out / p.name)
