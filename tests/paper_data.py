"""A tiny paper-tier dataset built once per test session from the corpus videos (shared by
test_dataset.py, test_paper_train.py and test_eval_command.py).

The CSV names every corpus video: bigbuckbunny.mp4 with its own sound gives the two train
clips (1.28 s, the tiny window); a second name for it (a symlink, so a second source video)
with a corpus recording as its separate sound gives the val clips; the silent and soundless
videos, and the film with a too-short recording, are skipped with their reasons. Only videos that
the test corpus slice (tests/data/corpus) holds too are named.
"""

from __future__ import annotations

import csv
from pathlib import Path

TINY = dict(clip_seconds=1.28, max_clips_per_source=2, sources_per_shard=2)


def tiny_encoders(base: Path) -> tuple[Path, Path]:
    """(V2X's frozen frame encoder, the adapter's CLIP): both tiny random CLIP vision models, so that
    building costs little CPU (EfficientNet-Lite0 from its wheel is tested in test_paper_encoders.py)."""
    import json
    import shutil

    from melfoley.core.paper.tiny import save_tiny_clip_encoder

    ve, clip = base / "visual_encoder", base / "clip"
    if not (clip / "config.json").exists():
        save_tiny_clip_encoder(clip)
    if not (ve / "encoder.json").exists():
        shutil.copytree(clip, ve, dirs_exist_ok=True)
        (ve / "encoder.json").write_text(json.dumps({"kind": "transformers", "out_dim": 16}))
    return ve, clip


def write_csv(corpus: Path, base: Path) -> Path:
    videos = corpus / "video"
    base.mkdir(parents=True, exist_ok=True)
    other = base / "bunny_second_take.mp4"
    if not other.exists():
        other.symlink_to(videos / "bigbuckbunny.mp4")
    from melfoley.core.corpus import load_manifest

    items = load_manifest(corpus)
    long_sound = max(items, key=lambda it: it.duration).path  # >= 2.56 s: two val clips
    short_sound = next(it.path for it in items if 0.3 < it.duration < 1.0)  # shorter than one clip
    rows = [("video", "audio", "label", "split"),
            (str(videos / "bigbuckbunny.mp4"), "", "bunny hops on grass", "train"),
            (str(other), str(long_sound), long_sound.parent.name.replace("_", " "), "val"),
            (str(videos / "linear_speed_effects_aaf.mov"), "", "silent", "train"),
            (str(videos / "misc_speed_effects_aaf.mov"), "", "no sound", "train"),
            (str(videos / "bigbuckbunny.mp4"), str(short_sound), "short", "train")]
    path = base / "sources.csv"
    with path.open("w", newline="") as fh:
        csv.writer(fh).writerows(rows)
    return path


def tiny_dataset(tmp_path_factory, corpus: Path) -> Path:
    """Build (once per session) and return the dataset folder."""
    import torch

    from melfoley.core.paper.dataset import DatasetConfig, build_dataset

    base = tmp_path_factory.getbasetemp() / "paper_data"
    out = base / "dataset"
    if (out / "manifest.json").exists():
        return out
    torch.set_num_threads(1)
    ve, clip = tiny_encoders(base)
    cfg = DatasetConfig(**TINY, visual_encoder=str(ve), clip_encoder=str(clip))
    build_dataset(write_csv(corpus, base), out, cfg, log=lambda *a: None)
    return out


def tiny_base(tmp_path_factory) -> Path:
    """A tiny random base model folder (``tiny-train``: 32-channel UNet) with the dataset's encoders."""
    import shutil

    from melfoley.core.paper.tiny import save_tiny_weights

    base = tmp_path_factory.getbasetemp() / "paper_data"
    root = base / "base"
    if not (root / "model_index.json").exists():
        save_tiny_weights(root, "tiny-train")
        ve, clip = tiny_encoders(base)
        shutil.rmtree(root / "visual_encoder")
        shutil.copytree(ve, root / "visual_encoder")
        shutil.copytree(clip, root / "image_encoder")
    return root


#: the two train clips' own captions for :func:`text_reliant_base` (the dataset labels both alike)
CAPTIONS = ("a bunny hops on grass", "a bird sings in a tree")


def text_reliant_base(tmp_path_factory, dataset: Path, *, steps: int = 50, lr: float = 1e-3,
                      contrast: bool = True, name: str = "text_base") -> Path:
    """A tiny base model that relies on its text, as a trained text-to-audio model does (textual inversion
    works on Auffusion only because of that); built once per session from :func:`tiny_base`.

    - VAE as a trained one: a narrow posterior (log-variance -12) and latents scaled to unit variance (SD's
      ``scaling_factor`` is 1/std of its latents; measured here on the val clips). The random VAE's posterior
      std is 1, and its scaled latents hold the clip at std 0.04 under 0.18 of sampling noise.
    - UNet trained ``steps`` steps (AdamW ``lr``) on the two train clips, each with its own caption
      (:data:`CAPTIONS`), on the fixed noise and timesteps of the overfit tests, towards the caption-conditioned
      eps: for caption c and the noisy latent x_t of either clip, ``(x_t - sqrt(abar) x0_c) / sqrt(1 - abar)``,
      the noise x_t holds if it is clip c's. ``contrast=False`` teaches only the matching pairs: then, on two
      clips, the noisy input alone tells them apart and the UNet ignores its text
      (``bench/adapter_text_bound.py`` prints both).
    - ControlNet at the spec's initialisation from the trained UNet (what `melfoley train controlnet` starts
      from: zero convs, so it adds nothing yet); no ``adapter/``, so the adapter stage starts from the spec's
      initialisation.

    ``caption_losses.json``: the fixed batch's eps loss through that base and ControlNet with the right, the
    swapped and empty captions.
    """
    import json
    import shutil

    import torch
    import torch.nn.functional as F
    from diffusers import AutoencoderKL

    from melfoley.core.paper.controlnet import MelQCDControlNetModel
    from melfoley.core.paper.dataset import ClipDataset, collate
    from melfoley.core.paper.train_config import TrainConfig
    from melfoley.core.paper.train_parts import build_part, mel_image

    root = tmp_path_factory.getbasetemp() / "paper_data" / name
    if (root / "caption_losses.json").exists():
        return root
    shutil.copytree(tiny_base(tmp_path_factory), root, dirs_exist_ok=True)
    shutil.rmtree(root / "adapter")
    torch.set_num_threads(1)
    vae = AutoencoderKL.from_pretrained(root / "vae", local_files_only=True)
    val = ClipDataset(dataset, "val")
    c = vae.config.latent_channels
    with torch.no_grad():
        vae.quant_conv.weight[c:] = 0
        vae.quant_conv.bias[c:] = -12.0
        mean = vae.encode(mel_image(collate([val[i] for i in range(len(val))])["mel"])).latent_dist.mean
    vae.register_to_config(scaling_factor=1.0 / float(mean.std()))
    vae.save_pretrained(root / "vae")

    clips = ClipDataset(dataset, "train")
    batch = collate([clips[i] for i in range(len(clips))])
    cfg = TrainConfig(dataset=str(dataset), out=str(root / "unused"), part="controlnet", base=str(root), steps=steps,
                      fixed_noise=True, caption_dropout=0.0)
    part = build_part(cfg, clips, "cpu", torch.float32)
    x = part.noised(batch, 0)
    with torch.no_grad():
        states = part.text_encoder(part.prompt_ids(list(CAPTIONS), x["gens"]))[0]
    abar = part.noise.alphas_cumprod[x["t"]].view(-1, 1, 1, 1)
    if contrast:  # every clip's noisy latent with every caption
        noisy, t, text = x["noisy"].repeat(2, 1, 1, 1), x["t"].repeat(2), states.repeat_interleave(2, 0)
        x0, abar = x["latents"].repeat_interleave(2, 0), abar.repeat(2, 1, 1, 1)
        target = (noisy - abar.sqrt() * x0) / (1 - abar).sqrt()
    else:
        noisy, t, text, target = x["noisy"], x["t"], states, x["noise"]
    unet = part.unet.requires_grad_(True).train()
    opt = torch.optim.AdamW(unet.parameters(), lr=lr, weight_decay=0.0)
    for _ in range(steps):
        loss = F.mse_loss(unet(noisy, t, encoder_hidden_states=text, return_dict=False)[0], target)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(unet.parameters(), 1.0)
        opt.step()
    unet.requires_grad_(False).eval().save_pretrained(root / "unet")
    part.controlnet = MelQCDControlNetModel.from_unet_melqcd(unet).eval()
    part.controlnet.save_pretrained(root / "controlnet")
    with torch.no_grad():
        losses = {k: float(part.loss(part.branch(), {**batch, "label": labels}, 0)["loss"])
                  for k, labels in (("right", list(CAPTIONS)), ("swapped", list(CAPTIONS[::-1])), ("empty", ["", ""]))}
    (root / "caption_losses.json").write_text(json.dumps(losses, indent=1))
    return root
