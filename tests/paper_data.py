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
